"""Recording what a consultation decided (会商 T… 结论 …) and a resident's call-back
answer (回访), through the ticket lifecycle so both enter the ticket's history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from core.privacy import mask_phones_in_text
from models.enums import Level
from models.org import OrgPath, OrgUnit
from models.rhythm import CallBack as CallBackRow
from models.rhythm import ConsultationItem
from models.tickets import Ticket
from orgtree import directory
from rhythm.commands import CallBackAnswer, ConsultCommand
from rhythm.periods import Cadence, period_key
from rhythm.tasks import scope_condition
from rhythm.weekly import REASON_ZH, due_date
from tickets.actors import actors_of, notification_replies
from tickets.configured import lifecycle_rules, sla_policy
from tickets.lifecycle import Action, CallBack, Consult, TransitionRefused, apply
from tickets.rows import lock_ticket, record_event, reporter_ids, store_view, ticket_view

__all__ = [
    "CONSULT_RECORDERS",
    "AgendaLine",
    "Recorded",
    "agenda_lines",
    "answer_call_back",
    "consult_scope",
    "pending_call_backs",
    "record_consultation",
]

CONSULT_RECORDERS = "工单所在网格的网格长、所在村的网格站站长和镇干部"
"""Who records a consultation's outcome (ACT_ON_TICKET on :func:`consult_scope`)."""


def consult_scope(session: Session, ticket: Ticket) -> OrgPath:
    """Where a consultation outcome is recorded from (ACT_ON_TICKET): the ticket's grid,
    whose 三长 meet on it (issue 13: the grid leader, the station chief above it, and
    the town's officials); a ticket of a unit with no grid, its village."""
    place = ticket.grid_id or ticket.village_id
    unit = session.get(OrgUnit, place) if place is not None else None
    return unit.town_path if unit is not None else ()


@dataclass(frozen=True, slots=True)
class Recorded:
    reply: str
    replies: tuple[Reply, ...] = ()


def _act(
    session: Session,
    settings: Settings,
    code: str,
    action: Action,
    *,
    contact_id: str,
    name: str,
    now: datetime,
) -> Recorded:
    """Apply ``action`` as the first of the sender's posts allowed to; store it."""
    row = lock_ticket(session, code)
    assert row.id is not None
    view = ticket_view(row, reporter_ids(session, row.id))
    refusals = []
    for actor in actors_of(session, settings, contact_id=contact_id, name=name):
        try:
            step = apply(view, action, actor, now, rules=lifecycle_rules(settings.tickets))
        except TransitionRefused as refused:
            refusals.append(refused)
            continue
        person = directory.person_by_contact(session, contact_id)
        store_view(session, row, step.ticket, policy=sla_policy(settings.tickets), now=now)
        record_event(session, row, step.event, actor=actor, person_id=person.id if person else None)
        replies = notification_replies(session, settings, step.notifications, skip=[contact_id])
        return Recorded(step.reply, tuple(replies))
    raise refusals[0]


def record_consultation(
    session: Session,
    settings: Settings,
    command: ConsultCommand,
    *,
    contact_id: str,
    name: str,
    now: datetime,
) -> Recorded:
    """会商 T… 结论 …: the outcome goes into the ticket's history and onto this week's
    agenda item (one is added when the ticket was not on the agenda)."""
    owner_name = command.owner_name
    owner = None
    if owner_name:
        owner = next((h for h in directory.holders(session) if h.name == owner_name), None)
    due = due_date(command.due_on, now=now, default_days=settings.cadences.consult_due_days)
    action = Consult(
        conclusion=command.conclusion,
        owner_name=owner_name or name,
        due_on=due,
        owner_id=owner.contact_id if owner else None,
    )
    recorded = _act(
        session, settings, command.code, action, contact_id=contact_id, name=name, now=now
    )
    row = lock_ticket(session, command.code)
    assert row.id is not None
    item = session.exec(
        select(ConsultationItem)
        .where(ConsultationItem.ticket_id == row.id)
        .order_by(col(ConsultationItem.id).desc())
    ).first()
    if item is None:
        item = ConsultationItem(
            period=period_key(Cadence.WEEKLY, now),
            village_id=row.village_id or row.unit_id,
            ticket_id=row.id,
            reasons=["manual"],
            listed_at=now,
        )
        session.add(item)
    item.conclusion = command.conclusion
    item.owner_name = owner_name or name
    item.owner_person_id = owner.person_id if owner else None
    item.due_on = due
    item.recorded_at = now
    item.recorded_by = name
    return recorded


def pending_call_backs(session: Session, contact_id: str) -> list[CallBackRow]:
    return list(
        session.exec(
            select(CallBackRow)
            .where(CallBackRow.contact_id == contact_id, col(CallBackRow.answered_at).is_(None))
            .order_by(col(CallBackRow.id))
        )
    )


def answer_call_back(
    session: Session,
    settings: Settings,
    answer: CallBackAnswer,
    *,
    contact_id: str,
    name: str,
    now: datetime,
    pending: Sequence[CallBackRow],
) -> Recorded:
    """已解决 / 未解决 from a resident asked in a call-back; "not solved" reopens the ticket."""
    tickets = {row.ticket_id: session.get(Ticket, row.ticket_id) for row in pending}
    code_of = {tid: t.code for tid, t in tickets.items() if t is not None}
    chosen = [
        row for row in pending if answer.code is None or code_of.get(row.ticket_id) == answer.code
    ]
    if not chosen:
        raise TransitionRefused(f"没有找到工单{answer.code}的回访，请核对工单号。")
    if len(chosen) > 1:
        listed = "、".join(code_of.values())
        raise TransitionRefused(
            f"您有几张工单在回访（{listed}），请在回复里写上工单号，例如：未解决 工单号 情况。"
        )
    row = chosen[0]
    recorded = _act(
        session,
        settings,
        code_of[row.ticket_id],
        CallBack(solved=answer.solved, answer=answer.answer),
        contact_id=contact_id,
        name=name,
        now=now,
    )
    row.answered_at, row.solved, row.answer = now, answer.solved, answer.answer
    row.reopened = not answer.solved
    return recorded


@dataclass(frozen=True, slots=True)
class AgendaLine:
    """One item of a village's consultation agenda (周商), with its outcome if recorded."""

    period: str
    village: str
    code: str
    place: str
    """The ticket's unit, below the town (``黄霞村/第1网格/3栋``)."""
    text: str
    reasons: tuple[str, ...]
    """In Chinese (:data:`rhythm.weekly.REASON_ZH`; ``会上补充`` for an item added by an outcome)."""
    conclusion: str
    owner: str
    due_on: date | None
    recorded_at: datetime | None
    recorded_by: str


def agenda_lines(
    session: Session,
    *,
    town: str,
    scopes: Sequence[OrgPath] | None,
    latest_only: bool = True,
    recorded_only: bool = False,
    limit: int = 200,
) -> list[AgendaLine]:
    """Agenda items whose ticket is within ``scopes`` (``None``: the whole town): with
    ``latest_only`` those of each village's latest agenda; with ``recorded_only`` the
    outcomes recorded, latest first."""
    statement = (
        select(ConsultationItem, Ticket.code, Ticket.text, OrgUnit.path)
        .join(Ticket, col(Ticket.id) == col(ConsultationItem.ticket_id))
        .join(OrgUnit, col(OrgUnit.id) == col(Ticket.unit_id))
    )
    if scopes is not None:
        statement = statement.where(scope_condition(col(OrgUnit.path), town, scopes))
    if recorded_only:
        statement = statement.where(col(ConsultationItem.recorded_at).is_not(None)).order_by(
            col(ConsultationItem.recorded_at).desc()
        )
    else:
        statement = statement.order_by(col(ConsultationItem.village_id), col(ConsultationItem.id))
    rows = list(session.exec(statement))
    if latest_only:
        latest: dict[int, str] = {}
        for item, *_ in rows:
            if item.reasons != ["manual"]:
                latest[item.village_id] = max(latest.get(item.village_id, ""), item.period)
        rows = [r for r in rows if r[0].period == latest.get(r[0].village_id)]
    villages = {
        unit.id: unit.name
        for unit in session.exec(select(OrgUnit).where(OrgUnit.level == Level.VILLAGE))
    }
    return [
        AgendaLine(
            period=item.period,
            village=villages.get(item.village_id, ""),
            code=code,
            place=path.split("/", 1)[-1],
            text=mask_phones_in_text(text),
            reasons=tuple(REASON_ZH.get(r, "会上补充") for r in item.reasons),
            conclusion=item.conclusion,
            owner=item.owner_name,
            due_on=item.due_on,
            recorded_at=item.recorded_at,
            recorded_by=item.recorded_by,
        )
        for item, code, text, path in rows[:limit]
    ]
