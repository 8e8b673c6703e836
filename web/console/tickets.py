"""工单: the board (filters, sorting, pages, live), one ticket with its history and the
actions of the chat commands, and the export of the filtered list.

An action from the console is the chat command it stands for (接单 T…, 办结 T… 结果, …),
parsed by :func:`tickets.commands.parse_command` and applied by
:func:`tickets.actions.act` with the signed-in person as the actor: the lifecycle's
rules, the replies to the residents and the audit entry are the same as in chat.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func
from sqlmodel import Session, col, select

from cluster.changes import TICKETS_TOPIC
from core.clock import TOWN_TZ, utcnow
from core.messaging import Reply
from core.policy import Permission
from core.spreadsheet import csv_row, xlsx_row
from models.auth import AuditOutcome
from models.db import run_in_session
from models.enums import Level, TicketLevel, TicketState, Urgency
from models.org import PATH_SEP, OrgUnit, Person
from models.tickets import Ticket
from orgtree.directory import contact_id_of
from tickets.actions import act
from tickets.board import (
    SORTS,
    BoardFilter,
    BoardRow,
    TicketScope,
    board_page,
    board_rows,
    scope_of,
)
from tickets.commands import CommandError, ReassignCommand, TicketCommand, parse_command
from tickets.errors import TicketError, TicketNotFound
from tickets.lifecycle import LEVEL_ZH, STATE_ZH, TransitionRefused
from tickets.outbox import queue_replies
from tickets.queries import TicketDetail, ticket_detail
from web.console.base import CONSOLE, page, principal_required, routes
from web.console.live import event_stream
from web.console.query import FilterValueError, read_day, read_id, refusal
from web.endpoints import ApiError, guarded
from web.keys import DESK, ENGINE, SETTINGS
from web.security import audit, authorize, send_or_audit

EXPORT_LIMIT = 100_000
ACTIONS: dict[str, tuple[str, str]] = {
    # form value: (chat verb, what the form asks for)
    "accept": ("接单", ""),
    "report": ("报到", ""),
    "note": ("备注", "text"),
    "extend": ("延期", "days"),
    "escalate": ("上报", "text"),
    "whistle": ("吹哨", "department"),
    "reassign": ("改派", "person"),
    "resolve": ("办结", "text"),
    "return": ("退单", "text"),
}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def parse_filter(query: Any) -> BoardFilter:
    """The board's filter from the query string. A choice that makes no sense (a state,
    a sort) is ignored; a village, grid or date that cannot be read or is out of range
    is refused with 400 naming the field (:mod:`web.console.query`)."""
    try:
        village_id = read_id(query.get("village"), "村")
        grid_id = read_id(query.get("grid"), "网格")
        start = read_day(query.get("from"), "开始日期")
        end = read_day(query.get("to"), "结束日期")
    except FilterValueError as error:
        raise refusal(error) from None
    page_text = query.get("page") or ""
    page_number = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 1
    states = tuple(
        TicketState(s) for s in query.getall("state", []) if s in TicketState.__members__.values()
    )
    urgency = query.get("urgency")
    level = query.get("level")
    sort = query.get("sort", "new")
    return BoardFilter(
        states=states,
        open_only=query.get("open") == "1",
        category=query.get("category") or None,
        urgency=Urgency(urgency) if urgency in Urgency.__members__.values() else None,
        level=TicketLevel(level) if level in TicketLevel.__members__.values() else None,
        village_id=village_id,
        grid_id=grid_id,
        overdue=query.get("overdue") == "1",
        start=start,
        end=end,
        text=(query.get("q") or "")[:100],
        sort=sort if sort in SORTS else "new",
        page=max(1, page_number),
    )


def _places(session: Session, scope: TicketScope, town: str) -> tuple[list[Any], list[Any]]:
    """The villages and grids a person may filter by."""
    units = session.exec(
        select(  # type: ignore[call-overload]
            OrgUnit.id, OrgUnit.name, OrgUnit.path, OrgUnit.level, OrgUnit.parent_id
        ).where(col(OrgUnit.level).in_([Level.VILLAGE, Level.GRID]))
    ).all()
    villages = []
    grids = []
    for unit_id, name, path, level, parent in units:
        if level is Level.VILLAGE:
            if scope.everything or unit_id in scope.village_ids:
                villages.append((unit_id, name))
        elif scope.everything or parent in scope.village_ids or unit_id in scope.grid_ids:
            grids.append((unit_id, path.split(PATH_SEP, 1)[-1]))
    return sorted(villages, key=lambda v: v[0]), sorted(grids, key=lambda g: g[0])


def _reader(session: Session, person_id: int | None) -> str | None:
    """The signed-in person's contact id (whom the lifecycle knows as a ticket's handler);
    ``None`` for a token or a person without one: nobody in particular."""
    person = session.get(Person, person_id) if person_id is not None else None
    return contact_id_of(person) if person is not None else None


async def _scope(request: web.Request) -> TicketScope:
    principal = principal_required(request)
    settings = request.app[SETTINGS]
    scope = await run_in_session(request.app[ENGINE], lambda s: scope_of(s, settings, principal))
    if scope.empty:
        await authorize(request, Permission.VIEW_TICKETS, scope=())
    return scope


@routes.get(CONSOLE + "tickets")
@guarded(Permission.VIEW_TICKETS)
async def board(request: web.Request) -> web.StreamResponse:
    """The board: filters, sorting, pages; the table reloads itself when tickets change."""
    scope = await _scope(request)
    settings = request.app[SETTINGS]
    wanted = parse_filter(request.query)
    now = utcnow()
    person_id = principal_required(request).person_id

    def read(session: Session) -> dict[str, Any]:
        result = board_page(
            session=session,
            settings=settings,
            scope=scope,
            wanted=wanted,
            now=now,
            reader=_reader(session, person_id),
        )
        villages, grids = _places(session, scope, settings.town.name)
        return {"board": result, "villages": villages, "grids": grids}

    data = await run_in_session(request.app[ENGINE], read)
    template = "tickets_rows.html" if request.query.get("partial") == "1" else "tickets.html"
    query = {k: v for k, v in request.query.items() if k not in ("page", "partial")}
    return await page(
        request,
        template,
        {
            **data,
            "title": "工单",
            "wanted": wanted,
            "states": [(s.value, STATE_ZH[s]) for s in TicketState],
            "levels": [(lv.value, LEVEL_ZH[lv]) for lv in TicketLevel],
            "categories": [(c.code, c.name) for c in settings.tickets.categories],
            "sorts": SORTS,
            "query": query,
            "query_string": "&".join(
                f"{k}={v}" for k, v in request.query.items() if k not in ("page", "partial")
            ),
        },
    )


@routes.get(CONSOLE + "tickets/live")
@guarded(Permission.VIEW_TICKETS)
async def board_live(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``changed`` whenever a ticket in the person's scope changes."""
    scope = await _scope(request)
    condition = scope.condition()

    def version(session: Session) -> str:
        count, latest = session.exec(
            select(func.count(), func.max(col(Ticket.updated_at))).where(condition)
        ).one()
        return f"{count}:{latest}"

    async def snapshot() -> tuple[str, dict[str, object]]:
        value = await run_in_session(request.app[ENGINE], version)
        return value, {"version": value}

    return await event_stream(
        request, snapshot, interval_s=1.0, event="changed", topics=(TICKETS_TOPIC,)
    )


def _filter_export(rows: list[BoardRow]) -> list[list[str]]:
    def when(value: datetime | None) -> str:
        return value.astimezone(TOWN_TZ).strftime("%Y-%m-%d %H:%M") if value else ""

    return [
        [
            r.code,
            r.state_label,
            r.level_label,
            r.category,
            "紧急" if r.urgent else "一般",
            r.place,
            r.location,
            r.assignee,
            when(r.created_at),
            when(r.deadline),
            "是" if r.overdue else "",
            r.text,
        ]
        for r in rows
    ]


EXPORT_HEADERS = [
    "编号",
    "状态",
    "层级",
    "类别",
    "紧急程度",
    "所在单元",
    "位置",
    "承办",
    "受理时间",
    "时限",
    "超时",
    "内容",
]


@routes.get(CONSOLE + "tickets/export.{kind:csv|xlsx}")
@guarded(Permission.VIEW_TICKETS)
async def export(request: web.Request) -> web.StreamResponse:
    """The filtered list as CSV (UTF-8 with BOM, for Excel) or XLSX."""
    scope = await _scope(request)
    settings = request.app[SETTINGS]
    wanted = replace(parse_filter(request.query), page=1)
    now = utcnow()
    person_id = principal_required(request).person_id
    rows = await run_in_session(
        request.app[ENGINE],
        lambda s: board_rows(
            session=s,
            settings=settings,
            scope=scope,
            wanted=wanted,
            now=now,
            limit=EXPORT_LIMIT,
            reader=_reader(s, person_id),
        ),
    )
    table = _filter_export(rows)
    stamp = now.astimezone(TOWN_TZ).strftime("%Y%m%d-%H%M")
    kind = request.match_info["kind"]
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_HEADERS)
        writer.writerows(csv_row(row) for row in table)
        body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
        content_type = "text/csv"
    else:
        body = await asyncio.to_thread(_xlsx, table)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    await audit(request, "ticket.export", message=f"导出工单 {len(table)} 条（{kind}）")
    return web.Response(
        body=body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="tickets-{stamp}.{kind}"',
            "Cache-Control": "no-store",
        },
    )


def _xlsx(table: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("工单")
    sheet.append(EXPORT_HEADERS)
    for row in table:
        sheet.append(xlsx_row(sheet, row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _ticket_scope(request: web.Request, code: str) -> tuple[tuple[str, ...], str | None]:
    town = request.app[SETTINGS].town.name

    def read(session: Session) -> tuple[tuple[str, ...], str | None]:
        row = session.exec(select(Ticket).where(Ticket.code == code)).first()
        if row is None:
            raise TicketNotFound(code)
        unit = session.get(OrgUnit, row.unit_id)
        path = unit.path if unit is not None else town
        return tuple(path.split(PATH_SEP)[1:]), row.department_code

    try:
        return await run_in_session(request.app[ENGINE], read)
    except TicketNotFound as exc:
        raise ApiError(404, exc.message) from None


@routes.get(CONSOLE + r"tickets/{code:T\d{8}-\d{4,6}}")
@guarded(Permission.VIEW_TICKETS)
async def ticket(request: web.Request) -> web.StreamResponse:
    """One ticket: its text, reporters (phones in full to whoever handles it, masked for
    the rest: :mod:`core.privacy`), timeline and the actions."""
    code = request.match_info["code"]
    scope, department = await _ticket_scope(request, code)
    principal = await authorize(
        request, Permission.VIEW_TICKETS, scope=scope, department=department, target=code
    )
    settings = request.app[SETTINGS]
    now = utcnow()
    person_id = principal.person_id

    def read(session: Session) -> TicketDetail:
        return ticket_detail(
            session=session,
            settings=settings,
            code=code,
            now=now,
            reader=_reader(session, person_id),
        )

    detail = await run_in_session(request.app[ENGINE], read)
    from core.policy import decide

    can_act = (
        bool(decide(principal, Permission.ACT_ON_TICKET, scope=scope, department=department))
        and principal.person_id is not None
    )
    return await page(
        request,
        "ticket.html",
        {
            "title": f"工单 {code}",
            "t": detail,
            "state_label": STATE_ZH[detail.ticket.state],
            "level_label": LEVEL_ZH[detail.ticket.level],
            "state_zh": {s.value: STATE_ZH[s] for s in TicketState},
            "can_act": can_act,
            "actions": ACTIONS,
            "departments": [d.name for d in settings.departments],
        },
    )


def command_text(code: str, action: str, form: Any) -> str:
    """The chat command a console action stands for."""
    verb, needs = ACTIONS[action]
    text = " ".join(str(form.get("text", "")).split())[:500]
    match needs:
        case "days":
            days = _int(str(form.get("days", ""))) or 0
            return f"{verb} {code} {days}天 {text}".strip()
        case "department":
            return f"{verb} {code} {str(form.get('department', '')).strip()} {text}".strip()
        case "person":
            return f"{verb} {code} @{str(form.get('person', '')).strip()} {text}".strip()
    return f"{verb} {code} {text}".strip()


@routes.post(CONSOLE + r"tickets/{code:T\d{8}-\d{4,6}}/act")
@guarded(Permission.ACT_ON_TICKET)
async def ticket_act(request: web.Request) -> web.StreamResponse:
    """Apply one action as the signed-in person (the lifecycle decides the action)."""
    code = request.match_info["code"]
    scope, department = await _ticket_scope(request, code)
    principal = await authorize(
        request, Permission.ACT_ON_TICKET, scope=scope, department=department, target=code
    )
    if principal.person_id is None:
        raise ApiError(
            403,
            "令牌不能办理工单：工单的每一步都要记在具体的人名下，请本人登录办理",
            code="forbidden",
        )
    form = await request.post()
    action = str(form.get("action", ""))
    if action not in ACTIONS:
        raise ApiError(400, "未知的操作", problems=[f"action: {action!r}"])
    settings = request.app[SETTINGS]
    text = command_text(code, action, form)
    command = parse_command(text, departments=settings.departments)
    if isinstance(command, CommandError):
        raise ApiError(400, command.message)
    if not isinstance(command, TicketCommand | ReassignCommand):
        raise ApiError(400, f"「{text}」不是工单操作")
    person_id = principal.person_id
    now = utcnow()
    desk = request.app.get(DESK)

    def work(session: Session) -> tuple[str, tuple[Reply, ...], TicketState]:
        person = session.get(Person, person_id)
        if person is None:
            raise TicketError("花名册中没有找到您，请重新登录")
        outcome = act(
            session=session,
            settings=settings,
            command=command,
            actor_contact_id=contact_id_of(person),
            actor_name=person.name,
            now=now,
        )
        row = session.exec(select(Ticket).where(Ticket.code == code)).one()
        # The answer is the actor's (「已接单…请回复办结…」): shown on the page, as in a
        # private chat, never posted to the residents' group; the reporters are told
        # through the lifecycle's own notifications, as for the chat command.
        replies = outcome.replies
        if desk is None:  # no bot in this process: the bot's timer job sends them
            queue_replies(session=session, replies=replies, now=now, ticket_id=row.id)
        return outcome.reply, replies, outcome.state

    verb = action
    try:
        reply, replies, state = await run_in_session(request.app[ENGINE], work)
    except (TicketError, TransitionRefused) as exc:
        reason = exc.message if isinstance(exc, TicketError) else exc.reason
        await audit(
            request,
            f"ticket.{verb}",
            outcome=AuditOutcome.REFUSED,
            target=code,
            scope=scope,
            message=reason,
        )
        raise ApiError(409, reason, code="refused") from None
    if desk is not None:
        await send_or_audit(request, desk.send, replies, f"ticket.{verb}", target=code, scope=scope)
    await audit(request, f"ticket.{verb}", target=code, scope=scope, message=reply[:200])
    return web.Response(
        text=json.dumps(
            {"message": reply, "state": STATE_ZH[state], "redirect": f"{CONSOLE}tickets/{code}"},
            ensure_ascii=False,
        ),
        content_type="application/json",
    )
