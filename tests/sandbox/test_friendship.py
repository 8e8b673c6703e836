"""Friendship (好友) in the simulated WeChat: friend lists, requests, the refusal of a
private message to a non-friend; in the world, over the puppet protocol and on the
control plane."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import wechaty_grpc.wechaty.puppet as pb
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from sandbox.control import create_control_app
from sandbox.demo import demo_world
from sandbox.errors import InvalidRequest, NotAFriend
from sandbox.sandbox import Sandbox
from sandbox.world import FriendshipKind, FriendshipStatus, MemberSpec, World, WorldSpec

from .test_puppet_service import EventReader, stub

EventType = pb.EventType


def friendly_world() -> WorldSpec:
    """The demo world where only the grid leader is bot-1's friend; 吴金水 has a phone."""
    spec = demo_world()
    return dataclasses.replace(
        spec,
        contacts=[MemberSpec("villager", "吴金水", phone="13900000001", weixin="wujinshui")],
        friends={"bot-1": ["grid-leader"]},
    )


@pytest.fixture
def demo_spec() -> WorldSpec:
    return friendly_world()


# --- the world -----------------------------------------------------------------------


def test_a_world_without_friend_lists_lets_every_account_write_to_everyone() -> None:
    world = World(demo_world())
    assert world.friends is None
    assert world.is_friend("bot-2", "villager")
    world.record_bot_text("bot-2", "villager", "您好", now_ms=1)


def test_private_send_to_a_non_friend_is_refused_as_wechat_does() -> None:
    world = World(friendly_world())
    world.record_bot_text("bot-1", "grid-leader", "您好", now_ms=1)
    with pytest.raises(NotAFriend, match="你还不是他（她）朋友"):
        world.record_bot_text("bot-2", "grid-leader", "您好", now_ms=1)
    with pytest.raises(NotAFriend):
        world.check_send_target("bot-1", "villager")
    # Rooms are unaffected: anyone in a room gets the room's messages.
    world.record_bot_text("bot-2", "unit-16-3@chatroom", "大家好", now_ms=1)


def test_friend_request_accepted_makes_friends_once() -> None:
    world = World(friendly_world())
    request = world.request_friendship(
        "bot-2",
        "villager",
        kind=FriendshipKind.INCOMING,
        hello="我是吴金水",
        scene="phone",
        now_ms=1,
    )
    again = world.request_friendship(
        "bot-2", "villager", kind=FriendshipKind.INCOMING, hello="请通过", scene="phone", now_ms=2
    )
    assert again is request and request.hello == "请通过"
    with pytest.raises(InvalidRequest, match="收到好友申请的一方"):
        world.accept_friendship(request.friendship_id, by_account=False)
    world.accept_friendship(request.friendship_id, by_account=True)
    assert request.status is FriendshipStatus.ACCEPTED
    assert world.is_friend("bot-2", "villager") and not world.is_friend("bot-1", "villager")
    with pytest.raises(InvalidRequest, match="已经是"):
        world.request_friendship(
            "bot-2", "villager", kind=FriendshipKind.INCOMING, hello="", scene="", now_ms=3
        )
    world.remove_friend("bot-2", "villager")
    assert not world.is_friend("bot-2", "villager")


def test_bad_friend_lists_are_refused() -> None:
    spec = demo_world()
    with pytest.raises(ValueError, match="unknown bot account"):
        World(dataclasses.replace(spec, friends={"ghost": []}))
    with pytest.raises(ValueError, match="unknown contact"):
        World(dataclasses.replace(spec, friends={"bot-1": ["nobody"]}))
    with pytest.raises(InvalidRequest, match="机器人账号之间"):
        World(dataclasses.replace(spec, friends={})).request_friendship(
            "bot-1", "bot-2", kind=FriendshipKind.INCOMING, hello="", scene="", now_ms=1
        )


# --- the puppet protocol -------------------------------------------------------------


async def test_friendship_event_payload_accept_and_contact_payload(sandbox: Sandbox) -> None:
    async with stub(sandbox, "bot-2") as puppet:
        reader = EventReader(puppet)
        try:
            await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
            with pytest.raises(GRPCError) as caught:
                await puppet.message_send_text(conversation_id="villager", text="您好")
            assert caught.value.status is Status.PERMISSION_DENIED
            assert not (await puppet.contact_payload(id="villager")).friend

            view = sandbox.request_friend("bot-2", "吴金水", "我是吴金水，3号楼的")
            kind, payload = await reader.next()
            assert kind == EventType.EVENT_TYPE_FRIENDSHIP
            assert payload == {"friendshipId": view.friendship_id}
            friendship = await puppet.friendship_payload(id=view.friendship_id)
            assert friendship.contact_id == "villager"
            assert friendship.hello == "我是吴金水，3号楼的"
            assert friendship.type == pb.FriendshipType.FRIENDSHIP_TYPE_RECEIVE
            assert friendship.scene == pb.FriendshipSceneType.FRIENDSHIP_SCENE_TYPE_PHONE

            await puppet.friendship_accept(id=view.friendship_id)
            contact = await puppet.contact_payload(id="villager")
            assert contact.friend and contact.phone == ["13900000001"]
            assert contact.weixin == "wujinshui"
            sent = await puppet.message_send_text(conversation_id="villager", text="您好")
            assert sandbox.message(sent.id).to_id == "villager"
            again = await puppet.friendship_payload(id=view.friendship_id)
            assert again.type == pb.FriendshipType.FRIENDSHIP_TYPE_CONFIRM
        finally:
            await reader.close()


async def test_friendship_add_search_and_the_persons_confirmation(sandbox: Sandbox) -> None:
    async with stub(sandbox, "bot-2") as puppet:
        reader = EventReader(puppet)
        try:
            await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
            by_phone = await puppet.friendship_search_phone(phone="13900000001")
            by_weixin = await puppet.friendship_search_weixin(weixin="wujinshui")
            assert by_phone.contact_id == by_weixin.contact_id == "villager"
            assert not (await puppet.friendship_search_phone(phone="13000000000")).contact_id
            await puppet.friendship_add(contact_id="villager", hello="我是网格助手")
            [request] = sandbox.friends("bot-2").requests
            assert request.kind is FriendshipKind.OUTGOING
            pending = await puppet.friendship_payload(id=request.friendship_id)
            assert pending.type == pb.FriendshipType.FRIENDSHIP_TYPE_VERIFY

            sandbox.accept_friend_request(request.friendship_id)  # 吴金水 accepts
            kind, payload = await reader.next()
            assert (kind, payload) == (
                EventType.EVENT_TYPE_FRIENDSHIP,
                {"friendshipId": request.friendship_id},
            )
            confirmed = await puppet.friendship_payload(id=request.friendship_id)
            assert confirmed.type == pb.FriendshipType.FRIENDSHIP_TYPE_CONFIRM
            assert sandbox.is_friend("bot-2", "villager")
        finally:
            await reader.close()


async def test_another_accounts_friendship_is_not_found(sandbox: Sandbox) -> None:
    view = sandbox.request_friend("bot-1", "villager")
    async with stub(sandbox, "bot-2") as puppet:
        with pytest.raises(GRPCError) as caught:
            await puppet.friendship_payload(id=view.friendship_id)
        assert caught.value.status is Status.NOT_FOUND


# --- the control plane ---------------------------------------------------------------


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    app.add_subapp("/sandbox", create_control_app(sandbox))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def json_of(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_control_api_friend_requests_and_friend_lists(
    client: TestClient[web.Request, web.Application], sandbox: Sandbox
) -> None:
    friends = await json_of(await client.get("/sandbox/api/accounts/bot-1/friends"), 200)
    assert friends["modelled"] is True
    assert [f["contact_id"] for f in friends["friends"]] == ["grid-leader"]

    created = await json_of(
        await client.post(
            "/sandbox/api/accounts/bot-1/friend-requests",
            json={
                "contact": "wxid_new",
                "name": "新来的",
                "phone": "13900000002",
                "hello": "我是新来的",
            },
        ),
        201,
    )
    assert created["kind"] == "incoming" and created["status"] == "pending"
    assert sandbox.world.contacts["wxid_new"].phone == "13900000002"
    accepted = await json_of(
        await client.post(f"/sandbox/api/friend-requests/{created['friendship_id']}/accept"), 200
    )
    assert accepted["status"] == "accepted" and sandbox.is_friend("bot-1", "wxid_new")

    removed = await json_of(
        await client.post("/sandbox/api/accounts/bot-1/friends/新来的/remove"), 200
    )
    assert [f["contact_id"] for f in removed["friends"]] == ["grid-leader"]
    refused = await json_of(
        await client.post("/sandbox/api/accounts/bot-1/friends/新来的/remove"), 404
    )
    assert "不是该账号的好友" in refused["error"]
    unknown = await json_of(
        await client.post("/sandbox/api/accounts/bot-1/friend-requests", json={"contact": "谁"}),
        404,
    )
    assert "找不到联系人" in unknown["error"]
    already = await json_of(
        await client.post(
            "/sandbox/api/accounts/bot-1/friend-requests", json={"contact": "林志明"}
        ),
        400,
    )
    assert "已经是" in already["error"]
    missing = await json_of(await client.post("/sandbox/api/friend-requests/nope/accept"), 404)
    assert "好友申请不存在" in missing["error"]
