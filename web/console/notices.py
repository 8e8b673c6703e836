"""通知: the history, composing (the JSON API plans and confirms: ``POST /api/notices``,
``POST /api/notices/{code}/confirm``), and one notice's plan, live reach (Server-Sent
Events) and acknowledgements."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from broadcast import service as notices
from broadcast.history import STATUS_ZH, NoticeFilter, live_picture, notice_lines, silent_units
from broadcast.household_reach import household_report
from core.clock import utcnow
from core.policy import Permission, decide
from models.broadcast import Notice, NoticeStatus
from models.db import run_in_session
from models.enums import Level
from models.org import PATH_SEP, OrgUnit
from web.console.base import CONSOLE, page, principal_required, routes, widest_scope
from web.console.live import event_stream
from web.console.scopes import notice_scopes
from web.endpoints import ApiError, guarded
from web.keys import BROADCASTER, ENGINE, SETTINGS
from web.security import audit, authorize

NOTICE_CODE = r"{code:N\d{4,6}}"


@routes.get(CONSOLE + "notices")
@guarded(Permission.VIEW_NOTICES)
async def history(request: web.Request) -> web.StreamResponse:
    """Notices within the person's scopes, newest first, with filters."""
    principal = principal_required(request)
    scopes = notice_scopes(principal)
    if scopes == []:
        await authorize(request, Permission.VIEW_NOTICES, scope=())
    status = request.query.get("status", "")
    wanted = NoticeFilter(
        status=NoticeStatus(status) if status in NoticeStatus.__members__.values() else None,
        text=request.query.get("q", "")[:100],
        limit=100,
    )
    town = request.app[SETTINGS].town.name
    lines = await run_in_session(
        request.app[ENGINE],
        lambda s: notice_lines(s, town=town, scopes=scopes, wanted=wanted),
    )
    return await page(
        request,
        "notices.html",
        {
            "title": "通知",
            "lines": lines,
            "wanted": wanted,
            "statuses": [(s.value, STATUS_ZH[s]) for s in NoticeStatus],
            "can_issue": widest_scope(principal, Permission.ISSUE_NOTICE) is not None,
        },
    )


def _picker(session: Session, town: str, root: tuple[str, ...]) -> list[dict[str, Any]]:
    """The town, villages and grids under ``root`` for the scope picker (units are found
    by the search box)."""
    prefix = PATH_SEP.join((town, *root))
    rows = session.exec(
        select(OrgUnit.path, OrgUnit.name, OrgUnit.level)
        .where(
            col(OrgUnit.level).in_([Level.TOWN, Level.VILLAGE, Level.GRID]),
            (col(OrgUnit.path) == prefix) | col(OrgUnit.path).startswith(prefix + PATH_SEP),
        )
        .order_by(col(OrgUnit.id))
    ).all()
    return [
        {"path": path, "name": name, "depth": Level(level).depth, "level": Level(level).label}
        for path, name, level in rows
    ]


@routes.get(CONSOLE + "notices/new")
@guarded(Permission.ISSUE_NOTICE)
async def compose(request: web.Request) -> web.StreamResponse:
    """Title, body, the scope picked from the tree, levels, urgent, acknowledgement."""
    principal = principal_required(request)
    root = widest_scope(principal, Permission.ISSUE_NOTICE)
    if root is None:
        await authorize(request, Permission.ISSUE_NOTICE, scope=())
        root = ()
    settings = request.app[SETTINGS]
    town = settings.town.name
    picker = await run_in_session(request.app[ENGINE], lambda s: _picker(s, town, root))
    return await page(
        request,
        "notice_new.html",
        {
            "title": "发布通知",
            "picker": picker,
            "levels": [(lv.value, lv.label) for lv in Level],
            "deadline_s": int(settings.broadcast.deadline.total_seconds()),
        },
    )


async def _notice(request: web.Request, code: str) -> tuple[Notice, tuple[str, ...]]:
    def read(session: Session) -> tuple[Notice, tuple[str, ...]]:
        notice = notices.notice_by_code(session, code)
        unit = session.get(OrgUnit, notice.scope_org_unit_id)
        return notice, (unit.town_path if unit is not None else ())

    try:
        return await run_in_session(request.app[ENGINE], read)
    except notices.NoticeNotFound as exc:
        raise ApiError(404, str(exc)) from None


@routes.get(CONSOLE + "notices/" + NOTICE_CODE)
@guarded(Permission.VIEW_NOTICES)
async def notice_page(request: web.Request) -> web.StreamResponse:
    """The plan before confirming; the live reach while sending; acknowledgements after."""
    code = request.match_info["code"]
    notice, scope = await _notice(request, code)
    principal = await authorize(request, Permission.VIEW_NOTICES, scope=scope, target=code)
    now = utcnow()

    def read(session: Session) -> dict[str, Any]:
        assert notice.id is not None
        return {
            "live": live_picture(session, notice, now=now),
            "silent": silent_units(session, notice.id),
            "households": household_report(session, notice),
        }

    data = await run_in_session(request.app[ENGINE], read)
    manage = bool(
        decide(
            principal,
            Permission.MANAGE_NOTICE,
            scope=scope,
            issuer_person_id=notice.issuer_person_id,
        )
    )
    return await page(
        request,
        "notice.html",
        {
            **data,
            "title": f"通知 {code}",
            "n": notice,
            "scope_label": "/".join(scope) or request.app[SETTINGS].town.name,
            "levels_label": "、".join(Level(lv).label for lv in notice.levels),
            "manage": manage,
            "pending": notice.status is NoticeStatus.PENDING,
            "sending": notice.status is NoticeStatus.SENDING,
        },
    )


@routes.get(CONSOLE + "notices/" + NOTICE_CODE + "/live")
@guarded(Permission.VIEW_NOTICES)
async def notice_live(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the live picture whenever a delivery or receipt is recorded
    (read every 0.3 s), until every delivery is final."""
    code = request.match_info["code"]
    _notice_row, scope = await _notice(request, code)
    await authorize(request, Permission.VIEW_NOTICES, scope=scope, target=code)
    engine = request.app[ENGINE]

    async def snapshot() -> tuple[str, dict[str, object]]:
        def read(session: Session) -> dict[str, object]:
            notice = notices.notice_by_code(session, code)
            return live_picture(session, notice, now=utcnow())

        data = await run_in_session(engine, read)
        version = "|".join(
            str(data[k]) for k in ("status", "sent", "failed", "unreachable", "acked", "pending")
        )
        return version, data

    def final(data: dict[str, object]) -> bool:
        return data["status"] in ("done", "cancelled") and data["pending"] == 0

    return await event_stream(request, snapshot, interval_s=0.3, event="reach", final=final)


@routes.post(CONSOLE + "notices/" + NOTICE_CODE + "/recall")
@guarded(Permission.MANAGE_NOTICE)
async def recall(request: web.Request) -> web.StreamResponse:
    """撤回: stop sending at once and cancel what is not sent (issuer or town official)."""
    code = request.match_info["code"]
    notice, scope = await _notice(request, code)
    await authorize(
        request,
        Permission.MANAGE_NOTICE,
        scope=scope,
        issuer_person_id=notice.issuer_person_id,
        target=code,
    )
    broadcaster = request.app.get(BROADCASTER)
    if broadcaster is None:
        raise ApiError(503, "本进程没有运行机器人，不能撤回通知")
    await broadcaster.retract(code)
    await audit(request, "notice.recall", target=code, scope=scope, message=f"撤回 {code}")
    return web.json_response(
        {"message": f"已撤回 {code}，未发出的群不再发送", "redirect": f"{CONSOLE}notices/{code}"}
    )
