"""每家每户 end to end: the sandbox, the real wechaty client, the whole application.

A notice goes to one grid; the unit leader counts the households reached, in the unit
group and privately to a bot; the grid leader's ``#通知状态``, the JSON API and the
console show households reached and confirmed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from orgtree.binding import topic_for
from tests.test_system import ROSTER, TOWN, System, running_system, until

ROW = ROSTER.rows[0]  # 国欢村/第1网格/洋中1号片区: 5 households
GRID = "/".join(ROW.path[:2])
GRID_ROWS = [r for r in ROSTER.rows if r.path[:2] == ROW.path[:2]]
UNIT_TOPIC = topic_for(TOWN, ROW.path)
GRID_TOPIC = topic_for(TOWN, ROW.path[:2])


@pytest.fixture
async def system(db_url: str, engine: Engine, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(db_url, engine, tmp_path) as running:
        yield running


async def notice_to_the_grid(system: System) -> str:
    response = await system.client.post(
        "/api/notices",
        json={
            "title": "防汛转移",
            "body": "今晚强降雨，低洼住户请转移。",
            "scope": GRID,
            "confirm": True,
        },
    )
    created = await response.json()
    assert response.status == 201, created
    code = str(created["code"])
    deadline = time.monotonic() + 20
    while (await (await system.client.get(f"/api/notices/{code}")).json())["status"] != "done":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    return code


async def test_a_unit_leader_counts_households_and_the_status_shows_them(system: System) -> None:
    code = await notice_to_the_grid(system)
    sandbox = system.sandbox
    leader = ROW.unit_leader.wechat_id or ""

    posted = sandbox.post_message(UNIT_TOPIC, leader, "已通知 3/5户")
    [answer] = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))  # type: ignore[misc]
    assert f"已记录：{ROW.unit} 通知 {code}「防汛转移」已通知 3/5户" in answer.text
    assert answer.mention_ids == (leader,)

    posted = sandbox.post_message(UNIT_TOPIC, leader, "已通知 8户")
    [refused] = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))  # type: ignore[misc]
    assert "不能超过 5 户" in refused.text

    account = sandbox.room(UNIT_TOPIC).bot_account_ids[0]
    before = {m.seq for _, m in system.private_from_bots(leader)}
    sandbox.post_private(account, leader, "全部通知到了")
    [(_, private)] = await until(  # type: ignore[misc]
        lambda: [p for p in system.private_from_bots(leader) if p[1].seq not in before]
    )
    assert f"已记录：{ROW.unit} 通知 {code}" in private.text and "已全部通知（5户）" in private.text

    report = await (await system.client.get(f"/api/notices/{code}")).json()
    households = report["households"]
    total = sum(r.households or 0 for r in GRID_ROWS)
    assert (households["households"], households["reached"], households["confirmed"]) == (
        total,
        total,
        5,
    )
    [unit] = [u for u in households["units"] if u["path"] == "/".join(ROW.path)]
    assert unit == {**unit, "households": 5, "reached": True, "confirmed": 5}

    grid_leader = ROW.grid_leader.wechat_id or ""
    posted = sandbox.post_message(GRID_TOPIC, grid_leader, f"#通知状态 {code}")
    [status] = await until(lambda: system.bot_lines(GRID_TOPIC, posted.seq))  # type: ignore[misc]
    assert f"户数：送达 {total}/{total}户，单元长确认已通知 5户" in status.text
    assert f"{ROW.unit}：送达 5/5户，单元长确认已通知 5户（100%）" in status.text

    page = await system.client.get(f"/console/notices/{code}")
    assert page.status == 200
    html = await page.text()
    assert "每家每户" in html and "单元长确认已通知 5 户" in html


async def test_regression_a_count_that_is_not_one_is_refused_by_name(system: System) -> None:
    """Probe item F5: 已通知 -3/48户 and a 20-digit count got no answer at all."""
    await notice_to_the_grid(system)
    leader = ROW.unit_leader.wechat_id or ""
    for text, problem in (
        ("已通知 -3/48户", "不能带正负号"),
        ("已通知 99999999999999999999/48户", "户数太大"),
        ("已通知 12/99999999999999999999户", "户数太大"),
        ("已通知 0/0户", "总户数不能为0"),
    ):
        posted = system.sandbox.post_message(UNIT_TOPIC, leader, text)
        [answer] = await until(lambda seq=posted.seq: system.bot_lines(UNIT_TOPIC, seq))  # type: ignore[misc]
        assert problem in answer.text and "已记录" not in answer.text, (text, answer.text)
