"""The console's notice pages without a browser: the history's filters (bad values named,
never a crash), coverage by place and the silent units, and recall and correction through
the same functions as the chat (policy, CSRF, audit, nothing changed on a refusal).

The application runs without bots; the broadcast test system's broadcaster (recording
accounts) is handed to it, so recall and correction really send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlmodel import select

from bot.desk import LocalDesk
from bot.hub import BotHub
from broadcast import service
from broadcast.engine import Broadcaster, NoticeRequest
from core.config import Settings
from models.auth import AuditChannel, AuditEntry, AuditOutcome, Credential
from models.broadcast import Notice, NoticeKind, NoticeStatus
from models.db import session_scope
from models.org import Person
from tests.broadcast.harness import ROSTER, fake
from web.app import create_app
from web.keys import BROADCASTER, DESK
from web.security import CSRF_HEADER

ROW = ROSTER.rows[0]
VILLAGE = ROW.village
GRID = "/".join(ROW.path[:2])
CHIEF = ROW.station_chief
LEADER = ROW.grid_leader
PASSWORD = "console-notices-1"
HTML = {"Accept": "text/html,application/xhtml+xml"}


def person_id(engine: Engine, phone: str) -> int:
    with session_scope(engine) as session:
        found = session.exec(select(Person).where(Person.phone == phone)).one().id
        assert found is not None
        return found


@pytest.fixture
async def console(
    system: tuple[BotHub, Broadcaster], settings: Settings, engine: Engine
) -> AsyncIterator[tuple[TestClient, Broadcaster]]:
    hub, broadcaster = system
    hasher = PasswordHasher()
    with session_scope(engine) as session:
        for person in (CHIEF, LEADER):
            found = session.exec(select(Person).where(Person.phone == person.phone)).one()
            assert found.id is not None
            session.add(
                Credential(
                    person_id=found.id,
                    password_hash=hasher.hash(PASSWORD),
                    updated_at=datetime.now(UTC),
                )
            )
    app = create_app(settings, run_bots=False)
    app[BROADCASTER] = broadcaster
    app[DESK] = LocalDesk(broadcaster, None, hub.send)
    async with TestClient(TestServer(app)) as client:
        yield client, broadcaster


async def sign_in(client: TestClient, phone: str) -> str:
    client.session.cookie_jar.clear()
    response = await client.post("/api/auth/signin", json={"phone": phone, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


async def issue(broadcaster: Broadcaster, engine: Engine, scope: str, **extra: object) -> str:
    """A notice from the station chief, sent and finished."""
    request = NoticeRequest(
        **{  # type: ignore[arg-type]
            "title": "停水通知",
            "body": "明天上午停水",
            "scope": scope,
            "issuer_name": CHIEF.name,
            "issuer_person_id": person_id(engine, CHIEF.phone),
            "channel": "web",
            **extra,
        }
    )
    prepared = await broadcaster.send(request)
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    return prepared.code


def status(engine: Engine, code: str) -> NoticeStatus:
    with session_scope(engine) as session:
        return service.notice_by_code(session, code).status


async def test_the_issuer_recalls_from_the_console_as_in_chat(
    console: tuple[TestClient, Broadcaster], engine: Engine, system: tuple[BotHub, Broadcaster]
) -> None:
    client, broadcaster = console
    hub, _ = system
    code = await issue(broadcaster, engine, VILLAGE)
    csrf = await sign_in(client, CHIEF.phone)
    page = await client.get(f"/console/notices/{code}", headers=HTML)
    text = await page.text()
    assert page.status == 200 and 'id="recall-form"' in text and 'id="correct-form"' in text
    forged = await client.post(f"/console/notices/{code}/recall", data={"reason": "发错了"})
    assert forged.status == 403 and (await forged.json())["code"] == "csrf"
    assert status(engine, code) is NoticeStatus.DONE
    done = await client.post(
        f"/console/notices/{code}/recall", data={"reason": "发错了"}, headers={CSRF_HEADER: csrf}
    )
    assert done.status == 200, await done.text()
    body = await done.json()
    child = body["code"]
    assert body["redirect"] == f"/console/notices/{child}" and "撤回" in body["message"]
    async with asyncio.timeout(20):
        await broadcaster.wait(child)
    assert status(engine, code) is NoticeStatus.RECALLED
    assert any(f"【撤回 {child}】通知 {code}" in s.text for s in fake(hub, "bot1").sent)
    chief_id = person_id(engine, CHIEF.phone)
    with session_scope(engine) as session:
        retraction = service.notice_by_code(session, child)
        assert retraction.kind is NoticeKind.RETRACTION and retraction.channel == "web"
        assert retraction.issuer_person_id == chief_id
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "notice.recall")).one()
    assert entry.channel is AuditChannel.CONSOLE and entry.target == code
    assert entry.message == f"撤回 {code}（{child}），原因：发错了" and entry.scope == VILLAGE
    again = await client.post(f"/console/notices/{code}/recall", headers={CSRF_HEADER: csrf})
    assert again.status == 400 and "已经撤回" in (await again.json())["message"]
    page = await client.get(f"/console/notices/{code}", headers=HTML)
    text = await page.text()
    assert 'id="recall-form"' not in text and child in text  # the related notices
    child_page = await client.get(f"/console/notices/{child}", headers=HTML)
    assert f'这是对通知 <a href="/console/notices/{code}">{code}</a>' in await child_page.text()


async def test_a_correction_from_the_console_and_its_refusals(
    console: tuple[TestClient, Broadcaster], engine: Engine
) -> None:
    client, broadcaster = console
    code = await issue(broadcaster, engine, GRID)
    csrf = await sign_in(client, LEADER.phone)  # sees the grid's notice, did not issue it
    page = await client.get(f"/console/notices/{code}", headers=HTML)
    assert page.status == 200 and 'id="correct-form"' not in await page.text()
    refused = await client.post(
        f"/console/notices/{code}/correct", data={"body": "改到下午"}, headers={CSRF_HEADER: csrf}
    )
    assert refused.status == 403 and "发布人或镇干部" in (await refused.json())["message"]
    csrf = await sign_in(client, CHIEF.phone)
    for bad, reason in (({"body": "  "}, "请写上更正的内容"), ({"body": "长" * 1501}, "正文太长")):
        answer = await client.post(
            f"/console/notices/{code}/correct", data=bad, headers={CSRF_HEADER: csrf}
        )
        assert answer.status == 400 and reason in (await answer.json())["message"]
    missing = await client.post(
        "/console/notices/N9999/correct", data={"body": "x"}, headers={CSRF_HEADER: csrf}
    )
    assert missing.status == 404
    with session_scope(engine) as session:
        assert len(session.exec(select(Notice)).all()) == 1
        refusals = session.exec(
            select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.REFUSED)
        ).all()
        assert [e.action for e in refusals] == ["refused.manage_notice"]
    done = await client.post(
        f"/console/notices/{code}/correct",
        data={"body": "停水改到下午2点"},
        headers={CSRF_HEADER: csrf},
    )
    assert done.status == 200, await done.text()
    child = (await done.json())["code"]
    async with asyncio.timeout(20):
        await broadcaster.wait(child)
    with session_scope(engine) as session:
        correction = service.notice_by_code(session, child)
        assert correction.kind is NoticeKind.CORRECTION and correction.body == "停水改到下午2点"
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "notice.correct")).one()
    assert entry.message == f"更正 {code}（{child}）" and entry.channel is AuditChannel.CONSOLE
    assert status(engine, code) is NoticeStatus.DONE


async def test_coverage_drills_down_to_units_with_their_leaders(
    console: tuple[TestClient, Broadcaster], engine: Engine
) -> None:
    client, broadcaster = console
    code = await issue(broadcaster, engine, VILLAGE)
    await sign_in(client, CHIEF.phone)
    top = await (await client.get(f"/console/notices/{code}", headers=HTML)).text()
    assert f"?at={VILLAGE}/{ROW.grid}#coverage" in unquote(top)
    grid = await client.get(f"/console/notices/{code}", params={"at": GRID}, headers=HTML)
    text = await grid.text()
    units = [r for r in ROSTER.rows if r.path[:2] == ROW.path[:2]]
    for row in units:
        assert row.unit in text and row.unit_leader.name in text
        assert row.unit_leader.phone in text  # the village's chief sees them in full
    assert f"未回执的单元（{len(units)}）" in text
    for bad in ("没有这个村", f"{VILLAGE}/第99网格"):
        page = await client.get(f"/console/notices/{code}", params={"at": bad}, headers=HTML)
        assert page.status == 200 and 'role="alert"' in await page.text()


async def test_history_filters_name_bad_values_instead_of_failing(
    console: tuple[TestClient, Broadcaster], engine: Engine
) -> None:
    client, broadcaster = console
    first = await issue(broadcaster, engine, VILLAGE, title="停水通知")
    second = await issue(broadcaster, engine, GRID, title="消防检查")
    await sign_in(client, CHIEF.phone)

    async def codes(**query: str) -> tuple[int, str]:
        page = await client.get("/console/notices", params=query, headers=HTML)
        return page.status, await page.text()

    status_, text = await codes(place=GRID)
    assert status_ == 200 and second in text and first not in text
    _, text = await codes(place=ROW.grid, above="1")  # a bare grid name: the chief's village
    assert second in text and first in text
    _, text = await codes(q="消防", kind="notice", status="done")
    assert second in text and first not in text
    today = datetime.now(UTC).date().isoformat()
    _, text = await codes(**{"from": "2000-01-01", "to": "2000-01-02"})
    assert first not in text and "没有符合条件的通知" in text
    for query, problem in (
        ({"from": "2026-13-45"}, "开始日期"),
        ({"from": today, "to": "2000-01-01"}, "开始日期晚于结束日期"),
        ({"status": "<script>"}, "不认识的状态"),
        ({"kind": "x"}, "不认识的种类"),
        ({"place": "没有这个地方"}, "找不到"),
        ({"page": "99999999999"}, ""),
    ):
        status_, text = await codes(**query)
        # A value named as a problem is a bad request (400); the page still shows the form.
        assert status_ == (400 if problem else 200) and problem in text, query
        assert "<script>" not in text


async def test_regression_the_history_search_takes_percent_and_underscore_literally(
    console: tuple[TestClient, Broadcaster], engine: Engine
) -> None:
    """Probe item F9: q=% and q=_ found every notice; q=停%通知 found nothing."""
    client, broadcaster = console
    plain = await issue(broadcaster, engine, VILLAGE, title="停水通知")
    percent = await issue(broadcaster, engine, GRID, title="水费上调5%的说明")
    await sign_in(client, CHIEF.phone)

    async def found(q: str) -> str:
        page = await client.get("/console/notices", params={"q": q}, headers=HTML)
        assert page.status == 200
        return await page.text()

    text = await found("%")
    assert percent in text and plain not in text
    text = await found("_")
    assert percent not in text and plain not in text
    text = await found("5%的")
    assert percent in text and plain not in text
    assert plain in await found("停水")
