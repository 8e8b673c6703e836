"""Residents, departments and shop units end to end (issue 9): the sandbox serving the
Wechaty Puppet Service protocol, the real python-wechaty client per account over gRPC,
the hub, the routers (see :mod:`tests.test_system`).

The small town plus one shop unit (沿街商铺 国欢路3号-兴化米粉店 in the first grid, with
its owner and its second unit leader 吴素英).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.broadcast import AckVia, Delivery, Receipt
from models.db import run_in_session
from models.enums import Role, UnitKind
from models.org import OrgUnit
from models.tickets import Ticket
from orgtree.binding import topic_for
from sandbox.sandbox import MessageView
from sandbox.world import MemberSpec
from tests.factories import guohuan, small_town
from tests.test_system import System, running_system, until
from tickets.timers import run_due_timers
from web.keys import ENGINE, HUB

_SMALL = small_town()
SHOP = next(
    r
    for r in guohuan().rows
    if r.unit_kind is UnitKind.SHOP and r.path[:2] == _SMALL.rows[0].path[:2]
)
ROSTER = dataclasses.replace(_SMALL, rows=(*_SMALL.rows, SHOP))
TOWN = ROSTER.town
ROW = ROSTER.rows[0]
UNIT_TOPIC = topic_for(TOWN, ROW.path)
OTHER_TOPIC = topic_for(TOWN, ROSTER.rows[1].path)
SHOP_TOPIC = topic_for(TOWN, SHOP.path)
LEADER = ROW.grid_leader.wechat_id or ""
LIAISON = next(
    e.person.wechat_id or ""
    for e in ROSTER.extra_roles
    if e.role is Role.DEPARTMENT_LIAISON and e.department == "区司法局"
)


@pytest.fixture
async def system(db_url: str, engine: Engine, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(db_url, engine, tmp_path, ROSTER) as running:
        yield running


def resident(system: System, room: str, index: int = 0) -> str:
    members = [m for m in system.sandbox.room_members(room) if m.contact_id.startswith("resident-")]
    return members[index].contact_id


async def ask(system: System, room: str, sender: str, text: str) -> MessageView:
    posted = system.sandbox.post_message(room, sender, text)
    replies = await until(lambda: system.bot_lines(room, posted.seq))
    return replies[0]  # type: ignore[index,no-any-return]


async def private(system: System, account: str, person: str, text: str) -> MessageView:
    before = {m.seq for _, m in system.private_from_bots(person)}
    system.sandbox.post_private(account, person, text)
    answers = await until(
        lambda: [m for _, m in system.private_from_bots(person) if m.seq not in before]
    )
    return answers[-1]  # type: ignore[index,no-any-return]


def befriend(system: System, contact: str) -> None:
    """Residents are nobody's friend; the operator accepts their request by hand."""
    for account in system.sandbox.account_ids:
        request = system.sandbox.request_friend(account, contact)
        system.sandbox.accept_friend_request(request.friendship_id)


def tickets(engine: Engine) -> list[Ticket]:
    with Session(engine) as session:
        return list(session.exec(select(Ticket).order_by(col(Ticket.id))))


def code_in(text: str) -> str:
    found = re.search(r"T\d{8}-\d{4}", text)
    assert found, text
    return found.group(0)


# --- residents --------------------------------------------------------------------------


async def test_residents_ask_for_their_leaders_in_their_own_words(
    system: System, engine: Engine
) -> None:
    someone = resident(system, UNIT_TOPIC)
    reply = await ask(system, UNIT_TOPIC, someone, "我们这栋的网格长是谁啊？电话多少")
    # A leader's work phone is public to the residents of the area (core.privacy).
    assert ROW.grid_leader.name in reply.text and ROW.grid_leader.phone in reply.text
    assert reply.mention_ids == (someone,)
    reply = await ask(system, UNIT_TOPIC, someone, "单元长电话多少")
    assert ROW.unit_leader.name in reply.text and ROW.unit_leader.phone in reply.text
    reply = await ask(system, UNIT_TOPIC, someone, "有事找谁反映？")
    assert ROW.station_chief.name in reply.text and ROW.grid_leader.name in reply.text
    assert tickets(engine) == []  # questions, not junk tickets


async def test_status_question_is_answered_from_the_open_ticket_not_filed(
    system: System, engine: Engine
) -> None:
    someone = resident(system, UNIT_TOPIC)
    receipt = await ask(
        system, UNIT_TOPIC, someone, "楼上邻居天天半夜噪音很大，吵得孩子睡不着，说了也不听"
    )
    code = code_in(receipt.text)
    answer = await ask(system, UNIT_TOPIC, someone, "我上次反映的楼上噪音的事情怎么样了？")
    assert code in answer.text and "受理" in answer.text
    assert [t.code for t in tickets(engine)] == [code]


async def test_danger_report_gets_the_advice_in_the_same_reply_as_the_ticket(
    system: System, engine: Engine
) -> None:
    someone = resident(system, UNIT_TOPIC)
    reply = await ask(system, UNIT_TOPIC, someone, "3栋楼道里有很浓的煤气味，好像哪家漏气了")
    code = code_in(reply.text)
    assert "119" in reply.text and "不要开关电灯" in reply.text and "撤离" in reply.text
    [ticket] = tickets(engine)
    assert ticket.code == code and ticket.urgency.value == "urgent"


async def test_private_report_is_filed_under_the_residents_unit_or_asks_which(
    system: System, engine: Engine
) -> None:
    sandbox = system.sandbox
    someone = resident(system, UNIT_TOPIC)
    befriend(system, someone)
    account = sandbox.room(UNIT_TOPIC).bot_account_ids[0]
    reply = await private(system, account, someone, "小区门口的路灯坏了一个星期了，晚上很黑")
    code = code_in(reply.text)
    assert reply.room_id is None
    with Session(engine) as session:
        [ticket] = session.exec(select(Ticket)).all()
        unit = session.get(OrgUnit, ticket.unit_id)
        assert unit is not None and unit.town_path == ROW.path and ticket.code == code
    # The same resident also lives in another unit's group: ask which unit.
    other = sandbox.room(OTHER_TOPIC)
    name = sandbox.world.contacts[someone].name
    sandbox.world.add_member(other.room_id, MemberSpec(someone, name))
    await ask(system, OTHER_TOPIC, someone, "我的网格长")  # seen there: the hub learns it
    question = await private(system, account, someone, "楼道里的垃圾堆了好几天没人清理，很臭")
    assert "哪个单元" in question.text and "1." in question.text and "2." in question.text
    options = re.findall(r"(\d)\. (\S+)", question.text)
    choice = next(n for n, label in options if label.endswith(ROSTER.rows[1].unit))
    filed = await private(system, account, someone, choice)
    second = code_in(filed.text)
    with Session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.code == second)).one()
        unit = session.get(OrgUnit, ticket.unit_id)
        assert unit is not None and unit.town_path == ROSTER.rows[1].path
        assert "垃圾" in ticket.text


async def test_private_directory_question_answers_for_the_residents_unit(system: System) -> None:
    someone = resident(system, UNIT_TOPIC, 1)
    befriend(system, someone)
    account = system.sandbox.room(UNIT_TOPIC).bot_account_ids[0]
    reply = await private(system, account, someone, "我们的网格长电话多少")
    assert ROW.grid_leader.name in reply.text and ROW.grid_leader.phone in reply.text


# --- departments and leaders ------------------------------------------------------------


async def test_whistle_brief_query_my_tickets_and_a_missed_report_deadline(
    system: System, engine: Engine
) -> None:
    someone = resident(system, UNIT_TOPIC)
    text = "隔壁邻居把院墙往我家这边砌了半米，协商了几次都不肯拆，快要打起来了"
    code = code_in((await ask(system, UNIT_TOPIC, someone, text)).text)
    brief = await until(lambda: [m for _, m in system.private_from_bots(LEADER) if code in m.text])
    account = system.sandbox.room(UNIT_TOPIC).bot_account_ids[0]
    assert brief
    await private(system, account, LEADER, f"接单 {code}")
    await private(system, account, LEADER, f"备注 {code} 已上门调解一次，双方各执一词")
    await private(system, account, LEADER, f"吹哨 {code} 区司法局")

    whistle = await until(
        lambda: [m for _, m in system.private_from_bots(LIAISON) if "吹哨" in m.text]
    )
    message = whistle[0].text  # type: ignore[index]
    assert code in message and "院墙" in message  # the complaint
    assert "/".join(ROW.path) in message  # the place
    assert ROW.grid_leader.name in message and ROW.grid_leader.phone in message
    assert "已上门调解一次" in message and "接单" in message  # what was done so far
    assert re.search(r"请在.+前报到", message)  # the deadline for 报到

    answer = await private(system, account, LIAISON, f"查询 {code}")
    assert (
        "院墙" in answer.text and ROW.grid_leader.phone in answer.text and "前报到" in answer.text
    )

    mine = await private(system, account, LEADER, "我的工单")
    assert code in mine.text and "等待区司法局报到" in mine.text

    # Nobody reports: once the deadline passes, the grid leader and the town are told.
    hub = system.client.app[HUB]
    later = datetime.now(UTC) + timedelta(hours=3)
    for reply in await run_due_timers(system.client.app[ENGINE], system.settings, later):
        await hub.send(reply)
    told = await until(
        lambda: [m for _, m in system.private_from_bots(LEADER) if "未按时报到" in m.text]
    )
    assert code in told[0].text  # type: ignore[index]
    officials = [e.person.wechat_id for e in ROSTER.extra_roles if e.role is Role.TOWN_OFFICIAL]
    assert any(
        code in m.text and "督办" in m.text
        for person in officials
        if person
        for _, m in system.private_from_bots(person)
    )


async def test_shop_second_leader_no_longer_acknowledges_for_the_owner(
    system: System, engine: Engine
) -> None:
    owner = SHOP.unit_leader.wechat_id or ""
    second = SHOP.second_unit_leader.wechat_id if SHOP.second_unit_leader else ""
    assert second
    response = await system.client.post(
        "/api/notices",
        json={
            "title": "消防检查",
            "body": "本周六上午检查沿街商铺消防器材，请店主在店。",
            "scope": "/".join(SHOP.path[:2]),
            "levels": ["unit"],
            "confirm": True,
        },
    )
    assert response.status == 201, await response.text()
    notice = (await response.json())["code"]
    await until(lambda: [m for m in system.bot_lines(SHOP_TOPIC) if notice in m.text])

    room_id = system.sandbox.room(SHOP_TOPIC).room_id

    async def shop_delivery() -> Delivery:
        # Through the app's engine: the broadcaster is writing to the same database.
        return await run_in_session(
            system.client.app[ENGINE],
            lambda s: s.exec(select(Delivery).where(Delivery.room_id == room_id)).one(),
        )

    answer = await ask(system, SHOP_TOPIC, second, "收到")
    assert "店主" in answer.text and "已督促" in answer.text
    assert (await shop_delivery()).acked_at is None  # the second leader's 收到 is not the owner's
    answer = await ask(system, SHOP_TOPIC, second, "已督促店主")
    assert "已督促" in answer.text
    delivery = await shop_delivery()
    assert delivery.acked_at is not None and delivery.acked_via == AckVia.SECOND_LEADER_URGED
    assert delivery.acked_by == SHOP.second_unit_leader.name  # type: ignore[union-attr]
    receipts = await run_in_session(
        system.client.app[ENGINE], lambda s: list(s.exec(select(Receipt)))
    )
    roles = {r.contact_id: r.role for r in receipts}
    assert roles[second] == Role.SECOND_UNIT_LEADER

    # A ticket from the shop reaches its owner first; the second unit leader only when the
    # owner stays silent (tickets.shops, tested in tests/test_shops_system.py).
    customer = resident(system, SHOP_TOPIC)
    code = code_in(
        (await ask(system, SHOP_TOPIC, customer, "店门口的下水道堵了，污水漫到人行道上")).text
    )
    await until(lambda: [m for _, m in system.private_from_bots(owner) if code in m.text])
    assert not [m for _, m in system.private_from_bots(second) if code in m.text]
