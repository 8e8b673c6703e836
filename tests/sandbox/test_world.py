"""The world model: building from specs and the checks WeChat makes."""

from __future__ import annotations

import pytest

from sandbox.demo import BUILDING_TOPIC, GRID_TOPIC, demo_world
from sandbox.errors import InvalidRequest, LoggedOut, NotAMember, NotFound
from sandbox.world import (
    ROOM_MEMBER_CAP,
    AccountSpec,
    MemberSpec,
    MessageKind,
    RoomSpec,
    World,
    WorldSpec,
    parse_kind,
)

NOW = 1_700_000_000_000


def test_demo_world_builds_rooms_contacts_and_bot_memberships() -> None:
    world = World(demo_world())
    assert set(world.accounts) == {"bot-1", "bot-2"}
    grid = world.find_room(GRID_TOPIC)
    assert grid.room_id == "grid-16@chatroom"
    assert grid.bot_ids == {"bot-1", "bot-2"}
    assert {"bot-1", "bot-2"} <= set(grid.aliases)
    assert world.room_ids_of("bot-2") == ["grid-16@chatroom", "unit-16-3@chatroom"]
    assert world.contacts["bot-1"].is_bot
    assert world.contacts["villager"].name == "吴金水"


def test_room_ids_are_derived_from_position_when_not_given() -> None:
    spec = WorldSpec(
        accounts=[AccountSpec("a", "A")],
        rooms=[
            RoomSpec("一", [MemberSpec("p", "甲")], ["a"]),
            RoomSpec("二", [MemberSpec("p", "甲")], ["a"]),
        ],
    )
    assert list(World(spec).rooms) == ["1@chatroom", "2@chatroom"]


def test_room_over_500_members_is_refused() -> None:
    members = [MemberSpec(f"p{i}", f"人{i}") for i in range(ROOM_MEMBER_CAP)]
    spec = WorldSpec(accounts=[AccountSpec("a", "A")], rooms=[RoomSpec("满", members, ["a"])])
    with pytest.raises(ValueError, match="500"):
        World(spec)


def test_one_contact_with_two_names_is_refused() -> None:
    spec = WorldSpec(
        accounts=[AccountSpec("a", "A")],
        rooms=[
            RoomSpec("x", [MemberSpec("p", "甲")], ["a"]),
            RoomSpec("y", [MemberSpec("p", "乙")], ["a"]),
        ],
    )
    with pytest.raises(ValueError, match="two names"):
        World(spec)


def test_unknown_bot_account_in_room_is_refused() -> None:
    spec = WorldSpec(accounts=[], rooms=[RoomSpec("x", [MemberSpec("p", "甲")], ["ghost"])])
    with pytest.raises(ValueError, match="ghost"):
        World(spec)


def test_members_are_found_by_id_name_or_room_alias() -> None:
    world = World(demo_world())
    grid = world.find_room(GRID_TOPIC)
    assert world.find_member(grid, "grid-leader") == "grid-leader"
    assert world.find_member(grid, "林志明") == "grid-leader"
    assert world.find_member(grid, "16网格长-林志明") == "grid-leader"
    with pytest.raises(NotAMember, match="不在群聊"):
        world.find_member(grid, "吴金水")


def test_ambiguous_names_ask_for_an_id() -> None:
    spec = WorldSpec(
        accounts=[AccountSpec("a", "A")],
        rooms=[RoomSpec("x", [MemberSpec("p1", "王芳"), MemberSpec("p2", "王芳")], ["a"])],
    )
    world = World(spec)
    with pytest.raises(InvalidRequest, match="联系人 ID"):
        world.find_member(world.rooms["1@chatroom"], "王芳")
    with pytest.raises(InvalidRequest):
        world.find_contact("王芳")


def test_room_message_is_recorded_once_for_all_bot_accounts() -> None:
    world = World(demo_world(), message_id_prefix="m")
    room = world.find_room(GRID_TOPIC)
    message = world.post_room_message(
        room.room_id, "grid-leader", kind=MessageKind.TEXT, text="路灯坏了", now_ms=NOW
    )
    assert message.message_id == "m1"
    assert set(world.room_recipients(room)) == {"bot-1", "bot-2"}
    assert world.visible_message("bot-1", "m1") is message
    assert world.visible_message("bot-2", "m1") is message


def test_non_members_cannot_post_and_dissolved_rooms_take_nothing() -> None:
    world = World(demo_world())
    room = world.find_room(GRID_TOPIC)
    with pytest.raises(NotAMember):
        world.post_room_message(
            room.room_id, "villager", kind=MessageKind.TEXT, text="hi", now_ms=NOW
        )
    world.dissolve(room.room_id)
    with pytest.raises(NotFound, match="已解散"):
        world.post_room_message(
            room.room_id, "grid-leader", kind=MessageKind.TEXT, text="hi", now_ms=NOW
        )
    with pytest.raises(NotFound, match="已解散"):
        world.check_send_target("bot-1", room.room_id)


def test_blank_text_is_refused_but_other_kinds_may_be_empty() -> None:
    world = World(demo_world())
    with pytest.raises(InvalidRequest, match="空白"):
        world.post_room_message(
            "grid-16@chatroom", "grid-leader", kind=MessageKind.TEXT, text="  ", now_ms=NOW
        )
    image = world.post_room_message(
        "grid-16@chatroom", "grid-leader", kind=MessageKind.IMAGE, text="", now_ms=NOW
    )
    assert image.kind is MessageKind.IMAGE


def test_a_removed_bot_can_no_longer_send_or_read_the_room() -> None:
    world = World(demo_world())
    world.remove_member("grid-16@chatroom", "bot-2")
    with pytest.raises(NotAMember, match="已不在"):
        world.check_send_target("bot-2", "grid-16@chatroom")
    assert world.room_ids_of("bot-2") == ["unit-16-3@chatroom"]


def test_messages_are_visible_only_to_the_accounts_in_the_conversation() -> None:
    world = World(demo_world(), message_id_prefix="m")
    shop = world.post_room_message(
        "unit-16-s12@chatroom", "shop-owner", kind=MessageKind.TEXT, text="店门口积水", now_ms=NOW
    )
    assert world.visible_message("bot-1", shop.message_id) is shop
    with pytest.raises(NotFound):
        world.visible_message("bot-2", shop.message_id)
    private = world.post_private_message(
        "bot-1", "villager", from_account=False, kind=MessageKind.TEXT, text="你好", now_ms=NOW
    )
    assert (private.sender_id, private.to_id) == ("villager", "bot-1")
    with pytest.raises(NotFound):
        world.visible_message("bot-2", private.message_id)


def test_private_send_goes_to_a_contact_and_into_the_private_transcript() -> None:
    world = World(demo_world())
    sent = world.record_bot_text("bot-1", "villager", "您好，请讲", now_ms=NOW)
    assert (sent.sender_id, sent.to_id, sent.room_id) == ("bot-1", "villager", None)
    assert world.private_transcript("bot-1", "villager") == [sent]
    assert "villager" in world.contact_ids_of("bot-1")
    with pytest.raises(NotFound, match="会话不存在"):
        world.check_send_target("bot-1", "nobody")


def test_transcript_pages_by_sequence_number() -> None:
    world = World(demo_world())
    room = world.find_room(BUILDING_TOPIC)
    first, second, third = (
        world.post_room_message(
            room.room_id, "b3-001", kind=MessageKind.TEXT, text=str(i), now_ms=NOW
        )
        for i in range(3)
    )
    assert world.room_transcript(room) == [first, second, third]
    assert world.room_transcript(room, since_seq=first.seq) == [second, third]
    assert world.room_transcript(room, since_seq=third.seq) == []


def test_topic_change_renames_and_keeps_lookup_by_topic() -> None:
    world = World(demo_world())
    old = world.set_topic("grid-16@chatroom", "国欢镇黄霞村第16网格（新）")
    assert old == GRID_TOPIC
    assert world.find_room("国欢镇黄霞村第16网格（新）").room_id == "grid-16@chatroom"
    with pytest.raises(NotFound):
        world.find_room(GRID_TOPIC)


def test_room_full_refuses_another_member() -> None:
    members = [MemberSpec(f"p{i}", f"人{i}") for i in range(ROOM_MEMBER_CAP - 1)]
    world = World(
        WorldSpec(accounts=[AccountSpec("a", "A")], rooms=[RoomSpec("满", members, ["a"])])
    )
    with pytest.raises(InvalidRequest, match="已满"):
        world.add_member("1@chatroom", MemberSpec("late", "迟到"))


def test_logged_out_accounts_are_refused() -> None:
    world = World(demo_world())
    world.accounts["bot-1"].logged_in = False
    with pytest.raises(LoggedOut, match="退出登录"):
        world.require_logged_in("bot-1")
    assert world.room_recipients(world.rooms["grid-16@chatroom"]) == ["bot-2"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("text", MessageKind.TEXT),
        ("mini-program", MessageKind.MINI_PROGRAM),
        ("Image", MessageKind.IMAGE),
    ],
)
def test_kind_names(raw: str, kind: MessageKind) -> None:
    assert parse_kind(raw) is kind


def test_unknown_kind_is_refused_in_chinese() -> None:
    with pytest.raises(InvalidRequest, match="不支持的消息类型"):
        parse_kind("hologram")
