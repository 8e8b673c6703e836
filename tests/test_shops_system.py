"""双单元长 end to end, through the sandbox and the real wechaty client: a resident's
complaint in a shop's group reaches the shop's owner privately; the owner stays silent,
so the SLA timers remind the second unit leader, who answers 已督促; the ticket's
timeline records who acted."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.clock import utcnow
from models.db import session_scope
from models.tickets import Ticket, TicketEvent
from orgtree.binding import topic_for
from sandbox.sandbox import MessageView
from tests.factories import shop_town
from tests.test_system import System, running_system, until
from tickets.timers import run_due_timers
from web.keys import ENGINE, HUB

ROSTER = shop_town()
SHOP = ROSTER.rows[-1]
SHOP_TOPIC = topic_for(ROSTER.town, SHOP.path)
OWNER = SHOP.unit_leader.wechat_id or ""
SECOND = SHOP.second_unit_leader.wechat_id if SHOP.second_unit_leader else ""


@pytest.fixture
async def system(db_url: str, engine: Engine, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(db_url, engine, tmp_path, ROSTER) as running:
        yield running


async def test_a_silent_owner_brings_in_the_second_unit_leader(
    system: System, engine: Engine
) -> None:
    sandbox = system.sandbox
    resident = next(
        m.contact_id
        for m in sandbox.room_members(SHOP_TOPIC)
        if m.contact_id.startswith("resident-")
    )
    posted = sandbox.post_message(
        SHOP_TOPIC, resident, "店门口的下水道堵了，污水漫到路上，请尽快处理"
    )
    [receipt] = await until(lambda: system.bot_lines(SHOP_TOPIC, posted.seq))  # type: ignore[misc]
    match = re.search(r"T\d{8}-\d{4}", receipt.text)
    assert match is not None, receipt.text
    code = match.group()
    [(_, copy)] = await until(  # type: ignore[misc]
        lambda: [p for p in system.private_from_bots(OWNER) if "本店工单" in p[1].text]
    )
    assert code in copy.text and f"收到 {code}" in copy.text
    assert not system.private_from_bots(SECOND)  # the owner first

    app = system.client.app
    replies = await run_due_timers(app[ENGINE], system.settings, utcnow() + timedelta(hours=3))
    for reply in replies:
        if reply.contact_id == SECOND:
            await app[HUB].send(reply)
    [(account, reminder)] = await until(  # type: ignore[misc]
        lambda: [p for p in system.private_from_bots(SECOND) if "督促店主" in p[1].text]
    )
    assert f"联系店主{SHOP.unit_leader.name}跟进" in reminder.text

    async def private(contact: str, via: str, text: str) -> MessageView:
        before = {m.seq for _, m in system.private_from_bots(contact)}
        sandbox.post_private(via, contact, text)
        answers = await until(
            lambda: [m for _, m in system.private_from_bots(contact) if m.seq not in before]
        )
        return answers[-1]  # type: ignore[index,no-any-return]

    answer = await private(SECOND, account, f"已督促 {code}")
    assert answer.text == f"已记录：您已督促店主{SHOP.unit_leader.name}跟进工单 {code}。"
    owner_account = next(
        a
        for a in sandbox.account_ids
        if any(m.text == copy.text for m in sandbox.private_transcript(a, OWNER))
    )
    answer = await private(OWNER, owner_account, f"收到 {code}")
    assert answer.text == f"已记录：您已知悉工单 {code}。"

    def steps(session: Session) -> list[tuple[str, str]]:
        ticket = session.exec(select(Ticket).where(Ticket.code == code)).one()
        return [
            (e.kind, e.actor_name)
            for e in session.exec(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(col(TicketEvent.id))
            )
            if e.kind.startswith("shop_")
        ]

    with session_scope(engine) as session:
        assert steps(session) == [
            ("shop_owner_notified", "系统"),
            ("shop_second_reminded", "系统"),
            ("shop_second_urged", SHOP.second_unit_leader.name if SHOP.second_unit_leader else ""),
            ("shop_owner_ack", SHOP.unit_leader.name),
        ]
