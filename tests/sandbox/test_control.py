"""The control plane: JSON endpoints and the page, through aiohttp's test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sandbox.control import create_control_app
from sandbox.sandbox import Sandbox


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The control app mounted under /sandbox, as the main app will mount it."""
    app = web.Application()
    app.add_subapp("/sandbox", create_control_app(sandbox))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


Client = TestClient[web.Request, web.Application]


async def json_of(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_page_is_served_in_chinese_without_external_assets(client: Client) -> None:
    response = await client.get("/sandbox/")
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert "模拟微信" in html and "筛选群聊" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html


async def test_rooms_are_listed_and_filtered(client: Client) -> None:
    data = await json_of(await client.get("/sandbox/api/rooms"), 200)
    assert data["total"] == 3
    grid = data["rooms"][0]
    assert grid["room_id"] == "grid-16@chatroom" and grid["topic"] == "国欢镇黄霞村第16网格"
    assert "16网格长-林志明" in grid["member_names"]
    assert grid["bot_account_ids"] and "网格助手1号" not in grid["member_names"]
    filtered = await json_of(
        await client.get("/sandbox/api/rooms", params={"q": "商铺", "members": "0"}), 200
    )
    assert [room["topic"] for room in filtered["rooms"]] == ["黄霞村16网格-沿街商铺12号"]
    assert filtered["rooms"][0]["member_names"] == []
    paged = await json_of(
        await client.get("/sandbox/api/rooms", params={"limit": "1", "offset": "1"}), 200
    )
    assert paged["total"] == 3 and [room["room_id"] for room in paged["rooms"]] == [
        "unit-16-3@chatroom"
    ]


async def test_room_detail_lists_members(client: Client) -> None:
    room = await json_of(await client.get("/sandbox/api/rooms/grid-16@chatroom"), 200)
    by_id = {member["contact_id"]: member for member in room["members"]}
    assert by_id["grid-leader"]["room_alias"] == "16网格长-林志明"
    assert by_id["bot-1"]["is_bot"] is True
    # A room can be addressed by its exact topic, too.
    same = await json_of(await client.get("/sandbox/api/rooms/国欢镇黄霞村第16网格"), 200)
    assert same["room_id"] == "grid-16@chatroom"


async def test_post_as_member_then_read_the_transcript(client: Client, sandbox: Sandbox) -> None:
    posted = await json_of(
        await client.post(
            "/sandbox/api/rooms/grid-16@chatroom/messages",
            json={"sender": "林志明", "text": "明天停水", "mention": ["黄丽华"]},
        ),
        201,
    )
    assert posted["sender_id"] == "grid-leader" and posted["mention_ids"] == ["unit-leader"]
    image = await json_of(
        await client.post(
            "/sandbox/api/rooms/grid-16@chatroom/messages",
            json={"sender": "b3-001", "kind": "image"},
        ),
        201,
    )
    assert image["kind"] == "image"
    transcript = await json_of(
        await client.get("/sandbox/api/rooms/grid-16@chatroom/transcript"), 200
    )
    assert transcript["room"]["topic"] == "国欢镇黄霞村第16网格"
    first, second = transcript["messages"]
    assert (first["text"], first["sender_name"], first["mention_names"]) == (
        "明天停水",
        "16网格长-林志明",
        ["3号楼单元长-黄丽华"],
    )
    assert first["sent_at"].endswith("+00:00")
    since = await json_of(
        await client.get(
            "/sandbox/api/rooms/grid-16@chatroom/transcript", params={"since": str(first["seq"])}
        ),
        200,
    )
    assert [m["message_id"] for m in since["messages"]] == [second["message_id"]]


async def test_refusals_are_json_in_chinese(client: Client) -> None:
    not_member = await json_of(
        await client.post(
            "/sandbox/api/rooms/grid-16@chatroom/messages", json={"sender": "吴金水", "text": "hi"}
        ),
        409,
    )
    assert "不在群聊" in not_member["error"]
    unknown = await json_of(await client.get("/sandbox/api/rooms/nope@chatroom"), 404)
    assert "找不到群聊" in unknown["error"]
    bad_json = await json_of(
        await client.post("/sandbox/api/rooms/grid-16@chatroom/messages", data="{oops"), 400
    )
    assert "JSON" in bad_json["error"]
    missing = await json_of(
        await client.post("/sandbox/api/rooms/grid-16@chatroom/messages", json={}), 400
    )
    assert "sender" in missing["error"]
    bad_kind = await json_of(
        await client.post(
            "/sandbox/api/rooms/grid-16@chatroom/messages",
            json={"sender": "林志明", "kind": "hologram"},
        ),
        400,
    )
    assert "不支持的消息类型" in bad_kind["error"]
    bad_since = await json_of(
        await client.get("/sandbox/api/rooms/grid-16@chatroom/transcript", params={"since": "x"}),
        400,
    )
    assert "整数" in bad_since["error"]


async def test_private_conversation(client: Client, sandbox: Sandbox) -> None:
    await json_of(
        await client.post(
            "/sandbox/api/accounts/bot-1/private/吴金水", json={"text": "医保怎么交"}
        ),
        201,
    )
    transcript = await json_of(
        await client.get("/sandbox/api/accounts/bot-1/private/villager"), 200
    )
    assert [(m["sender_id"], m["to_id"], m["text"]) for m in transcript["messages"]] == [
        ("villager", "bot-1", "医保怎么交")
    ]


async def test_accounts_and_fault_injection(client: Client, sandbox: Sandbox) -> None:
    accounts = await json_of(await client.get("/sandbox/api/accounts"), 200)
    first = accounts["accounts"][0]
    assert first["account_id"] == "bot-1" and first["logged_in"] is True
    assert first["endpoint"] == sandbox.endpoint("bot-1") and first["token"] == sandbox.token(
        "bot-1"
    )
    out = await json_of(
        await client.post("/sandbox/api/accounts/bot-1/logout", json={"reason": "测试下线"}), 200
    )
    assert out["logged_in"] is False
    back = await json_of(await client.post("/sandbox/api/accounts/bot-1/login"), 200)
    assert back["logged_in"] is True
    dropped = await json_of(await client.post("/sandbox/api/accounts/bot-1/drop-stream"), 200)
    assert dropped["ended_streams"] == 0
    limited = await json_of(
        await client.post(
            "/sandbox/api/accounts/bot-1/limits", json={"rate_per_s": 0.5, "burst": 3}
        ),
        200,
    )
    assert (limited["rate_per_s"], limited["burst"]) == (0.5, 3)
    await json_of(await client.post("/sandbox/api/accounts/bot-1/unfreeze"), 200)
    await json_of(await client.post("/sandbox/api/accounts/ghost/logout"), 404)


async def test_risk_settings_read_and_change(client: Client, sandbox: Sandbox) -> None:
    current = await json_of(await client.get("/sandbox/api/risk"), 200)
    assert current["rate_per_s"] == 0
    changed = await json_of(
        await client.post("/sandbox/api/risk", json={"failure_probability": 0.5, "cooldown_s": 5}),
        200,
    )
    assert changed["failure_probability"] == 0.5 and sandbox.risk_settings.cooldown_s == 5
    refused = await json_of(
        await client.patch("/sandbox/api/risk", json={"failure_probability": 3}), 400
    )
    assert "风控参数无效" in refused["error"]
    assert sandbox.risk_settings.failure_probability == 0.5


async def test_room_changes(client: Client, sandbox: Sandbox) -> None:
    renamed = await json_of(
        await client.post("/sandbox/api/rooms/grid-16@chatroom/topic", json={"topic": "新群名"}),
        200,
    )
    assert renamed["topic"] == "新群名"
    added = await json_of(
        await client.post(
            "/sandbox/api/rooms/grid-16@chatroom/members",
            json={"contact_id": "newcomer", "name": "新住户"},
        ),
        201,
    )
    assert added["member_count"] == 9
    await json_of(
        await client.post("/sandbox/api/rooms/grid-16@chatroom/remove", json={"member": "bot-2"}),
        200,
    )
    assert "bot-2" not in sandbox.room("grid-16@chatroom").bot_account_ids
    dissolved = await json_of(
        await client.post("/sandbox/api/rooms/unit-16-3@chatroom/dissolve"), 200
    )
    assert dissolved["dissolved"] is True
    await json_of(
        await client.post(
            "/sandbox/api/rooms/unit-16-3@chatroom/messages", json={"sender": "黄丽华", "text": "x"}
        ),
        404,
    )


async def test_deeply_nested_json_is_a_400_not_a_500(client: Client) -> None:
    """Regression: 200 KB of nested brackets used to raise RecursionError (a 500)."""
    deep = "[" * 100_000 + "]" * 100_000
    for method, path in (
        ("POST", "/sandbox/api/rooms/grid-16@chatroom/messages"),
        ("POST", "/sandbox/api/risk"),
    ):
        body = await json_of(await client.request(method, path, data=deep), 400)
        assert "嵌套" in body["error"]
