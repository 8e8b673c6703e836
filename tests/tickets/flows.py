"""Tickets filed, acted on and read through the data functions, as the ticket tests do
(each call in its own transaction, like the bot's)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.config import Settings
from models.db import session_scope
from models.tickets import IntakeKind, Ticket, TicketEvent
from tests.tickets.helpers import T0, Town
from tickets import actions, chat_intake
from tickets.actions import ActOutcome
from tickets.commands import RateCommand, ReassignCommand, TicketCommand, parse_command
from tickets.filing import IntakeOutcome

COMPLAINT = "3栋楼下的下水道堵了好几天了，臭死了，没人管吗"
MIN = timedelta(minutes=1)


def file(
    engine: Engine,
    settings: Settings,
    text: str,
    sender: str,
    *,
    unit_id: int,
    now: object = T0,
    name: str = "居民",
) -> IntakeOutcome:
    with session_scope(engine) as session:
        return chat_intake.intake(
            session=session,
            settings=settings,
            text=text,
            sender_contact_id=sender,
            sender_name=name,
            room_id="unit@chatroom",
            org_unit_id=unit_id,
            now=now,  # type: ignore[arg-type]
        )


def command(settings: Settings, text: str) -> TicketCommand | ReassignCommand:
    parsed = parse_command(text, departments=settings.departments)
    assert isinstance(parsed, TicketCommand | ReassignCommand), parsed
    return parsed


def act(
    engine: Engine,
    settings: Settings,
    text: str,
    who: str,
    *,
    now: object = T0,
    mention_ids: tuple[str, ...] = (),
) -> ActOutcome:
    with session_scope(engine) as session:
        return actions.act(
            session=session,
            settings=settings,
            command=command(settings, text),
            actor_contact_id=who,
            actor_name="",
            now=now,  # type: ignore[arg-type]
            mention_ids=mention_ids,
        )


def rate(
    engine: Engine, settings: Settings, text: str, who: str, *, now: object = T0
) -> ActOutcome | None:
    parsed = parse_command(text)
    assert isinstance(parsed, RateCommand)
    with session_scope(engine) as session:
        return actions.rate(
            session=session,
            settings=settings,
            command=parsed,
            contact_id=who,
            name="",
            now=now,  # type: ignore[arg-type]
        )


def ticket(engine: Engine, code: str) -> Ticket:
    with Session(engine) as session:
        return session.exec(select(Ticket).where(Ticket.code == code)).one()


def events(engine: Engine, code: str) -> list[str]:
    with Session(engine) as session:
        row = session.exec(select(Ticket).where(Ticket.code == code)).one()
        return list(
            session.exec(
                select(TicketEvent.kind)
                .where(TicketEvent.ticket_id == row.id)
                .order_by(col(TicketEvent.id))
            )
        )


def new_code(engine: Engine, settings: Settings, town: Town, text: str = COMPLAINT) -> str:
    outcome = file(engine, settings, text, "resident-1", unit_id=town.unit_id)
    assert outcome.kind is IntakeKind.TICKET and outcome.ticket_code
    return outcome.ticket_code


__all__ = ["COMPLAINT", "MIN", "act", "command", "events", "file", "new_code", "rate", "ticket"]
