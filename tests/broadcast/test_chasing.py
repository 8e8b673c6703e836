"""Chasing silent groups (催办): the steps with time as a parameter, reminders sent
through the outbox over every account, nothing lost on a stop, grid groups and shops,
corrections and recalls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.hub import BotHub
from bot.routers.notices import notices_router, receipts_router
from broadcast import service
from broadcast.chasing import Chaser, due_step
from broadcast.engine import Broadcaster, NoticeRequest
from core.config import ReminderIntervals, parse_settings
from models.broadcast import Delivery, DeliveryState, Notice, NoticeKind, NoticeStatus
from models.db import run_in_session, session_scope
from models.enums import Level, Role
from tests.broadcast.harness import ROSTER, TOWN, fake, room_id, running_system, send

SETTINGS = parse_settings({})
NORMAL = SETTINGS.broadcast.reminders_normal
URGENT = SETTINGS.broadcast.reminders_urgent
GRID_PATHS = sorted({r.path[:2] for r in ROSTER.rows})


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def chased(
    engine: Engine, db_url: str
) -> AsyncIterator[tuple[BotHub, Broadcaster, Chaser, Clock]]:
    async with running_system(engine, db_url) as (hub, broadcaster):
        clock = Clock()
        chaser = Chaser(broadcaster, send=hub.send, normal=NORMAL, urgent=URGENT, clock=clock)
        yield hub, broadcaster, chaser, clock


def wire(hub: BotHub, broadcaster: Broadcaster, chaser: Chaser) -> None:
    hub.dispatcher.include_routers(
        notices_router(broadcaster, town=TOWN, deadline_s=180, chaser=chaser),
        receipts_router(
            broadcaster, ack_words=SETTINGS.broadcast.ack_words, window=timedelta(hours=24)
        ),
    )


def posted(hub: BotHub, marker: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(account, room, mentions) of every group post containing ``marker``."""
    return [
        (account, s.room_id or "", tuple(s.mention_ids))
        for account in hub.accounts
        for s in fake(hub, account).sent
        if s.room_id and marker in s.text
    ]


def private(hub: BotHub, marker: str) -> list[tuple[str, str]]:
    return [
        (s.contact_id or "", s.text)
        for account in hub.accounts
        for s in fake(hub, account).sent
        if s.contact_id and marker in s.text
    ]


async def chase_round(chaser: Chaser, broadcaster: Broadcaster) -> None:
    await chaser.run_once()
    async with asyncio.timeout(20):
        await broadcaster.idle()


def test_due_step_per_level() -> None:
    sent = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert due_step(sent, NORMAL, Level.UNIT, sent + timedelta(minutes=29)) == 0
    assert due_step(sent, NORMAL, Level.UNIT, sent + timedelta(minutes=30)) == 1
    assert due_step(sent, NORMAL, Level.UNIT, sent + timedelta(days=1)) == 3
    assert due_step(sent, NORMAL, Level.GRID, sent + timedelta(days=1)) == 2  # a grid: 2 steps


async def test_steps_fire_once_each_and_reminders_go_through_the_outbox(chased, engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster, chaser, clock = chased
    code = await send(broadcaster)
    with session_scope(engine) as session:
        sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)
    clock.now = sent_at + timedelta(minutes=1)
    await chase_round(chaser, broadcaster)
    assert posted(hub, "尚未确认") == []
    clock.now = sent_at + timedelta(minutes=31)
    await chase_round(chaser, broadcaster)
    reminded = posted(hub, "尚未确认")
    unit_rooms = {room_id(r.path) for r in ROSTER.rows}
    grid_rooms = {room_id(p) for p in GRID_PATHS}
    assert sorted(room for _, room, _ in reminded) == sorted(unit_rooms | grid_rooms)  # once each
    assert all(mentions for _, _, mentions in reminded)
    assert len({account for account, _, _ in reminded}) > 1  # spread over the accounts
    with session_scope(engine) as session:
        reminder = session.exec(select(Notice).where(Notice.kind == NoticeKind.REMINDER)).one()
        rows = session.exec(select(Delivery).where(Delivery.notice_id == reminder.id)).all()
        assert reminder.code.startswith("C") and reminder.status is NoticeStatus.DONE
        assert {r.state for r in rows} == {DeliveryState.SENT}  # recorded when sent
        with pytest.raises(service.NoticeNotFound):
            service.notice_by_code(session, "N" + reminder.code[1:])
    clock.now = sent_at + timedelta(minutes=32)
    await chase_round(chaser, broadcaster)
    assert len(posted(hub, "尚未确认")) == len(reminded)  # once
    clock.now = sent_at + timedelta(hours=2, minutes=1)
    await chase_round(chaser, broadcaster)
    grid_leaders = {
        e.person.wechat_id for e in ROSTER.extra_roles if e.role is Role.GRID_LEADER
    } | {r.grid_leader.wechat_id for r in ROSTER.rows}
    told = private(hub, "还没有确认")
    assert {c for c, _ in told} <= grid_leaders and len(told) == len(GRID_PATHS)
    chiefs_told = private(hub, "网格长还没有在网格群确认")  # the grids' second step
    assert len(chiefs_told) == len({p[0] for p in GRID_PATHS})
    clock.now = sent_at + timedelta(hours=6, minutes=1)
    await chase_round(chaser, broadcaster)
    villages = private(hub, "全村仍有")
    assert len(villages) == len({r.village for r in ROSTER.rows})
    clock.now = sent_at + timedelta(days=2)
    before = sum(len(fake(hub, a).sent) for a in hub.accounts)
    await chase_round(chaser, broadcaster)
    assert sum(len(fake(hub, a).sent) for a in hub.accounts) == before
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, code)
        steps = {
            (d.level, d.escalation_step)
            for d in session.exec(select(Delivery).where(Delivery.notice_id == notice.id))
        }
    assert ("unit", 3) in steps and ("grid", 2) in steps


async def test_after_a_long_stop_the_group_reminder_comes_before_the_private_steps(
    chased, engine
) -> None:  # type: ignore[no-untyped-def]
    """Regression: rows were marked reminded before the message was sent, and after a
    restart the groups jumped to step 2."""
    hub, broadcaster, chaser, clock = chased
    await send(broadcaster)
    with session_scope(engine) as session:
        sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)
    clock.now = sent_at + timedelta(days=1)
    await chaser.run_once()  # the first round stores the reminders; the private steps wait
    assert private(hub, "您好") == []
    async with asyncio.timeout(20):
        await broadcaster.idle()
    await chase_round(chaser, broadcaster)
    assert private(hub, "还没有确认") and private(hub, "全村仍有")


async def test_a_stop_loses_no_reminder(engine: Engine, db_url: str) -> None:
    """The reminders are rows of the outbox: stopped mid-way, the next start sends the
    rest, each group once."""
    clock = Clock()
    async with running_system(engine, db_url) as (hub, broadcaster):
        await send(broadcaster)
        with session_scope(engine) as session:
            sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)
        for account in hub.accounts:
            hub.limiters[account] = AsyncLimiter(1, 1)  # slow: stopped half-way
        chaser = Chaser(broadcaster, send=hub.send, normal=NORMAL, urgent=URGENT, clock=clock)
        clock.now = sent_at + timedelta(minutes=31)
        await chaser.run_once()

        def sent_reminders(session: Session) -> int:
            return sum(
                1
                for d, _n in session.exec(
                    select(Delivery, Notice).join(Notice).where(Notice.kind == NoticeKind.REMINDER)
                )
                if d.state is DeliveryState.SENT
            )

        for _ in range(500):  # (read on the application's engine: the loop is not blocked)
            if await run_in_session(broadcaster.engine, sent_reminders) >= 1:
                break
            await asyncio.sleep(0.02)
        first = posted(hub, "尚未确认")
    with session_scope(engine) as session:
        open_rows = [
            d
            for d, n in session.exec(
                select(Delivery, Notice).join(Notice).where(Notice.kind == NoticeKind.REMINDER)
            )
            if d.state is not DeliveryState.SENT
        ]
        assert open_rows  # stopped with reminders still to send
        assert {
            d.escalation_step
            for d, n in session.exec(select(Delivery, Notice).join(Notice))
            if d.level == "unit" and n.kind is NoticeKind.NOTICE
        } == {1}
    async with running_system(engine, db_url) as (hub2, broadcaster2):
        await broadcaster2.resume()
        async with asyncio.timeout(20):
            await broadcaster2.idle()
        rest = posted(hub2, "尚未确认")
    rooms = [room for _, room, _ in first + rest]
    expected = {room_id(r.path) for r in ROSTER.rows} | {room_id(p) for p in GRID_PATHS}
    assert set(rooms) == expected
    assert len(rooms) - len(set(rooms)) <= len(hub.accounts)  # at most the rows caught mid-send
    with session_scope(engine) as session:
        assert {
            d.escalation_step
            for d, n in session.exec(select(Delivery, Notice).join(Notice))
            if d.level == "unit" and n.kind is NoticeKind.NOTICE
        } == {1}


async def test_a_group_that_answers_before_its_reminder_is_not_reminded(chased, engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster, chaser, clock = chased
    wire(hub, broadcaster, chaser)
    await send(broadcaster)
    with session_scope(engine) as session:
        sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)
    for account in hub.accounts:
        hub.limiters[account] = AsyncLimiter(1, 1)
    clock.now = sent_at + timedelta(minutes=31)
    await chaser.run_once()
    last = ROSTER.rows[-1]
    leader = last.unit_leader
    await fake(hub, "bot1").receive(
        "收到",
        room_id=room_id(last.path),
        sender_id=leader.wechat_id or "",
        sender_name=leader.name,
    )
    for account in hub.accounts:
        hub.limiters[account] = AsyncLimiter(200, 1)
    async with asyncio.timeout(30):
        await broadcaster.idle()
    rooms = {room for _, room, _ in posted(hub, "尚未确认")}
    assert room_id(last.path) not in rooms and room_id(ROSTER.rows[0].path) in rooms


async def test_chase_now_reminds_every_silent_group_at_once(chased, engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster, chaser, _clock = chased
    wire(hub, broadcaster, chaser)
    code = await send(broadcaster)
    first = ROSTER.rows[0]
    await fake(hub, "bot1").receive(
        "收到",
        room_id=room_id(first.path),
        sender_id=first.unit_leader.wechat_id or "",
        sender_name=first.unit_leader.name,
    )
    official = next(e for e in ROSTER.extra_roles if e.role is Role.TOWN_OFFICIAL).person
    await fake(hub, "bot1").receive(
        f"#催办 {code}",
        room_id=room_id(first.path),
        sender_id=official.wechat_id or "",
        sender_name=official.name,
    )
    assert "已催办" in fake(hub, "bot1").sent[-1].text
    async with asyncio.timeout(20):
        await broadcaster.idle()
    rooms = {room for _, room, _ in posted(hub, "尚未确认")}
    assert room_id(first.path) not in rooms
    assert rooms == ({room_id(r.path) for r in ROSTER.rows[1:]} | {room_id(p) for p in GRID_PATHS})
    await fake(hub, "bot1").receive(
        f"#催办 {code}", room_id=room_id(first.path), sender_id="resident-x", sender_name="路人"
    )
    assert "已催办" not in fake(hub, "bot1").sent[-1].text  # only who may manage the notice


async def test_a_correction_has_its_own_receipts_and_takes_over_the_chasing(chased, engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster, chaser, clock = chased
    wire(hub, broadcaster, chaser)
    code = await send(broadcaster)
    first, second = ROSTER.rows[0], ROSTER.rows[1]
    bot1 = fake(hub, "bot1")
    await bot1.receive(
        "收到",
        room_id=room_id(first.path),
        sender_id=first.unit_leader.wechat_id or "",
        sender_name=first.unit_leader.name,
    )
    official = next(e for e in ROSTER.extra_roles if e.role is Role.TOWN_OFFICIAL).person
    await bot1.receive(
        f"#更正 {code} 时间改为下午3点",
        room_id=room_id(first.path),
        sender_id=official.wechat_id or "",
        sender_name=official.name,
    )
    assert "单独统计" in bot1.sent[-1].text
    async with asyncio.timeout(20):
        await broadcaster.idle()
    corrections = [s for s in bot1.sent if s.text.startswith("【更正")]
    assert corrections and "确认更正" in corrections[0].text
    await bot1.receive(
        "收到",
        room_id=room_id(second.path),
        sender_id=second.unit_leader.wechat_id or "",
        sender_name=second.unit_leader.name,
    )
    with session_scope(engine) as session:
        original = service.notice_by_code(session, code)
        correction = session.exec(select(Notice).where(Notice.kind == NoticeKind.CORRECTION)).one()
        original_report = service.reach_report(session, original)
        correction_report = service.reach_report(session, correction)
        sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)
    assert original_report["levels"]["unit"]["acknowledged"] == 1  # type: ignore[index]
    assert correction_report["levels"]["unit"]["acknowledged"] == 1  # type: ignore[index]
    clock.now = sent_at + timedelta(minutes=31)
    await chase_round(chaser, broadcaster)
    reminders = [s.text for a in hub.accounts for s in fake(hub, a).sent if "尚未确认" in s.text]
    assert reminders and all(correction.code in t and code not in t for t in reminders)


async def test_a_correction_mid_send_waits_and_goes_only_where_the_original_went(
    chased, engine
) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster, _chaser, _clock = chased
    for account in hub.accounts:
        hub.limiters[account] = AsyncLimiter(2, 1)
    prepared = await broadcaster.prepare(
        NoticeRequest(title="停水", body="明天停水", scope=TOWN, issuer_name="镇水务站")
    )
    await broadcaster.confirm(prepared.code)
    await asyncio.sleep(0.3)
    correction = await broadcaster.send(
        NoticeRequest(
            title="停水",
            body="改为后天",
            scope="",
            issuer_name="镇水务站",
            kind=NoticeKind.CORRECTION,
            parent_code=prepared.code,
        )
    )
    for account in hub.accounts:
        hub.limiters[account] = AsyncLimiter(200, 1)
    async with asyncio.timeout(30):
        await broadcaster.idle()
    order: dict[str, list[str]] = {}
    for account in hub.accounts:
        for s in fake(hub, account).sent:
            if s.room_id:
                order.setdefault(s.room_id, []).append(s.text[:9])
    got_original = {r for r, texts in order.items() if any(prepared.code in t for t in texts)}
    got_correction = {r for r, texts in order.items() if any(correction.code in t for t in texts)}
    assert got_correction == got_original and len(got_original) == prepared.groups
    with session_scope(engine) as session:
        times = {
            n.code: [
                d.sent_at for d in session.exec(select(Delivery).where(Delivery.notice_id == n.id))
            ]
            for n in session.exec(select(Notice))
        }
    assert min(times[correction.code]) >= max(times[prepared.code])  # after the whole original


async def test_recall_cancels_reminders_still_to_send(chased, engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster, chaser, clock = chased
    code = await send(broadcaster)
    with session_scope(engine) as session:
        sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)
    for account in hub.accounts:
        hub.limiters[account] = AsyncLimiter(1, 1)
    clock.now = sent_at + timedelta(minutes=31)
    await chaser.run_once()
    stopped = await broadcaster.retract(code)
    assert stopped.children and stopped.notice.status is NoticeStatus.RECALLED
    async with asyncio.timeout(20):
        await broadcaster.idle()
    with session_scope(engine) as session:
        reminder = session.exec(select(Notice).where(Notice.kind == NoticeKind.REMINDER)).one()
        states = {
            d.state for d in session.exec(select(Delivery).where(Delivery.notice_id == reminder.id))
        }
    assert reminder.status is NoticeStatus.CANCELLED and DeliveryState.PLANNED not in states
    assert len(posted(hub, "尚未确认")) <= len(hub.accounts)  # at most those already under way


def test_intervals_must_grow() -> None:
    with pytest.raises(ValueError):
        ReminderIntervals(
            remind_group=timedelta(hours=1),
            tell_grid_leader=timedelta(minutes=30),
            tell_village=timedelta(hours=2),
        )
