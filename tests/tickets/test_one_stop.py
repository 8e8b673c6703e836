"""One-stop intake (一站受理) through the same pipeline as group messages."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from models.db import session_scope
from models.enums import Urgency
from models.tickets import (
    IntakeKind,
    TicketChannel,
    TicketCreate,
    TicketReporter,
)
from tests.tickets.flows import act, file, ticket
from tests.tickets.helpers import T0, Town, contact
from tickets.errors import TicketError, UnitNotFound
from tickets.one_stop import create_ticket


def test_one_stop_intake_goes_through_the_same_pipeline(
    engine: Engine, settings: Settings, town: Town
) -> None:
    ticket_in = TicketCreate(
        unit_path="国欢村/第1网格/洋中1号片区",
        text="3栋楼下的下水道堵了好几天了，臭死了",
        reporter_name="王阿姨",
        reporter_phone="139-1234-5678",
    )
    with session_scope(engine) as session:
        outcome = create_ticket(session=session, settings=settings, ticket_in=ticket_in, now=T0)
    assert outcome.kind is IntakeKind.TICKET and outcome.ticket_code == "T20261130-0001"
    assert "已受理" in outcome.receipt
    brief, unit_copy = outcome.replies  # the grid leader's brief, the unit leader's copy
    assert "13912345678" not in unit_copy.text
    assert brief.contact_id == contact(town.grid_leader) and "王阿姨，电话13912345678" in brief.text
    with Session(engine) as session:
        reporter = session.exec(select(TicketReporter)).one()
    assert (reporter.contact_id, reporter.phone, reporter.channel) == (
        "tel-13912345678",
        "13912345678",
        TicketChannel.PHONE,
    )
    # A chat report of the same problem joins it.
    joined = file(
        engine, settings, "3栋下水道堵了好几天了臭死了", "resident-2", unit_id=town.unit_id
    )
    assert joined.kind is IntakeKind.DUPLICATE and joined.ticket_code == outcome.ticket_code


def test_one_stop_intake_refuses_unknown_units_and_categories(
    engine: Engine, settings: Settings, town: Town
) -> None:
    with session_scope(engine) as session:
        with pytest.raises(UnitNotFound, match="找不到"):
            create_ticket(
                session=session,
                settings=settings,
                ticket_in=TicketCreate(
                    unit_path="国欢村/第9网格", text="路灯坏了", reporter_name="张三"
                ),
                now=T0,
            )
        with pytest.raises(TicketError, match="未知的类别"):
            create_ticket(
                session=session,
                settings=settings,
                ticket_in=TicketCreate(
                    unit_path="国欢村/第1网格", text="路灯坏了", reporter_name="张三", category="x"
                ),
                now=T0,
            )


def test_walk_in_without_phone_gets_no_messages(
    engine: Engine, settings: Settings, town: Town
) -> None:
    with session_scope(engine) as session:
        outcome = create_ticket(
            session=session,
            settings=settings,
            ticket_in=TicketCreate(
                unit_path="国欢村/第1网格",
                text="想问一下新农合医保怎么交",
                reporter_name="李大爷",
                channel=TicketChannel.WALK_IN,
                category="consult",
                urgency=Urgency.NORMAL,
            ),
            now=T0,
        )
    code = outcome.ticket_code or ""
    row = ticket(engine, code)
    assert (row.category, row.grid_id) == ("consult", town.grid_id)
    accepted = act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    assert accepted.replies == ()  # the walk-in has no WeChat to notify
