"""PostgreSQL tells the live views what changed (migration 0024's triggers, LISTEN/NOTIFY,
cluster.changes.ChangeFeed): a notice's deliveries and a new ticket are heard by the
application's feed, through the whole system (sandbox and the real wechaty client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from cluster.changes import TICKETS_TOPIC, ChangeFeed, notice_topic
from models.broadcast import Notice
from models.db import session_scope
from tests.test_system import TOWN, UNIT_TOPIC, System, resident, running_system
from web.console.live import FEED

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
async def system(db_url: str, engine: Engine, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(db_url, engine, tmp_path) as running:
        yield running


async def test_deliveries_and_tickets_are_heard_by_the_feed(system: System, engine: Engine) -> None:
    feed = system.client.app[FEED]
    assert await _listening(feed)
    tickets_mark = feed.seen([TICKETS_TOPIC])
    response = await system.client.post(
        "/api/notices",
        json={"title": "停水通知", "body": "明天停水。", "scope": TOWN, "confirm": True},
    )
    assert response.status == 201, await response.text()
    code = (await response.json())["code"]
    with session_scope(engine) as session:
        notice_id = session.exec(select(Notice.id).where(Notice.code == code)).one()
    assert notice_id is not None
    topic = notice_topic(notice_id)
    before = feed.seen([])  # what was heard before the notice (reconnections only)
    async with asyncio.timeout(10):  # its deliveries written, then sent: two or more
        while feed.seen([topic]) < before + 2:
            await feed.wait([topic], feed.seen([topic]), timeout_s=1)

    system.sandbox.post_message(UNIT_TOPIC, resident(system, UNIT_TOPIC), "楼下路灯坏了好几天了")
    assert await feed.wait([TICKETS_TOPIC], tickets_mark, timeout_s=10)


async def _listening(feed: ChangeFeed) -> bool:
    async with asyncio.timeout(10):
        await feed.listening.wait()
    return True
