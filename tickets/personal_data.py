"""Residents' personal data (个人信息保护法): retention, export, erasure.

- Message texts of tickets closed longer than ``privacy.message_retention`` ago are
  redacted, and so are the texts of old messages that never became tickets; the tickets
  stay, with their category, levels, times and rating, so the statistics do not change.
- :func:`export_person` gathers what gridcast holds about one person (by phone, or by a
  WeChat contact id for a resident who never gave a phone).
- :func:`erase_person` replaces their name, phone, contact id and words in tickets and
  messages with placeholders. Roster posts are the roster file's business and stay; the
  audit trail is append-only and holds masked phones only.

Callers record every use in the audit trail.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from models.auth import ChatBinding
from models.enums import TicketState
from models.org import Person
from models.tickets import IntakeMessage, Ticket, TicketReporter

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
    for reporter in reporters:
        ticket = session.get(Ticket, reporter.ticket_id)
        old_contact = reporter.contact_id
        new_contact = _placeholder(f"{reporter.ticket_id}:{old_contact}")
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
        ticket.version += 1
        session.add(ticket)
        out.tickets += 1
        out.ticket_codes.append(ticket.code)
    for message in messages:
        message.text = ERASED_TEXT
        message.sender_name = ERASED_NAME
        message.sender_contact_id = _placeholder(message.sender_contact_id)
        message.sender_person_id = None
        session.add(message)
        out.messages += 1
    session.flush()
    return out


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
