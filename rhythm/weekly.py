"""周商: the weekly consultation of the three members and three leaders (三员三长会商).

Every week each village gets an agenda of its hard cases (:func:`agenda_reasons`), sent
privately to the participants and posted in the village group when configured. Each
item's outcome (会商 T… 结论 …) is recorded in the ticket's history with an owner and a
due date (:mod:`rhythm.consultation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from models.enums import Role, TicketLevel, TicketState
from models.org import OrgUnit
from models.rhythm import ConsultationItem
from orgtree import directory
from orgtree.directory import PostHolder
from rhythm.cases import CaseFacts, load_cases
from rhythm.periods import Cadence, local, period_key
from rhythm.places import THREE_MEMBERS, group_rooms, reachable_holders
from rhythm.runs import claim_period

__all__ = ["REASON_ZH", "agenda_reasons", "participants", "run_weekly", "select_agenda"]

REASON_ZH = {
    "escalated": "已上报村/镇",
    "reopened": "不满意重办",
    "overdue": "超期",
    "unreported": "吹哨后部门未报到",
}


def agenda_reasons(case: CaseFacts, *, now: datetime, overdue_days: int) -> list[str]:
    """Why an open ticket belongs on the agenda (empty: it does not). Pure.

    * escalated to the village or above;
    * reopened after an unsatisfied rating (or a call-back);
    * overdue by more than ``overdue_days`` days;
    * whistled to a department that has not reported (报到).
    """
    if not case.is_open:
        return []
    reasons = []
    if case.level in (TicketLevel.VILLAGE, TicketLevel.TOWN):
        reasons.append("escalated")
    if case.reopen_count > 0:
        reasons.append("reopened")
    if now - case.resolve_by > timedelta(days=overdue_days):
        reasons.append("overdue")
    if case.level is TicketLevel.DEPARTMENT and case.state in (
        TicketState.DISPATCHED,
        TicketState.REOPENED,
    ):
        reasons.append("unreported")
    return reasons


def select_agenda(
    cases: Iterable[CaseFacts], *, now: datetime, overdue_days: int
) -> dict[int, list[tuple[CaseFacts, list[str]]]]:
    """Village id -> its agenda items (oldest ticket first). Pure."""
    agenda: dict[int, list[tuple[CaseFacts, list[str]]]] = {}
    for case in sorted(cases, key=lambda c: c.created_at):
        if case.created_at > now:
            continue  # not yet received at the time of the agenda
        reasons = agenda_reasons(case, now=now, overdue_days=overdue_days)
        if reasons and case.village_id is not None:
            agenda.setdefault(case.village_id, []).append((case, reasons))
    return agenda


def participants(session: Session, village_id: int, items: Sequence[CaseFacts]) -> list[PostHolder]:
    """三长 (station chief, grid leaders, unit leaders of the cases) and 三员 (party
    members, grid workers, sunk cadres) of the grids on the agenda."""
    grid_ids = {c.grid_id for c in items if c.grid_id is not None}
    unit_ids = {c.unit_id for c in items}
    members = [
        *directory.holders(session, roles=[Role.STATION_CHIEF], unit_ids=[village_id]),
        *directory.holders(session, roles=[Role.GRID_LEADER], unit_ids=grid_ids),
        *directory.holders(session, roles=[Role.UNIT_LEADER], unit_ids=unit_ids),
        *directory.holders(
            session, roles=THREE_MEMBERS, unit_ids=_grid_and_units(session, grid_ids)
        ),
    ]
    return reachable_holders(members)


def _grid_and_units(session: Session, grid_ids: Iterable[int]) -> list[int]:
    ids = list(grid_ids)
    if not ids:
        return []
    units = session.exec(select(OrgUnit.id).where(col(OrgUnit.parent_id).in_(ids))).all()
    return [*ids, *(u for u in units if u is not None)]


def _agenda_text(
    village: str,
    week: str,
    items: Sequence[tuple[CaseFacts, list[str]]],
    names: dict[int, str],
    now: datetime,
) -> str:
    day = local(now).date() + timedelta(days=7)
    lines = [f"【周商 {week}】{village}三员三长会商议题（{len(items)}件）"]
    for n, (case, reasons) in enumerate(items, 1):
        why = "、".join(REASON_ZH[r] for r in reasons)
        holder = case.department_name or case.assignee_name or "待签收"
        grid = names.get(case.grid_id or 0, "")
        lines.append(f"{n}. {case.code}（{grid}，{holder}）：{why}。{case.text[:30]}")
    lines.append(
        f"会商后请回复「会商 工单号 结论 … 责任人 姓名 期限 {day.month}月{day.day}日」记录结论。"
    )
    return "\n".join(lines)


def run_weekly(session: Session, settings: Settings, now: datetime) -> list[Reply] | None:
    """周商 at ``now``: each village's agenda; ``None`` when this week's already ran."""
    period = period_key(Cadence.WEEKLY, now)
    run = claim_period(session, Cadence.WEEKLY, period, now)
    if run is None:
        return None
    agenda = select_agenda(
        load_cases(session, settings), now=now, overdue_days=settings.cadences.consult_overdue_days
    )
    rooms = group_rooms(session, agenda)
    replies: list[Reply] = []
    for village_id, items in agenda.items():
        village = session.get(OrgUnit, village_id)
        if village is None:
            continue
        grid_names = {
            g.id: g.name
            for g in (session.get(OrgUnit, c.grid_id) for c, _ in items if c.grid_id)
            if g is not None and g.id is not None
        }
        for case, reasons in items:
            session.add(
                ConsultationItem(
                    period=period,
                    village_id=village_id,
                    ticket_id=case.ticket_id,
                    reasons=reasons,
                    listed_at=now,
                )
            )
        text = _agenda_text(village.name, period, items, grid_names, now)
        for holder in participants(session, village_id, [c for c, _ in items]):
            replies.append(Reply(text, contact_id=holder.contact_id))
        if settings.cadences.consult_in_village_group and village_id in rooms:
            replies.append(Reply(text, room_id=rooms[village_id]))
    run.messages = len(replies)
    run.summary = f"{sum(len(v) for v in agenda.values())} item(s) in {len(agenda)} village(s)"
    return replies


def due_date(text_due: date | None, *, now: datetime, default_days: int) -> date:
    return text_due or (local(now).date() + timedelta(days=default_days))
