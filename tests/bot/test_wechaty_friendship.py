"""Friendship through the real wechaty client over gRPC: events, accept, and the
typed refusal of a private message to a non-friend."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator

import pytest

from bot.transport import FriendshipEvent, FriendshipKind
from bot.wechaty_transport import WechatyTransport
from core.messaging import NotAFriend, SendFailed
from sandbox.demo import demo_world
from sandbox.risk import SandboxRiskSettings
from sandbox.sandbox import Sandbox
from sandbox.world import MemberSpec

from .test_wechaty_transport import FAST, Recorder


class FriendRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.friendships: asyncio.Queue[FriendshipEvent] = asyncio.Queue()

    async def on_friendship(self, event: FriendshipEvent) -> None:
        self.friendships.put_nowait(event)

    async def next_friendship(self, within_s: float = 3.0) -> FriendshipEvent:
        return await asyncio.wait_for(self.friendships.get(), within_s)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    spec = dataclasses.replace(
        demo_world(),
        contacts=[MemberSpec("villager", "吴金水", phone="13900000001", weixin="wujinshui")],
        friends={"bot-1": ["grid-leader"]},
    )
    async with Sandbox(
        spec, risk=SandboxRiskSettings(rate_per_s=0), heartbeat_interval_s=0.2
    ) as started:
        yield started


@pytest.fixture
async def bot2(sandbox: Sandbox) -> AsyncIterator[tuple[WechatyTransport, FriendRecorder]]:
    transport = WechatyTransport(
        "bot-2",
        endpoint=sandbox.endpoint("bot-2"),
        token=sandbox.token("bot-2"),
        reconnect=FAST,
        heartbeat_timeout_s=None,
        rng=random.Random(0),
    )
    recorder = FriendRecorder()
    await transport.start(recorder.on_message, recorder.on_state, recorder.on_friendship)
    try:
        yield transport, recorder
    finally:
        await transport.stop()


async def test_private_message_to_a_non_friend_raises_not_a_friend(
    bot2: tuple[WechatyTransport, FriendRecorder],
) -> None:
    transport, _ = bot2
    with pytest.raises(NotAFriend) as caught:
        await transport.say_private("grid-leader", "您好")
    assert caught.value.permanent and caught.value.contact_id == "grid-leader"
    assert "朋友" in caught.value.reason
    assert await transport.is_friend("grid-leader") is False
    assert await transport.is_friend("nobody-knows") is False


async def test_friend_request_is_surfaced_and_accepting_it_opens_private_messages(
    sandbox: Sandbox, bot2: tuple[WechatyTransport, FriendRecorder]
) -> None:
    transport, recorder = bot2
    view = sandbox.request_friend("bot-2", "villager", "我是吴金水")
    event = await recorder.next_friendship()
    assert event == FriendshipEvent(
        friendship_id=view.friendship_id,
        account_id="bot-2",
        contact_id="villager",
        name="吴金水",
        kind=FriendshipKind.REQUEST,
        hello="我是吴金水",
        weixin="wujinshui",
        phones=("13900000001",),
    )
    await transport.accept_friendship(event.friendship_id)  # python-wechaty's Friendship.accept
    assert sandbox.is_friend("bot-2", "villager")
    assert await transport.is_friend("villager") is True
    message_id = await transport.say_private("villager", "您好，已通过")
    assert sandbox.message(message_id).to_id == "villager"
    with pytest.raises(SendFailed) as twice:  # a confirmed friendship is no request any more
        await transport.accept_friendship(event.friendship_id)
    assert twice.value.permanent


async def test_friendship_accepted_outside_the_bot_arrives_as_confirmed(
    sandbox: Sandbox, bot2: tuple[WechatyTransport, FriendRecorder]
) -> None:
    _, recorder = bot2
    view = sandbox.request_friend("bot-2", "unit-leader")
    assert (await recorder.next_friendship()).kind is FriendshipKind.REQUEST
    sandbox.accept_friend_request(view.friendship_id)  # the operator, by hand on the phone
    confirmed = await recorder.next_friendship()
    assert confirmed.kind is FriendshipKind.CONFIRMED
    assert confirmed.contact_id == "unit-leader" and confirmed.name == "黄丽华"
