"""The Wechaty Puppet Service protocol as served by the sandbox, spoken with a bare
grpclib client and the ``wechaty_grpc`` stubs (the wechaty client itself is exercised
in ``tests/bot/test_wechaty_transport.py``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import wechaty_grpc.wechaty.puppet as pb
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from wechaty_grpc.wechaty import PuppetStub

from sandbox.puppet_service import PUPPET_MESSAGE_TYPE
from sandbox.sandbox import Sandbox
from sandbox.world import MemberSpec, MessageKind

from .conftest import FakeClock

EventType = pb.EventType


@asynccontextmanager
async def stub(
    sandbox: Sandbox, account_id: str, token: str | None = None
) -> AsyncIterator[PuppetStub]:
    host, port = sandbox.endpoint(account_id).rsplit(":", 1)
    channel = Channel(host=host, port=int(port))
    channel._authority = token if token is not None else sandbox.token(account_id)
    try:
        yield PuppetStub(channel)
    finally:
        channel.close()


class EventReader:
    """Reads one account's event stream in the background."""

    def __init__(self, puppet: PuppetStub) -> None:
        self.events: asyncio.Queue[tuple[int, dict[str, Any]] | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._read(puppet))

    async def _read(self, puppet: PuppetStub) -> None:
        async for event in puppet.event():
            self.events.put_nowait((int(event.type), json.loads(event.payload)))
        self.events.put_nowait(None)

    async def next(
        self, wanted: Callable[[int], bool] = lambda _: True
    ) -> tuple[int, dict[str, Any]]:
        while True:
            item = await asyncio.wait_for(self.events.get(), 2)
            assert item is not None, "event stream ended"
            if int(item[0]) != EventType.EVENT_TYPE_HEARTBEAT and wanted(item[0]):
                return item

    async def ended(self) -> bool:
        while True:
            item = await asyncio.wait_for(self.events.get(), 2)
            if item is None:
                return True

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def bot1(sandbox: Sandbox) -> AsyncIterator[PuppetStub]:
    async with stub(sandbox, "bot-1") as puppet:
        yield puppet


async def test_event_stream_starts_with_heartbeat_and_login(
    sandbox: Sandbox, bot1: PuppetStub
) -> None:
    stream = bot1.event().__aiter__()
    first = await asyncio.wait_for(stream.__anext__(), 2)
    second = await asyncio.wait_for(stream.__anext__(), 2)
    assert first.type == EventType.EVENT_TYPE_HEARTBEAT and "data" in json.loads(first.payload)
    assert second.type == EventType.EVENT_TYPE_LOGIN
    assert json.loads(second.payload) == {"contactId": "bot-1"}
    await stream.aclose()


async def test_base_rpcs(sandbox: Sandbox, bot1: PuppetStub) -> None:
    await bot1.stop()
    await bot1.start()
    assert (await bot1.version()).version.startswith("gridcast-sandbox")
    await bot1.dirty_payload(type=pb.PayloadType.PAYLOAD_TYPE_ROOM, id="grid-16@chatroom")
    reader = EventReader(bot1)
    await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
    await bot1.ding(data="ping")
    assert await reader.next() == (EventType.EVENT_TYPE_DONG, {"data": "ping"})
    await reader.close()


async def test_room_and_contact_payloads(sandbox: Sandbox, bot1: PuppetStub) -> None:
    assert (await bot1.room_list()).ids == [
        "grid-16@chatroom",
        "unit-16-3@chatroom",
        "unit-16-s12@chatroom",
    ]
    room = await bot1.room_payload(id="grid-16@chatroom")
    assert room.topic == "国欢镇黄霞村第16网格"
    assert {"grid-leader", "bot-1", "bot-2"} <= set(room.member_ids)
    members = await bot1.room_member_list(id="grid-16@chatroom")
    assert members.member_ids == room.member_ids
    member = await bot1.room_member_payload(id="grid-16@chatroom", member_id="grid-leader")
    assert (member.name, member.room_alias) == ("林志明", "16网格长-林志明")
    contact = await bot1.contact_payload(id="villager")
    assert contact.name == "吴金水"
    assert "grid-leader" in (await bot1.contact_list()).ids
    with pytest.raises(GRPCError) as unknown:
        await bot1.contact_payload(id="nobody")
    assert unknown.value.status is Status.NOT_FOUND


async def test_room_message_reaches_every_bot_with_one_id(sandbox: Sandbox) -> None:
    async with stub(sandbox, "bot-1") as one, stub(sandbox, "bot-2") as two:
        readers = [EventReader(one), EventReader(two)]
        for reader in readers:
            await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
        posted = sandbox.post_message("grid-16@chatroom", "林志明", "下水道堵了", mention=["bot-1"])
        for reader in readers:
            assert await reader.next() == (
                EventType.EVENT_TYPE_MESSAGE,
                {"messageId": posted.message_id},
            )
        payload = await two.message_payload(id=posted.message_id)
        assert payload.text == "下水道堵了"
        assert payload.from_id == "grid-leader" and payload.room_id == "grid-16@chatroom"
        assert payload.mention_ids == ["bot-1"]
        # On the wire: the TypeScript wechaty-puppet numbering (Text = 7).
        assert int(payload.type) == PUPPET_MESSAGE_TYPE[MessageKind.TEXT] == 7
        for reader in readers:
            await reader.close()


async def test_sent_text_is_kept_with_mentions_and_readable_back(
    sandbox: Sandbox, bot1: PuppetStub
) -> None:
    sent = await bot1.message_send_text(
        conversation_id="grid-16@chatroom", text="@林志明 收到", mentonal_ids=["grid-leader"]
    )
    assert sent.id
    payload = await bot1.message_payload(id=sent.id)
    assert (payload.from_id, payload.text, payload.mention_ids) == (
        "bot-1",
        "@林志明 收到",
        ["grid-leader"],
    )
    last = sandbox.transcript("grid-16@chatroom")[-1]
    assert (last.message_id, last.sender_is_bot, last.mention_names) == (
        sent.id,
        True,
        ("16网格长-林志明",),
    )


async def test_private_messages_both_ways(sandbox: Sandbox, bot1: PuppetStub) -> None:
    reader = EventReader(bot1)
    await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
    incoming = sandbox.post_private("bot-1", "吴金水", "我想问医保怎么办")
    assert await reader.next() == (EventType.EVENT_TYPE_MESSAGE, {"messageId": incoming.message_id})
    payload = await bot1.message_payload(id=incoming.message_id)
    assert (payload.from_id, payload.to_id, payload.room_id) == ("villager", "bot-1", "")
    reply = await bot1.message_send_text(conversation_id="villager", text="请带身份证到村委会")
    transcript = sandbox.private_transcript("bot-1", "villager")
    assert [m.message_id for m in transcript] == [incoming.message_id, reply.id]
    await reader.close()


async def test_throttled_send_is_resource_exhausted_then_cools_down(
    sandbox: Sandbox, bot1: PuppetStub, clock: FakeClock
) -> None:
    sandbox.set_risk(cooldown_s=10)
    sandbox.set_account_limits("bot-1", rate_per_s=1, burst=1)
    await bot1.message_send_text(conversation_id="grid-16@chatroom", text="一")
    with pytest.raises(GRPCError) as refused:
        await bot1.message_send_text(conversation_id="grid-16@chatroom", text="二")
    assert refused.value.status is Status.RESOURCE_EXHAUSTED
    assert "发送消息过于频繁" in (refused.value.message or "")
    clock.advance(5)
    with pytest.raises(GRPCError):
        await bot1.message_send_text(conversation_id="grid-16@chatroom", text="三")
    clock.advance(5)
    await bot1.message_send_text(conversation_id="grid-16@chatroom", text="四")
    account = sandbox.account("bot-1")
    assert (account.sent, account.throttled) == (2, 2)


async def test_random_failures_are_unavailable(sandbox: Sandbox, bot1: PuppetStub) -> None:
    sandbox.set_risk(failure_probability=1.0)
    with pytest.raises(GRPCError) as failed:
        await bot1.message_send_text(conversation_id="grid-16@chatroom", text="一")
    assert failed.value.status is Status.UNAVAILABLE


async def test_send_latency_is_applied(sandbox: Sandbox, bot1: PuppetStub) -> None:
    sandbox.set_risk(send_latency_s=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bot1.message_send_text(conversation_id="grid-16@chatroom", text="慢")
    assert loop.time() - started >= 0.2


async def test_forced_logout_then_login(sandbox: Sandbox, bot1: PuppetStub) -> None:
    reader = EventReader(bot1)
    await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
    sandbox.logout("bot-1", reason="账号异常，已被强制下线")
    assert await reader.next() == (
        EventType.EVENT_TYPE_LOGOUT,
        {"contactId": "bot-1", "data": "账号异常，已被强制下线"},
    )
    kind, scan = await reader.next()
    assert kind == EventType.EVENT_TYPE_SCAN and scan["status"] == 2
    with pytest.raises(GRPCError) as refused:
        await bot1.message_send_text(conversation_id="grid-16@chatroom", text="还在吗")
    assert refused.value.status is Status.UNAUTHENTICATED
    assert "退出登录" in (refused.value.message or "")
    with pytest.raises(GRPCError):
        await bot1.room_payload(id="grid-16@chatroom")
    sandbox.login("bot-1")
    assert await reader.next() == (EventType.EVENT_TYPE_LOGIN, {"contactId": "bot-1"})
    await bot1.message_send_text(conversation_id="grid-16@chatroom", text="回来了")
    await reader.close()


async def test_connecting_while_logged_out_gets_a_qr_code_wait(
    sandbox: Sandbox, bot1: PuppetStub
) -> None:
    sandbox.logout("bot-1")
    reader = EventReader(bot1)
    kind, payload = await reader.next()
    assert kind == EventType.EVENT_TYPE_SCAN and payload["qrcode"]
    await reader.close()


async def test_logout_rpc_logs_the_account_out(sandbox: Sandbox, bot1: PuppetStub) -> None:
    await bot1.logout()
    assert sandbox.account("bot-1").logged_in is False


async def test_dropped_event_stream_ends_on_the_server_side(
    sandbox: Sandbox, bot1: PuppetStub
) -> None:
    reader = EventReader(bot1)
    await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
    assert sandbox.drop_event_stream("bot-1") == 1
    assert await reader.ended()
    posted = sandbox.post_message("grid-16@chatroom", "林志明", "没人听见")
    assert sandbox.account("bot-1").events_missed == 1
    # A new stream gets later events, not the missed one (gateways do not buffer).
    again = EventReader(bot1)
    await again.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
    later = sandbox.post_message("grid-16@chatroom", "林志明", "现在呢")
    assert await again.next() == (EventType.EVENT_TYPE_MESSAGE, {"messageId": later.message_id})
    assert posted.message_id != later.message_id
    await reader.close()
    await again.close()


async def test_dissolved_room_and_removed_bot_are_permanent_errors(sandbox: Sandbox) -> None:
    async with stub(sandbox, "bot-1") as one, stub(sandbox, "bot-2") as two:
        reader = EventReader(two)
        await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
        sandbox.remove_from_room("grid-16@chatroom", "bot-2")
        kind, leave = await reader.next()
        assert kind == EventType.EVENT_TYPE_ROOM_LEAVE
        assert leave["removeeIdList"] == ["bot-2"] and leave["roomId"] == "grid-16@chatroom"
        with pytest.raises(GRPCError) as removed:
            await two.message_send_text(conversation_id="grid-16@chatroom", text="x")
        assert removed.value.status is Status.FAILED_PRECONDITION
        assert "已不在" in (removed.value.message or "")
        sandbox.dissolve_room("unit-16-3@chatroom")
        with pytest.raises(GRPCError) as dissolved:
            await one.message_send_text(conversation_id="unit-16-3@chatroom", text="x")
        assert dissolved.value.status is Status.NOT_FOUND
        assert "已解散" in (dissolved.value.message or "")
        await reader.close()


async def test_room_topic_get_set_and_join_events(sandbox: Sandbox, bot1: PuppetStub) -> None:
    reader = EventReader(bot1)
    await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
    assert (await bot1.room_topic(id="grid-16@chatroom")).topic == "国欢镇黄霞村第16网格"
    await bot1.room_topic(id="grid-16@chatroom", topic="第16网格（国湄领涵）")
    kind, topic = await reader.next()
    assert kind == EventType.EVENT_TYPE_ROOM_TOPIC
    assert (topic["newTopic"], topic["oldTopic"], topic["changerId"]) == (
        "第16网格（国湄领涵）",
        "国欢镇黄霞村第16网格",
        "bot-1",
    )
    sandbox.add_to_room("grid-16@chatroom", MemberSpec("newcomer", "新住户"))
    kind, join = await reader.next()
    assert kind == EventType.EVENT_TYPE_ROOM_JOIN and join["inviteeIdList"] == ["newcomer"]
    await reader.close()


async def test_error_events_reach_the_stream(sandbox: Sandbox, bot1: PuppetStub) -> None:
    reader = EventReader(bot1)
    await reader.next(lambda kind: kind == EventType.EVENT_TYPE_LOGIN)
    sandbox.emit_error("bot-1", "内部错误")
    assert await reader.next() == (EventType.EVENT_TYPE_ERROR, {"data": "内部错误"})
    await reader.close()
