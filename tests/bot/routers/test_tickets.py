"""The ticket router through a BotHub with recording transports and a real database."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.hub import BotHub
from bot.routers.directory import directory_router
from bot.routers.tickets import tickets_router
from bot.store import leader_chain
from core.config import Settings
from models.db import make_async_engine
from models.enums import MessageKind, Rating, TicketLevel, TicketState
from models.tickets import IntakeKind, IntakeMessage, Ticket
from orgtree.binding import TopicIndex, topic_for
from tests.fakes import RecordingTransport, Sent
from tests.tickets.helpers import ROSTER, Town, contact

TOWN = ROSTER.town
ROW = ROSTER.rows[0]
UNIT_ROOM = "unit@chatroom"
GRID_ROOM = "grid@chatroom"
COMPLAINT = "@网格助手 3栋楼下的下水道堵了好几天了，臭死了，没人管吗"


@pytest.fixture
async def hub(town: Town, engine: Engine, db_url: str, settings: Settings) -> AsyncIterator[BotHub]:
    topics = {UNIT_ROOM: topic_for(TOWN, ROW.path), GRID_ROOM: topic_for(TOWN, ROW.path[:2])}
    paths = {()} | {r.path[:n] for r in ROSTER.rows for n in (1, 2, 3)}
    async_engine = make_async_engine(db_url)
    hub = BotHub(
        engine=async_engine,
        town=TOWN,
        transports=[RecordingTransport("bot1", dict(topics))],
        topic_index=TopicIndex(TOWN, paths),
        clock=lambda: datetime.now(UTC),
    )

    async def lookup(org_unit_id: int):  # type: ignore[no-untyped-def]
        return await hub.run_db(lambda s: leader_chain(s, org_unit_id))

    hub.dispatcher.include_routers(directory_router(lookup), tickets_router(async_engine, settings))
    await hub.start()
    await hub.wait_rooms()
    try:
        yield hub
    finally:
        await hub.stop()
        await async_engine.dispose()


def bot(hub: BotHub) -> RecordingTransport:
    transport = hub.accounts["bot1"].transport
    assert isinstance(transport, RecordingTransport)
    return transport


async def say(
    hub: BotHub, text: str, sender: str, *, room: str | None = UNIT_ROOM, name: str = "居民"
) -> list[Sent]:
    """What the bot sent in answer to one message."""
    before = len(bot(hub).sent)
    await bot(hub).receive(text, room_id=room, sender_id=sender, sender_name=name)
    return bot(hub).sent[before:]


def the_ticket(engine: Engine) -> Ticket:
    with Session(engine) as session:
        return session.exec(select(Ticket)).one()


async def test_complaint_to_rating_end_to_end(hub: BotHub, engine: Engine, town: Town) -> None:
    leader, liaison = contact(town.grid_leader), contact(town.justice_liaison)

    started = time.perf_counter()
    sent = await say(hub, COMPLAINT, "resident-1", name="王阿姨")
    assert time.perf_counter() - started < 2.0
    group, private, _unit_copy = sent
    code_match = re.search(r"T\d{8}-\d{4}", group.text)
    assert code_match is not None
    code = code_match.group()
    assert group.room_id == UNIT_ROOM and group.mention_ids == ("resident-1",)
    assert f"网格长{town.grid_leader.name}" in group.text
    assert "前响应" in group.text and town.grid_leader.phone in group.text
    assert (
        private.contact_id == leader and "下水道" in private.text and f"接单 {code}" in private.text
    )

    # The grid leader accepts privately: the reporter is told privately.
    sent = await say(hub, f"接单 {code}", leader, room=None)
    assert sent[0].contact_id == leader and "已接单" in sent[0].text
    assert [s.contact_id for s in sent[1:]] == ["resident-1"]

    # ... and blows the whistle in the grid group.
    sent = await say(hub, f"吹哨 {code} 区司法局", leader, room=GRID_ROOM)
    assert sent[0].room_id == GRID_ROOM and "已吹哨" in sent[0].text
    assert liaison in {s.contact_id for s in sent[1:]}

    sent = await say(hub, f"报到 {code}", liaison, room=None)
    assert "已报到" in sent[0].text and leader in {s.contact_id for s in sent[1:]}

    sent = await say(hub, f"办结 {code} 已联系双方调解，疏通了下水道", liaison, room=None)
    assert "已办结" in sent[0].text
    ask = next(s for s in sent if s.contact_id == "resident-1")
    assert "满意" in ask.text

    sent = await say(hub, "满意", "resident-1")
    assert sent[0].room_id == UNIT_ROOM and "感谢您的评价" in sent[0].text
    row = the_ticket(engine)
    assert (row.state, row.rating, row.resolved_level) == (
        TicketState.CLOSED,
        Rating.SATISFIED,
        TicketLevel.DEPARTMENT,
    )
    with Session(engine) as session:
        kinds = [m.kind for m in session.exec(select(IntakeMessage))]
    assert kinds == [
        IntakeKind.TICKET,
        IntakeKind.COMMAND,
        IntakeKind.COMMAND,
        IntakeKind.COMMAND,
        IntakeKind.COMMAND,
        IntakeKind.RATING,
    ]


async def test_refusals_change_nothing_and_are_polite(
    hub: BotHub, engine: Engine, town: Town
) -> None:
    sent = await say(hub, COMPLAINT, "resident-1")
    code = the_ticket(engine).code
    version = the_ticket(engine).version

    sent = await say(hub, f"接单 {code}", "resident-2")
    assert len(sent) == 1 and "抱歉" in sent[0].text and sent[0].mention_ids == ("resident-2",)
    sent = await say(
        hub, f"吹哨 {code} 区司法局", contact(town.other_village_grid_leader), room=None
    )
    assert "不在您的负责范围内" in sent[0].text
    sent = await say(hub, "接单", contact(town.grid_leader))
    assert "正确写法：接单 T" in sent[0].text
    sent = await say(hub, f"吹哨 {code} 司法部", contact(town.grid_leader), room=None)
    assert "没有找到部门" in sent[0].text and "区司法局" in sent[0].text
    sent = await say(hub, "接单 T20261130-9999", contact(town.grid_leader), room=None)
    assert "没有找到工单" in sent[0].text

    row = the_ticket(engine)
    assert (row.state, row.version) == (TicketState.DISPATCHED, version)
    with Session(engine) as session:
        assert len(session.exec(select(IntakeMessage)).all()) == 6  # every message kept


async def test_duplicate_and_acknowledgement_in_the_group(hub: BotHub, engine: Engine) -> None:
    await say(hub, COMPLAINT, "resident-1")
    code = the_ticket(engine).code
    sent = await say(hub, "3栋楼下水道堵了几天了，臭死人了", "resident-2")
    assert sent[0].mention_ids == ("resident-2",) and f"工单{code}" in sent[0].text
    assert "共2人反映" in sent[0].text
    assert await say(hub, "收到", "resident-3") == []  # left for the receipt router
    with Session(engine) as session:
        kinds = [m.kind for m in session.exec(select(IntakeMessage))]
    assert kinds == [IntakeKind.TICKET, IntakeKind.DUPLICATE, IntakeKind.ACKNOWLEDGEMENT]


async def test_query_and_my_tickets_in_the_group(hub: BotHub, engine: Engine) -> None:
    await say(hub, COMPLAINT, "resident-1")
    code = the_ticket(engine).code
    sent = await say(hub, f"查询 {code}", "resident-1")
    assert f"工单{code}：已派单" in sent[0].text
    sent = await say(hub, f"查询 {code}", "resident-2")
    assert "只能查询自己反映的工单" in sent[0].text
    sent = await say(hub, "我的工单", "resident-1")
    assert code in sent[0].text


async def test_earlier_routers_answer_first_and_private_chatter_gets_a_hint(hub: BotHub) -> None:
    sent = await say(hub, "我的网格长", "resident-1")
    assert len(sent) == 1 and "网格长" in sent[0].text  # the directory answered
    [hint] = await say(hub, "你好", "resident-1", room=None)  # a resident: answered privately
    assert hint.contact_id == "resident-1" and "说明情况" in hint.text
    leader = ROW.grid_leader.wechat_id or ""
    assert await say(hub, "好的", leader, room=None) == []  # staff chatter: left alone
    sent = await say(hub, "满意", "resident-1", room=None)
    assert "没有待评价的工单" in sent[0].text


@pytest.mark.parametrize(
    "text", ["", "😀" * 50, "啊" * 10_000, "\u202e\u0000\ufeff", "#通知 全镇 台风 / 关好门窗"]
)
async def test_odd_messages_never_crash(hub: BotHub, text: str) -> None:
    for kind in (MessageKind.TEXT, MessageKind.IMAGE):
        await bot(hub).receive(text, room_id=UNIT_ROOM, sender_id="r9", kind=kind)
    assert not any("出错" in s.text for s in bot(hub).sent)
