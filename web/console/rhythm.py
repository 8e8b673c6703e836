"""会商 and 月结 in the console: the latest weekly consultation agendas (三员三长会商) with
their outcomes and a form to record one (the chat's ``会商 T… 结论 …``: ACT_ON_TICKET on
the ticket's village, :func:`rhythm.consultation.record_consultation`), and the monthly
report (:mod:`rhythm.monthly`, the numbers of ``gridcast report month``) as XLSX and chart.
"""

from __future__ import annotations

import asyncio
import io
import time
from datetime import date, datetime
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from core.clock import TOWN_TZ, format_local_time, utcnow
from core.messaging import Reply
from core.policy import Permission, Principal, decide
from models.auth import AuditOutcome
from models.db import run_in_session
from models.enums import Level
from models.org import OrgUnit, Person
from orgtree.directory import contact_id_of
from rhythm.commands import ConsultCommand, consult_due_problem
from rhythm.consultation import agenda_lines, consult_scope, record_consultation
from rhythm.monthly import MonthlyReport, monthly_report, render_png, summary_text, write_xlsx
from rhythm.periods import previous_month
from tickets.errors import TicketError
from tickets.lifecycle import TransitionRefused
from tickets.outbox import queue_replies
from tickets.rows import load_ticket
from web.console.base import CONSOLE, page, principal_required, routes
from web.console.query import FilterValueError, read_month
from web.console.scopes import ticket_scopes
from web.endpoints import ApiError, guarded, json_response
from web.keys import DESK, ENGINE, SETTINGS
from web.security import audit, authorize, send_or_audit

TICKET_CODE = r"{code:T\d{8}-\d{4,6}}"
MAX_CONCLUSION = 500


# --- 会商 ------------------------------------------------------------------------------


@routes.get(CONSOLE + "consult")
@guarded(Permission.VIEW_TICKETS)
async def consult_page(request: web.Request) -> web.StreamResponse:
    """Each village's latest agenda (items and reasons) within the person's scopes, the
    outcomes recorded, and a form per item for those who may record one."""
    principal = principal_required(request)
    scopes = ticket_scopes(principal)
    if scopes == []:
        await authorize(request, Permission.VIEW_TICKETS, scope=())
    town = request.app[SETTINGS].town.name

    def read(session: Session) -> dict[str, Any]:
        return {
            "agenda": agenda_lines(session, town=town, scopes=scopes),
            "recorded": agenda_lines(
                session, town=town, scopes=scopes, latest_only=False, recorded_only=True, limit=50
            ),
        }

    data = await run_in_session(request.app[ENGINE], read)
    villages: dict[str, list[Any]] = {}
    for line in data["agenda"]:
        villages.setdefault(line.village, []).append(line)
    may_record = {
        # The ticket's grid (village/grid/unit): rhythm.consultation.consult_scope
        line.code: _may_consult(principal, tuple(line.place.split("/")[:2]))
        for line in data["agenda"]
    }
    today = utcnow().astimezone(TOWN_TZ).date()
    return await page(
        request,
        "consult.html",
        {
            "title": "会商",
            "villages": villages,
            "recorded": data["recorded"],
            "may_record": may_record,
            "today": today.isoformat(),
        },
    )


def _may_consult(principal: Principal, scope: tuple[str, ...]) -> bool:
    return (
        bool(decide(principal, Permission.ACT_ON_TICKET, scope=scope))
        and principal.person_id is not None
    )


@routes.post(CONSOLE + "consult/" + TICKET_CODE)
@guarded(Permission.ACT_ON_TICKET)
async def consult_record(request: web.Request) -> web.StreamResponse:
    """Record a consultation outcome for ticket ``code`` as the signed-in person: the
    conclusion, its owner (a name; default the person) and due date (default
    ``cadences.consult_due_days``), into the ticket's history and the agenda item."""
    code = request.match_info["code"].upper()
    settings = request.app[SETTINGS]

    def scope_of(session: Session) -> tuple[str, ...]:
        return consult_scope(session, load_ticket(session, code))

    try:
        scope = await run_in_session(request.app[ENGINE], scope_of)
    except TicketError as exc:
        raise ApiError(404, exc.message) from None
    principal = await authorize(request, Permission.ACT_ON_TICKET, scope=scope, target=code)
    if principal.person_id is None:
        raise ApiError(
            403, "令牌不能记录会商结论：结论要记在具体的人名下，请本人登录", code="forbidden"
        )
    form = await request.post()
    conclusion = " ".join(str(form.get("conclusion", "")).split())
    owner = str(form.get("owner", "")).strip()
    due_text = str(form.get("due", "")).strip()
    problems = []
    if not conclusion:
        problems.append("请写明会商结论")
    elif len(conclusion) > MAX_CONCLUSION:
        problems.append(f"会商结论最多 {MAX_CONCLUSION} 字")
    if len(owner) > 20 or any(ch.isspace() for ch in owner):
        problems.append("责任人请写一个姓名")
    now = utcnow()
    due: date | None = None
    if due_text:
        try:
            due = date.fromisoformat(due_text[:10])
        except ValueError:
            problems.append(f"期限「{due_text[:20]}」应写成 2026-12-05 这样的日期")
        else:
            if problem := consult_due_problem(due, today=now.astimezone(TOWN_TZ).date()):
                problems.append(problem)
    if problems:
        raise ApiError(400, "；".join(problems), problems=problems)
    command = ConsultCommand(code=code, conclusion=conclusion, owner_name=owner, due_on=due)
    person_id = principal.person_id
    desk = request.app.get(DESK)

    def work(session: Session) -> tuple[str, tuple[Reply, ...]]:
        person = session.get(Person, person_id)
        if person is None:
            raise TicketError("花名册中没有找到您，请重新登录")
        recorded = record_consultation(
            session, settings, command, contact_id=contact_id_of(person), name=person.name, now=now
        )
        if desk is None:
            queue_replies(session=session, replies=recorded.replies, now=now)
        return recorded.reply, recorded.replies

    try:
        reply, replies = await run_in_session(request.app[ENGINE], work)
    except (TicketError, TransitionRefused) as exc:
        reason = exc.message if isinstance(exc, TicketError) else exc.reason
        await audit(
            request,
            "ticket.consult",
            outcome=AuditOutcome.REFUSED,
            target=code,
            scope=scope,
            message=reason,
        )
        raise ApiError(409, reason, code="refused") from None
    if desk is not None:
        await send_or_audit(request, desk.send, replies, "ticket.consult", target=code, scope=scope)
    await audit(request, "ticket.consult", target=code, scope=scope, message=conclusion[:200])
    return json_response({"message": reply, "redirect": f"{CONSOLE}consult"})


# --- 月结 ------------------------------------------------------------------------------


def _month_choices(principal: Principal, villages: list[str]) -> list[str]:
    """The scopes of the report the person may read: ``""`` the town, or village names."""
    town = [""] if decide(principal, Permission.VIEW_TICKETS, scope=()) else []
    return town + [v for v in villages if decide(principal, Permission.VIEW_TICKETS, scope=(v,))]


async def _month_request(request: web.Request) -> tuple[str, str, list[str], list[str], str]:
    """(month, village or "" for the town, the choices, the problems, the town's name);
    a village out of the person's scope is refused."""
    principal = principal_required(request)
    settings = request.app[SETTINGS]
    villages = await run_in_session(
        request.app[ENGINE],
        lambda s: list(
            s.exec(
                select(OrgUnit.name).where(OrgUnit.level == Level.VILLAGE).order_by(col(OrgUnit.id))
            ).all()
        ),
    )
    choices = _month_choices(principal, villages)
    if not choices:
        raise ApiError(
            403,
            "月结按村和全镇统计：需要查看整个村（或全镇）工单的权限，网格和单元的情况请看工单页",
            code="forbidden",
        )
    default = previous_month(utcnow().astimezone(TOWN_TZ).date())
    month = request.query.get("month", "").strip()[:7] or default
    village = request.query.get("village", "").strip()[:60]
    if "" not in choices and not village:
        village = choices[0]
    problems = []
    try:
        read_month(month)
    except FilterValueError as error:
        problems.append(error.message)
    if village and village not in villages:
        problems.append(f"没有名为「{village}」的村")
    elif village not in choices:
        await authorize(request, Permission.VIEW_TICKETS, scope=(village,) if village else ())
    return month, village, choices, problems, settings.town.name


REPORT_TTL_S = 60.0
"""A month's report reads every ticket and notice of the month (0.2–0.3 s for a busy
town): it is kept this long per month and village, and the page says when it was made."""
_REPORTS = web.AppKey("console_month_reports", dict)


def month_setup(app: web.Application) -> None:
    app[_REPORTS] = {}


async def _report(request: web.Request, month: str, village: str) -> tuple[MonthlyReport, datetime]:
    """The report, and when it was made."""
    settings = request.app[SETTINGS]
    kept: dict[tuple[str, str], tuple[float, MonthlyReport, datetime]] = request.app[_REPORTS]
    cached = kept.get((month, village))
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    now = utcnow()
    report = await run_in_session(
        request.app[ENGINE],
        lambda s: monthly_report(s, settings, month, now=now, village=village or None),
    )
    if len(kept) > 256:  # months × villages viewed: a bound, not a working limit
        kept.clear()
    kept[(month, village)] = (time.monotonic() + REPORT_TTL_S, report, now)
    return report, now


@routes.get(CONSOLE + "month")
@guarded(Permission.VIEW_TICKETS)
async def month_page(request: web.Request) -> web.StreamResponse:
    """Pick a month and the town or a village; the summary and the downloads."""
    month, village, choices, problems, town = await _month_request(request)
    report, made_at = (None, None) if problems else await _report(request, month, village)
    return await page(
        request,
        "month.html",
        {
            "title": "月结",
            "month": month,
            "village": village,
            "choices": [(c, c or f"全镇（{town}）") for c in choices],
            "problems": problems,
            "report": report,
            "made_at": format_local_time(made_at) if made_at else "",
            "summary": summary_text(report).splitlines() if report else [],
            "query": f"month={month}&village={village}",
        },
        status=400 if problems else 200,
    )


@routes.get(CONSOLE + "month/report.{kind:xlsx|png}")
@guarded(Permission.VIEW_TICKETS)
async def month_file(request: web.Request) -> web.StreamResponse:
    """The monthly report as ``gridcast report month`` writes it: XLSX, or the chart."""
    month, village, _choices, problems, _town = await _month_request(request)
    if problems:
        raise ApiError(400, "；".join(problems), problems=problems)
    report, _made_at = await _report(request, month, village)
    kind = request.match_info["kind"]
    if kind == "png":
        body = await asyncio.to_thread(render_png, report)
        content_type = "image/png"
    else:

        def workbook() -> bytes:
            out = io.BytesIO()
            write_xlsx(report, out)
            return out.getvalue()

        body = await asyncio.to_thread(workbook)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    await audit(
        request,
        "report.month",
        target=month,
        scope=(village,) if village else (),
        message=f"月结 {month} {village or '全镇'}（{kind}）",
    )
    name = f"{month}-{village or 'town'}.{kind}"
    return web.Response(
        body=body,
        content_type=content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}",
            "Cache-Control": "no-store",
        },
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)
