"""Residents' personal data (个人信息保护法): retention, export, erasure.

- Message texts of tickets closed longer than ``privacy.message_retention`` ago are
  redacted, and so are the texts of old messages that never became tickets; the tickets
  stay, with their category, levels, times and rating, so the statistics do not change.
- :func:`export_person` gathers what gridcast holds about one person (by phone, or by a
  WeChat contact id for a resident who never gave a phone).
- :func:`erase_person` replaces their name, phone, contact id and words with
  placeholders wherever they are held: ticket reporters and texts, the ticket timeline
  (``ticket_event``), messages, refused chat commands (``notice_attempt``), receipts,
  household confirmations and visit requests, call-backs, queued ticket messages,
  unreachable-contact records, task events and unused sign-in codes. Roster posts are
  the roster file's business and stay; the audit trail is append-only (the database
  refuses updates) and is not rewritten.

Callers record every use in the audit trail.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, or_, update
from sqlmodel import Session, col, select

from models.auth import ChatBinding, SignInCode
from models.broadcast import NoticeAttempt, Receipt
from models.chat import UnreachableContact
from models.enums import TicketState
from models.households import HouseholdConfirmation, HouseholdVisitRequest
from models.org import Person
from models.rhythm import CallBack, TaskEvent
from models.tickets import IntakeMessage, Ticket, TicketEvent, TicketOutbox, TicketReporter

__all__ = [
    "ERASED_NAME",
    "REDACTED_TEXT",
    "Erasure",
    "PersonNotFound",
    "erase_person",
    "export_person",
    "identify",
    "redact_expired",
]

REDACTED_TEXT = "〔内容已按保存期限删除〕"
ERASED_TEXT = "〔内容已应本人要求删除〕"
ERASED_NAME = "〔已删除〕"
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_CLOSED = (TicketState.CLOSED,)


class PersonNotFound(LookupError):
    """Nothing is held about this phone or contact."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Everything that names one person in the tables."""

    phone: str | None
    person_id: int | None
    contact_ids: frozenset[str]


def identify(session: Session, who: str) -> Identity:
    """The person a phone (11 digits) or a WeChat contact id names."""
    who = who.strip()
    phone = re.sub(r"\D", "", who) if _PHONE.match(re.sub(r"\D", "", who)) else None
    contacts: set[str] = set()
    person = None
    if phone is not None:
        contacts.add(f"tel-{phone}")
        person = session.exec(select(Person).where(Person.phone == phone)).first()
    else:
        contacts.add(who)
        person = session.exec(select(Person).where(Person.wechat_id == who)).first()
    if person is not None:
        phone = phone or person.phone
        if person.wechat_id:
            contacts.add(person.wechat_id)
        contacts.update(
            session.exec(select(ChatBinding.contact_id).where(ChatBinding.person_id == person.id))
        )
    return Identity(
        phone=phone, person_id=person.id if person else None, contact_ids=frozenset(contacts)
    )


def _reporter_rows(session: Session, who: Identity) -> list[TicketReporter]:
    clauses: list[Any] = [col(TicketReporter.contact_id).in_(who.contact_ids)]
    if who.phone:
        clauses.append(col(TicketReporter.phone) == who.phone)
    if who.person_id is not None:
        clauses.append(col(TicketReporter.person_id) == who.person_id)
    return list(session.exec(select(TicketReporter).where(or_(*clauses))))


def _message_rows(session: Session, who: Identity) -> list[IntakeMessage]:
    clauses: list[Any] = [col(IntakeMessage.sender_contact_id).in_(who.contact_ids)]
    if who.person_id is not None:
        clauses.append(col(IntakeMessage.sender_person_id) == who.person_id)
    return list(session.exec(select(IntakeMessage).where(or_(*clauses))))


def export_person(session: Session, who: str) -> dict[str, Any]:
    """Everything held about ``who`` (a phone or a contact id), as JSON-ready data."""
    identity = identify(session, who)
    person = session.get(Person, identity.person_id) if identity.person_id else None
    reporters = _reporter_rows(session, identity)
    messages = _message_rows(session, identity)
    if person is None and not reporters and not messages:
        raise PersonNotFound(f"没有与「{who}」有关的个人信息")
    tickets = {r.ticket_id: session.get(Ticket, r.ticket_id) for r in reporters}
    return {
        "query": who,
        "roster": (
            {"name": person.name, "phone": person.phone, "wechat_id": person.wechat_id}
            if person is not None
            else None
        ),
        "contact_ids": sorted(identity.contact_ids),
        "tickets": [
            {
                "code": t.code,
                "reported_as": r.name,
                "phone": r.phone,
                "channel": r.channel.value,
                "reported_at": r.reported_at.isoformat(),
                "text": t.text,
                "state": t.state.value,
                "category": t.category,
                "location": t.location,
            }
            for r in reporters
            if (t := tickets.get(r.ticket_id)) is not None
        ],
        "messages": [
            {
                "received_at": m.received_at.isoformat(),
                "room_id": m.room_id,
                "name": m.sender_name,
                "text": m.text,
                "decision": m.kind.value,
            }
            for m in messages
        ],
    }


@dataclass
class Erasure:
    reporters: int = 0
    tickets: int = 0
    messages: int = 0
    in_roster: bool = False
    ticket_codes: list[str] = field(default_factory=list)
    other_rows: int = 0
    """Rows of the timeline, refusal log, receipts and the rest (see the module)."""


def _placeholder(contact_id: str) -> str:
    return "erased-" + hashlib.sha256(contact_id.encode()).hexdigest()[:12]


def erase_person(session: Session, who: str) -> Erasure:
    """Replace ``who``'s identifying data in tickets and messages (statistics kept)."""
    identity = identify(session, who)
    reporters = _reporter_rows(session, identity)
    messages = _message_rows(session, identity)
    if identity.person_id is None and not reporters and not messages:
        raise PersonNotFound(f"没有与「{who}」有关的个人信息")
    out = Erasure(in_roster=identity.person_id is not None)
    contacts = set(identity.contact_ids) | {r.contact_id for r in reporters}
    contacts |= {m.sender_contact_id for m in messages}
    names = {r.name for r in reporters} | {m.sender_name for m in messages}
    per_ticket: dict[tuple[int, str], str] = {}
    for reporter in reporters:
        ticket = session.get(Ticket, reporter.ticket_id)
        old_contact = reporter.contact_id
        new_contact = _placeholder(f"{reporter.ticket_id}:{old_contact}")
        per_ticket[(reporter.ticket_id, old_contact)] = new_contact
        reporter.contact_id = new_contact
        reporter.name = ERASED_NAME
        reporter.phone = None
        reporter.person_id = None
        session.add(reporter)
        out.reporters += 1
        if ticket is None:
            continue
        ticket.round_ratings = [
            [new_contact if pair[0] == old_contact else pair[0], *pair[1:]]
            for pair in ticket.round_ratings
        ]
        first = session.exec(
            select(TicketReporter)
            .where(TicketReporter.ticket_id == ticket.id)
            .order_by(col(TicketReporter.reported_at), col(TicketReporter.id))
        ).first()
        if first is not None and first.id == reporter.id:
            ticket.text = ERASED_TEXT  # their words, possibly their address and name
            ticket.title = None  # a summary of those words
        ticket.version += 1
        session.add(ticket)
        out.tickets += 1
        out.ticket_codes.append(ticket.code)
    for message in messages:
        words = message.text.strip()
        ticket = session.get(Ticket, message.ticket_id) if message.ticket_id else None
        if ticket is not None and len(words) >= 2 and words in ticket.text:
            # Their 补充 to a ticket someone else reported first.
            ticket.text = ticket.text.replace(words, ERASED_TEXT)
            ticket.version += 1
            session.add(ticket)
        message.text = ERASED_TEXT
        message.sender_name = ERASED_NAME
        message.sender_contact_id = _placeholder(message.sender_contact_id)
        message.sender_person_id = None
        session.add(message)
        out.messages += 1
    out.other_rows = _erase_elsewhere(session, identity, contacts, names, per_ticket)
    session.flush()
    return out


def _erase_elsewhere(
    session: Session,
    identity: Identity,
    contacts: set[str],
    names: set[str],
    per_ticket: dict[tuple[int, str], str],
) -> int:
    """Every other row that names the person by contact id or roster person id."""
    names = {n for n in names if n and n != ERASED_NAME}
    person_id = identity.person_id
    ids = sorted(contacts)
    count = 0

    def by(column: Any, person_column: Any = None) -> Any:
        clauses: list[Any] = [col(column).in_(ids)]
        if person_column is not None and person_id is not None:
            clauses.append(col(person_column) == person_id)
        return or_(*clauses)

    # The ticket timeline (流转记录): their own steps (受理 of their report, 满意 …).
    for event in session.exec(
        select(TicketEvent).where(by(TicketEvent.actor_id, TicketEvent.actor_person_id))
    ):
        event.actor_id = per_ticket.get(
            (event.ticket_id, event.actor_id), _placeholder(f"{event.ticket_id}:{event.actor_id}")
        )
        event.actor_name = ERASED_NAME
        event.actor_person_id = None
        if event.note:
            event.note = ERASED_TEXT
        session.add(event)
        count += 1
    # Refused chat commands (#通知 … from someone who may not issue one).
    for attempt in session.exec(select(NoticeAttempt).where(by(NoticeAttempt.contact_id))):
        attempt.contact_id = _placeholder(attempt.contact_id)
        attempt.name = ERASED_NAME
        attempt.text = ERASED_TEXT
        session.add(attempt)
        count += 1
    for receipt in session.exec(select(Receipt).where(by(Receipt.contact_id, Receipt.person_id))):
        receipt.contact_id = _placeholder(receipt.contact_id)
        receipt.name = ERASED_NAME
        receipt.person_id = None
        session.add(receipt)
        count += 1
    for claim in session.exec(
        select(HouseholdConfirmation).where(
            by(HouseholdConfirmation.contact_id, HouseholdConfirmation.person_id)
        )
    ):
        claim.contact_id = _placeholder(claim.contact_id)
        claim.name = ERASED_NAME
        claim.person_id = None
        session.add(claim)
        count += 1
    for visit in session.exec(
        select(HouseholdVisitRequest).where(by(HouseholdVisitRequest.contact_id))
    ):
        visit.contact_id = _placeholder(visit.contact_id)
        session.add(visit)
        count += 1
    for call in session.exec(select(CallBack).where(by(CallBack.contact_id))):
        call.contact_id = per_ticket.get(
            (call.ticket_id, call.contact_id), _placeholder(f"{call.ticket_id}:{call.contact_id}")
        )
        if call.answer:
            call.answer = ERASED_TEXT
        session.add(call)
        count += 1
    for unreachable in session.exec(
        select(UnreachableContact).where(
            by(UnreachableContact.contact_id, UnreachableContact.person_id)
        )
    ):
        unreachable.contact_id = _placeholder(unreachable.contact_id)
        unreachable.name = ERASED_NAME
        unreachable.person_id = None
        unreachable.held = []
        session.add(unreachable)
        count += 1
    for step in session.exec(select(TaskEvent).where(by(TaskEvent.actor_contact_id))):
        step.actor_contact_id = _placeholder(step.actor_contact_id or "")
        step.actor_name = ERASED_NAME
        session.add(step)
        count += 1
    # Ticket messages queued by another process: to them, or mentioning them by name.
    queued_rows = select(TicketOutbox).where(
        or_(
            col(TicketOutbox.contact_id).in_(ids),
            *(cast(col(TicketOutbox.mention_ids), String).contains(c) for c in ids),
            *(col(TicketOutbox.text).contains(n) for n in sorted(names)),
        )
    )
    for queued in session.exec(queued_rows):
        mentioned = [m for m in queued.mention_ids if m in contacts]
        named = [n for n in names if n in queued.text]
        if queued.contact_id not in contacts and not mentioned and not named:
            continue
        if queued.contact_id in contacts:
            queued.contact_id = _placeholder(queued.contact_id)
            queued.text = ERASED_TEXT
        queued.mention_ids = [_placeholder(m) if m in contacts else m for m in queued.mention_ids]
        for name in named:
            queued.text = queued.text.replace(name, ERASED_NAME)
        session.add(queued)
        count += 1
    if person_id is None:
        # A code is only ever sent to a roster person; a resident has none.
        return count
    for code in session.exec(select(SignInCode).where(col(SignInCode.contact_id).in_(ids))):
        session.delete(code)
        count += 1
    return count


def redact_expired(session: Session, *, retention: timedelta, now: datetime) -> int:
    """Redact message texts older than the retention period: of tickets closed before
    ``now - retention``, and of messages that never became a ticket. Returns how many
    tickets were redacted."""
    cutoff = now - retention
    ids = list(
        session.exec(
            select(Ticket.id).where(
                col(Ticket.state).in_(_CLOSED),
                col(Ticket.closed_at) < cutoff,
                col(Ticket.text).not_in((REDACTED_TEXT, ERASED_TEXT)),
            )
        )
    )
    if ids:
        session.execute(
            update(Ticket)
            .where(col(Ticket.id).in_(ids))
            .values(text=REDACTED_TEXT, version=col(Ticket.version) + 1)
        )
        session.execute(
            update(IntakeMessage)
            .where(col(IntakeMessage.ticket_id).in_(ids))
            .values(text=REDACTED_TEXT)
        )
    session.execute(
        update(IntakeMessage)
        .where(
            col(IntakeMessage.ticket_id).is_(None),
            col(IntakeMessage.received_at) < cutoff,
            col(IntakeMessage.text).not_in((REDACTED_TEXT, ERASED_TEXT)),
        )
        .values(text=REDACTED_TEXT)
    )
    return len(ids)
