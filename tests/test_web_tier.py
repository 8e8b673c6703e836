"""A web process without bots (``gridcast web``) beside the one that runs them, on PostgreSQL:
a notice created and confirmed through the web process is planned and sent by the bot
process and reaches every group in the sandbox through the real wechaty client; a recall
and a private message go the same way; with no bot process, a request is refused, not
done later."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.desk import DeskUnavailable, RemoteDesk
from broadcast.engine import NoticeRequest
from core.config import parse_settings
from core.messaging import Reply
from models.cluster import ClusterRequest
from models.db import make_async_engine
from tests.factories import bearer
from tests.test_system import TOWN, System, running_system, until
from web.app import create_app
from web.keys import BROADCASTER, DESK

ROOT = Path(__file__).resolve().parents[1]


POSTGRES_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
"""gridcast web runs on PostgreSQL only (with SQLite, one process serves everything)."""


@pytest.fixture
def pg_only(db_url: str) -> str:
    return db_url


@pytest.fixture
async def both(
    pg_only: str, engine: Engine, tmp_path: Path
) -> AsyncIterator[tuple[System, TestClient]]:
    async with running_system(pg_only, engine, tmp_path / "bots") as system:
        settings = parse_settings(
            {"data_dir": str(tmp_path / "web"), "database": {"url": pg_only}, "web": {"port": 0}}
        )
        web_app = create_app(settings, run_bots=False, remote_desk=True)
        client = TestClient(TestServer(web_app), headers=bearer(system.token))
        await client.start_server()
        try:
            yield system, client
        finally:
            await client.close()


def announced(system: System, code: str) -> set[str]:
    return {
        room.room_id
        for room in system.sandbox.rooms(with_members=False)
        if any(m.text.startswith(f"【通知 {code}】") for m in system.bot_lines(room.room_id))
    }


@POSTGRES_ONLY
async def test_a_notice_sent_through_the_web_process_reaches_every_group(
    both: tuple[System, TestClient],
) -> None:
    system, web_client = both
    assert BROADCASTER not in web_client.app  # no bots in the web process
    response = await web_client.post(
        "/api/notices",
        json={"title": "停水通知", "body": "明天上午停水。", "scope": TOWN, "confirm": True},
    )
    assert response.status == 201, await response.text()
    plan = await response.json()
    assert plan["status"] == "sending" and plan["groups"] > 5
    assert plan["predicted_reach_s"] >= plan["lower_bound_s"]  # planned by the bot process
    await until(lambda: len(announced(system, plan["code"])) == plan["groups"], within_s=30)

    desk = web_client.app[DESK]
    outcome = await desk.recall(
        plan["code"],
        issuer_name="镇综治中心",
        issuer_person_id=None,
        channel="web",
        reason="发错了",
    )
    assert f"通知 {plan['code']} 已撤回" in outcome.summary_zh and outcome.retraction_code
    await until(
        lambda: (
            sum(
                any(m.text.startswith("【撤回") for m in system.bot_lines(r.room_id))
                for r in system.sandbox.rooms(with_members=False)
            )
            == plan["groups"]
        ),
        within_s=30,
    )

    bad = await web_client.post(
        "/api/notices", json={"title": "x", "body": "y", "scope": "没有这个村", "confirm": False}
    )
    assert bad.status == 404  # the bot process's answer, turned back into the same error


@POSTGRES_ONLY
async def test_a_private_message_from_the_web_process_is_sent_by_the_bots(
    both: tuple[System, TestClient],
) -> None:
    system, web_client = both
    leader = next(
        m.contact_id
        for room in system.sandbox.rooms(with_members=True)
        for m in system.sandbox.room_members(room.room_id)
        if not m.contact_id.startswith("resident-")
        and m.contact_id not in system.sandbox.account_ids
    )
    await web_client.app[DESK].send(Reply(text="控制台测试私信", contact_id=leader))
    await until(
        lambda: any("控制台测试私信" in m.text for _, m in system.private_from_bots(leader))
    )


@POSTGRES_ONLY
async def test_without_a_bot_process_a_request_is_refused_not_done_later(
    pg_only: str, engine: Engine
) -> None:
    async_engine = make_async_engine(pg_only)
    try:
        desk = RemoteDesk(async_engine, timeout_s=0.3)
        with pytest.raises(DeskUnavailable, match="没有响应"):
            await desk.prepare(NoticeRequest(title="t", body="b", scope=TOWN, issuer_name="x"))
        with Session(engine) as session:
            states = set(session.execute(select(ClusterRequest.state)).scalars())
        assert states == {"abandoned"}
    finally:
        await async_engine.dispose()


def test_gridcast_web_refuses_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: {tmp_path}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "gridcast", "web", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert result.returncode != 0 and "PostgreSQL" in result.stderr
