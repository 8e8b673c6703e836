"""Sign-in by a code the bot sends on WeChat (through the sandbox and the real wechaty
client), passwords, sessions and CSRF, tokens, the audit trail, hostile requests."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from core.config import Settings, parse_settings
from gridcast.runtime import build_sandbox
from models.auth import AuditEntry, SignInCode
from models.db import session_scope
from orgtree.service import apply_roster
from sandbox.sandbox import Sandbox
from tests.factories import api_token, bearer, small_town
from web.app import create_app
from web.keys import HUB
from web.security import CSRF_HEADER

ROSTER = small_town()
TOWN = ROSTER.town
ROW = ROSTER.rows[0]
LEADER = ROW.grid_leader  # a friend of the bot accounts in the grid's groups


@dataclass
class Web:
    client: TestClient
    sandbox: Sandbox
    engine: Engine
    settings: Settings
    admin: dict[str, str]
    """Headers with an admin token (made before the server starts: SQLite has one writer)."""

    def codes_sent_to(self, contact: str) -> list[str]:
        found = []
        for account in self.sandbox.account_ids:
            for message in self.sandbox.private_transcript(account, contact):
                if message.sender_is_bot:
                    found += re.findall(r"验证码是 (\d{6})", message.text)
        return found


@pytest.fixture
async def web_system(db_url: str, engine: Engine, tmp_path: Path) -> AsyncIterator[Web]:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
    settings = parse_settings(
        {
            "data_dir": str(tmp_path),
            "database": {"url": db_url},
            "web": {"port": 0},
            "bots": {"sandbox_accounts": 2, "rate_per_s": 20, "burst": 5},
            "sandbox": {"residents_per_unit": 1},
            "admins": [ROSTER.rows[1].unit_leader.phone],
        }
    )
    admin = bearer(api_token(engine))
    sandbox = await build_sandbox(settings)
    client = TestClient(TestServer(create_app(settings, sandbox=sandbox)))
    await client.start_server()
    try:
        assert await client.app[HUB].wait_rooms(30)
        yield Web(client, sandbox, engine, settings, admin)
    finally:
        await client.close()


async def wait_code(system: Web, contact: str, count: int = 1) -> str:
    deadline = time.monotonic() + 10
    while len(codes := system.codes_sent_to(contact)) < count:
        assert time.monotonic() < deadline, "no code arrived"
        await asyncio.sleep(0.02)
    return codes[-1]


async def sign_in(system: Web, phone: str, code: str) -> tuple[int, dict[str, object]]:
    response = await system.client.post("/api/auth/signin", json={"phone": phone, "code": code})
    return response.status, await response.json()


def audit_actions(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(e.action, e.outcome.value) for e in session.exec(select(AuditEntry))]


async def test_code_arrives_on_wechat_and_signs_in_once(web_system: Web) -> None:
    system = web_system
    response = await system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    assert response.status == 202
    code = await wait_code(system, LEADER.wechat_id or "")
    status, me = await sign_in(system, LEADER.phone, code)
    assert status == 200, me
    assert me["name"] == LEADER.name and me["csrf_token"]
    assert any(p["role"] == "grid_leader" for p in me["posts"])  # type: ignore[union-attr]
    who = await system.client.get("/api/auth/me")
    assert who.status == 200 and (await who.json())["name"] == LEADER.name
    # the code is single use: a second browser cannot reuse it
    other = TestClient(TestServer(system.client.app), loop=asyncio.get_running_loop())
    try:
        async with other.session.post(
            system.client.make_url("/api/auth/signin"),
            json={"phone": LEADER.phone, "code": code},
        ) as again:
            assert again.status == 401
    finally:
        await other.session.close()
    assert ("signin", "ok") in audit_actions(system.engine)


async def test_unknown_phone_gets_the_same_answer_and_no_code(web_system: Web) -> None:
    response = await web_system.client.post("/api/auth/code", json={"phone": "13999999999"})
    assert response.status == 202
    known = await web_system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    assert (await response.json())["message"] == (await known.json())["message"]


async def test_wrong_codes_are_limited_to_five_tries(web_system: Web) -> None:
    system = web_system
    await system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    code = await wait_code(system, LEADER.wechat_id or "")
    wrong = "000000" if code != "000000" else "111111"
    answers = [await sign_in(system, LEADER.phone, wrong) for _ in range(5)]
    assert all(status == 401 for status, _ in answers)
    assert "还可以再试4次" in str(answers[0][1]["message"])
    status, body = await sign_in(system, LEADER.phone, code)  # the right code, too late
    assert status == 401 and "次数太多" in str(body["message"])
    refused = [a for a in audit_actions(system.engine) if a == ("signin", "refused")]
    assert len(refused) == 6


async def test_an_expired_code_is_refused(web_system: Web) -> None:
    system = web_system
    await system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    code = await wait_code(system, LEADER.wechat_id or "")
    with session_scope(system.engine) as session:
        for row in session.exec(select(SignInCode)):
            row.expires_at = row.created_at - timedelta(seconds=1)
            session.add(row)
    status, body = await sign_in(system, LEADER.phone, code)
    assert status == 401 and "过期" in str(body["message"])


async def test_codes_are_rate_limited_per_phone(web_system: Web) -> None:
    first = await web_system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    second = await web_system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    assert first.status == 202
    assert second.status == 429 and "一分钟" in (await second.json())["message"]


async def test_session_needs_csrf_for_changes_and_ends_at_sign_out(web_system: Web) -> None:
    system = web_system
    await system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    code = await wait_code(system, LEADER.wechat_id or "")
    _status, me = await sign_in(system, LEADER.phone, code)
    cookie = next(c for c in system.client.session.cookie_jar if c.key == "GRIDCAST_SESSION")
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    notice = {"title": "停水", "body": "明天停水", "scope": f"{ROW.village}/{ROW.grid}"}
    no_csrf = await system.client.post("/api/notices", json=notice)
    assert no_csrf.status == 403 and (await no_csrf.json())["code"] == "csrf"
    with_csrf = await system.client.post(
        "/api/notices", json=notice, headers={CSRF_HEADER: str(me["csrf_token"])}
    )
    assert with_csrf.status == 201, await with_csrf.text()
    out = await system.client.post(
        "/api/auth/signout", headers={CSRF_HEADER: str(me["csrf_token"])}
    )
    assert out.status == 200
    assert (await system.client.get("/api/auth/me")).status == 401
    actions = audit_actions(system.engine)
    assert ("notice.create", "ok") in actions and ("signout", "ok") in actions


async def test_password_sign_in_after_setting_one(web_system: Web) -> None:
    system = web_system
    await system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    code = await wait_code(system, LEADER.wechat_id or "")
    _status, me = await sign_in(system, LEADER.phone, code)
    csrf = {CSRF_HEADER: str(me["csrf_token"])}
    short = await system.client.post(
        "/api/auth/password", json={"new_password": "1234"}, headers=csrf
    )
    assert short.status == 400
    ok = await system.client.post(
        "/api/auth/password", json={"new_password": "大榕树下2022"}, headers=csrf
    )
    assert ok.status == 200
    await system.client.post("/api/auth/signout", headers=csrf)
    bad = await system.client.post(
        "/api/auth/signin", json={"phone": LEADER.phone, "password": "wrong-password"}
    )
    assert bad.status == 401
    good = await system.client.post(
        "/api/auth/signin", json={"phone": LEADER.phone, "password": "大榕树下2022"}
    )
    assert good.status == 200 and (await good.json())["name"] == LEADER.name


async def test_tokens_are_shown_once_revocable_and_audited(web_system: Web) -> None:
    system = web_system
    admin = system.admin
    made = await system.client.post(
        "/api/tokens",
        json={"name": "12345热线", "role": "town_official"},
        headers=admin,
    )
    assert made.status == 201, await made.text()
    created = await made.json()
    token = created["token"]
    listed = await (await system.client.get("/api/tokens", headers=admin)).json()
    assert all("token" not in row and token not in str(row) for row in listed)
    assert (await system.client.get("/api/bot/status", headers=bearer(token))).status == 200
    used = await (await system.client.get("/api/tokens", headers=admin)).json()
    assert next(r for r in used if r["id"] == created["id"])["last_used_at"] is not None
    revoked = await system.client.delete(f"/api/tokens/{created['id']}", headers=admin)
    assert revoked.status == 200
    after = await system.client.get("/api/bot/status", headers=bearer(token))
    assert after.status == 401
    actions = audit_actions(system.engine)
    assert ("token.create", "ok") in actions and ("token.revoke", "ok") in actions
    trail = await (await system.client.get("/api/audit?limit=5", headers=admin)).json()
    assert trail[0]["action"] in ("token.revoke", "refused.view_bots")


async def test_admins_from_config_may_manage_tokens(web_system: Web) -> None:
    system = web_system
    admin_person = ROSTER.rows[1].unit_leader
    await system.client.post("/api/auth/code", json={"phone": admin_person.phone})
    code = await wait_code(system, admin_person.wechat_id or "")
    _status, me = await sign_in(system, admin_person.phone, code)
    assert me["is_admin"] is True
    assert (await system.client.get("/api/tokens")).status == 200


async def test_cross_site_requests_are_refused(web_system: Web) -> None:
    system = web_system
    headers = system.admin
    notice = {"title": "t", "body": "b", "scope": TOWN}
    foreign_origin = await system.client.post(
        "/api/notices", json=notice, headers={**headers, "Origin": "http://evil.example"}
    )
    assert foreign_origin.status == 403 and (await foreign_origin.json())["code"] == "cross_site"
    foreign_host = await system.client.post(
        "/api/notices", json=notice, headers={**headers, "Host": "evil.example"}
    )
    assert foreign_host.status == 403
    probe = await system.client.get("/healthz", headers={"Host": "10.1.2.3:8080"})
    assert probe.status == 200  # a monitoring probe by address is not a browser session
    text_plain = await system.client.post(
        "/api/notices", data="{}", headers={**headers, "Content-Type": "text/plain"}
    )
    assert text_plain.status == 415
    nothing = await system.client.get("/api/notices/N0001", headers=headers)
    assert nothing.status == 404


async def test_deep_json_and_huge_bodies_get_4xx_not_500(web_system: Web) -> None:
    system = web_system
    headers = {**system.admin, "Content-Type": "application/json"}
    deep = b"[" * 100_000 + b"]" * 100_000  # 200 KB, far deeper than Python's recursion limit
    response = await system.client.post("/api/notices", data=io.BytesIO(deep), headers=headers)
    assert response.status == 400 and "嵌套" in (await response.json())["message"]
    huge = io.BytesIO(b'{"title": "' + b"x" * 2_000_000 + b'"}')
    too_big = await system.client.post("/api/notices", data=huge, headers=headers)
    assert too_big.status == 413


async def test_the_audit_trail_is_append_only(web_system: Web) -> None:
    system = web_system
    await system.client.post("/api/auth/code", json={"phone": "13999999999"})
    with pytest.raises(Exception, match="append-only"), session_scope(system.engine) as session:
        session.exec(text("update audit_entry set actor = 'someone else'"))  # type: ignore[call-overload]
    with pytest.raises(Exception, match="append-only"), session_scope(system.engine) as session:
        session.exec(text("delete from audit_entry"))  # type: ignore[call-overload]


async def test_sandbox_control_answers_only_on_loopback(web_system: Web) -> None:
    """The control API (post as anyone, log accounts out) is refused from another address
    unless sandbox.control_from says otherwise."""
    from unittest import mock

    from aiohttp.test_utils import make_mocked_request

    from web.security import security_middleware

    app = web_system.client.app

    async def handler(request: object) -> object:
        raise AssertionError("must not be reached")

    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda key, default=None: (
        ("10.0.0.7", 50000) if key == "peername" else default
    )
    request = make_mocked_request("POST", "/sandbox/api/risk", app=app, transport=transport)
    response = await security_middleware(request, handler)  # type: ignore[arg-type]
    assert response.status == 403
    local = await web_system.client.get("/sandbox/api/risk")
    assert local.status == 200
