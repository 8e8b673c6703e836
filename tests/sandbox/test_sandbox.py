"""The Sandbox object's plain methods (no gRPC client), and the throughput probe."""

from __future__ import annotations

import pytest

from bench.sandbox import bench_world, measure_send_throughput
from sandbox.demo import demo_world
from sandbox.errors import InvalidRequest, NotFound
from sandbox.sandbox import Sandbox
from sandbox.world import MemberSpec, MessageKind


async def test_endpoints_exist_only_while_started() -> None:
    sandbox = Sandbox(demo_world())
    with pytest.raises(RuntimeError, match="not started"):
        sandbox.endpoint("bot-1")
    async with sandbox:
        one, two = sandbox.endpoint("bot-1"), sandbox.endpoint("bot-2")
        assert one != two and one.startswith("127.0.0.1:")
        assert sandbox.token("bot-1") == "sandbox_bot-1"
        with pytest.raises(RuntimeError, match="already started"):
            await sandbox.start()
    assert sandbox.account("bot-1").endpoint == ""
    await sandbox.stop()  # idempotent


def test_views_resolve_names_and_mentions() -> None:
    sandbox = Sandbox(demo_world(), message_id_prefix="v-")
    posted = sandbox.post_message(
        "国欢镇黄霞村第16网格", "16网格长-林志明", "请 @黄丽华 处理", mention=["黄丽华"]
    )
    assert posted.message_id == "v-1"
    assert (posted.sender_id, posted.sender_name, posted.sender_is_bot) == (
        "grid-leader",
        "16网格长-林志明",
        False,
    )
    assert posted.mention_names == ("3号楼单元长-黄丽华",)
    assert sandbox.message("v-1") == posted
    with pytest.raises(NotFound):
        sandbox.message("v-99")
    assert [room.room_id for room in sandbox.rooms("沿街商铺")] == ["unit-16-s12@chatroom"]
    assert [room.topic for room in sandbox.rooms("第16网格/国湄领涵")] == [
        "黄霞村16网格-国湄领涵3号楼"
    ]


def test_people_cannot_post_as_a_bot() -> None:
    sandbox = Sandbox(demo_world())
    with pytest.raises(InvalidRequest, match="puppet service"):
        sandbox.post_message("grid-16@chatroom", "bot-1", "冒充机器人")
    with pytest.raises(InvalidRequest):
        sandbox.post_private("bot-1", "bot-2", "冒充机器人")


def test_events_without_a_connected_stream_are_counted_as_missed() -> None:
    sandbox = Sandbox(demo_world())
    sandbox.post_message("grid-16@chatroom", "林志明", "有人吗", kind=MessageKind.TEXT)
    assert sandbox.account("bot-1").events_missed == 1
    assert sandbox.account("bot-1").events_delivered == 0


def test_a_bot_added_to_a_room_receives_its_messages() -> None:
    sandbox = Sandbox(demo_world())
    sandbox.add_to_room("unit-16-s12@chatroom", MemberSpec("bot-2", "ignored"))
    assert "bot-2" in sandbox.room("unit-16-s12@chatroom").bot_account_ids
    sandbox.post_message("unit-16-s12@chatroom", "郑国强", "欢迎")
    assert sandbox.account("bot-2").events_missed == 2  # the join, then the message


def test_bench_world_spreads_rooms_over_accounts() -> None:
    spec = bench_world(accounts=3, rooms=7)
    owners = [room.bot_account_ids[0] for room in spec.rooms]
    assert owners == ["bench-bot-0", "bench-bot-1", "bench-bot-2"] * 2 + ["bench-bot-0"]


async def test_throughput_probe_sends_everything() -> None:
    result = await measure_send_throughput(300, 3, rooms=20)
    assert result["recorded_by_sandbox"] == 300 and result["errors"] == 0
    assert result["sends_per_s"] > 0 and result["accounts"] == 3
