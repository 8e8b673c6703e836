"""CAP 1.2 warnings in: ``POST /api/cap`` (a token) and the watched directory.

The pure part (schema, areas, templates, rules) is :mod:`broadcast.cap`; here a warning
becomes notices through the :class:`broadcast.engine.Broadcaster`'s own paths — prepare
and confirm, a correction, a recall — and every warning is recorded (``cap_message``)
and in the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field
from sqlmodel import Session, select

from broadcast import cap as capdoc
from broadcast import service as notices
from broadcast.compose import NoticeInvalid
from broadcast.engine import Broadcaster, NoticeRequest
from core.audit import record
from core.clock import utcnow
from core.policy import ADMIN_ROLE, Permission, Post, Principal, configured_signature
from models.auth import AuditChannel, AuditOutcome
from models.broadcast import NoticeKind, NoticePriority, NoticeStatus
from models.cap import CapMessage
from models.db import run_in_session
from models.org import OrgUnit, town_relative
from web.endpoints import Api, ApiError, Strict
from web.keys import BROADCASTER, ENGINE, SETTINGS
from web.security import authorize, client_address, principal_of

__all__ = ["CapOut", "api", "receive_cap", "watch_directory_job"]

log = logging.getLogger(__name__)
api = Api()

WATCH_PRINCIPAL = Principal(
    kind="local", id="cap-watch", name="CAP预警目录", posts=(Post(ADMIN_ROLE),)
)


class CapNoticeOut(Strict):
    code: str
    scope: str = Field(description="org path below the town; empty is the whole town")
    status: str = Field(description="pending (waits for #确认), sending, cancelled")
    kind: str


class CapOut(Strict):
    identifier: str
    msg_type: str
    outcome: str = Field(description="drafted, sent, corrected, recalled, ignored")
    duplicate: bool = False
    notices: list[CapNoticeOut]
    message: str


class CapRefused(Exception):
    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or []


@dataclass
class _Outcome:
    outcome: str
    notices: list[CapNoticeOut] = field(default_factory=list)
    message: str = ""


def _rules(app: web.Application) -> list[capdoc.CapRuleView]:
    return [
        capdoc.CapRuleView(tuple(r.severities), tuple(r.events), r.action)
        for r in app[SETTINGS].cap.rules
    ]


def _org_paths(session: Session) -> list[tuple[str, ...]]:
    return [town_relative(p) for p in session.exec(select(OrgUnit.path))]


async def _draft(
    app: web.Application,
    broadcaster: Broadcaster,
    alert: capdoc.CapAlert,
    info: capdoc.CapInfo,
    scopes: list[tuple[str, ...]],
    *,
    update: bool,
    signature: str,
) -> _Outcome:
    settings = app[SETTINGS]
    text = capdoc.render(info, sender=alert.sender, templates=settings.cap.templates, update=update)
    action = capdoc.choose_action(info, _rules(app))
    out = _Outcome("sent" if action == "send" else "drafted")
    for scope in scopes:
        prepared = await broadcaster.prepare(
            NoticeRequest(
                title=text.title,
                body=text.body,
                scope="/".join(scope) or settings.town.name,
                issuer_name=signature,
                priority=NoticePriority.URGENT if text.urgent else NoticePriority.NORMAL,
                deadline_s=settings.broadcast.deadline.total_seconds(),
                channel="cap",
            )
        )
        if action == "send":
            await broadcaster.confirm(prepared.code)
        out.notices.append(
            CapNoticeOut(
                code=prepared.code,
                scope="/".join(scope),
                status="sending" if action == "send" else "pending",
                kind="notice",
            )
        )
    word = "已自动发送" if action == "send" else "待镇干部 #确认 后发送"
    out.message = f"{text.title}：{len(out.notices)} 条通知，{word}"
    return out


async def _follow_up(
    app: web.Application, broadcaster: Broadcaster, alert: capdoc.CapAlert, *, signature: str
) -> _Outcome:
    """Update corrects, Cancel recalls the notices of the referenced alerts."""
    engine = app[ENGINE]
    ids = [(sender, identifier) for sender, identifier, _sent in alert.references]

    def earlier(session: Session) -> list[tuple[str, str, NoticeStatus, tuple[str, ...]]]:
        out = []
        for sender, identifier in ids:
            row = session.exec(
                select(CapMessage).where(
                    CapMessage.sender == sender, CapMessage.identifier == identifier
                )
            ).first()
            for code in row.notice_codes if row is not None else []:
                notice = notices.notice_by_code(session, code)
                unit = session.get(OrgUnit, notice.scope_org_unit_id)
                scope = unit.town_path if unit is not None else ()
                out.append((code, notice.title, notice.status, scope))
        return out

    previous = await run_in_session(engine, earlier)
    if not previous:
        raise CapRefused(409, "找不到 references 所指的预警对应的通知（可能从未收到原预警）")
    out = _Outcome("corrected" if alert.msg_type == "Update" else "recalled")
    info = alert.info
    settings = app[SETTINGS]
    for code, _title, status, scope in previous:
        if status in (NoticeStatus.CANCELLED, NoticeStatus.RECALLED):
            continue
        if alert.msg_type == "Cancel":
            if status is NoticeStatus.PENDING:
                await broadcaster.cancel(code)
                out.notices.append(
                    CapNoticeOut(
                        code=code, scope="/".join(scope), status="cancelled", kind="notice"
                    )
                )
                continue
            await broadcaster.retract(code)
            prepared = await broadcaster.send(
                NoticeRequest(
                    title=_title,
                    body=alert.note or "预警已解除",
                    scope="",
                    issuer_name=signature,
                    channel="cap",
                    kind=NoticeKind.RETRACTION,
                    parent_code=code,
                    ack_required=False,
                )
            )
            out.notices.append(
                CapNoticeOut(
                    code=prepared.code, scope="/".join(scope), status="sending", kind="retraction"
                )
            )
            continue
        assert info is not None
        if status is NoticeStatus.PENDING:  # not sent yet: replace the draft
            await broadcaster.cancel(code)
            replaced = await _draft(
                app, broadcaster, alert, info, [scope], update=True, signature=signature
            )
            out.notices.extend(replaced.notices)
            continue
        text = capdoc.render(
            info, sender=alert.sender, templates=settings.cap.templates, update=True
        )
        prepared = await broadcaster.send(
            NoticeRequest(
                title=_title,
                body=text.body,
                scope="",
                issuer_name=signature,
                channel="cap",
                kind=NoticeKind.CORRECTION,
                parent_code=code,
                ack_required=False,
                priority=NoticePriority.URGENT if text.urgent else NoticePriority.NORMAL,
            )
        )
        out.notices.append(
            CapNoticeOut(
                code=prepared.code, scope="/".join(scope), status="sending", kind="correction"
            )
        )
    word = "更正" if alert.msg_type == "Update" else "撤回"
    out.message = f"已{word} {len(out.notices)} 条通知"
    return out


async def receive_cap(
    app: web.Application,
    data: bytes,
    *,
    via: str,
    principal: Principal,
    source: str,
    authorize: Callable[[Permission, tuple[str, ...]], Awaitable[None]] | None = None,
) -> CapOut:
    """Read one CAP message and act on it. Raises :class:`CapRefused`."""
    settings = app[SETTINGS]
    engine = app[ENGINE]
    channel = AuditChannel.API if via == "api" else AuditChannel.SYSTEM
    signature = configured_signature(principal, settings.cap.issuer)

    async def audit(
        action: str, outcome: AuditOutcome, target: str, message: str, detail: dict[str, Any]
    ) -> None:
        now = utcnow()
        await run_in_session(
            engine,
            lambda s: record(
                s,
                principal=principal,
                channel=channel,
                action=action,
                outcome=outcome,
                now=now,
                source=source,
                target=target,
                detail=detail,
                message=message,
            ),
        )

    try:
        alert = capdoc.parse_cap(data)
    except capdoc.CapInvalid as exc:
        await audit(
            "cap.receive", AuditOutcome.REFUSED, "", str(exc), {"problems": exc.problems[:5]}
        )
        raise CapRefused(400, str(exc), exc.problems) from None
    target = f"{alert.sender}/{alert.identifier}"[:200]
    if settings.cap.allowed_senders and alert.sender not in settings.cap.allowed_senders:
        message = f"发布者「{alert.sender}」不在 cap.allowed_senders 中"
        await audit("cap.receive", AuditOutcome.REFUSED, target, message, {})
        raise CapRefused(403, message)

    def existing(session: Session) -> CapMessage | None:
        return session.exec(
            select(CapMessage).where(
                CapMessage.sender == alert.sender, CapMessage.identifier == alert.identifier
            )
        ).first()

    seen = await run_in_session(engine, existing)
    if seen is not None:
        return CapOut(
            identifier=alert.identifier,
            msg_type=alert.msg_type,
            outcome=seen.outcome,
            duplicate=True,
            notices=[],
            message=f"已处理过这条预警（{seen.outcome}：{'、'.join(seen.notice_codes) or '无通知'}）",
        )
    info = alert.info
    broadcaster = app.get(BROADCASTER)
    result: _Outcome
    if alert.status != "Actual" or alert.msg_type in ("Ack", "Error"):
        result = _Outcome("ignored", message=f"{alert.status}/{alert.msg_type}：已记录，不发送")
    elif broadcaster is None:
        raise CapRefused(503, "本进程没有运行机器人，不能处理预警")
    elif alert.msg_type == "Alert":
        assert info is not None
        paths = await run_in_session(engine, _org_paths)
        scopes = capdoc.match_scopes(
            info.areas, town=settings.town.name, org_paths=paths, geocodes=settings.cap.geocodes
        )
        if not scopes:
            areas = "、".join(a.description for a in info.areas) or "（无 area）"
            message = f"预警区域「{areas}」不在本镇的组织架构中，也没有配置对应的 geocode"
            await audit("cap.receive", AuditOutcome.REFUSED, target, message, {})
            raise CapRefused(422, message)
        if authorize is not None:
            for scope in scopes:
                await authorize(Permission.ISSUE_NOTICE, scope)
        try:
            result = await _draft(
                app, broadcaster, alert, info, scopes, update=False, signature=signature
            )
        except NoticeInvalid as exc:
            raise CapRefused(400, str(exc)) from None
    else:
        if authorize is not None:
            await authorize(Permission.MANAGE_NOTICE, ())
        try:
            result = await _follow_up(app, broadcaster, alert, signature=signature)
        except NoticeInvalid as exc:
            raise CapRefused(409, str(exc)) from None
    codes = [n.code for n in result.notices]
    now = utcnow()

    def store(session: Session) -> None:
        session.add(
            CapMessage(
                identifier=alert.identifier,
                sender=alert.sender,
                sent=alert.sent.isoformat(),
                msg_type=alert.msg_type,
                status=alert.status,
                event=info.event if info else "",
                severity=info.severity if info else "",
                via=via,
                outcome=result.outcome,
                notice_codes=codes,
                detail=result.message,
                received_at=now,
            )
        )

    await run_in_session(engine, store)
    await audit(
        f"cap.{alert.msg_type.lower()}",
        AuditOutcome.OK,
        target,
        f"CAP 预警 {alert.identifier}：{result.message}",
        {"notices": codes, "outcome": result.outcome, "event": info.event if info else ""},
    )
    log.info(
        "CAP %s %s: %s (%s)", alert.msg_type, alert.identifier, result.message, " ".join(codes)
    )
    return CapOut(
        identifier=alert.identifier,
        msg_type=alert.msg_type,
        outcome=result.outcome,
        notices=result.notices,
        message=result.message,
    )


@api.endpoint(
    "POST",
    "/api/cap",
    permission=Permission.ISSUE_NOTICE,
    summary="A CAP 1.2 warning (application/xml): Alert drafts or sends notices, Update corrects, Cancel recalls",
    response=CapOut,
    errors=(400, 401, 403, 409, 413, 415, 422, 503),
    tag="notices",
    raw_body="application/xml",
)
async def post_cap(request: web.Request) -> Any:
    principal = principal_of(request)
    assert principal is not None
    # Only those who may issue a notice somewhere go on (the scopes are checked below).
    own = principal.posts[0].scope if principal.posts else ()
    await authorize(request, Permission.ISSUE_NOTICE, scope=own)
    if request.content_type not in ("application/xml", "text/xml", "application/cap+xml"):
        raise ApiError(415, "请求体必须是 CAP XML，Content-Type 应为 application/xml")
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "请求体太大") from None

    async def check(permission: Permission, scope: tuple[str, ...]) -> None:
        await authorize(request, permission, scope=scope)

    try:
        return await receive_cap(
            request.app,
            data,
            via="api",
            principal=principal,
            source=client_address(request),
            authorize=check,
        )
    except CapRefused as exc:
        raise ApiError(exc.status, str(exc), problems=exc.problems) from None


def watch_directory_job(app: web.Application) -> Callable[[], Awaitable[None]]:
    """Read the CAP files dropped into ``cap.watch_dir``; move each to ``done/`` or
    ``rejected/`` (with a ``.reason.txt`` beside a rejected one)."""

    async def job() -> None:
        directory = app[SETTINGS].cap.watch_dir
        assert directory is not None
        await scan_directory(app, directory)

    return job


async def scan_directory(app: web.Application, directory: Path) -> list[tuple[str, str]]:
    """One pass over the watched directory; returns (file name, outcome) pairs."""
    done, rejected = directory / "done", directory / "rejected"
    files = await asyncio.to_thread(
        lambda: (
            sorted(p for p in directory.glob("*.xml") if p.is_file()) if directory.is_dir() else []
        )
    )
    results = []
    for path in files:
        data = await asyncio.to_thread(path.read_bytes)
        try:
            out = await receive_cap(
                app, data, via="watch", principal=WATCH_PRINCIPAL, source=str(path)
            )
            destination, outcome = done, out.outcome
        except CapRefused as exc:
            destination, outcome = rejected, f"refused: {exc}"
            rejected.mkdir(parents=True, exist_ok=True)
            (rejected / (path.name + ".reason.txt")).write_text(
                "\n".join([str(exc), *exc.problems]), encoding="utf-8"
            )
            log.warning("CAP file %s rejected: %s", path.name, exc)
        destination.mkdir(parents=True, exist_ok=True)
        path.replace(destination / path.name)
        results.append((path.name, outcome))
    return results
