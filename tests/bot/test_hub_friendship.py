"""Private messages and friendship in the hub, over recording transports: routing through
a friend account, accepting roster people only, asking unreachable leaders in their group."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import select

from bot.hub import WELCOME_FRIEND, BotHub
from bot.store import accounts_report
from core.messaging import NotAFriend, Reply
from gridcast.cli import main
from models.chat import UnreachableContact
from models.db import make_async_engine, session_scope
from orgtree.binding import TopicIndex, topic_for
from orgtree.records import PersonRecord
from orgtree.service import apply_roster
from tests.factories import small_town
from tests.fakes import RecordingTransport

ROSTER = small_town()
TOWN = ROSTER.town
ROW = ROSTER.rows[0]
UNIT_ROOM = "unit@chatroom"
GRID_ROOM = "grid@chatroom"


def contact(person: PersonRecord) -> str:
    return person.wechat_id or f"tel-{person.phone}"


GRID_LEADER = contact(ROW.grid_leader)
UNIT_LEADER = contact(ROW.unit_leader)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hub(engine: Engine, db_url: str, clock: Clock) -> AsyncIterator[BotHub]:
    """Two accounts in the unit and grid groups; nobody is either account's friend."""
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
    topics = {UNIT_ROOM: topic_for(TOWN, ROW.path), GRID_ROOM: topic_for(TOWN, ROW.path[:2])}
    transports = [
        RecordingTransport(account, dict(topics), friends=set()) for account in ("bot1", "bot2")
    ]
    paths = {()} | {r.path[:n] for r in ROSTER.rows for n in (1, 2, 3)}
    async_engine = make_async_engine(db_url)
    hub = BotHub(
        engine=async_engine,
        town=TOWN,
        transports=transports,
        topic_index=TopicIndex(TOWN, paths),
        clock=clock,
    )
    await hub.start({"bot1": "网格助手1号", "bot2": "网格助手2号"})
    await hub.wait_rooms()
    try:
        yield hub
    finally:
        await hub.stop()
        await async_engine.dispose()


def transport(hub: BotHub, account_id: str) -> RecordingTransport:
    t = hub.accounts[account_id].transport
    assert isinstance(t, RecordingTransport)
    return t


def unreachable(engine: Engine) -> list[dict[str, object]]:
    with session_scope(engine) as session:
        return accounts_report(session).unreachable_privately


async def test_private_message_goes_through_the_account_that_is_a_friend(hub: BotHub) -> None:
    bot1, bot2 = transport(hub, "bot1"), transport(hub, "bot2")
    bot2.friends = {GRID_LEADER}
    await hub.send(Reply("工单 T1 请处理", contact_id=GRID_LEADER), prefer="bot1")
    assert bot1.sent == []
    assert [(s.contact_id, s.text) for s in bot2.sent] == [(GRID_LEADER, "工单 T1 请处理")]
    assert hub.accounts["bot1"].friends[GRID_LEADER] is False


async def test_not_a_friend_from_the_puppet_moves_on_to_the_next_account(hub: BotHub) -> None:
    """The puppet said "friend" but WeChat refused the send (they deleted the bot since)."""
    bot1, bot2 = transport(hub, "bot1"), transport(hub, "bot2")
    bot1.friends, bot2.friends = {GRID_LEADER}, {GRID_LEADER}
    bot1.fail_next(NotAFriend("bot1", "你还不是他（她）朋友", contact_id=GRID_LEADER))
    await hub.send(Reply("工单 T2 请处理", contact_id=GRID_LEADER), prefer="bot1")
    assert len(bot2.sent) == 1 and hub.accounts["bot1"].friends[GRID_LEADER] is False


async def test_leader_nobodys_friend_is_asked_in_their_group_and_gets_the_messages_later(
    hub: BotHub, engine: Engine, clock: Clock
) -> None:
    bot1, bot2 = transport(hub, "bot1"), transport(hub, "bot2")
    private = "工单 T3：居民陈秀英（13812345678）反映楼道堵塞，请处理"
    await hub.send(Reply(private, contact_id=GRID_LEADER))
    [asked] = bot1.sent + bot2.sent
    assert asked.room_id == GRID_ROOM and asked.mention_ids == (GRID_LEADER,)  # their post's group
    assert "添加" in asked.text and "1条私信" in asked.text
    assert "13812345678" not in asked.text and "T3" not in asked.text  # nothing private in a group
    [row] = unreachable(engine)
    assert row["contact_id"] == GRID_LEADER and row["name"] == ROW.grid_leader.name
    assert row["undelivered"] == 1 and row["asked_in"] == topic_for(TOWN, ROW.path[:2])

    clock.now += timedelta(hours=1)  # asked recently: the next message is only held
    assert await hub.send(Reply("工单 T4 请处理", contact_id=GRID_LEADER)) == ""
    assert len(bot1.sent + bot2.sent) == 1
    assert unreachable(engine)[0]["undelivered"] == 2

    friendship = await bot2.befriend(GRID_LEADER, name=ROW.grid_leader.name, hello="我是网格长")
    assert bot2.accepted == [friendship]
    assert [s.text for s in bot2.sent if s.contact_id == GRID_LEADER] == [
        WELCOME_FRIEND,
        private,
        "工单 T4 请处理",
    ]
    assert unreachable(engine) == []
    await hub.send(Reply("工单 T5 请处理", contact_id=GRID_LEADER), prefer="bot1")
    assert bot2.sent[-1].text == "工单 T5 请处理"

    clock.now += timedelta(days=1)  # they delete the bot: unreachable again, asked again
    bot2.friends = set()
    hub.accounts["bot2"].friends.clear()
    await hub.send(Reply("工单 T6 请处理", contact_id=GRID_LEADER))
    asked_twice = [s.room_id for s in bot1.sent + bot2.sent if s.room_id is not None]
    assert asked_twice == [GRID_ROOM, GRID_ROOM]
    assert unreachable(engine)[0]["undelivered"] == 1


async def test_leader_is_asked_again_after_half_a_day(hub: BotHub, clock: Clock) -> None:
    bot1, bot2 = transport(hub, "bot1"), transport(hub, "bot2")
    await hub.send(Reply("一", contact_id=UNIT_LEADER))
    clock.now += timedelta(hours=13)
    await hub.send(Reply("二", contact_id=UNIT_LEADER))
    asked = [s for s in bot1.sent + bot2.sent if s.room_id is not None]
    assert [s.room_id for s in asked] == [UNIT_ROOM, UNIT_ROOM]
    assert "2条私信" in asked[1].text


async def test_someone_outside_the_roster_is_not_reached_and_listed(
    hub: BotHub, engine: Engine
) -> None:
    with pytest.raises(NotAFriend):
        await hub.send(Reply("请评价", contact_id="resident-9"))
    assert transport(hub, "bot1").sent == transport(hub, "bot2").sent == []
    [row] = unreachable(engine)
    assert row["contact_id"] == "resident-9" and row["in_roster"] is False
    assert row["asked_in"] == ""


async def test_friend_request_from_outside_the_roster_is_ignored(
    hub: BotHub, caplog: pytest.LogCaptureFixture
) -> None:
    bot1 = transport(hub, "bot1")
    with caplog.at_level(logging.INFO, logger="bot.hub"):
        await bot1.befriend("wxid_stranger", name="卖保险的", hello="你好，了解一下")
    assert bot1.accepted == [] and bot1.sent == []
    assert "ignored: not in the roster" in caplog.text and "wxid_stranger" in caplog.text


@pytest.mark.parametrize("by", ["contact_id", "weixin", "phone"])
async def test_friend_request_from_a_roster_person_is_accepted(hub: BotHub, by: str) -> None:
    bot1 = transport(hub, "bot1")
    person = ROW.unit_leader
    if by == "contact_id":
        friendship = await bot1.befriend(UNIT_LEADER)
    elif by == "weixin":
        friendship = await bot1.befriend("wxid_other", weixin=person.wechat_id or "")
    else:
        friendship = await bot1.befriend("wxid_other", phones=(f"+86{person.phone}",))
    assert bot1.accepted == [friendship]
    assert bot1.sent[-1].text == WELCOME_FRIEND


async def test_bot_status_shows_who_cannot_be_reached(
    hub: BotHub, db_url: str, tmp_path: Path, engine: Engine
) -> None:
    await hub.send(Reply("工单 T7 请处理", contact_id=GRID_LEADER))
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {json.dumps(db_url)}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["bot", "status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "无法私信的人 1 位" in result.output and ROW.grid_leader.name in result.output
    as_json = CliRunner().invoke(main, ["bot", "status", "--json", "--config", str(config)])
    [row] = json.loads(as_json.output)["unreachable_privately"]
    assert row["contact_id"] == GRID_LEADER
    with session_scope(engine) as session:
        stored = session.exec(select(UnreachableContact)).one()
    assert stored.held == ["工单 T7 请处理"] and stored.asked_at is not None
