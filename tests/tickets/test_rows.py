"""Tickets as stored: daily codes under concurrency, and the view round trip."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from models.db import session_scope
from models.tickets import (
    Ticket,
)
from tests.tickets.flows import COMPLAINT, MIN, act, command, file, new_code
from tests.tickets.helpers import T0, Town, contact
from tickets.actors import actors_of
from tickets.commands import (
    TicketCommand,
)
from tickets.configured import lifecycle_rules
from tickets.lifecycle import apply
from tickets.rows import allocate_code, reporter_ids, ticket_view


def test_codes_count_per_local_day(engine: Engine, settings: Settings, town: Town) -> None:
    first = file(engine, settings, COMPLAINT, "r1", unit_id=town.unit_id)
    second = file(engine, settings, "楼上邻居天天半夜装修吵死了", "r2", unit_id=town.unit_id)
    # 16:30 UTC is 00:30 the next day in the town: a new day, a new sequence.
    late = T0.replace(hour=16, minute=30)
    third = file(
        engine, settings, "路灯坏了一个星期了晚上黑乎乎的", "r3", unit_id=town.unit_id, now=late
    )
    assert [o.ticket_code for o in (first, second, third)] == [
        "T20261130-0001",
        "T20261130-0002",
        "T20261201-0001",
    ]


def test_codes_are_unique_under_concurrency(engine: Engine) -> None:
    codes: list[str] = []
    errors: list[BaseException] = []

    def allocate() -> None:
        try:
            for _ in range(5):
                with session_scope(engine) as session:
                    codes.append(allocate_code(session, T0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(codes) == [f"T20261130-{n:04d}" for n in range(1, 31)]


def test_a_stored_view_round_trips(engine: Engine, settings: Settings, town: Town) -> None:
    """What the service stores reads back as exactly the view the lifecycle produced."""
    code = new_code(engine, settings, town)
    leader = contact(town.grid_leader)
    steps = [
        f"接单 {code}",
        f"延期 {code} 3天 等待配件",
        f"吹哨 {code} 区司法局",
    ]
    for i, text in enumerate(steps):
        now = T0 + (i + 1) * MIN
        with Session(engine) as session:
            row = session.exec(select(Ticket).where(Ticket.code == code)).one()
            assert row.id is not None
            before = ticket_view(row, reporter_ids(session, row.id))
            actor = actors_of(session, settings, contact_id=leader, name="")[0]
        cmd = command(settings, text)
        assert isinstance(cmd, TicketCommand)
        expected = apply(before, cmd.action, actor, now, rules=lifecycle_rules(settings.tickets))
        act(engine, settings, text, leader, now=now)
        with Session(engine) as session:
            row = session.exec(select(Ticket).where(Ticket.code == code)).one()
            assert row.id is not None
            after = ticket_view(row, reporter_ids(session, row.id))
        assert after == expected.ticket
