"""The broadcast test system: a small town, three recording accounts, a hub and a broadcaster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from bot.hub import BotHub
from broadcast import service
from broadcast.engine import Broadcaster, NoticeRequest
from models.broadcast import Delivery
from models.db import make_async_engine, session_scope
from orgtree.binding import TopicIndex, topic_for
from orgtree.service import apply_roster
from tests.factories import small_town
from tests.fakes import RecordingTransport

ROSTER = small_town()
TOWN = ROSTER.town
PATHS = sorted(
    {()} | {r.path[:n] for r in ROSTER.rows for n in (1, 2, 3)}, key=lambda p: (len(p), p)
)
RATE, BURST = 200.0, 5


def room_id(path: tuple[str, ...]) -> str:
    return f"{'-'.join(path) or 'town'}@chatroom"


@asynccontextmanager
async def running_system(
    engine: Engine, db_url: str, *, rate: float = RATE, burst: int = BURST
) -> AsyncIterator[tuple[BotHub, Broadcaster]]:
    """The small town, three recording accounts at ``rate``/``burst``, hub and broadcaster."""
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
    topics = {room_id(p): topic_for(TOWN, p) for p in PATHS}
    # bot3 is only in the first village's groups: groups elsewhere depend on bot1/bot2.
    first_village = ROSTER.rows[0].village
    transports = [
        RecordingTransport("bot1", dict(topics)),
        RecordingTransport("bot2", dict(topics)),
        RecordingTransport("bot3", {r: t for r, t in topics.items() if first_village in r}),
    ]
    async_engine = make_async_engine(db_url)
    hub = BotHub(
        engine=async_engine,
        town=TOWN,
        transports=transports,
        topic_index=TopicIndex(TOWN, PATHS),
        clock=lambda: datetime.now(UTC),
        limits={t.account_id: (rate, burst) for t in transports},
    )
    await hub.start()
    await hub.wait_rooms()
    broadcaster = Broadcaster(engine=async_engine, messenger=hub, town=TOWN)
    try:
        yield hub, broadcaster
    finally:
        await broadcaster.stop()
        await hub.stop()
        await async_engine.dispose()


@pytest.fixture
async def system(engine: Engine, db_url: str) -> AsyncIterator[tuple[BotHub, Broadcaster]]:
    async with running_system(engine, db_url) as running:
        yield running


def fake(hub: BotHub, account_id: str) -> RecordingTransport:
    transport = hub.accounts[account_id].transport
    assert isinstance(transport, RecordingTransport)
    return transport


def all_sent(hub: BotHub) -> list[tuple[str, str]]:
    return [(s.account_id, s.room_id or "") for a in hub.accounts for s in fake(hub, a).sent]


async def send(broadcaster: Broadcaster, **overrides: object) -> str:
    request = NoticeRequest(
        **{
            "title": "台风预警",
            "body": "今晚8点起停止户外作业，请转告。",
            "scope": TOWN,
            "issuer_name": "国欢镇应急办",
            **overrides,
        }  # type: ignore[arg-type]
    )
    prepared = await broadcaster.send(request)
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    return prepared.code


def deliveries(engine: Engine, code: str) -> list[Delivery]:
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, code)
        return list(session.exec(select(Delivery).where(Delivery.notice_id == notice.id)))
