"""Accounts lost and coming back during a notice (issues 9 and 16), on recording accounts
slow enough that a notice takes about a second."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from bot.hub import BotHub
from broadcast import service
from broadcast.engine import Broadcaster, NoticeRequest
from core.messaging import SendFailed
from models.broadcast import Delivery, DeliveryState, Notice, NoticeStatus
from models.db import run_in_session, session_scope
from models.enums import AccountStatus
from tests.broadcast.harness import (
    PATHS,
    ROSTER,
    TOWN,
    all_sent,
    deliveries,
    fake,
    room_id,
    running_system,
)

RATE, BURST = 20.0, 2
"""23 groups over three accounts at this pace take about half a second."""


@pytest.fixture
async def slow_system(engine: Engine, db_url: str) -> AsyncIterator[tuple[BotHub, Broadcaster]]:
    async with running_system(engine, db_url, rate=RATE, burst=BURST) as running:
        yield running


def request() -> NoticeRequest:
    return NoticeRequest(
        title="台风预警", body="今晚停止户外作业。", scope=TOWN, issuer_name="镇应急办"
    )


async def until(check: object, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


def once_each(hub: BotHub) -> bool:
    return Counter(room for _, room in all_sent(hub)) == Counter({room_id(p): 1 for p in PATHS})


async def test_an_account_that_comes_back_mid_run_gets_work_again(
    slow_system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    """Issue 9: an account back online within a second got no more work."""
    hub, broadcaster = slow_system
    await fake(hub, "bot2").set_state(AccountStatus.DISCONNECTED, "事件流中断")
    prepared = await broadcaster.send(request())
    await asyncio.sleep(0.15)
    assert not fake(hub, "bot2").sent
    back = time.monotonic()
    await fake(hub, "bot2").set_state(AccountStatus.ONLINE, "已重新连接")
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    assert fake(hub, "bot2").sent, "the account that came back was not used again"
    assert once_each(hub)
    assert {r.state for r in deliveries(engine, prepared.code)} == {DeliveryState.SENT}
    assert broadcaster.replan_delays_s and max(broadcaster.replan_delays_s) < 1.0
    assert time.monotonic() - back < 5


async def test_a_lost_account_is_replanned_within_a_second_before_its_next_send(
    slow_system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = slow_system
    prepared = await broadcaster.send(request())
    await until(lambda: len(fake(hub, "bot1").sent) >= 2)
    lost_at = time.monotonic()
    # The state changes without a failed send: the engine hears it from the messenger.
    await fake(hub, "bot1").set_state(AccountStatus.LOGGED_OUT, "账号在其他设备登录")
    sent_before = len(fake(hub, "bot1").sent)
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    assert len(fake(hub, "bot1").sent) == sent_before
    assert broadcaster.replan_delays_s and max(broadcaster.replan_delays_s) < 1.0
    assert time.monotonic() - lost_at < 10
    assert once_each(hub)
    assert {r.state for r in deliveries(engine, prepared.code)} == {DeliveryState.SENT}


async def test_groups_unreachable_at_a_resume_are_sent_when_their_account_comes_back(
    slow_system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    """Issue 9: a process resumed while accounts were logged out left their groups
    unreachable for good."""
    hub, broadcaster = slow_system
    prepared = await broadcaster.prepare(request())
    with session_scope(engine) as session:  # what a process killed while sending leaves
        session.execute(
            update(Notice)
            .where(Notice.code == prepared.code)  # type: ignore[arg-type]
            .values(status=NoticeStatus.SENDING, started_at=datetime.now(UTC))
        )
    for account in ("bot1", "bot2"):
        await fake(hub, account).set_state(AccountStatus.LOGGED_OUT, "已退出")
    await broadcaster.resume()
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    first_village = ROSTER.rows[0].village
    rows = deliveries(engine, prepared.code)
    waiting = {r.room_id for r in rows if r.state is DeliveryState.UNREACHABLE}
    assert waiting == {room_id(p) for p in PATHS if not p or p[0] != first_village}

    await fake(hub, "bot1").set_state(AccountStatus.ONLINE, "已登录")

    def states(session: Session) -> set[DeliveryState]:
        notice = service.notice_by_code(session, prepared.code)
        return {
            r.state for r in session.exec(select(Delivery).where(Delivery.notice_id == notice.id))
        }

    deadline = time.monotonic() + 10
    # read through the process's own engine (a second SQLite connection would lock)
    while (found := await run_in_session(broadcaster.engine, states)) != {DeliveryState.SENT}:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)
    await until(lambda: not broadcaster._active)
    assert {room for account, room in all_sent(hub) if account == "bot1"} >= waiting
    assert once_each(hub)
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, prepared.code)
        assert notice.status is NoticeStatus.DONE


async def test_prepared_shows_the_reach_under_the_loss_budget(
    slow_system: tuple[BotHub, Broadcaster],
) -> None:
    _hub, broadcaster = slow_system
    prepared = await broadcaster.prepare(request())
    # 10% of three accounts is none: nothing to predict
    assert prepared.predicted_reach_under_loss_s is None and not prepared.lost_accounts
    broadcaster._loss_budget = 0.34  # one account of three
    prepared = await broadcaster.prepare(request())
    # bot1 and bot2 are alike; losing either leaves the groups outside the first village
    # to the other one alone
    assert prepared.lost_accounts in (("bot1",), ("bot2",))
    assert prepared.predicted_reach_under_loss_s is not None
    assert prepared.predicted_reach_under_loss_s > prepared.predicted_reach_s
    assert prepared.unreachable_under_loss == 0
    shown = prepared.as_json()
    assert shown["predicted_reach_under_loss_s"] == round(prepared.predicted_reach_under_loss_s, 2)
    assert "若发送中途有 1 个机器人账号被封或掉线" in prepared.summary_zh()


async def test_a_transient_failure_is_retried_by_another_account_of_the_group(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    """Queued again on the same account, a retry pushed all its later posts back."""
    hub, broadcaster = system
    fake(hub, "bot1").fail_next(SendFailed("bot1", "网络超时", permanent=False))
    prepared = await broadcaster.send(request())
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    assert once_each(hub)
    rows = deliveries(engine, prepared.code)
    assert {r.state for r in rows} == {DeliveryState.SENT}
    [retried] = [r for r in rows if r.attempts == 2]
    assert retried.account_id != "bot1"


async def test_a_resume_still_resends_uncertain_rows_and_a_late_run_does_not(
    slow_system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    """The late run (an account back) sends only the rows it reopened; a resume after a
    crash re-sends the rows caught mid-send, as before."""
    hub, broadcaster = slow_system
    prepared = await broadcaster.prepare(request())
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, prepared.code)
        notice.status, notice.started_at = NoticeStatus.SENDING, datetime.now(UTC)
        rows = list(session.exec(select(Delivery).where(Delivery.notice_id == notice.id)))
        by_room = {r.room_id: r for r in rows}
        town_row = by_room[room_id(())]
        town_row.state = DeliveryState.SENDING  # caught mid-send by a crash
        session.add_all([notice, town_row])
    await broadcaster.resume()
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    assert once_each(hub)  # the town group too: resent on resume (resend_uncertain)

    # A finished notice with an uncertain row and an unreachable one: an account back
    # sends the unreachable one only.
    second = await broadcaster.prepare(request())
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, second.code)
        notice.status, notice.started_at = NoticeStatus.DONE, datetime.now(UTC)
        rows = {
            r.room_id: r
            for r in session.exec(select(Delivery).where(Delivery.notice_id == notice.id))
        }
        for room, row in rows.items():
            row.state = DeliveryState.SENT
            if room == room_id(()):
                row.state = DeliveryState.UNCERTAIN
            if room == room_id(PATHS[1]):
                row.state = DeliveryState.UNREACHABLE
        session.add_all([notice, *rows.values()])
    before = Counter(all_sent(hub))
    await fake(hub, "bot1").set_state(AccountStatus.DISCONNECTED, "事件流中断")
    await fake(hub, "bot1").set_state(AccountStatus.ONLINE, "已重新连接")
    await until(lambda: len(all_sent(hub)) > before.total())
    await until(lambda: not broadcaster._active)
    assert Counter(all_sent(hub)) - before == Counter({("bot1", room_id(PATHS[1])): 1})
