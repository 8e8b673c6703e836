"""WechatyTransport end to end: the real wechaty client over real gRPC against the sandbox."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.transport import IncomingMessage
from bot.wechaty_transport import (
    AT_SEPARATOR,
    ReconnectPolicy,
    WechatyTransport,
    backoff_delay,
    mention_text,
    message_kind,
    retry_after_from,
    sent_at_from,
)
from core.messaging import AccountUnavailable, SendFailed, SendThrottled
from models.enums import AccountStatus, MessageKind
from sandbox.demo import demo_world
from sandbox.risk import SandboxRiskSettings
from sandbox.sandbox import Sandbox

GRID = "grid-16@chatroom"
BUILDING = "unit-16-3@chatroom"
FAST = ReconnectPolicy(initial_delay_s=0.05, max_delay_s=0.2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """What one transport reported: messages and state changes."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self.states: list[tuple[str, AccountStatus, str]] = []
        self._changed = asyncio.Event()

    async def on_message(self, message: IncomingMessage) -> None:
        self.messages.put_nowait(message)

    async def on_state(self, account_id: str, state: AccountStatus, detail: str) -> None:
        self.states.append((account_id, state, detail))
        self._changed.set()

    async def next_message(self, within_s: float = 3.0) -> IncomingMessage:
        return await asyncio.wait_for(self.messages.get(), within_s)

    async def wait_for_state(
        self, state: AccountStatus, *, after: int = 0, within_s: float = 3.0
    ) -> str:
        """The detail of the first ``state`` reported at or after index ``after``."""
        async with asyncio.timeout(within_s):
            while True:
                for _, seen, detail in self.states[after:]:
                    if seen is state:
                        return detail
                self._changed.clear()
                await self._changed.wait()


Connect = Callable[..., Awaitable[tuple[WechatyTransport, Recorder]]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[Sandbox]:
    async with Sandbox(
        demo_world(),
        risk=SandboxRiskSettings(rate_per_s=0),
        heartbeat_interval_s=0.2,
        clock=clock,
    ) as started:
        yield started


@pytest.fixture
async def connect(sandbox: Sandbox) -> AsyncIterator[Connect]:
    """Start a transport for an account of the sandbox; all are stopped afterwards."""
    started: list[WechatyTransport] = []

    async def start(account_id: str, **options: Any) -> tuple[WechatyTransport, Recorder]:
        options.setdefault("reconnect", FAST)
        options.setdefault("heartbeat_timeout_s", None)
        options.setdefault("rng", random.Random(0))
        transport = WechatyTransport(
            account_id,
            endpoint=options.pop("endpoint", None) or sandbox.endpoint(account_id),
            token=sandbox.token(account_id),
            **options,
        )
        recorder = Recorder()
        started.append(transport)
        await transport.start(recorder.on_message, recorder.on_state)
        return transport, recorder

    yield start
    for transport in started:
        await transport.stop()


# --- pure helpers --------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter() -> None:
    policy = ReconnectPolicy(initial_delay_s=1, max_delay_s=10, multiplier=2, jitter=0.2)
    rng = random.Random(1)
    delays = [backoff_delay(attempt, policy, rng) for attempt in range(8)]
    for attempt, delay in enumerate(delays):
        base = min(10, 2**attempt)
        assert base * 0.8 <= delay <= min(10, base * 1.2)
    assert delays[-1] <= 10
    assert backoff_delay(10_000, policy, rng) <= 10  # no overflow on long outages


def test_helpers() -> None:
    assert mention_text("收到", ["林志明", "黄丽华"]) == f"@林志明{AT_SEPARATOR}@黄丽华 收到"
    assert mention_text("收到", []) == "收到"
    assert retry_after_from("发送消息过于频繁，请 12.5 秒后再试") == 12.5
    assert retry_after_from("发送消息过于频繁") is None
    assert message_kind("MESSAGE_TYPE_RECALLED") is MessageKind.RECALLED
    assert message_kind("MESSAGE_TYPE_LOCATION") is MessageKind.OTHER
    moment = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert sent_at_from(moment.timestamp()) == moment
    assert sent_at_from(moment.timestamp() * 1000) == moment


def test_endpoint_and_token_are_checked_early() -> None:
    with pytest.raises(ValueError, match="host:port"):
        WechatyTransport("a", endpoint="localhost", token="t")
    with pytest.raises(ValueError, match="token"):
        WechatyTransport("a", endpoint="localhost:1", token="")


# --- receiving -----------------------------------------------------------------------


async def test_resident_message_arrives_as_incoming_message(
    sandbox: Sandbox, connect: Connect
) -> None:
    transport, recorder = await connect("bot-1")
    assert transport.state is AccountStatus.ONLINE
    assert [state for _, state, _ in recorder.states] == [
        AccountStatus.STARTING,
        AccountStatus.ONLINE,
    ]
    posted = sandbox.post_message(GRID, "林志明", "@网格助手1号 下水道堵了", mention=["bot-1"])
    message = await recorder.next_message()
    assert message == IncomingMessage(
        message_id=posted.message_id,
        account_id="bot-1",
        sender_id="grid-leader",
        sender_name="林志明",
        kind=MessageKind.TEXT,
        text="@网格助手1号 下水道堵了",
        sent_at=posted.sent_at,
        room_id=GRID,
        room_topic="国欢镇黄霞村第16网格",
        mention_ids=("bot-1",),
    )
    assert message.sent_at.tzinfo is not None and not message.is_private


async def test_two_accounts_in_one_room_get_the_same_message_id(
    sandbox: Sandbox, connect: Connect
) -> None:
    _, first = await connect("bot-1")
    _, second = await connect("bot-2")
    posted = sandbox.post_message(BUILDING, "陈秀英", "楼道灯不亮")
    one, two = await first.next_message(), await second.next_message()
    assert one.message_id == two.message_id == posted.message_id
    assert (one.account_id, two.account_id) == ("bot-1", "bot-2")
    # A room only bot-1 sits in reaches bot-1 only.
    shop = sandbox.post_message("unit-16-s12@chatroom", "郑国强", "门口积水")
    assert (await first.next_message()).message_id == shop.message_id
    assert second.messages.empty()


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("image", "", MessageKind.IMAGE),
        ("voice", "", MessageKind.VOICE),
        ("video", "", MessageKind.VIDEO),
        ("file", "通知.pdf", MessageKind.FILE),
        ("emoticon", "", MessageKind.EMOTICON),
        ("mini-program", "国欢网格服务", MessageKind.MINI_PROGRAM),
        ("url", "https://example.org/notice", MessageKind.URL),
        ("recalled", "msg-1", MessageKind.RECALLED),
        ("text", "长" * 10_000, MessageKind.TEXT),
    ],
)
async def test_every_kind_converts(
    sandbox: Sandbox, connect: Connect, kind: str, text: str, expected: MessageKind
) -> None:
    _, recorder = await connect("bot-1")
    sandbox.post_message(GRID, "b3-001", text, kind=kind)
    message = await recorder.next_message()
    assert (message.kind, message.text) == (expected, text)


async def test_private_messages_both_ways(sandbox: Sandbox, connect: Connect) -> None:
    transport, recorder = await connect("bot-1")
    posted = sandbox.post_private("bot-1", "吴金水", "请问医保在哪里交")
    message = await recorder.next_message()
    assert message.is_private and message.room_topic is None
    assert (message.message_id, message.sender_id, message.sender_name) == (
        posted.message_id,
        "villager",
        "吴金水",
    )
    reply_id = await transport.say_private("villager", "请到村便民服务中心办理")
    transcript = sandbox.private_transcript("bot-1", "villager")
    assert [(m.sender_id, m.message_id) for m in transcript] == [
        ("villager", posted.message_id),
        ("bot-1", reply_id),
    ]


async def test_own_messages_echoed_by_the_puppet_are_not_delivered(connect: Connect) -> None:
    async with Sandbox(
        demo_world(), risk=SandboxRiskSettings(rate_per_s=0), echo_bot_messages=True
    ) as echoing:
        one = WechatyTransport(
            "bot-1", endpoint=echoing.endpoint("bot-1"), token=echoing.token("bot-1")
        )
        two = WechatyTransport(
            "bot-2", endpoint=echoing.endpoint("bot-2"), token=echoing.token("bot-2")
        )
        first, second = Recorder(), Recorder()
        await one.start(first.on_message, first.on_state)
        await two.start(second.on_message, second.on_state)
        try:
            sent = await one.say(GRID, "大家好")
            seen_by_other = await second.next_message()
            assert (seen_by_other.message_id, seen_by_other.sender_id) == (sent, "bot-1")
            await asyncio.sleep(0.2)
            assert first.messages.empty()
        finally:
            await one.stop()
            await two.stop()


async def test_failing_message_handler_does_not_stop_delivery(sandbox: Sandbox) -> None:
    recorder = Recorder()
    calls = 0

    async def flaky(message: IncomingMessage) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("handler bug")
        await recorder.on_message(message)

    transport = WechatyTransport(
        "bot-1", endpoint=sandbox.endpoint("bot-1"), token=sandbox.token("bot-1")
    )
    await transport.start(flaky, recorder.on_state)
    try:
        sandbox.post_message(GRID, "林志明", "第一条")
        sandbox.post_message(GRID, "林志明", "第二条")
        assert (await recorder.next_message()).text == "第二条"
    finally:
        await transport.stop()


# --- sending -------------------------------------------------------------------------


async def test_say_with_mentions_lands_in_the_transcript(
    sandbox: Sandbox, connect: Connect
) -> None:
    transport, _ = await connect("bot-1")
    message_id = await transport.say(GRID, "您的工单已受理", ["grid-leader", "unit-leader"])
    last = sandbox.transcript(GRID)[-1]
    assert last.message_id == message_id and last.sender_id == "bot-1"
    assert last.mention_ids == ("grid-leader", "unit-leader")
    assert last.mention_names == ("16网格长-林志明", "3号楼单元长-黄丽华")
    assert last.text == f"@林志明{AT_SEPARATOR}@黄丽华 您的工单已受理"


async def test_rooms_and_members(connect: Connect) -> None:
    transport, _ = await connect("bot-2")
    rooms = await transport.rooms()
    assert [(room.room_id, room.topic) for room in rooms] == [
        (GRID, "国欢镇黄霞村第16网格"),
        (BUILDING, "黄霞村16网格-国湄领涵3号楼"),
    ]
    members = {member.contact_id: member for member in await transport.room_members(GRID)}
    assert members["grid-leader"].name == "林志明"
    assert members["grid-leader"].room_alias == "16网格长-林志明"
    assert len(members) == rooms[0].member_count


async def test_throttled_send_raises_and_recovers_after_the_cooldown(
    sandbox: Sandbox, connect: Connect, clock: FakeClock
) -> None:
    transport, recorder = await connect("bot-1")
    sandbox.set_risk(cooldown_s=30)
    sandbox.set_account_limits("bot-1", rate_per_s=1, burst=2)
    await transport.say(GRID, "一")
    await transport.say(GRID, "二")
    with pytest.raises(SendThrottled) as throttled:
        await transport.say(GRID, "三")
    assert "发送消息过于频繁" in throttled.value.reason
    assert throttled.value.retry_after_s == pytest.approx(30)
    assert transport.state.value == "throttled"
    assert "发送消息过于频繁" in await recorder.wait_for_state(AccountStatus.THROTTLED)
    clock.now += 10
    with pytest.raises(SendThrottled):  # still cooling down
        await transport.say(GRID, "四")
    clock.now += 21
    await transport.say(GRID, "五")
    assert transport.state is AccountStatus.ONLINE
    mark = len(recorder.states) - 1
    await recorder.wait_for_state(AccountStatus.ONLINE, after=mark)
    assert [m.text for m in sandbox.transcript(GRID)] == ["一", "二", "五"]


async def test_forced_logout_marks_the_account_and_others_carry_on(
    sandbox: Sandbox, connect: Connect
) -> None:
    one, first = await connect("bot-1")
    two, second = await connect("bot-2")
    sandbox.logout("bot-1", reason="账号在其他设备登录，已被迫下线")
    assert "其他设备" in await first.wait_for_state(AccountStatus.LOGGED_OUT)
    assert one.state is AccountStatus.LOGGED_OUT
    with pytest.raises(AccountUnavailable):
        await one.say(GRID, "还在吗")
    assert await two.say(GRID, "我还在")
    posted = sandbox.post_message(GRID, "林志明", "有人吗")
    assert (await second.next_message()).message_id == posted.message_id
    mark = len(first.states)
    sandbox.login("bot-1")
    await first.wait_for_state(AccountStatus.ONLINE, after=mark)
    assert await one.say(GRID, "我回来了")


async def test_server_side_logout_error_on_send_marks_logged_out(
    sandbox: Sandbox, connect: Connect
) -> None:
    transport, recorder = await connect("bot-1")
    sandbox.drop_event_stream("bot-1")  # the logout event will not reach this client
    await recorder.wait_for_state(AccountStatus.DISCONNECTED)
    await recorder.wait_for_state(AccountStatus.ONLINE, after=2)
    sandbox.world.accounts["bot-1"].logged_in = False  # logged out without an event
    with pytest.raises(AccountUnavailable, match="退出登录"):
        await transport.say(GRID, "x")
    assert transport.state is AccountStatus.LOGGED_OUT


async def test_dropped_event_stream_reconnects_and_later_messages_arrive(
    sandbox: Sandbox, connect: Connect
) -> None:
    transport, recorder = await connect("bot-1")
    mark = len(recorder.states)
    assert sandbox.drop_event_stream("bot-1") == 1
    assert "事件流已结束" in await recorder.wait_for_state(AccountStatus.DISCONNECTED, after=mark)
    await recorder.wait_for_state(AccountStatus.ONLINE, after=mark)
    posted = sandbox.post_message(GRID, "林志明", "断线后的消息")
    assert (await recorder.next_message()).message_id == posted.message_id
    assert await transport.say(GRID, "收到")


async def test_silent_connection_is_detected_by_the_heartbeat_watchdog(connect: Connect) -> None:
    async with Sandbox(demo_world(), heartbeat_interval_s=0) as quiet:
        transport = WechatyTransport(
            "bot-1",
            endpoint=quiet.endpoint("bot-1"),
            token=quiet.token("bot-1"),
            heartbeat_timeout_s=0.3,
            reconnect=FAST,
        )
        recorder = Recorder()
        await transport.start(recorder.on_message, recorder.on_state)
        try:
            assert "心跳" in await recorder.wait_for_state(AccountStatus.DISCONNECTED)
            await recorder.wait_for_state(AccountStatus.ONLINE, after=2)
        finally:
            await transport.stop()


async def test_unreachable_endpoint_reports_disconnected_without_raising() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = WechatyTransport(
        "bot-1", endpoint=f"127.0.0.1:{port}", token="t", start_timeout_s=0.3, reconnect=FAST
    )
    recorder = Recorder()
    await transport.start(recorder.on_message, recorder.on_state)
    try:
        assert transport.state.value == "disconnected"
        assert "无法连接" in await recorder.wait_for_state(AccountStatus.DISCONNECTED)
        with pytest.raises(AccountUnavailable):
            await transport.say(GRID, "x")
    finally:
        await transport.stop()
    assert transport.state is AccountStatus.STOPPED
    assert recorder.states[-1][1] is AccountStatus.STOPPED


async def test_permanent_and_transient_send_failures(sandbox: Sandbox, connect: Connect) -> None:
    one, _ = await connect("bot-1")
    two, _ = await connect("bot-2")
    sandbox.remove_from_room(GRID, "bot-2")
    with pytest.raises(SendFailed) as removed:
        await two.say(GRID, "x")
    assert removed.value.permanent and "已不在" in removed.value.reason
    sandbox.dissolve_room(BUILDING)
    with pytest.raises(SendFailed) as dissolved:
        await one.say(BUILDING, "x")
    assert dissolved.value.permanent and "已解散" in dissolved.value.reason
    sandbox.set_risk(failure_probability=1.0)
    with pytest.raises(SendFailed) as flaky:
        await one.say(GRID, "x")
    assert not flaky.value.permanent
    assert one.state is AccountStatus.ONLINE


async def test_room_topic_change_is_seen_in_later_messages_and_room_lists(
    sandbox: Sandbox, connect: Connect
) -> None:
    transport, recorder = await connect("bot-1")
    assert (await transport.rooms())[0].topic == "国欢镇黄霞村第16网格"  # now cached
    sandbox.post_message(GRID, "林志明", "旧群名")
    assert (await recorder.next_message()).room_topic == "国欢镇黄霞村第16网格"
    sandbox.set_topic(GRID, "国欢镇黄霞村第16网格（国湄领涵）")
    await asyncio.sleep(0.1)
    sandbox.post_message(GRID, "林志明", "新群名")
    assert (await recorder.next_message()).room_topic == "国欢镇黄霞村第16网格（国湄领涵）"
    assert (await transport.rooms())[0].topic == "国欢镇黄霞村第16网格（国湄领涵）"


async def test_stopped_transport_refuses_to_send(connect: Connect) -> None:
    transport, recorder = await connect("bot-1")
    await transport.stop()
    assert transport.state is AccountStatus.STOPPED
    assert recorder.states[-1][1] is AccountStatus.STOPPED
    with pytest.raises(AccountUnavailable):
        await transport.say(GRID, "x")
    await transport.stop()  # idempotent


async def test_sequential_sends_are_not_delayed_by_nagle(connect: Connect) -> None:
    """Regression: a listening socket without IPPROTO_TCP got no TCP_NODELAY, and every
    reply waited ~40 ms for a delayed ACK (25 sends/s instead of ~1,000)."""
    transport, _ = await connect("bot-1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    for number in range(100):
        await transport.say(GRID, f"通知 {number}")
    assert loop.time() - started < 2.0


async def test_a_state_handler_may_stop_the_transport(sandbox: Sandbox) -> None:
    transport = WechatyTransport(
        "bot-1", endpoint=sandbox.endpoint("bot-1"), token=sandbox.token("bot-1")
    )
    recorder = Recorder()

    async def stop_when_logged_out(account_id: str, state: AccountStatus, detail: str) -> None:
        await recorder.on_state(account_id, state, detail)
        if state is AccountStatus.LOGGED_OUT:
            await transport.stop()

    await transport.start(recorder.on_message, stop_when_logged_out)
    sandbox.logout("bot-1")
    await recorder.wait_for_state(AccountStatus.STOPPED)
    assert transport.state.value == "stopped"


async def test_a_stopped_transport_can_start_again(sandbox: Sandbox, connect: Connect) -> None:
    transport, recorder = await connect("bot-1")
    await transport.stop()
    await transport.start(recorder.on_message, recorder.on_state)
    assert transport.state is AccountStatus.ONLINE
    posted = sandbox.post_message(GRID, "林志明", "重启后")
    assert (await recorder.next_message()).message_id == posted.message_id
