"""Regression tests for engine bugs found in review (each named after the bug)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import Engine

from bot.hub import BotHub
from broadcast import service
from broadcast.engine import Broadcaster, NoticeRequest
from broadcast.service import apply_updates
from core.messaging import SendFailed, SendThrottled, SendUncertain
from models.broadcast import DeliveryState, NoticeStatus
from models.db import session_scope
from models.enums import AccountStatus
from tests.broadcast.harness import PATHS, ROSTER, TOWN, all_sent, deliveries, fake, room_id, send

FIRST_VILLAGE = ROSTER.rows[0].village
VILLAGE_ROOMS = {room_id(p) for p in PATHS if p and p[0] == FIRST_VILLAGE}


async def test_throttled_account_that_alone_reaches_groups_sends_them_after_its_cooldown(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    for account in ("bot1", "bot2"):
        await fake(hub, account).set_state(AccountStatus.LOGGED_OUT, "已退出")
    fake(hub, "bot3").fail_next(SendThrottled("bot3", "发送消息过于频繁", retry_after_s=0.3))
    code = await send(broadcaster, scope=FIRST_VILLAGE)
    assert Counter(room for _, room in all_sent(hub)) == Counter(dict.fromkeys(VILLAGE_ROOMS, 1))
    assert {d.state for d in deliveries(engine, code)} == {DeliveryState.SENT}


async def test_retry_after_a_transient_failure_survives_a_concurrent_replan(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    fake(hub, "bot1").fail_next(SendFailed("bot1", "网络异常", permanent=False))
    fake(hub, "bot2").fail_next(SendThrottled("bot2", "发送消息过于频繁", retry_after_s=0.2))
    code = await send(broadcaster)
    assert Counter(room for _, room in all_sent(hub)) == Counter({room_id(p): 1 for p in PATHS})
    assert {d.state for d in deliveries(engine, code)} == {DeliveryState.SENT}


async def test_a_failed_commit_is_retried_and_the_notice_completes(
    system: tuple[BotHub, Broadcaster], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, broadcaster = system
    calls = {"n": 0}

    def flaky(session, updates):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("database went away")
        return apply_updates(session, updates)

    monkeypatch.setattr(service, "apply_updates", flaky)
    code = await send(broadcaster)
    assert calls["n"] > 3
    assert Counter(room for _, room in all_sent(hub)) == Counter({room_id(p): 1 for p in PATHS})
    assert {d.state for d in deliveries(engine, code)} == {DeliveryState.SENT}


async def test_two_confirmations_at_once_start_one_run(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    prepared = await broadcaster.prepare(
        NoticeRequest(title="演练", body="消防演练", scope=FIRST_VILLAGE, issuer_name="镇应急办")
    )
    results = await asyncio.gather(
        broadcaster.confirm(prepared.code),
        broadcaster.confirm(prepared.code),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    assert Counter(room for _, room in all_sent(hub)) == Counter(dict.fromkeys(VILLAGE_ROOMS, 1))


async def test_a_timed_out_send_is_recorded_uncertain_or_resent_by_the_switch(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    broadcaster._resend_uncertain = False
    for account in ("bot1", "bot2", "bot3"):
        fake(hub, account).fail_next(SendUncertain(account, "发送超时，消息可能已经发出"))
    code = await send(broadcaster, levels=("town",))
    [row] = deliveries(engine, code)
    assert row.state is DeliveryState.UNCERTAIN and "可能已经发出" in (row.error or "")


async def test_retraction_cancels_what_the_original_has_not_sent(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    _hub, broadcaster = system
    prepared = await broadcaster.prepare(
        NoticeRequest(title="停水", body="明天停水", scope=TOWN, issuer_name="镇水务站")
    )
    await broadcaster.retract(prepared.code)
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, prepared.code)
        report = service.reach_report(session, notice)
    assert notice.status is NoticeStatus.CANCELLED
    assert report["sent"] == 0 and all(
        d.state is DeliveryState.CANCELLED for d in deliveries(engine, prepared.code)
    )


def test_changes_of_one_row_in_a_batch_end_in_the_latest_state(engine: Engine) -> None:
    """[Z sending, X planned, X sending] must leave X sending, whatever the statement order."""
    from sqlmodel import select

    from models.broadcast import Delivery

    with session_scope(engine) as session:
        ids = [d.id for d in session.exec(select(Delivery))]
    assert ids == []  # the harness's town is not loaded here: check the merge itself
    merged: list[dict[str, object]] = []

    class Recorder:
        def execute(self, _statement: object, rows: list[dict[str, object]]) -> None:
            merged.extend(rows)

    apply_updates(
        Recorder(),  # type: ignore[arg-type]
        [
            {"id": 2, "state": "sending", "account_id": "a", "attempts": 1},
            {"id": 1, "state": "planned", "error": "x"},
            {"id": 1, "state": "sending", "account_id": "b", "attempts": 2},
        ],
    )
    by_id = {row["id"]: row for row in merged}
    assert by_id[1] == {"id": 1, "state": "sending", "error": "x", "account_id": "b", "attempts": 2}
    assert len(merged) == 2
