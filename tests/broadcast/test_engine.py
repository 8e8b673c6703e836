"""Sending notices through a hub of recording accounts, on a real database."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.hub import BotHub
from broadcast import service
from broadcast.compose import NoticeInvalid
from broadcast.engine import Broadcaster, NoticeRequest
from core.messaging import AccountUnavailable, SendFailed, SendThrottled
from models.broadcast import DeliveryState, Notice, NoticeStatus
from models.db import session_scope
from models.enums import AccountStatus
from orgtree.service import OrgPathNotFound
from tests.broadcast.harness import PATHS, ROSTER, TOWN, all_sent, deliveries, fake, room_id, send


async def test_whole_town_once_each_higher_levels_first(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    code = await send(broadcaster)
    sent = all_sent(hub)
    assert Counter(room for _, room in sent) == Counter({room_id(p): 1 for p in PATHS})
    rows = deliveries(engine, code)
    assert {r.state for r in rows} == {DeliveryState.SENT}
    assert len(rows) == len(PATHS)
    for account in hub.accounts:  # each account posts higher levels first
        depths = [
            next(len(p) for p in PATHS if room_id(p) == s.room_id) for s in fake(hub, account).sent
        ]
        assert depths == sorted(depths)
    text = fake(hub, "bot1").sent[0].text
    assert code in text and "台风预警" in text and "收到" in text
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, code)
        report = service.reach_report(session, notice)
    assert notice.status is NoticeStatus.DONE
    assert report["sent"] == len(PATHS) and report["time_to"]["100%"] is not None  # type: ignore[index]


async def test_scope_and_levels_limit_the_groups(system: tuple[BotHub, Broadcaster]) -> None:
    hub, broadcaster = system
    village = ROSTER.rows[0].village
    await send(broadcaster, scope=village, levels=("grid",))
    rooms = {room for _, room in all_sent(hub)}
    assert rooms == {room_id(p) for p in PATHS if len(p) == 2 and p[0] == village}


async def test_throttled_account_hands_its_groups_over(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    fake(hub, "bot1").fail_next(SendThrottled("bot1", "发送消息过于频繁"))
    code = await send(broadcaster)
    sent = all_sent(hub)
    assert Counter(room for _, room in sent) == Counter({room_id(p): 1 for p in PATHS})
    assert {r.state for r in deliveries(engine, code)} == {DeliveryState.SENT}


async def test_logged_out_account_others_carry_on(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    await fake(hub, "bot2").set_state(AccountStatus.LOGGED_OUT, "已退出")
    fake(hub, "bot1").fail_next(AccountUnavailable("bot1", "已掉线"))
    code = await send(broadcaster)
    rows = deliveries(engine, code)
    states = Counter(r.state for r in rows)
    # bot3 alone is left: it reaches the first village; the rest has no usable account.
    first_village = ROSTER.rows[0].village
    reachable = {room_id(p) for p in PATHS if p and p[0] == first_village}
    assert {room for _, room in all_sent(hub)} == reachable
    assert states[DeliveryState.SENT] == len(reachable)
    assert states[DeliveryState.UNREACHABLE] == len(PATHS) - len(reachable)
    assert all("不可用" in (r.error or "") for r in rows if r.state is DeliveryState.UNREACHABLE)


async def test_permanent_failure_is_recorded_with_the_reason(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    for account in ("bot1", "bot2", "bot3"):
        fake(hub, account).fail_next(SendFailed(account, "群已解散", permanent=True))
    code = await send(broadcaster, scope=TOWN, levels=("town",))
    [row] = deliveries(engine, code)
    assert row.state is DeliveryState.FAILED and row.error == "群已解散"


async def test_transient_failure_is_retried(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    fake(hub, "bot1").fail_next(SendFailed("bot1", "网络超时", permanent=False))
    fake(hub, "bot2").fail_next(SendFailed("bot2", "网络超时", permanent=False))
    code = await send(broadcaster, levels=("town", "village"))
    assert {r.state for r in deliveries(engine, code)} == {DeliveryState.SENT}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"body": "  "}, NoticeInvalid),
        ({"body": "长" * 20_000}, NoticeInvalid),
        ({"title": ""}, NoticeInvalid),
        ({"scope": "火星村"}, OrgPathNotFound),
        ({"levels": ("省",)}, NoticeInvalid),
    ],
)
async def test_bad_notice_is_refused_and_nothing_is_stored(
    system: tuple[BotHub, Broadcaster],
    engine: Engine,
    overrides: dict[str, object],
    error: type[Exception],
) -> None:
    hub, broadcaster = system
    with pytest.raises(error):
        await send(broadcaster, **overrides)
    assert all_sent(hub) == []
    with session_scope(engine) as session:
        assert session.exec(select(Notice)).all() == []


async def test_prepare_predicts_and_waits_for_confirmation(
    system: tuple[BotHub, Broadcaster], engine: Engine
) -> None:
    hub, broadcaster = system
    prepared = await broadcaster.prepare(
        NoticeRequest(title="演练", body="明早9点消防演练", scope=TOWN, issuer_name="镇应急办")
    )
    assert prepared.groups == len(PATHS) and prepared.meets_deadline
    assert (
        prepared.lower_bound_s <= prepared.predicted_reach_s <= prepared.lower_bound_s * 1.05 + 0.01
    )
    assert "预计" in prepared.summary_zh()
    assert all_sent(hub) == []
    await broadcaster.cancel(prepared.code)
    with session_scope(engine) as session:
        assert service.notice_by_code(session, prepared.code).status is NoticeStatus.CANCELLED
