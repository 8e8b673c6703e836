from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import select

from bot.hub import BotHub
from bot.routers.directory import directory_router
from bot.store import accounts_report, leader_chain
from core.messaging import SendThrottled
from gridcast.cli import main
from models.chat import BotAccount, ChatGroup, GroupMembership, UnboundRoom
from models.db import make_async_engine, session_scope
from models.enums import AccountStatus, MessageKind
from orgtree.binding import TopicIndex, topic_for
from orgtree.service import apply_roster
from tests.factories import small_town
from tests.fakes import RecordingTransport

ROSTER = small_town()
TOWN = ROSTER.town
ROW = ROSTER.rows[0]
UNIT_ROOM = "unit@chatroom"
GRID_ROOM = "grid@chatroom"


@pytest.fixture
async def hub(engine: Engine, db_url: str) -> AsyncIterator[BotHub]:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
    topics = {
        UNIT_ROOM: topic_for(TOWN, ROW.path),
        GRID_ROOM: topic_for(TOWN, ROW.path[:2]),
        "odd@chatroom": "广场舞爱好者",
    }
    transports = [
        RecordingTransport("bot1", dict(topics)),
        RecordingTransport("bot2", dict(topics)),
    ]
    paths = {()} | {r.path[:n] for r in ROSTER.rows for n in (1, 2, 3)}
    async_engine = make_async_engine(db_url)
    hub = BotHub(
        engine=async_engine,
        town=TOWN,
        transports=transports,
        topic_index=TopicIndex(TOWN, paths),
        clock=lambda: datetime.now(UTC),
    )

    async def lookup(org_unit_id: int):  # type: ignore[no-untyped-def]
        return await hub.run_db(lambda s: leader_chain(s, org_unit_id))

    hub.dispatcher.include_routers(directory_router(lookup))
    await hub.start()
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


async def test_rooms_are_bound_and_memberships_stored(hub: BotHub, engine: Engine) -> None:
    with session_scope(engine) as session:
        groups = {g.room_id: g for g in session.exec(select(ChatGroup))}
        memberships = session.exec(select(GroupMembership)).all()
        unbound = session.exec(select(UnboundRoom)).all()
        accounts = {a.account_id: a.status for a in session.exec(select(BotAccount))}
    assert set(groups) == {UNIT_ROOM, GRID_ROOM}
    assert len(memberships) == 4
    assert {(u.room_id, u.account_id) for u in unbound} == {
        ("odd@chatroom", "bot1"),
        ("odd@chatroom", "bot2"),
    }
    assert "不符合命名规则" in unbound[0].reason
    assert accounts == {"bot1": AccountStatus.ONLINE, "bot2": AccountStatus.ONLINE}


async def test_find_leader_answers_once_with_the_leaders_work_phones(hub: BotHub) -> None:
    for account in ("bot1", "bot2"):  # the same message seen by both accounts
        await transport(hub, account).receive(
            "@网格助手 我的网格长", room_id=UNIT_ROOM, sender_id="r1", message_id="m-1"
        )
    sent = transport(hub, "bot1").sent + transport(hub, "bot2").sent
    assert len(sent) == 1
    reply = sent[0]
    assert reply.room_id == UNIT_ROOM and reply.mention_ids == ("r1",)
    assert ROW.grid_leader.name in reply.text and ROW.unit_leader.name in reply.text
    # Work phones are public to the residents of the area (core.privacy): in full.
    assert ROW.grid_leader.phone in reply.text and ROW.unit_leader.phone in reply.text


async def test_help_depends_on_the_senders_role(hub: BotHub) -> None:
    bot1 = transport(hub, "bot1")
    await bot1.receive("帮助", room_id=UNIT_ROOM, sender_id="resident-7")
    leader_id = ROW.grid_leader.wechat_id or ""
    await bot1.receive("帮助", room_id=UNIT_ROOM, sender_id=leader_id)
    resident_help, leader_help = bot1.sent[-2].text, bot1.sent[-1].text
    assert "我的网格长" in resident_help and "接单" not in resident_help
    assert "接单" in leader_help and "网格长" in leader_help


async def test_throttled_account_hands_the_reply_to_another(hub: BotHub) -> None:
    bot1, bot2 = transport(hub, "bot1"), transport(hub, "bot2")
    bot1.fail_next(SendThrottled("bot1", "发送消息过于频繁"))
    await bot1.receive("我的网格长", room_id=UNIT_ROOM, sender_id="r2")
    assert bot1.sent == [] and len(bot2.sent) == 1


async def test_logged_out_account_is_stored_and_others_carry_on(
    hub: BotHub, engine: Engine
) -> None:
    bot1, bot2 = transport(hub, "bot1"), transport(hub, "bot2")
    await bot1.set_state(AccountStatus.LOGGED_OUT, "账号已退出登录")
    with session_scope(engine) as session:
        row = session.exec(select(BotAccount).where(BotAccount.account_id == "bot1")).one()
    assert row.status is AccountStatus.LOGGED_OUT and row.status_detail == "账号已退出登录"
    await bot1.receive("我的网格长", room_id=UNIT_ROOM, sender_id="r3")
    assert bot1.sent == [] and len(bot2.sent) == 1


@pytest.mark.parametrize("kind", list(MessageKind))
async def test_any_message_kind_is_handled_without_error(hub: BotHub, kind: MessageKind) -> None:
    bot1 = transport(hub, "bot1")
    await bot1.receive("", room_id=UNIT_ROOM, sender_id="r4", kind=kind)
    await bot1.receive("啊" * 10_000, room_id=UNIT_ROOM, sender_id="r4", kind=kind)
    assert hub.handled >= 2


async def test_room_seen_first_in_a_message_is_bound_lazily(hub: BotHub, engine: Engine) -> None:
    bot1 = transport(hub, "bot1")
    other = ROSTER.rows[1]
    bot1.room_topics["late@chatroom"] = topic_for(TOWN, other.path)
    await bot1.receive("我的网格长", room_id="late@chatroom", sender_id="r5")
    assert other.unit_leader.name in bot1.sent[-1].text
    with session_scope(engine) as session:
        assert session.exec(select(ChatGroup).where(ChatGroup.room_id == "late@chatroom")).one()


async def test_unbound_room_gets_a_clear_answer(hub: BotHub) -> None:
    bot1 = transport(hub, "bot1")
    await bot1.receive("我的网格长", room_id="odd@chatroom", sender_id="r6")
    assert "尚未登记到网格" in bot1.sent[-1].text


async def test_status_flags_groups_without_an_online_account(
    hub: BotHub, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    for account in ("bot1", "bot2"):
        await transport(hub, account).set_state(AccountStatus.LOGGED_OUT, "已退出")
    with session_scope(engine) as session:
        report = accounts_report(session)
    assert {a["status"] for a in report.accounts} == {"logged_out"}
    assert set(report.groups_without_online_account) == {
        topic_for(TOWN, ROW.path),
        topic_for(TOWN, ROW.path[:2]),
    }
    assert [u["topic"] for u in report.unbound] == ["广场舞爱好者", "广场舞爱好者"]
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {json.dumps(db_url)}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["bot", "status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "已退出登录" in result.output and "没有在线机器人账号的群 2 个" in result.output
