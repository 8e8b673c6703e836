"""Tickets as stored: the lifecycle's :class:`~tickets.lifecycle.TicketView` of a
:class:`~models.tickets.Ticket` row and back, its history events, and the row lock.

Identity: the lifecycle's person ids are WeChat contact ids
(:func:`orgtree.directory.contact_id_of` for people of the roster, the sender's id for
residents, ``tel-<phone>`` for a phone caller, ``offline-…`` for a walk-in without a
phone, who gets no messages). Org unit ids appear in the view as strings.

Concurrency: every change to a ticket starts with ``UPDATE ticket SET version =
version + 1`` (:func:`lock_ticket`): on PostgreSQL that takes the row lock, on SQLite
the database write lock, so two people acting on one ticket at once are applied one
after the other and never overwrite each other. Codes come from a per-day counter row
updated in the same transaction (:func:`allocate_code`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from core.clock import local_day
from core.ids import format_ticket_code
from models.enums import Rating
from models.org import PATH_SEP, OrgUnit
from models.tickets import (
    Ticket,
    TicketCodeSequence,
    TicketEvent,
    TicketEventCreate,
    TicketReporter,
)
from orgtree import directory
from tickets.errors import TicketNotFound
from tickets.lifecycle import Actor, TicketView
from tickets.sla import SlaPolicy, next_wakeup

__all__ = [
    "allocate_code",
    "id_int",
    "id_text",
    "load_ticket",
    "lock_ticket",
    "origin_path",
    "record_event",
    "reporter_ids",
    "storable",
    "store_view",
    "ticket_view",
]


def id_text(value: int | None) -> str:
    return "" if value is None else str(value)


def id_int(value: str) -> int | None:
    return int(value) if value else None


def reporter_ids(session: Session, ticket_id: int) -> tuple[str, ...]:
    rows = session.exec(
        select(TicketReporter.contact_id)
        .where(TicketReporter.ticket_id == ticket_id)
        .order_by(col(TicketReporter.id))
    )
    return tuple(rows)


def ticket_view(row: Ticket, reporter_ids: Sequence[str]) -> TicketView:
    """The lifecycle's view of a stored ticket."""
    return TicketView(
        code=row.code,
        state=row.state,
        level=row.level,
        urgency=row.urgency,
        unit_id=str(row.unit_id),
        grid_id=id_text(row.grid_id),
        village_id=id_text(row.village_id),
        reporter_ids=tuple(reporter_ids),
        created_at=row.created_at,
        window_started_at=row.window_started_at,
        window=row.sla_window,
        assignee_id=row.assignee_contact_id,
        assignee_name=row.assignee_name,
        assignee_role=row.assignee_role,
        department_code=row.department_code,
        department_name=row.department_name,
        whistled_from=row.whistled_from,
        accepted_at=row.accepted_at,
        resolved_at=row.resolved_at,
        resolved_level=row.resolved_level,
        closed_at=row.closed_at,
        extension_count=row.extension_count,
        extended_days=row.extended_days,
        reopen_count=row.reopen_count,
        ratings=tuple((pid, Rating(score)) for pid, score in row.round_ratings),
        rating=row.rating,
        fired_timers=frozenset(row.fired_timers),
    )


def store_view(
    session: Session, row: Ticket, view: TicketView, *, policy: SlaPolicy, now: datetime
) -> None:
    """Write every field of ``view`` into ``row`` and schedule its next timer."""
    if view.assignee_id != row.assignee_contact_id:
        person = (
            directory.person_by_contact(session, view.assignee_id) if view.assignee_id else None
        )
        row.assignee_person_id = person.id if person is not None else None
    row.state, row.level, row.urgency = view.state, view.level, view.urgency
    row.unit_id = int(view.unit_id)
    row.grid_id, row.village_id = id_int(view.grid_id), id_int(view.village_id)
    row.assignee_contact_id = view.assignee_id
    row.assignee_name, row.assignee_role = view.assignee_name, view.assignee_role
    row.department_code, row.department_name = view.department_code, view.department_name
    row.whistled_from = view.whistled_from
    row.sla_window, row.window_started_at = view.window, view.window_started_at
    row.accepted_at = view.accepted_at
    if view.accepted_at is not None and row.first_accepted_at is None:
        row.first_accepted_at = view.accepted_at
    row.resolved_at, row.resolved_level, row.closed_at = (
        view.resolved_at,
        view.resolved_level,
        view.closed_at,
    )
    row.extension_count, row.extended_days = view.extension_count, view.extended_days
    row.reopen_count = view.reopen_count
    row.round_ratings = [[pid, score.value] for pid, score in view.ratings]
    row.rating = view.rating
    row.fired_timers = sorted(view.fired_timers)
    row.next_timer_at = next_wakeup(view, policy)
    row.updated_at = now


def record_event(
    session: Session,
    row: Ticket,
    event: TicketEventCreate,
    *,
    actor: Actor,
    person_id: int | None = None,
    note: str | None = None,
) -> None:
    assert row.id is not None
    session.add(
        TicketEvent.model_validate(
            event,
            update={
                "ticket_id": row.id,
                "actor_person_id": person_id,
                "actor_name": actor.name,
                "note": storable(event.note if note is None else note),
            },
        )
    )


def lock_ticket(session: Session, code: str) -> Ticket:
    """The ticket, locked for this transaction (see the module docstring)."""
    result = session.exec(
        update(Ticket).where(col(Ticket.code) == code).values(version=col(Ticket.version) + 1)
    )
    if result.rowcount == 0:
        raise TicketNotFound(code)
    return session.exec(
        select(Ticket).where(Ticket.code == code).execution_options(populate_existing=True)
    ).one()


def load_ticket(session: Session, code: str) -> Ticket:
    row = session.exec(select(Ticket).where(Ticket.code == code)).first()
    if row is None:
        raise TicketNotFound(code)
    return row


def allocate_code(session: Session, now: datetime) -> str:
    """The next ticket code of ``now``'s local day; safe under concurrency (the counter
    row stays locked until the transaction ends)."""
    day = local_day(now)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.exec(insert(TicketCodeSequence).values(day=day, last=0).on_conflict_do_nothing())
    seq = session.exec(
        update(TicketCodeSequence)
        .where(col(TicketCodeSequence.day) == day)
        .values(last=col(TicketCodeSequence.last) + 1)
        .returning(col(TicketCodeSequence.last))
    ).scalar_one()
    return format_ticket_code(now, int(seq))


def storable(text: str) -> str:
    """Text as it can be stored on every backend (PostgreSQL refuses NUL characters)."""
    return text.replace("\x00", "\ufffd")


def origin_path(session: Session, row: Ticket) -> str:
    """The path of the ticket's origin unit inside the town (黄霞村/第16网格/…)."""
    unit = session.get(OrgUnit, row.unit_id)
    if unit is None:
        return ""
    return unit.path.split(PATH_SEP, 1)[1] if PATH_SEP in unit.path else unit.path
