"""双单元长 on tickets and task checklist items (tickets/shops.py, rhythm/shop_tasks.py):
the owner first; silent past ``tickets.shop_owner_silence``, the second unit leader is
reminded to follow up with the owner by name; the timeline says who acted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.config import Settings
from models.db import session_scope
from models.enums import Role
from models.rhythm import TaskChecklistItem, TaskEvent
from models.shops import ShopFollowUp, ShopSubject
from models.tickets import Ticket, TicketCreate, TicketEvent
from orgtree.service import apply_roster
from rhythm.commands import TaskCommand
from rhythm.shop_tasks import shop_task_done
from rhythm.tasks import assign_task, handle_task_command, run_task_timers
from tests.factories import shop_town
from tickets.one_stop import create_ticket
from tickets.shops import (
    ShopReply,
    acting_role,
    handle_shop_reply,
    parse_shop_reply,
    remind_shop_tickets,
    reminder_due_at,
)

ROSTER = shop_town()
SHOP = ROSTER.rows[-1]
OWNER, SECOND = SHOP.unit_leader, SHOP.second_unit_leader
assert SECOND is not None
OWNER_ID, SECOND_ID = OWNER.wechat_id or "", SECOND.wechat_id or ""
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
SILENCE = timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("收到 T20261130-0012", ShopReply("ack", "T20261130-0012")),
        ("收到t20261130－0012", ShopReply("ack", "T20261130-0012")),
        ("已知晓 T20261130-0012。", ShopReply("ack", "T20261130-0012")),
        ("收到", ShopReply("ack", None)),
        ("已督促 T20261130-0012", ShopReply("urged", "T20261130-0012")),
        ("已督促店主", ShopReply("urged", None)),
    ],
)
def test_shop_replies(text: str, reply: ShopReply) -> None:
    assert parse_shop_reply(text) == reply


@pytest.mark.parametrize("text", ["收到通知了吗", "督促一下店主", "T20261130-0012 收到了吗？", ""])
def test_not_shop_replies(text: str) -> None:
    assert parse_shop_reply(text) is None


def test_the_rules() -> None:
    assert reminder_due_at(T0, SILENCE, has_second=True) == T0 + SILENCE
    assert reminder_due_at(T0, SILENCE, has_second=False) is None
    assert acting_role("a", owner_contact_id="a", second_contact_id="b") is Role.UNIT_LEADER
    assert acting_role("b", owner_contact_id="a", second_contact_id="b") is (
        Role.SECOND_UNIT_LEADER
    )
    assert acting_role("c", owner_contact_id="a", second_contact_id="b") is None


@pytest.fixture
def shop_settings(engine: Engine, settings: Settings) -> Settings:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
    return settings


def file_shop_ticket(engine: Engine, settings: Settings, now: datetime = T0) -> tuple[str, list]:  # type: ignore[type-arg]
    with session_scope(engine) as session:
        outcome = create_ticket(
            session=session,
            settings=settings,
            ticket_in=TicketCreate(
                unit_path="/".join(SHOP.path),
                text="店门口的下水道堵了，污水漫到路上",
                reporter_name="顾客",
                reporter_phone="13912345678",
            ),
            now=now,
        )
    assert outcome.ticket_code is not None
    return outcome.ticket_code, list(outcome.replies)


def timeline(session: Session, code: str) -> list[tuple[str, str, str]]:
    ticket = session.exec(select(Ticket).where(Ticket.code == code)).one()
    return [
        (e.kind, e.actor_name, e.note)
        for e in session.exec(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(col(TicketEvent.id))
        )
        if e.kind.startswith("shop_")
    ]


def test_a_shop_ticket_goes_to_the_owner_then_the_second_leader_by_name(
    engine: Engine, shop_settings: Settings
) -> None:
    code, replies = file_shop_ticket(engine, shop_settings)
    copies = [r for r in replies if "本店工单" in r.text]
    assert [r.contact_id for r in copies] == [OWNER_ID]  # not the second leader yet
    assert f"回复「收到 {code}」" in copies[0].text
    assert SECOND_ID not in {r.contact_id for r in replies}
    with session_scope(engine) as session:
        assert (
            remind_shop_tickets(session, shop_settings, T0 + SILENCE - timedelta(minutes=1)) == []
        )
        [reminder] = remind_shop_tickets(session, shop_settings, T0 + SILENCE)
        assert remind_shop_tickets(session, shop_settings, T0 + SILENCE * 3) == []  # once
    assert reminder.contact_id == SECOND_ID
    assert f"联系店主{OWNER.name}跟进" in reminder.text and code in reminder.text
    with session_scope(engine) as session:
        answer = handle_shop_reply(
            session,
            ShopReply("urged", code),
            contact_id=SECOND_ID,
            name=SECOND.name,
            now=T0 + SILENCE * 2,
        )
        assert answer == f"已记录：您已督促店主{OWNER.name}跟进工单 {code}。"
        follow_up = session.exec(select(ShopFollowUp)).one()
        assert (follow_up.acted_by, follow_up.acted_role) == (SECOND.name, "second_unit_leader")
        assert [k for k, _, _ in timeline(session, code)] == [
            "shop_owner_notified",
            "shop_second_reminded",
            "shop_second_urged",
        ]
        assert timeline(session, code)[2][1] == SECOND.name


def test_an_owner_who_answers_is_not_chased(engine: Engine, shop_settings: Settings) -> None:
    code, _ = file_shop_ticket(engine, shop_settings)
    with session_scope(engine) as session:
        assert (
            handle_shop_reply(
                session, ShopReply("ack", None), contact_id="someone-else", name="路人", now=T0
            )
            is None
        )
        refused = handle_shop_reply(
            session, ShopReply("urged", code), contact_id=OWNER_ID, name=OWNER.name, now=T0
        )
        assert refused is not None and "您是店主" in refused
        answer = handle_shop_reply(
            session,
            ShopReply("ack", None),
            contact_id=OWNER_ID,
            name=OWNER.name,
            now=T0 + timedelta(minutes=5),
        )
        assert answer == f"已记录：您已知悉工单 {code}。"
    with session_scope(engine) as session:
        assert remind_shop_tickets(session, shop_settings, T0 + SILENCE * 2) == []
        follow_up = session.exec(select(ShopFollowUp)).one()
        assert (follow_up.acted_by, follow_up.acted_role) == (OWNER.name, "unit_leader")
        assert [k for k, _, _ in timeline(session, code)] == [
            "shop_owner_notified",
            "shop_owner_ack",
        ]


def test_a_residential_ticket_still_copies_its_unit_leader(
    engine: Engine, shop_settings: Settings
) -> None:
    row = ROSTER.rows[0]
    with session_scope(engine) as session:
        outcome = create_ticket(
            session=session,
            settings=shop_settings,
            ticket_in=TicketCreate(
                unit_path="/".join(row.path), text="楼道灯坏了", reporter_name="居民"
            ),
            now=T0,
        )
        assert session.exec(select(ShopFollowUp)).all() == []
    assert row.unit_leader.wechat_id in {r.contact_id for r in outcome.replies}


def test_a_shop_task_item_goes_to_the_owner_then_the_second_leader(
    engine: Engine, shop_settings: Settings
) -> None:
    grid = "/".join(SHOP.path[:2])
    with session_scope(engine) as session:
        task, replies = assign_task(
            session,
            shop_settings,
            title="消防器材检查",
            scope=[grid],
            deadline=T0 + timedelta(days=3),
            now=T0,
            issuer_name="镇安监办",
            checklist=True,
        )
        code = task.code
    [owner_ask] = [r for r in replies if r.contact_id == OWNER_ID]
    assert SHOP.unit in owner_ask.text and f"完成 {code}" in owner_ask.text
    assert SECOND_ID not in {r.contact_id for r in replies}
    with session_scope(engine) as session:
        assert [
            r
            for r in run_task_timers(session, shop_settings, T0 + timedelta(hours=1))
            if r.contact_id == SECOND_ID
        ] == []
        reminded = [
            r
            for r in run_task_timers(session, shop_settings, T0 + SILENCE)
            if r.contact_id == SECOND_ID
        ]
        assert len(reminded) == 1 and f"店主{OWNER.name}" in reminded[0].text
        assert not [
            r
            for r in run_task_timers(session, shop_settings, T0 + SILENCE * 2)
            if r.contact_id == SECOND_ID
        ]
    with session_scope(engine) as session:
        done = shop_task_done(
            session,
            contact_id=SECOND_ID,
            name=SECOND.name,
            code=code,
            note="灭火器已换新",
            now=T0 + SILENCE * 2,
        )
        assert done is not None
        text, others = done
        assert f"已记录：{SHOP.unit}完成任务 {code}" in text
        assert [r.contact_id for r in others] == [SHOP.grid_leader.wechat_id]
        assert f"第二单元长{SECOND.name}已完成" in others[0].text
        item = session.exec(
            select(TaskChecklistItem).where(TaskChecklistItem.unit_name == SHOP.unit)
        ).one()
        assert item.done_by == SECOND.name
        events = [
            (e.kind, e.note) for e in session.exec(select(TaskEvent).order_by(col(TaskEvent.id)))
        ]
        follow_up = session.exec(
            select(ShopFollowUp).where(ShopFollowUp.subject == ShopSubject.TASK_ITEM)
        ).one()
        assert follow_up.acted_role == "second_unit_leader"
        # a second 完成 from the same leader has nothing left to tick
        assert (
            shop_task_done(
                session, contact_id=SECOND_ID, name=SECOND.name, code=code, note="", now=T0
            )
            is None
        )
    kinds = [k for k, _ in events]
    assert (
        kinds.index("shop_owner_notified")
        < kinds.index("shop_second_reminded")
        < kinds.index("unit_done")
    )
    assert any(k == "unit_done" and f"第二单元长{SECOND.name}" in n for k, n in events)


def test_the_grid_leader_ticking_the_shop_stops_the_chase(
    engine: Engine, shop_settings: Settings
) -> None:
    with session_scope(engine) as session:
        task, _ = assign_task(
            session,
            shop_settings,
            title="门头招牌排查",
            scope=["/".join(SHOP.path)],
            deadline=T0 + timedelta(days=3),
            now=T0,
            issuer_name="镇城建办",
            checklist=True,
        )
        code = task.code
    leader = SHOP.grid_leader
    with session_scope(engine) as session:
        handle_task_command(
            session,
            shop_settings,
            TaskCommand("done", code, None, f"{SHOP.unit} 已查"),
            contact_id=leader.wechat_id or "",
            name=leader.name,
            now=T0 + timedelta(minutes=30),
        )
    with session_scope(engine) as session:
        assert not [
            r
            for r in run_task_timers(session, shop_settings, T0 + SILENCE)
            if r.contact_id == SECOND_ID
        ]
        follow_up = session.exec(select(ShopFollowUp)).one()
        assert (follow_up.acted_by, follow_up.acted_role) == (leader.name, "grid_leader")
