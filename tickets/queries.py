"""Reading tickets: 查询 and 我的工单 in chat, the list and the detail for officials.

Group answers show codes, categories and states only; phones are masked everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from core.clock import format_local_time
from core.config import Settings
from core.privacy import (
    ANONYMOUS,
    PhoneOwner,
    Viewer,
    mask_phones_in_text,
    show_phone,
    show_phones_in_text,
)
from models.enums import ActorRole, TicketLevel, TicketState
from models.tickets import Ticket, TicketEvent, TicketPublic, TicketReporter
from tickets.actors import actors_of
from tickets.briefs import department_brief
from tickets.configured import category_name, sla_policy
from tickets.lifecycle import (
    AWAITING_ACCEPTANCE,
    LEVEL_ZH,
    OPEN_STATES,
    ROLE_ZH,
    STATE_ZH,
    TicketView,
    TransitionRefused,
    Whistle,
    describe,
    ensure_can_view,
    holder_label,
    is_handler,
)
from tickets.rows import load_ticket, origin_path, reporter_ids, ticket_view
from tickets.sla import SlaPolicy, deadlines_for
from tickets.status_questions import topic_overlap

__all__ = [
    "TicketDetail",
    "list_tickets",
    "my_tickets",
    "query",
    "reader_viewers",
    "report_status",
    "ticket_detail",
]


def _deadline(view: TicketView, policy: SlaPolicy) -> datetime | None:
    if view.state not in OPEN_STATES:
        return None
    deadlines = deadlines_for(view, policy)
    return deadlines.accept_by if view.state in AWAITING_ACCEPTANCE else deadlines.resolve_by


def query(
    *,
    session: Session,
    settings: Settings,
    code: str,
    contact_id: str,
    name: str,
    now: datetime,
    in_group: bool = False,
) -> str:
    """查询 T…: the status, for its reporters and the staff responsible for its area.
    ``in_group``: the answer is read by a whole group, which sees residents' phones and
    words masked (:func:`core.privacy.show_phones_in_text`)."""
    row = load_ticket(session, code)
    assert row.id is not None
    view = ticket_view(row, reporter_ids(session, row.id))
    refusals: list[TransitionRefused] = []
    for actor in actors_of(session, settings, contact_id=contact_id, name=name):
        try:
            ensure_can_view(view, actor)
            break
        except TransitionRefused as refused:
            refusals.append(refused)
    else:
        raise refusals[0]
    text = describe(view, deadline=_deadline(view, sla_policy(settings.tickets)))
    text = f"{text}（{category_name(settings, row.category)}）"
    if actor.role is ActorRole.DEPARTMENT_LIAISON:
        # The whistled department: everything it needs to act, as in the whistle brief.
        return department_brief(
            session,
            settings,
            row,
            view,
            heading=text,
            residents_to=ANONYMOUS if in_group else None,
        )
    return text


def my_tickets(
    *,
    session: Session,
    settings: Settings,
    contact_id: str,
    name: str,
    now: datetime,
    limit: int = 10,
) -> str:
    """我的工单: the tickets the sender reported, and for staff the open tickets they hold.
    Codes, categories and states only: it may be answered in a group."""
    policy = sla_policy(settings.tickets)
    reported = session.exec(
        select(Ticket)
        .join(TicketReporter, col(TicketReporter.ticket_id) == col(Ticket.id))
        .where(TicketReporter.contact_id == contact_id)
        .order_by(col(Ticket.created_at).desc())
        .limit(limit)
    ).all()
    staff = len(actors_of(session, settings, contact_id=contact_id, name=name)) > 1
    handling = _held_by(session, settings, contact_id, name, limit) if staff else []
    whistled = _whistled_by(session, contact_id, limit) if staff else []
    if not reported and not handling and not whistled:
        if staff:
            return "您负责的范围内目前没有待办工单。"
        return "您目前没有工单。如需反映问题，直接在群里说明情况即可。"
    lines: list[str] = []
    if reported:
        lines.append("您反映的工单：")
        lines.extend(_line(settings, row, policy) for row in reported)
    if handling:
        lines.append("您负责的待办工单：")
        lines.extend(_line(settings, row, policy) for row in handling)
    if whistled:
        lines.append("您吹哨呼叫部门的工单：")
        lines.extend(_whistled_line(settings, row, policy) for row in whistled)
    return "\n".join(lines)


def _whistled_by(session: Session, contact_id: str, limit: int) -> list[Ticket]:
    """Open tickets at a department that this person whistled out (the latest whistle
    on each is theirs), oldest first."""
    rows = session.exec(
        select(Ticket, TicketEvent)
        .join(TicketEvent, col(TicketEvent.ticket_id) == col(Ticket.id))
        .where(
            TicketEvent.kind == Whistle.kind,
            col(Ticket.level) == TicketLevel.DEPARTMENT,
            col(Ticket.state).in_(list(OPEN_STATES)),
        )
        .order_by(col(Ticket.id), col(TicketEvent.id))
    ).all()
    latest: dict[int, tuple[Ticket, TicketEvent]] = {}
    for ticket, event in rows:
        latest[ticket.id or 0] = (ticket, event)
    return [t for t, e in latest.values() if e.actor_id == contact_id][:limit]


def _whistled_line(settings: Settings, row: Ticket, policy: SlaPolicy) -> str:
    department = row.department_name or row.department_code or "部门"
    view = ticket_view(row, ())
    if row.state in AWAITING_ACCEPTANCE:
        due = deadlines_for(view, policy).accept_by
        status = f"等待{department}报到（时限{format_local_time(due)}）"
    else:
        status = f"{department}已报到，处理中"
    return f"{row.code} {category_name(settings, row.category)} {status}"


def report_status(
    *,
    session: Session,
    settings: Settings,
    contact_id: str,
    topic: str,
    now: datetime,
    limit: int = 5,
) -> str:
    """A resident asks how their earlier report is going (我上次反映的噪音怎么样了): the
    ticket that matches the topic best, or all their open ones; never files anything.
    Codes, states and who holds them only: it may be answered in a group."""
    policy = sla_policy(settings.tickets)
    mine = session.exec(
        select(Ticket)
        .join(TicketReporter, col(TicketReporter.ticket_id) == col(Ticket.id))
        .where(TicketReporter.contact_id == contact_id)
        .order_by(col(Ticket.created_at).desc())
        .limit(50)
    ).all()
    if not mine:
        return (
            "没有查到您反映过的问题。如需反映，请直接在群里说明情况（什么地方、什么问题），"
            "我会登记工单并转给负责人。"
        )
    scored = [
        (topic_overlap(topic, f"{row.text}{category_name(settings, row.category)}"), row)
        for row in mine
    ]
    best = max(score for score, _ in scored)
    if topic and best >= 0.5:
        chosen = [row for score, row in scored if score == best][:1]
    else:
        chosen = [row for row in mine if row.state in OPEN_STATES][:limit] or list(mine[:1])
    lines = []
    for row in chosen:
        assert row.id is not None
        view = ticket_view(row, reporter_ids(session, row.id))
        lines.append(
            f"{describe(view, deadline=_deadline(view, policy))}"
            f"（{category_name(settings, row.category)}：{_cut(mask_phones_in_text(row.text), 30)}）"
        )
    if len(chosen) > 1:
        lines.insert(0, "您反映的问题正在办理：")
    lines.append("详情可发送「查询 工单号」；如有新情况，请直接说明，我会转给负责人。")
    return "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _line(settings: Settings, row: Ticket, policy: SlaPolicy) -> str:
    text = f"{row.code} {category_name(settings, row.category)} {STATE_ZH[row.state]}"
    if row.state in OPEN_STATES:
        deadline = _deadline(ticket_view(row, ()), policy)
        if deadline is not None:
            text += f"，时限{format_local_time(deadline)}"
    return text


def _held_by(
    session: Session, settings: Settings, contact_id: str, name: str, limit: int
) -> list[Ticket]:
    actors = actors_of(session, settings, contact_id=contact_id, name=name)
    conditions: list[ColumnElement[bool]] = [col(Ticket.assignee_contact_id) == contact_id]
    for actor in actors:
        unassigned = col(Ticket.assignee_contact_id).is_(None)
        if actor.role is ActorRole.GRID_LEADER:
            grids = [int(g) for g in actor.grid_ids]
            conditions.append(
                unassigned
                & (col(Ticket.level) == TicketLevel.GRID)
                & col(Ticket.grid_id).in_(grids)
            )
        elif actor.role is ActorRole.STATION_CHIEF:
            villages = [int(v) for v in actor.village_ids]
            conditions.append(
                unassigned
                & (col(Ticket.level) == TicketLevel.VILLAGE)
                & col(Ticket.village_id).in_(villages)
            )
        elif actor.role is ActorRole.TOWN_OFFICIAL:
            conditions.append(unassigned & (col(Ticket.level) == TicketLevel.TOWN))
        elif actor.role is ActorRole.DEPARTMENT_LIAISON and actor.department_code:
            conditions.append(
                (col(Ticket.level) == TicketLevel.DEPARTMENT)
                & (col(Ticket.department_code) == actor.department_code)
            )
    return list(
        session.exec(
            select(Ticket)
            .where(col(Ticket.state).in_(list(OPEN_STATES)), or_(*conditions))
            .order_by(col(Ticket.created_at))
            .limit(limit)
        )
    )


def _public(session: Session, settings: Settings, row: Ticket) -> TicketPublic:
    assert row.id is not None
    count = session.exec(
        select(func.count()).select_from(TicketReporter).where(TicketReporter.ticket_id == row.id)
    ).one()
    return TicketPublic.model_validate(
        row,
        update={
            "unit_path": origin_path(session, row),
            "category_name": category_name(settings, row.category),
            "reporter_count": count,
        },
    )


def list_tickets(
    *,
    session: Session,
    settings: Settings,
    states: Sequence[TicketState] = (),
    limit: int = 200,
) -> list[TicketPublic]:
    """Tickets, newest first, optionally only in ``states``."""
    statement = select(Ticket).order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    if states:
        statement = statement.where(col(Ticket.state).in_(list(states)))
    return [_public(session, settings, row) for row in session.exec(statement.limit(limit))]


def _reader_viewer(
    session: Session, settings: Settings, view: TicketView, reader: str | None
) -> Viewer:
    """The reader as :mod:`core.privacy` sees them for this ticket's reporters."""
    if reader is None:
        return ANONYMOUS
    actors = actors_of(session, settings, contact_id=reader, name="")
    return Viewer.handler() if any(is_handler(a, view) for a in actors) else ANONYMOUS


def reader_viewers(
    session: Session, settings: Settings, reader: str | None
) -> Callable[[Ticket], Viewer]:
    """For a list of tickets (the board, its exports): the reader (a contact id, or
    ``None`` for nobody in particular) as :mod:`core.privacy` sees them on each ticket,
    a handler of the tickets they handle. Their posts are read once."""
    actors = (
        [
            a
            for a in actors_of(session, settings, contact_id=reader, name="")
            if a.role is not ActorRole.RESIDENT
        ]
        if reader is not None
        else []
    )

    def viewer(row: Ticket) -> Viewer:
        if not actors:
            return ANONYMOUS
        view = ticket_view(row, ())
        return Viewer.handler() if any(is_handler(a, view) for a in actors) else ANONYMOUS

    return viewer


@dataclass(frozen=True, slots=True)
class TicketDetail:
    """One ticket for officials: text, reporters (phones as the reader may see them)
    and the whole history."""

    ticket: TicketPublic
    text: str
    holder: str
    deadline: datetime | None
    reporters: tuple[dict[str, str], ...]
    events: tuple[dict[str, str], ...]

    def to_json(self) -> dict[str, object]:
        return {
            **self.ticket.model_dump(mode="json"),
            "text": self.text,
            "holder": self.holder,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "reporters": list(self.reporters),
            "events": list(self.events),
        }


def ticket_detail(
    *,
    session: Session,
    settings: Settings,
    code: str,
    now: datetime,
    reader: str | None = None,
) -> TicketDetail:
    """The ticket for officials. ``reader`` is the contact id of whoever reads it:
    reporters' phones are in full when the reader handles the ticket (its holder, the
    whistled department's liaisons: :func:`tickets.lifecycle.is_handler`), who must call
    back; masked for everyone else and when nobody is named (:mod:`core.privacy`)."""
    row = load_ticket(session, code)
    assert row.id is not None
    reporters = session.exec(
        select(TicketReporter)
        .where(TicketReporter.ticket_id == row.id)
        .order_by(col(TicketReporter.id))
    ).all()
    view = ticket_view(row, [r.contact_id for r in reporters])
    viewer = _reader_viewer(session, settings, view, reader)
    events = session.exec(
        select(TicketEvent).where(TicketEvent.ticket_id == row.id).order_by(col(TicketEvent.id))
    ).all()
    return TicketDetail(
        ticket=_public(session, settings, row),
        text=show_phones_in_text(viewer, row.text),
        holder=holder_label(view) if row.state in OPEN_STATES else "",
        deadline=_deadline(view, sla_policy(settings.tickets)),
        reporters=tuple(
            {
                "name": r.name,
                "phone": show_phone(viewer, PhoneOwner.resident(r.phone)),
                "channel": r.channel.value,
                "reported_at": r.reported_at.isoformat(),
            }
            for r in reporters
        ),
        events=tuple(
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor": e.actor_name or ROLE_ZH[e.actor_role],
                "role": ROLE_ZH[e.actor_role],
                "from": e.from_state.value if e.from_state else "",
                "to": e.to_state.value,
                "level": LEVEL_ZH[e.to_level],
                "note": show_phones_in_text(viewer, e.note),
            }
            for e in events
        ),
    )
