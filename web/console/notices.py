"""通知: the history with its filters, composing (the JSON API plans and confirms:
``POST /api/notices``, ``POST /api/notices/{code}/confirm``), and one notice's plan, live
reach (Server-Sent Events), acknowledgement coverage by place with the silent units and
their leaders, and recall (撤回) and correction (更正) through :mod:`broadcast.actions`, the
functions the chat's ``#撤回`` and ``#更正`` call."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlmodel import Session, col, select

from broadcast import actions
from broadcast import service as notices
from broadcast.compose import MAX_BODY_CHARS, NoticeInvalid
from broadcast.history import (
    KIND_ZH,
    STATUS_ZH,
    NoticeFilter,
    count_notices,
    coverage,
    live_picture,
    notice_lines,
    silent_unit_leaders,
)
from broadcast.household_reach import household_report
from cluster.changes import notice_topic
from core.clock import TOWN_TZ, utcnow
from core.policy import Permission, Principal, decide
from core.privacy import viewer_of
from models.broadcast import Notice, NoticeKind, NoticeStatus
from models.db import run_in_session
from models.enums import Level
from models.org import PATH_SEP, OrgPath, OrgUnit
from web.console.base import CONSOLE, page, principal_required, routes, widest_scope
from web.console.live import event_stream
from web.console.query import FilterValueError, read_day
from web.console.scopes import notice_scopes, picker_places
from web.endpoints import ApiError, guarded
from web.keys import DESK, ENGINE, SETTINGS
from web.security import audit, authorize

NOTICE_CODE = r"{code:N\d{4,6}}"


PAGE_SIZE = 50


def _town_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=TOWN_TZ).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """The history's filter as the form sent it (shown back in the form), and the
    problems with it (shown, never a crash)."""

    status: str = ""
    kind: str = ""
    start: str = ""
    end: str = ""
    place: str = ""
    above: bool = False
    text: str = ""
    page: int = 1
    problems: tuple[str, ...] = ()

    def link(self, page: int) -> str:
        fields = {
            "status": self.status,
            "kind": self.kind,
            "from": self.start,
            "to": self.end,
            "place": self.place,
            "above": "1" if self.above else "",
            "q": self.text,
        }
        query = urlencode({k: v for k, v in fields.items() if v} | {"page": page})
        return f"{CONSOLE}notices?{query}"


def parse_history_query(query: Any) -> tuple[HistoryQuery, NoticeFilter]:
    """The form's values and the filter they mean; a value that makes no sense is named
    in ``problems`` (the page then lists nothing rather than something unfiltered)."""
    problems = []
    status = query.get("status", "")
    if status and status not in NoticeStatus.__members__.values():
        problems.append(f"不认识的状态「{status[:20]}」")
    kind = query.get("kind", "")
    if kind and kind not in NoticeKind.__members__.values():
        problems.append(f"不认识的种类「{kind[:20]}」")
    start_text, end_text = query.get("from", "")[:10], query.get("to", "")[:10]
    start = end = None
    try:
        start = read_day(start_text, "开始日期")
    except FilterValueError as error:
        problems.append(error.message)
    try:
        end = read_day(end_text, "结束日期")
    except FilterValueError as error:
        problems.append(error.message)
    if start is not None and end is not None and start > end:
        problems.append("开始日期晚于结束日期")
    page_text = query.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 1
    shown = HistoryQuery(
        status=status[:20],
        kind=kind[:20],
        start=start_text,
        end=end_text,
        place=query.get("place", "").strip()[:200],
        above=query.get("above") == "1",
        text=query.get("q", "").strip()[:100],
        page=max(1, page),
        problems=tuple(problems),
    )
    wanted = NoticeFilter(
        status=NoticeStatus(status) if status in NoticeStatus.__members__.values() else None,
        kind=NoticeKind(kind) if kind in NoticeKind.__members__.values() else None,
        text=shown.text,
        start=_town_midnight(start) if start else None,
        end=_town_midnight(end + timedelta(days=1)) if end else None,
        above=shown.above,
        limit=PAGE_SIZE,
        offset=(shown.page - 1) * PAGE_SIZE,
    )
    return shown, wanted


@routes.get(CONSOLE + "notices")
@guarded(Permission.VIEW_NOTICES)
async def history(request: web.Request) -> web.StreamResponse:
    """Notices within the person's scopes, newest first: filters by date, place (a
    village or grid picked or typed), status, kind and text; pages of 50."""
    principal = principal_required(request)
    scopes = notice_scopes(principal)
    if scopes == []:
        await authorize(request, Permission.VIEW_NOTICES, scope=())
    shown, wanted = parse_history_query(request.query)
    town = request.app[SETTINGS].town.name
    own = [post.scope for post in principal.posts if post.scope]

    def read(session: Session) -> dict[str, Any]:
        problems = list(shown.problems)
        filtered = wanted
        if shown.place:
            try:
                unit = notices.scope_unit(session, shown.place, town=town, relative_to=own)
            except LookupError as exc:
                problems.append(f"范围：{exc}")
            else:
                filtered = replace(wanted, place=unit.town_path)
        places = [p for scope in (scopes or [()]) for p in picker_places(session, town, scope)]
        if problems:
            return {"lines": [], "total": 0, "problems": problems, "places": places}
        total = count_notices(session, town=town, scopes=scopes, wanted=filtered)
        lines = notice_lines(session, town=town, scopes=scopes, wanted=filtered)
        return {"lines": lines, "total": total, "problems": [], "places": places}

    data = await run_in_session(request.app[ENGINE], read)
    pages = max(1, -(-data["total"] // PAGE_SIZE))
    return await page(
        request,
        "notices.html",
        {
            **data,
            "title": "通知",
            "q": shown,
            "pages": pages,
            "statuses": [(s.value, STATUS_ZH[s]) for s in NoticeStatus],
            "kinds": [(k.value, KIND_ZH[k]) for k in NoticeKind if k is not NoticeKind.REMINDER],
            "can_issue": widest_scope(principal, Permission.ISSUE_NOTICE) is not None,
        },
        status=400 if data["problems"] else 200,
    )


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
    picker = await run_in_session(request.app[ENGINE], lambda s: picker_places(s, town, root))
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


def _at(text: str) -> OrgPath:
    return tuple(part.strip() for part in text[:200].split(PATH_SEP) if part.strip())


def _related(session: Session, notice: Notice) -> list[dict[str, str]]:
    """The notice it corrects or recalls, and its own corrections and recalls."""
    found = []
    if notice.parent_id is not None:
        parent = session.get(Notice, notice.parent_id)
        if parent is not None:
            found.append(parent)
    found += session.exec(
        select(Notice).where(Notice.parent_id == notice.id).order_by(col(Notice.id))
    ).all()
    return [
        {
            "code": n.code,
            "kind": KIND_ZH[n.kind],
            "status": STATUS_ZH[n.status],
            "title": n.title,
            "body": n.body,
            "issuer": n.issuer_name,
            "created_at": n.created_at.isoformat(),
            "is_parent": "1" if n.id == notice.parent_id else "",
        }
        for n in found
    ]


@routes.get(CONSOLE + "notices/" + NOTICE_CODE)
@guarded(Permission.VIEW_NOTICES)
async def notice_page(request: web.Request) -> web.StreamResponse:
    """The plan before confirming; the live reach while sending; afterwards the
    acknowledgement coverage by village, grid and unit (``?at=村/网格`` opens a place),
    the silent units with their unit leaders, and recall and correction."""
    code = request.match_info["code"]
    notice, scope = await _notice(request, code)
    principal = await authorize(request, Permission.VIEW_NOTICES, scope=scope, target=code)
    now = utcnow()
    town = request.app[SETTINGS].town.name
    viewer = viewer_of(principal)
    asked = _at(request.query.get("at", ""))

    def read(session: Session) -> dict[str, Any]:
        assert notice.id is not None
        at = asked if asked[: len(scope)] == scope else scope
        problem = "" if at == asked or not asked else f"「{'/'.join(asked)}」不在这条通知的范围内"
        table = coverage(session, notice.id, town=town, at=at, viewer=viewer)
        if table is None and at != scope:
            problem = f"「{'/'.join(at)}」没有收到这条通知的群"
            at = scope
            table = coverage(session, notice.id, town=town, at=at, viewer=viewer)
        silent, silent_total = silent_unit_leaders(session, notice.id, within=at, viewer=viewer)
        return {
            "live": live_picture(session, notice, now=now),
            "households": household_report(session, notice),
            "coverage": table,
            "coverage_problem": problem,
            "at": at,
            "silent": silent,
            "silent_total": silent_total,
            "related": _related(session, notice),
        }

    data = await run_in_session(request.app[ENGINE], read)
    at: OrgPath = data["at"]
    crumbs = [
        ("/".join(at[:depth]), at[depth - 1] if depth else town)
        for depth in range(len(scope), len(at) + 1)
    ]
    manage = bool(
        decide(
            principal,
            Permission.MANAGE_NOTICE,
            scope=scope,
            issuer_person_id=notice.issuer_person_id,
            issuer_token_id=notice.issuer_token_id,
        )
    )
    return await page(
        request,
        "notice.html",
        {
            **data,
            "title": f"通知 {code}",
            "n": notice,
            "kind_label": KIND_ZH[notice.kind],
            "scope_label": "/".join(scope) or town,
            "levels_label": "、".join(Level(lv).label for lv in notice.levels),
            "manage": manage,
            "pending": notice.status is NoticeStatus.PENDING,
            "sending": notice.status is NoticeStatus.SENDING,
            "can_recall": manage and actions.refusal(notice, "recall") is None,
            "can_correct": manage and actions.refusal(notice, "correct") is None,
            "can_chase": manage
            and notice.ack_required
            and notice.status in (NoticeStatus.SENDING, NoticeStatus.DONE)
            and DESK in request.app,
            "crumbs": crumbs,
            "max_body": MAX_BODY_CHARS,
        },
    )


@routes.get(CONSOLE + "notices/" + NOTICE_CODE + "/live")
@guarded(Permission.VIEW_NOTICES)
async def notice_live(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the live picture whenever a delivery or receipt is recorded
    (on PostgreSQL when the database says so; on SQLite read every 0.3 s while sending,
    every 2 s after), until every delivery is final and,
    for a notice that asks for receipts, as long as the page stays open."""
    code = request.match_info["code"]
    notice_row, scope = await _notice(request, code)
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

    def sent(data: dict[str, object]) -> bool:
        return data["status"] in ("done", "cancelled", "recalled") and data["pending"] == 0

    def final(data: dict[str, object]) -> bool:
        # A notice that asks for receipts stays live after sending: they come in later.
        return sent(data) and not (data["ack_required"] and data["status"] == "done")

    return await event_stream(
        request,
        snapshot,
        interval_s=0.3,
        event="reach",
        final=final,
        settled=sent,
        topics=(notice_topic(notice_row.id or 0),),
    )


async def _manage(request: web.Request, verb: str) -> tuple[Notice, OrgPath, Principal, str]:
    """The notice, its scope, the person (the policy's MANAGE_NOTICE, as in chat) and the
    form's text for a recall or a correction (none for 催办)."""
    code = request.match_info["code"]
    notice, scope = await _notice(request, code)
    principal = await authorize(
        request,
        Permission.MANAGE_NOTICE,
        scope=scope,
        issuer_person_id=notice.issuer_person_id,
        issuer_token_id=notice.issuer_token_id,
        target=code,
    )
    word = {"recall": "撤回", "correct": "更正", "chase": "催办"}[verb]
    if DESK not in request.app:
        raise ApiError(503, f"本进程没有运行机器人，不能{word}通知")
    form = await request.post()
    if verb == "chase":
        return notice, scope, principal, ""
    field = "reason" if verb == "recall" else "body"
    text = form.get(field, "")
    if not isinstance(text, str):
        raise ApiError(400, "撤回原因应是文字" if verb == "recall" else "更正内容应是文字")
    return notice, scope, principal, text


def _done(message: str, notice: Notice, child_code: str | None) -> web.Response:
    code = child_code or notice.code
    return web.json_response(
        {"message": message, "code": code, "redirect": f"{CONSOLE}notices/{code}"}
    )


@routes.post(CONSOLE + "notices/" + NOTICE_CODE + "/recall")
@guarded(Permission.MANAGE_NOTICE)
async def recall(request: web.Request) -> web.StreamResponse:
    """撤回: stop sending at once and tell every group that got it, as ``#撤回`` in chat
    (its issuer or a town official; the form's ``reason`` is optional)."""
    notice, scope, principal, reason = await _manage(request, "recall")
    try:
        recalled = await request.app[DESK].recall(
            notice.code,
            issuer_name=principal.name,
            issuer_person_id=principal.person_id,
            channel="web",
            reason=reason,
        )
    except NoticeInvalid as exc:
        raise ApiError(400, str(exc)) from None
    except notices.NoticeNotFound as exc:
        raise ApiError(404, str(exc)) from None
    child = recalled.retraction_code
    await audit(
        request,
        "notice.recall",
        target=notice.code,
        scope=scope,
        message=f"撤回 {notice.code}"
        + (f"（{child}）" if child else "")
        + (f"，原因：{reason.strip()}" if reason.strip() else ""),
    )
    return _done(recalled.summary_zh, notice, child)


@routes.post(CONSOLE + "notices/" + NOTICE_CODE + "/correct")
@guarded(Permission.MANAGE_NOTICE)
async def correct(request: web.Request) -> web.StreamResponse:
    """更正: send the form's ``body`` to every group that got the notice, as ``#更正`` in
    chat (its issuer or a town official)."""
    notice, scope, principal, body = await _manage(request, "correct")
    if not body.strip():
        raise ApiError(400, "请写上更正的内容")
    try:
        prepared = await request.app[DESK].correct(
            notice.code,
            body,
            issuer_name=principal.name,
            issuer_person_id=principal.person_id,
            channel="web",
        )
    except NoticeInvalid as exc:
        raise ApiError(400, str(exc)) from None
    except notices.NoticeNotFound as exc:
        raise ApiError(404, str(exc)) from None
    await audit(
        request,
        "notice.correct",
        target=notice.code,
        scope=scope,
        message=f"更正 {notice.code}（{prepared.code}）",
    )
    waits = notice.status is NoticeStatus.SENDING
    text = (
        f"更正 {prepared.code} 将在通知 {notice.code} 发送完毕后，发往收到它的群。"
        if waits
        else f"更正 {prepared.code} 正在发往收到通知 {notice.code} 的 {prepared.groups} 个群。"
    )
    if notice.ack_required:
        text += "各群对更正的“收到”单独统计。"
    return _done(text, notice, prepared.code)


@routes.post(CONSOLE + "notices/" + NOTICE_CODE + "/chase")
@guarded(Permission.MANAGE_NOTICE)
async def chase(request: web.Request) -> web.StreamResponse:
    """催办: every silent unit and grid group of the notice is reminded now, as ``#催办``
    in chat (its issuer or a town official)."""
    notice, scope, _principal, _text = await _manage(request, "chase")
    if DESK not in request.app:
        raise ApiError(503, "本进程没有运行机器人，不能催办")
    try:
        reminded = await request.app[DESK].chase(notice.code)
    except notices.NoticeNotFound as exc:
        raise ApiError(404, str(exc)) from None
    await audit(
        request,
        "notice.chase",
        target=notice.code,
        scope=scope,
        message=f"催办 {notice.code}：{reminded} 个群",
    )
    text = (
        f"已催办：未确认的 {reminded} 个群正在收到提醒。"
        if reminded
        else "没有需要催办的群（都已确认，或不需要确认）。"
    )
    return _done(text, notice, None)
