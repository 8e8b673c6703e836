"""The whole process end to end: the sandbox serving the Wechaty Puppet Service protocol,
the real python-wechaty client per account over gRPC, the hub, the routers, the web API.

A small town (2 villages, 4 grids, 16 units: 23 groups) with 3 bot accounts, every
group in 2 of them. Residents and leaders act through the sandbox's control API, as a
person would on the sandbox page.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings, parse_settings
from gridcast.runtime import build_sandbox
from models.auth import AuditEntry
from models.db import session_scope
from models.enums import Role
from orgtree.binding import topic_for
from orgtree.records import TownRoster
from orgtree.service import apply_roster
from sandbox.sandbox import MessageView, Sandbox
from tests.factories import api_token, bearer, small_town
from web.app import create_app
from web.keys import ENGINE, HUB

ROSTER = small_town()
TOWN = ROSTER.town
ROW = ROSTER.rows[0]
UNIT_TOPIC = topic_for(TOWN, ROW.path)
REPLY_TARGET_S = 2.0


@dataclass
class System:
    client: TestClient
    sandbox: Sandbox
    settings: Settings
    token: str

    def bot_lines(self, room: str, since: int = 0) -> list[MessageView]:
        return [m for m in self.sandbox.transcript(room, since_seq=since) if m.sender_is_bot]

    def private_from_bots(self, contact: str) -> list[tuple[str, MessageView]]:
        out = []
        for account in self.sandbox.account_ids:
            for message in self.sandbox.private_transcript(account, contact):
                if message.sender_is_bot:
                    out.append((account, message))
        return sorted(out, key=lambda pair: pair[1].seq)


async def until(check: Callable[[], object], within_s: float = 10.0) -> object:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not reached within {within_s} s")


STOP_TIMEOUT_S = 30
"""Like ``gridcast run``, which gives its clean-up a bounded time too."""


@asynccontextmanager
async def running_system(
    db_url: str,
    engine: Engine,
    tmp_path: Path,
    roster: TownRoster = ROSTER,
    *,
    rate_per_s: float = 20,
) -> AsyncIterator[System]:
    """``roster`` in the database, the sandbox built from it, and the whole application
    with a town official's token on every request (each account posts ``rate_per_s``)."""
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
    settings = parse_settings(
        {
            "data_dir": str(tmp_path),
            "database": {"url": db_url},
            "web": {"port": 0},
            "bots": {
                "sandbox_accounts": 3,
                "rate_per_s": rate_per_s,
                "burst": 5,
                "accounts_per_room": 2,
            },
            "sandbox": {"residents_per_unit": 2, "throttle_cooldown": "3s"},
        }
    )
    sandbox = await build_sandbox(settings)
    token = api_token(engine, role="town_official", name="镇综治中心")
    client = TestClient(TestServer(create_app(settings, sandbox=sandbox)), headers=bearer(token))
    await client.start_server()
    try:
        assert await client.app[HUB].wait_rooms(30)
        yield System(client, sandbox, settings, token)
    finally:
        try:
            await asyncio.wait_for(client.close(), STOP_TIMEOUT_S)
        except TimeoutError:  # a slow stop seen now and then (closing note); not what is tested
            stacks = "\n".join(
                f"{task.get_name()}: {task.get_stack(limit=3)}" for task in asyncio.all_tasks()
            )
            logging.getLogger(__name__).warning(
                "the system took over %s s to stop; tasks:\n%s", STOP_TIMEOUT_S, stacks
            )
            # Its connections must not outlive the test (an unclosed one is a
            # ResourceWarning, an error in whichever test the collector runs in).
            await client.app[ENGINE].dispose()


@pytest.fixture
async def system(db_url: str, engine: Engine, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(db_url, engine, tmp_path) as running:
        yield running


def resident(system: System, room: str) -> str:
    member = next(
        m for m in system.sandbox.room_members(room) if m.contact_id.startswith("resident-")
    )
    return member.contact_id


async def test_find_leader_is_answered_within_two_seconds_once(system: System) -> None:
    sender = resident(system, UNIT_TOPIC)
    started = time.monotonic()
    posted = system.sandbox.post_message(UNIT_TOPIC, sender, "@网格助手 我的网格长")
    replies = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))
    elapsed = time.monotonic() - started
    assert elapsed < REPLY_TARGET_S
    await asyncio.sleep(0.3)  # the room has two bot accounts: the second copy must not answer
    replies = system.bot_lines(UNIT_TOPIC, posted.seq)
    assert len(replies) == 1
    [reply] = replies
    assert ROW.grid_leader.name in reply.text and ROW.unit_leader.name in reply.text
    assert ROW.grid_leader.phone in reply.text  # a work phone, public to the area's residents
    assert reply.mention_ids == (sender,)


async def test_forced_logout_is_recorded_and_the_other_account_answers(system: System) -> None:
    room = system.sandbox.room(UNIT_TOPIC)
    first, second = room.bot_account_ids
    system.sandbox.logout(first)

    async def logged_out() -> bool:
        response = await system.client.get("/api/bot/accounts")
        rows = {a["account_id"]: a["status"] for a in await response.json()}
        return rows[first] == "logged_out" and rows[second] == "online"

    deadline = time.monotonic() + 10
    while not await logged_out():
        assert time.monotonic() < deadline, "the logout was not recorded"
        await asyncio.sleep(0.05)
    posted = system.sandbox.post_message(UNIT_TOPIC, resident(system, UNIT_TOPIC), "我的网格长")
    [reply] = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))  # type: ignore[misc]
    assert reply.sender_id == second


async def test_dropped_event_stream_reconnects_and_later_messages_arrive(system: System) -> None:
    room = system.sandbox.room(UNIT_TOPIC)
    for account in room.bot_account_ids:
        system.sandbox.drop_event_stream(account)
    # The gateway buffers nothing while no client is connected (as real ones): wait for
    # both clients to notice the end of the stream and reconnect.
    await until(
        lambda: all(system.sandbox.account(a).event_streams == 1 for a in room.bot_account_ids),
        within_s=15,
    )
    posted = system.sandbox.post_message(UNIT_TOPIC, resident(system, UNIT_TOPIC), "我的网格长")
    replies = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq), within_s=15)
    assert replies


async def test_throttled_account_hands_the_reply_to_the_other(system: System) -> None:
    room = system.sandbox.room(UNIT_TOPIC)
    for account in room.bot_account_ids:  # the first answer freezes whichever account sends it
        system.sandbox.set_account_limits(account, rate_per_s=0.001, burst=1)
    sender = resident(system, UNIT_TOPIC)
    first = system.sandbox.post_message(UNIT_TOPIC, sender, "我的网格长")
    [reply1] = await until(lambda: system.bot_lines(UNIT_TOPIC, first.seq))  # type: ignore[misc]
    second = system.sandbox.post_message(UNIT_TOPIC, sender, "找网格长")
    [reply2] = await until(lambda: system.bot_lines(UNIT_TOPIC, second.seq))  # type: ignore[misc]
    assert {reply1.sender_id, reply2.sender_id} == set(room.bot_account_ids)


async def test_whole_town_notice_reaches_every_group_once(system: System) -> None:
    response = await system.client.post(
        "/api/notices",
        json={
            "title": "消防检查",
            "body": "本周六上午开展消防安全检查，请各单元配合。",
            "scope": TOWN,
            "confirm": True,
        },
    )
    created = await response.json()
    assert response.status == 201, created
    code = created["code"]
    rooms = [r.topic for r in system.sandbox.rooms()]

    async def status() -> dict[str, object]:
        return await (await system.client.get(f"/api/notices/{code}")).json()  # type: ignore[no-any-return]

    deadline = time.monotonic() + 20
    while (await status())["status"] != "done":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    for topic in rooms:
        posts = [m for m in system.bot_lines(topic) if m.text.startswith(f"【通知 {code}】")]
        assert len(posts) == 1, topic
    report = await status()
    assert report["sent"] == len(rooms) == created["groups"]


async def test_ticket_from_complaint_to_rating(system: System, engine: Engine) -> None:
    sandbox = system.sandbox
    reporter = resident(system, UNIT_TOPIC)
    # Residents are nobody's friend; the bot ignores their requests, the operator accepts by hand.
    for account in sandbox.account_ids:
        sandbox.accept_friend_request(sandbox.request_friend(account, reporter).friendship_id)
    leader = ROW.grid_leader.wechat_id or ""
    liaison = next(
        e.person.wechat_id
        for e in ROSTER.extra_roles
        if e.role is Role.DEPARTMENT_LIAISON and e.department == "区司法局"
    )
    assert liaison is not None

    started = time.monotonic()
    posted = sandbox.post_message(
        UNIT_TOPIC, reporter, "楼上邻居家的水又漏到我家了，天花板都泡坏了，说了好几次都不管"
    )
    [receipt] = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))  # type: ignore[misc]
    assert time.monotonic() - started < REPLY_TARGET_S
    code = re.search(r"T\d{8}-\d{4}", receipt.text)
    assert code, receipt.text
    ticket = code.group(0)
    assert receipt.mention_ids == (reporter,)

    forwarded = await until(
        lambda: [p for p in system.private_from_bots(leader) if ticket in p[1].text]
    )
    account, _ = forwarded[0]  # type: ignore[index]

    async def private(person: str, text: str) -> MessageView:
        before = {m.seq for _, m in system.private_from_bots(person)}
        sandbox.post_private(account, person, text)
        answers = await until(
            lambda: [m for _, m in system.private_from_bots(person) if m.seq not in before]
        )
        return answers[-1]  # type: ignore[index,no-any-return]

    accepted = await private(leader, f"接单 {ticket}")
    assert ticket in accepted.text
    whistle = await private(leader, f"吹哨 {ticket} 区司法局")
    assert "区司法局" in whistle.text
    await until(lambda: [p for p in system.private_from_bots(liaison) if ticket in p[1].text])
    assert ticket in (await private(liaison, f"报到 {ticket}")).text
    assert ticket in (await private(liaison, f"办结 {ticket} 已上门调解，楼上已修好水管")).text
    rating_request = await until(
        lambda: [
            m
            for _, m in system.private_from_bots(reporter)
            if "满意" in m.text and ticket in m.text
        ]
    )
    assert rating_request
    answer = await private(reporter, f"满意 {ticket}")
    assert "感谢您的评价" in answer.text
    with Session(engine) as session:
        trail = [(e.action, e.channel.value, e.target) for e in session.exec(select(AuditEntry))]
    for action in ("ticket.accept", "ticket.whistle", "ticket.resolve"):
        assert (action, "chat", ticket) in trail, trail
    response = await system.client.get("/api/bot/accounts")
    assert response.status == 200


async def test_notice_cli_send_wait_status_and_curve(
    system: System, tmp_path: Path, db_url: str
) -> None:
    from click.testing import CliRunner

    from gridcast.cli import main

    url = str(system.client.make_url("")).rstrip("/")
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke,
        main,
        [
            "notice",
            "send",
            "--title",
            "疫苗接种",
            "--body",
            "周六上午9点在村部接种，请带身份证。",
            "--scope",
            ROW.village,
            "--levels",
            "village,grid",
            "--wait",
            "--url",
            url,
            "--token",
            system.token,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "预计" in result.output and "已送达" in result.output
    code = re.search(r"N\d{4}", result.output)
    assert code
    config = tmp_path / "cli.yaml"
    config.write_text(f"database:\n  url: '{db_url}'\n", encoding="utf-8")
    curve = tmp_path / "reach.svg"
    status = await asyncio.to_thread(
        runner.invoke,
        main,
        ["notice", "status", code.group(0), "--config", str(config), "--curve", str(curve)],
    )
    assert status.exit_code == 0, status.output
    assert "村：送达 1/1" in status.output and "网格：送达 2/2" in status.output
    assert curve.read_text(encoding="utf-8").startswith("<?xml")

    said = await asyncio.to_thread(
        runner.invoke,
        main,
        [
            "sandbox",
            "say",
            "--url",
            url,
            "--room",
            UNIT_TOPIC,
            "--as",
            ROW.unit_leader.name,
            "我的网格长",
        ],
    )
    assert said.exit_code == 0, said.output
    assert ROW.grid_leader.name in said.output


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ("not json", 415, "application/json"),
        (b"{not json", 400, "不是有效的 JSON"),
        (b"[" * 5000 + b"]" * 5000, 400, "嵌套太深"),
        ({"title": "x"}, 400, "body"),
        (
            {"title": "t", "body": "b", "scope": TOWN, "issuer": "x", "levels": ["省"]},
            400,
            "levels",
        ),
        ({"title": "t", "body": " ", "scope": TOWN}, 400, "正文不能为空"),
        ({"title": "t", "body": "b" * 20_000, "scope": TOWN}, 400, "正文太长"),
        ({"title": "t", "body": "b", "scope": "火星村"}, 404, "找不到"),
    ],
)
async def test_bad_notice_requests_are_refused_and_send_nothing(
    system: System, payload: object, status: int, text: str
) -> None:
    if isinstance(payload, bytes):
        kwargs: dict[str, object] = {
            "data": payload,
            "headers": {"Content-Type": "application/json"},
        }
    else:
        kwargs = {"data": payload} if isinstance(payload, str) else {"json": payload}
    response = await system.client.post("/api/notices", **kwargs)  # type: ignore[arg-type]
    assert response.status == status
    assert text in await response.text()
    assert all(not system.bot_lines(r.topic) for r in system.sandbox.rooms())


async def test_home_leads_to_the_console_and_the_sandbox_stays(system: System) -> None:
    response = await system.client.get("/", allow_redirects=False)  # a town official's token
    assert response.status == 302 and response.headers["Location"] == "/console/"
    anonymous = await system.client.get("/", allow_redirects=False, headers={"Authorization": ""})
    assert anonymous.status == 302 and anonymous.headers["Location"] == "/console/signin"
    page = await system.client.get("/sandbox/")
    assert page.status == 200 and "<html" in (await page.text()).lower()
