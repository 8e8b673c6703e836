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
from web.keys import DESK, HUB
from web.security import CSRF_HEADER
from web.signin import CODE_FAILED, CODE_SENDS

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
    # one answer for every failure: it must not tell a roster phone from another
    assert {str(body["message"]) for _, body in answers} == {CODE_FAILED}
    status, body = await sign_in(system, LEADER.phone, code)  # the right code, too late
    assert status == 401 and body["message"] == CODE_FAILED
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


# --- regressions of the hostile probe of 2026-12-03 -----------------------------------


async def _token(system: Web, **body: object) -> dict[str, str]:
    made = await system.client.post("/api/tokens", json=body, headers=system.admin)
    assert made.status == 201, await made.text()
    return bearer((await made.json())["token"])


async def test_audit_trail_is_refused_to_a_monitor_and_a_unit_leader(web_system: Web) -> None:
    """A1: a monitor token read the whole audit trail, a unit leader's their unit's."""
    system = web_system
    monitor = await _token(system, name="prometheus", role="monitor")
    unit = await _token(system, name="楼", role="unit_leader", scope="/".join(ROW.path))
    chief = await _token(system, name="村", role="station_chief", scope=ROW.village)
    for headers in (monitor, unit):
        api = await system.client.get("/api/audit?limit=500", headers=headers)
        assert api.status == 403, await api.text()
        assert "只有镇干部、村网格站站长、网格长和系统管理员" in (await api.json())["message"]
        console = await system.client.get("/console/system/audit", headers=headers)
        assert console.status == 403
    own = await system.client.get("/api/audit?limit=500", headers=chief)
    assert own.status == 200
    entries = await own.json()
    assert entries and all(e["scope"].startswith(ROW.village) for e in entries)
    assert (await system.client.get("/console/system/audit", headers=chief)).status == 200
    assert ("refused.view_audit", "refused") in audit_actions(system.engine)


async def test_a_token_scope_the_role_cannot_have_is_refused(web_system: Web) -> None:
    """A2: a town official's token "of 黄霞村" was labelled 黄霞村镇干部 and acted for the
    whole town."""
    system = web_system
    town_of_village = await system.client.post(
        "/api/tokens",
        json={"name": "village-town", "role": "town_official", "scope": ROW.village},
        headers=system.admin,
    )
    assert town_of_village.status == 400
    assert (await town_of_village.json())["message"] == (
        f"令牌的范围不符合岗位：镇干部的范围应为全镇（不填范围），不能是「{ROW.village}」"
    )
    for role, scope in (
        ("monitor", ROW.village),
        ("station_chief", f"{ROW.village}/{ROW.grid}"),
        ("grid_leader", ROW.village),
        ("unit_leader", f"{ROW.village}/{ROW.grid}"),
    ):
        refused = await system.client.post(
            "/api/tokens", json={"name": "x", "role": role, "scope": scope}, headers=system.admin
        )
        assert refused.status == 400, (role, scope)
        assert "范围应为" in (await refused.json())["message"]
    await _token(system, name="网格", role="grid_leader", scope=f"{TOWN}/{ROW.village}/{ROW.grid}")
    # a token made before the check (straight into the table) no longer acts at all
    old = bearer(api_token(system.engine, role="town_official", scope=(ROW.village,)))
    assert (await system.client.get("/api/bot/status", headers=old)).status == 401


async def test_a_token_cannot_sign_a_notice_as_someone_else(web_system: Web) -> None:
    """A3: a grid leader's token signed a payment request to 73 groups as 镇长许清鑫."""
    system = web_system
    grid = await _token(system, name="t-gl", role="grid_leader", scope=f"{ROW.village}/{ROW.grid}")
    notice = {"title": "紧急通知", "body": "请各户交费", "scope": f"{ROW.village}/{ROW.grid}"}
    forged = await system.client.post(
        "/api/notices", json={**notice, "issuer": "镇长许清鑫", "confirm": True}, headers=grid
    )
    assert forged.status == 403 and "不能落款为「镇长许清鑫」" in (await forged.json())["message"]
    assert ("refused.notice_signature", "refused") in audit_actions(system.engine)
    own = await system.client.post("/api/notices", json=notice, headers=grid)
    assert own.status == 201, await own.text()
    code = (await own.json())["code"]
    report = await (await system.client.get(f"/api/notices/{code}", headers=grid)).json()
    assert report["issuer"] == "t-gl"
    # A5: the token that planned it may confirm it (it could not: no person behind it)
    confirmed = await system.client.post(f"/api/notices/{code}/confirm", headers=grid)
    assert confirmed.status == 200, await confirmed.text()
    signed = await _token(system, name="防汛", role="town_official", signature="镇防汛办")
    made = await system.client.post("/api/notices", json=notice, headers=signed)
    report = await (
        await system.client.get(f"/api/notices/{(await made.json())['code']}", headers=signed)
    ).json()
    assert report["issuer"] == "镇防汛办"
    by_admin = await system.client.post(
        "/api/notices", json={**notice, "issuer": "镇政府"}, headers=system.admin
    )
    assert by_admin.status == 201  # the operator's own token names the signature


async def test_sign_in_answers_do_not_reveal_roster_phones(web_system: Web) -> None:
    """Probe item 8: a wrong code and a second code request answered a roster phone
    differently from another phone."""
    system = web_system
    unknown = "13999999999"
    roster = ROSTER.rows[2].unit_leader.phone
    answers = [await sign_in(system, phone, "000000") for phone in (unknown, roster)]
    assert answers[0] == answers[1] and answers[0][0] == 401
    seconds = []
    for phone in (unknown, roster):
        first = await system.client.post("/api/auth/code", json={"phone": phone})
        assert first.status == 202
        second = await system.client.post("/api/auth/code", json={"phone": phone})
        seconds.append((second.status, (await second.json())["message"]))
    assert seconds[0] == seconds[1] and seconds[0][0] == 429
    # with a code out for the roster phone, a wrong one still gets the same answer
    assert await sign_in(system, roster, "000000") == answers[0]


async def test_the_cookie_is_refused_after_sign_out(web_system: Web) -> None:
    """Probe item 9: sign-out left the encrypted cookie working for up to 12 h."""
    system = web_system
    await system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    code = await wait_code(system, LEADER.wechat_id or "")
    _status, me = await sign_in(system, LEADER.phone, code)
    cookie = next(c for c in system.client.session.cookie_jar if c.key == "GRIDCAST_SESSION")
    kept = {"Cookie": f"GRIDCAST_SESSION={cookie.value}", CSRF_HEADER: str(me["csrf_token"])}
    out = await system.client.post("/api/auth/signout", headers={CSRF_HEADER: kept[CSRF_HEADER]})
    assert out.status == 200
    system.client.session.cookie_jar.clear()
    assert (await system.client.get("/api/auth/me", headers=kept)).status == 401
    notice = {"title": "停水", "body": "明天停水", "scope": f"{ROW.village}/{ROW.grid}"}
    replay = await system.client.post("/api/notices", json=notice, headers=kept)
    assert replay.status == 401


async def test_a_malformed_origin_is_refused_not_a_500(web_system: Web) -> None:
    """Probe item 11: ``Origin: http://127.0.0.1:99999`` raised ValueError: 500."""
    system = web_system
    for origin in ("http://127.0.0.1:99999", "http://x:notaport", "http://127.0.0.1:1.evil.com"):
        signout = await system.client.post("/api/auth/signout", headers={"Origin": origin})
        assert signout.status == 403, origin
        body = await signout.json()
        assert body["code"] == "cross_site" and "不是有效的网页地址" in body["message"]
        code = await system.client.post(
            "/api/auth/code", json={"phone": LEADER.phone}, headers={"Origin": origin}
        )
        assert code.status == 403
        notice = await system.client.post(
            "/api/notices",
            json={"title": "t", "body": "b", "scope": TOWN},
            headers={**system.admin, "Origin": origin},
        )
        assert notice.status == 403
    for host in ("127.0.0.1:99999", "x:notaport", "bad host", "[::1"):
        response = await system.client.post("/api/auth/signout", headers={"Host": host})
        assert response.status in (400, 403), (host, response.status)


async def test_validation_problems_are_in_chinese(web_system: Web) -> None:
    """Probe F8: the problems of a 400 were pydantic's English ("String should have at
    most 200 characters", "Extra inputs are not permitted")."""
    system = web_system
    response = await system.client.post(
        "/api/notices",
        json={"title": "x" * 300, "body": "b", "scope": TOWN, "levels": ["省"], "colour": 1},
        headers=system.admin,
    )
    assert response.status == 400
    problems = (await response.json())["problems"]
    assert problems == [
        "body.title: 最多 200 个字",
        "body.levels.0: 应为以下之一：'town'、'village'、'grid'、'unit'",
        "body.colour: 没有这一项（不认识的字段）",
    ]
    wrong_method = await system.client.put("/api/audit", headers=system.admin)
    assert wrong_method.status == 405
    assert (await wrong_method.json())["message"] == "这个地址不接受这种请求方法"


async def test_a_code_request_does_not_wait_for_wechat(
    web_system: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe item 8, by timing: the answer for a roster phone waited for the WeChat send,
    the answer for another phone did not. The code now goes after the answer; a send that
    fails is audited."""
    system = web_system
    released = asyncio.Event()
    desk = system.client.app[DESK]

    async def stuck(reply: object) -> None:
        await released.wait()
        raise RuntimeError("联系人不是好友")

    monkeypatch.setattr(desk, "send", stuck)
    async with asyncio.timeout(5):
        answer = await system.client.post("/api/auth/code", json={"phone": LEADER.phone})
    assert answer.status == 202
    sends = set(system.client.app[CODE_SENDS])
    assert sends  # still being sent after the answer
    released.set()
    await asyncio.wait(sends, timeout=5)
    assert ("signin.code.failed", "failed") in audit_actions(system.engine)
