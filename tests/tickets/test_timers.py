"""SLA timers with time as a parameter: reminders, escalations, restarts, rating timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from models.db import make_async_engine, session_scope
from models.enums import TicketLevel, TicketState
from models.tickets import Ticket, TicketCreate, TicketEvent, TicketOutbox
from tests.tickets.helpers import T0, Town, contact
from tickets import actions
from tickets.chat_intake import intake
from tickets.commands import TicketCommand, parse_command
from tickets.one_stop import create_ticket
from tickets.outbox import queue_replies
from tickets.timers import JOB_ID, add_ticket_jobs, run_due_timers

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@pytest.fixture
async def aengine(engine: Engine, db_url: str) -> AsyncIterator[AsyncEngine]:
    async_engine = make_async_engine(db_url)
    try:
        yield async_engine
    finally:
        await async_engine.dispose()


def open_ticket(engine: Engine, settings: Settings, town: Town, text: str) -> str:
    with session_scope(engine) as session:
        outcome = intake(
            session=session,
            settings=settings,
            text=text,
            sender_contact_id="resident-1",
            sender_name="居民",
            room_id="unit@chatroom",
            org_unit_id=town.unit_id,
            now=T0,
        )
    assert outcome.ticket_code is not None
    return outcome.ticket_code


def act(engine: Engine, settings: Settings, text: str, who: str, now: datetime) -> None:
    parsed = parse_command(text, departments=settings.departments)
    assert isinstance(parsed, TicketCommand)
    with session_scope(engine) as session:
        actions.act(
            session=session,
            settings=settings,
            command=parsed,
            actor_contact_id=who,
            actor_name="",
            now=now,
        )


def state(engine: Engine, code: str) -> tuple[TicketState, TicketLevel, list[str]]:
    with Session(engine) as session:
        row = session.exec(select(Ticket).where(Ticket.code == code)).one()
        kinds = session.exec(
            select(TicketEvent.kind)
            .where(TicketEvent.ticket_id == row.id)
            .order_by(col(TicketEvent.id))
        ).all()
    return row.state, row.level, list(kinds)


NORMAL = "3栋楼下的下水道堵了好几天了，臭死了"
URGENT = "3栋楼道里着火了冒烟了快来人"


async def test_reminder_before_the_accept_deadline_fires_once(
    engine: Engine, aengine: AsyncEngine, settings: Settings, town: Town
) -> None:
    code = open_ticket(engine, settings, town, NORMAL)
    assert await run_due_timers(aengine, settings, T0 + 90 * MIN) == []
    # 2 h to accept, reminder when 20% is left: at 1 h 36 min.
    replies = await run_due_timers(aengine, settings, T0 + 96 * MIN)
    assert [(r.contact_id, "请在11月30日 11:00前接单" in r.text) for r in replies] == [
        (contact(town.grid_leader), True)
    ]
    assert await run_due_timers(aengine, settings, T0 + 97 * MIN) == []
    assert state(engine, code)[2][-1] == "sla_reminder"


async def test_accept_expiry_escalates_with_notice_to_both_levels(
    engine: Engine, aengine: AsyncEngine, settings: Settings, town: Town
) -> None:
    code = open_ticket(engine, settings, town, URGENT)
    # Urgent: 15 min to accept; remind at 12 min; expire at 15 min.
    reminded = await run_due_timers(aengine, settings, T0 + 12 * MIN)
    assert len(reminded) == 1
    escalated = await run_due_timers(aengine, settings, T0 + 15 * MIN)
    told = {r.contact_id for r in escalated}
    assert {contact(town.grid_leader), contact(town.station_chief), "resident-1"} <= told
    chief = next(r for r in escalated if r.contact_id == contact(town.station_chief))
    assert f"接单 {code}" in chief.text
    assert state(engine, code)[:2] == (TicketState.DISPATCHED, TicketLevel.VILLAGE)
    # The village has its own window: its expiry escalates to the town.
    to_town = await run_due_timers(aengine, settings, T0 + 30 * MIN)
    assert contact(town.town_official) in {r.contact_id for r in to_town}
    assert state(engine, code)[1] is TicketLevel.TOWN


async def test_a_restart_fires_an_overdue_deadline_once(
    engine: Engine, aengine: AsyncEngine, settings: Settings, town: Town
) -> None:
    """The process was down from T0 to T0 + 3 h: the missed accept deadline (T0 + 2 h)
    escalates once, without the moot reminder, on the first call after the start."""
    code = open_ticket(engine, settings, town, NORMAL)
    started = T0 + 3 * HOUR
    first = await run_due_timers(aengine, settings, started, refresh=True)
    assert first and not any("⏰" in r.text for r in first)
    assert state(engine, code)[:2] == (TicketState.DISPATCHED, TicketLevel.VILLAGE)
    assert await run_due_timers(aengine, settings, started, refresh=True) == []
    assert await run_due_timers(aengine, settings, started + MIN) == []
    assert state(engine, code)[2].count("sla_expired") == 1


async def test_rating_timeout_closes_without_rating(
    engine: Engine, aengine: AsyncEngine, settings: Settings, town: Town
) -> None:
    code = open_ticket(engine, settings, town, NORMAL)
    leader = contact(town.grid_leader)
    act(engine, settings, f"接单 {code}", leader, T0 + MIN)
    act(engine, settings, f"办结 {code} 已疏通", leader, T0 + 2 * MIN)
    assert await run_due_timers(aengine, settings, T0 + 3 * 24 * HOUR) == []
    assert await run_due_timers(aengine, settings, T0 + 2 * MIN + 3 * 24 * HOUR) == []
    closed, _, kinds = state(engine, code)
    assert closed is TicketState.CLOSED and kinds[-1] == "close"
    with Session(engine) as session:
        row = session.exec(select(Ticket).where(Ticket.code == code)).one()
    assert row.rating is None and row.next_timer_at is None


async def test_resolve_expiry_after_extension(
    engine: Engine, aengine: AsyncEngine, settings: Settings, town: Town
) -> None:
    code = open_ticket(engine, settings, town, NORMAL)
    leader = contact(town.grid_leader)
    act(engine, settings, f"接单 {code}", leader, T0 + MIN)
    act(engine, settings, f"延期 {code} 2天 等待配件", leader, T0 + 2 * MIN)
    week = T0 + timedelta(days=7)
    assert not any("超时" in r.text for r in await run_due_timers(aengine, settings, week + MIN))
    assert state(engine, code)[1] is TicketLevel.GRID
    late = await run_due_timers(aengine, settings, week + timedelta(days=2) + MIN)
    assert any("超时升级" in r.text for r in late)
    assert state(engine, code)[1] is TicketLevel.VILLAGE


async def test_outbox_messages_are_handed_out_once(
    engine: Engine, aengine: AsyncEngine, settings: Settings, town: Town
) -> None:
    with session_scope(engine) as session:
        outcome = create_ticket(
            session=session,
            settings=settings,
            ticket_in=TicketCreate(
                unit_path="国欢村/第1网格/洋中1号片区", text=NORMAL, reporter_name="王阿姨"
            ),
            now=T0,
        )
        queue_replies(session=session, replies=outcome.replies, now=T0)
    replies = await run_due_timers(aengine, settings, T0 + MIN)
    assert [r.contact_id for r in replies] == [
        contact(town.grid_leader),
        contact(town.unit_leader),
    ]
    assert await run_due_timers(aengine, settings, T0 + 2 * MIN) == []
    with Session(engine) as session:
        rows = session.exec(select(TicketOutbox)).all()
        assert len(rows) == 2 and all(row.taken_at == T0 + MIN for row in rows)


class FakeScheduler:
    def __init__(self) -> None:
        self.jobs: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

    def add_job(self, func: Any, *args: Any, **kwargs: Any) -> str:
        self.jobs.append((func, args, kwargs))
        return str(kwargs["id"])


async def test_the_scheduler_job_sends_what_is_due(
    engine: Engine, aengine: AsyncEngine, settings: Settings, town: Town
) -> None:
    open_ticket(engine, settings, town, URGENT)
    sent: list[Reply] = []
    now = [T0 + 15 * MIN]

    async def send(reply: Reply) -> None:
        if reply.contact_id == "resident-1":
            raise RuntimeError("not a friend of the bot")  # logged, the others still go
        sent.append(reply)

    scheduler = FakeScheduler()
    job = add_ticket_jobs(
        scheduler, engine=aengine, settings=settings, send=send, clock=lambda: now[0]
    )
    assert job == JOB_ID
    ((tick, args, kwargs),) = scheduler.jobs
    assert args == ("interval",) and kwargs["seconds"] == 30
    assert kwargs["misfire_grace_time"] is None and kwargs["coalesce"] is True
    assert kwargs["max_instances"] == 1 and kwargs["next_run_time"] == T0 + 15 * MIN
    await tick()
    assert {r.contact_id for r in sent} >= {contact(town.grid_leader), contact(town.station_chief)}
    count = len(sent)
    await tick()
    assert len(sent) == count
