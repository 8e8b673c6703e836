"""Friendship end to end: the reference deployment's friend lists in the sandbox, the real
wechaty client per account over gRPC, the hub, the web API (see :mod:`tests.test_system`)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from orgtree.binding import topic_for
from tests import test_system
from tests.test_system import ROW, TOWN, UNIT_TOPIC, System, resident, until

system = test_system.system
"""The whole process on the small town's reference deployment (a fixture)."""

GRID_TOPIC = topic_for(TOWN, ROW.path[:2])
LEADER = ROW.grid_leader.wechat_id or ""


async def bot_status(system: System) -> dict[str, Any]:
    response = await system.client.get("/api/bot/status")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_reference_deployment_leaders_are_friends_of_their_groups_accounts_residents_not(
    system: System,
) -> None:
    sandbox = system.sandbox
    unit_accounts = sandbox.room(UNIT_TOPIC).bot_account_ids
    unit_leader = ROW.unit_leader.wechat_id or ""
    assert all(sandbox.is_friend(a, unit_leader) for a in unit_accounts)
    assert all(sandbox.is_friend(a, LEADER) for a in sandbox.room(GRID_TOPIC).bot_account_ids)
    someone = resident(system, UNIT_TOPIC)
    assert not any(sandbox.is_friend(a, someone) for a in sandbox.account_ids)


async def test_leader_who_deleted_the_bot_is_asked_in_their_group_then_gets_the_ticket(
    system: System,
) -> None:
    sandbox = system.sandbox
    for account in sandbox.account_ids:
        if sandbox.is_friend(account, LEADER):
            sandbox.remove_friend(account, LEADER)

    posted = sandbox.post_message(
        UNIT_TOPIC, resident(system, UNIT_TOPIC), "楼道里的垃圾堆了一个星期没人清理，臭得很"
    )
    [receipt] = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))  # type: ignore[misc]
    code = re.search(r"T\d{8}-\d{4}", receipt.text)
    assert code, receipt.text
    asked = await until(
        lambda: [m for m in system.bot_lines(GRID_TOPIC) if m.mention_ids == (LEADER,)]
    )
    [ask] = asked  # type: ignore[misc]
    assert "好友" in ask.text and code.group(0) not in ask.text
    assert system.private_from_bots(LEADER) == []
    [row] = [
        r for r in (await bot_status(system))["unreachable_privately"] if r["contact_id"] == LEADER
    ]
    assert row["name"] == ROW.grid_leader.name and row["asked_in"] == GRID_TOPIC

    # The leader adds the account that asked, through the sandbox's control API.
    response = await system.client.post(
        f"/sandbox/api/accounts/{ask.sender_id}/friend-requests",
        json={"contact": LEADER, "hello": f"我是{ROW.grid_leader.name}"},
    )
    assert response.status == 201
    held = await until(
        lambda: [m for _, m in system.private_from_bots(LEADER) if code.group(0) in m.text]
    )
    assert held
    assert sandbox.is_friend(ask.sender_id, LEADER)
    assert all(
        r["contact_id"] != LEADER for r in (await bot_status(system))["unreachable_privately"]
    )


async def test_friend_request_of_a_stranger_who_never_wrote_in_a_group_is_left_unanswered(
    system: System,
) -> None:
    sandbox = system.sandbox
    someone = resident(system, UNIT_TOPIC)
    account = sandbox.room(UNIT_TOPIC).bot_account_ids[0]
    before = sandbox.friends(account).requests
    response = await system.client.post(
        f"/sandbox/api/accounts/{account}/friend-requests",
        json={"contact": someone, "hello": "加一下"},
    )
    assert response.status == 201
    sandbox.post_message(UNIT_TOPIC, someone, "我的网格长")  # a later event, handled after it
    await until(lambda: system.bot_lines(UNIT_TOPIC))
    [request] = [r for r in sandbox.friends(account).requests if r not in before]
    assert request.status == "pending" and not sandbox.is_friend(account, someone)


async def test_a_resident_who_is_nobodys_friend_hears_back_in_their_group_then_privately(
    system: System,
) -> None:
    """Regression: the follow-ups of a group report (签收, 办结, the request to rate) went
    privately to a resident no account is a friend of, and were lost."""
    sandbox = system.sandbox
    reporter = resident(system, UNIT_TOPIC)
    posted = sandbox.post_message(UNIT_TOPIC, reporter, "3号楼楼道的灯坏了一个星期了，晚上很黑")
    [receipt] = await until(lambda: system.bot_lines(UNIT_TOPIC, posted.seq))  # type: ignore[misc]
    code = re.search(r"T\d{8}-\d{4}", receipt.text)
    assert code, receipt.text
    ticket = code.group(0)
    forwarded = await until(
        lambda: [p for p in system.private_from_bots(LEADER) if ticket in p[1].text]
    )
    account = forwarded[0][0]  # type: ignore[index]
    after_receipt = sandbox.transcript(UNIT_TOPIC)[-1].seq
    sandbox.post_private(account, LEADER, f"接单 {ticket}")
    [told] = await until(  # type: ignore[misc]
        lambda: [m for m in system.bot_lines(UNIT_TOPIC, after_receipt) if "签收" in m.text]
    )
    assert ticket in told.text and told.mention_ids == (reporter,)
    assert not system.private_from_bots(reporter)

    # The bot read them in the group: their friend request is accepted, and what follows
    # comes privately.
    unit_account = sandbox.room(UNIT_TOPIC).bot_account_ids[0]
    request = sandbox.request_friend(unit_account, reporter, hello="我是3号楼的")
    await until(lambda: sandbox.is_friend(unit_account, reporter))
    assert any(
        r.friendship_id == request.friendship_id for r in sandbox.friends(unit_account).requests
    )
    sandbox.post_private(account, LEADER, f"办结 {ticket} 已换新灯")
    await until(
        lambda: [
            m
            for _, m in system.private_from_bots(reporter)
            if "满意" in m.text and ticket in m.text
        ]
    )


async def test_sandbox_cli_add_friend(system: System) -> None:
    from click.testing import CliRunner

    from gridcast.cli import main

    sandbox = system.sandbox
    account = sandbox.room(UNIT_TOPIC).bot_account_ids[0]
    unit_leader = ROW.unit_leader.wechat_id or ""
    sandbox.remove_friend(account, unit_leader)
    url = str(system.client.make_url("")).rstrip("/")
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["sandbox", "add-friend", "--url", url, "--account", account, "--as", unit_leader],
    )
    assert result.exit_code == 0, result.output
    assert "机器人已通过好友申请" in result.output
    assert sandbox.is_friend(account, unit_leader)
