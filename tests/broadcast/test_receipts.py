"""Receipts and the chat commands of notices (chasing: test_chasing.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.hub import BotHub
from bot.routers.notices import notices_router, receipts_router
from broadcast import service
from broadcast.chasing import silent_groups
from broadcast.engine import Broadcaster, NoticeRequest
from broadcast.receipts import is_acknowledgement
from core.config import parse_settings
from models.auth import AuditEntry
from models.broadcast import (
    Delivery,
    DeliveryState,
    NoticeAttempt,
    NoticeKind,
    NoticeStatus,
    Receipt,
)
from models.chat import ChatGroup
from models.db import run_in_session, session_scope
from models.org import OrgUnit
from tests.broadcast.harness import PATHS, ROSTER, TOWN, fake, room_id, send

SETTINGS = parse_settings({})
ACK = SETTINGS.broadcast.ack_words
UNIT_PATH = ROSTER.rows[0].path
UNIT_ROOM = room_id(UNIT_PATH)


@pytest.mark.parametrize(
    "text", ["收到", "收到！", "1", "好的👌", "收到了，谢谢", "已阅。", " 明白[强] "]
)
def test_acknowledgements(text: str) -> None:
    assert is_acknowledgement(text, ACK)


@pytest.mark.parametrize(
    "text", ["", "收到通知了吗，3栋的垃圾还没人收", "12", "好几天没人来修", "你好"]
)
def test_not_acknowledgements(text: str) -> None:
    assert not is_acknowledgement(text, ACK)


@pytest.mark.parametrize(
    "text", ["3栋收到", "@李书记 收到", "👍", "111", "已收到，谢谢", "收到，马上落实"]
)
def test_receipts_read_as_intake_reads_them(text: str) -> None:
    # One detector (core.acknowledgement) since the intake and receipt rules were merged:
    # a unit or a name before 收到, a thumbs-up alone, 111 now count here too.
    assert is_acknowledgement(text, ACK)


def wire(hub: BotHub, broadcaster: Broadcaster) -> None:
    hub.dispatcher.include_routers(
        notices_router(broadcaster, town=TOWN, deadline_s=180),
        receipts_router(broadcaster, ack_words=ACK, window=timedelta(hours=24)),
    )


async def test_unit_leader_receipt_marks_the_unit(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    code = await send(broadcaster)
    bot1 = fake(hub, "bot1")
    await bot1.receive("收到", room_id=UNIT_ROOM, sender_id="resident-x", sender_name="居民甲")
    leader = ROSTER.rows[0].unit_leader
    await bot1.receive(
        "收到！", room_id=UNIT_ROOM, sender_id=leader.wechat_id or "", sender_name=leader.name
    )
    with session_scope(engine) as session:
        receipts = session.exec(select(Receipt)).all()
        notice = service.notice_by_code(session, code)
        report = service.reach_report(session, notice)
    assert {(r.name, r.is_unit_leader) for r in receipts} == {
        ("居民甲", False),
        (leader.name, True),
    }
    assert report["levels"]["unit"]["acknowledged"] == 1  # type: ignore[index]
    assert ROSTER.rows[0].unit not in " ".join(report["silent_units"])  # type: ignore[arg-type]
    assert all(s.text.startswith("【") for s in bot1.sent)  # receipts get no answer


async def test_a_receipt_goes_to_the_notice_it_names_else_to_one_still_awaiting_it(
    system, engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    """Regression: with two notices in a group, 收到 and 已督促 always went to the newest,
    so an older one the leader was chased about could never be acknowledged."""
    hub, broadcaster = system
    wire(hub, broadcaster)
    first = await send(broadcaster, title="停水通知")
    second = await send(broadcaster, title="停电通知")
    leader = ROSTER.rows[0].unit_leader
    bot1 = fake(hub, "bot1")

    def acked() -> set[str]:
        with session_scope(engine) as session:
            return {
                code
                for code in (first, second)
                if any(
                    d.acked_at is not None
                    for d in session.exec(
                        select(Delivery)
                        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
                        .where(
                            Delivery.notice_id == service.notice_by_code(session, code).id,
                            ChatGroup.room_id == UNIT_ROOM,
                        )
                    )
                )
            }

    await bot1.receive(
        f"收到 {first.lower()}",
        room_id=UNIT_ROOM,
        sender_id=leader.wechat_id or "",
        sender_name=leader.name,
    )
    assert acked() == {first}  # the named one, though not the newest
    await bot1.receive(
        "收到", room_id=UNIT_ROOM, sender_id=leader.wechat_id or "", sender_name=leader.name
    )
    assert acked() == {first, second}  # the one still awaiting a receipt


async def test_chat_issue_confirm_and_status(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    bot1 = fake(hub, "bot1")
    village = ROSTER.rows[0].village
    chief = ROSTER.rows[0].station_chief
    grid_room = room_id(UNIT_PATH[:2])
    await bot1.receive(
        f"#通知 {village} 停水通知 / 明天上午8点到12点停水，请提前储水。",
        room_id=grid_room,
        sender_id=chief.wechat_id or "",
        sender_name=chief.name,
    )
    reply = bot1.sent[-1].text
    assert "预计" in reply and "#确认 N0001" in reply
    assert len(bot1.sent) == 1  # nothing sent before confirmation
    await bot1.receive(
        "#确认 N0001", room_id=grid_room, sender_id=chief.wechat_id or "", sender_name=chief.name
    )
    async with asyncio.timeout(20):
        await broadcaster.wait("N0001")
    village_rooms = {room_id(p) for p in PATHS if p and p[0] == village}
    posted = {
        s.room_id
        for a in hub.accounts
        for s in fake(hub, a).sent
        if s.text.startswith("【通知 N0001】")
    }
    assert posted == village_rooms
    await bot1.receive(
        "#通知状态 N0001",
        room_id=grid_room,
        sender_id=chief.wechat_id or "",
        sender_name=chief.name,
    )
    assert f"共 {len(village_rooms)} 个群，已送达 {len(village_rooms)} 个" in bot1.sent[-1].text
    with Session(engine) as session:
        trail = [(e.action, e.channel.value, e.actor) for e in session.exec(select(AuditEntry))]
    assert [(a, c) for a, c, _ in trail] == [("notice.create", "chat"), ("notice.confirm", "chat")]
    assert all(chief.name in actor for _, _, actor in trail)


async def test_refusals_are_polite_logged_and_send_nothing(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    bot1 = fake(hub, "bot1")
    await bot1.receive(
        "#通知 国欢镇 假通知 / 大家转账",
        room_id=UNIT_ROOM,
        sender_id="resident-y",
        sender_name="路人",
    )
    assert "只有镇干部" in bot1.sent[-1].text
    other_village = next(r for r in ROSTER.rows if r.village != ROSTER.rows[0].village)
    chief = ROSTER.rows[0].station_chief
    await bot1.receive(
        f"#通知 {other_village.village} 越权 / 正文",
        room_id=UNIT_ROOM,
        sender_id=chief.wechat_id or "",
        sender_name=chief.name,
    )
    assert "超出了您的权限" in bot1.sent[-1].text
    with Session(engine) as session:
        refused = [e for e in session.exec(select(AuditEntry)) if e.outcome.value == "refused"]
    assert [e.action for e in refused] == ["notice.refused", "notice.refused"]
    assert refused[0].actor == "路人（未登录）" and refused[0].source == "resident-y"
    await bot1.receive(
        "#通知 国欢镇 没有斜杠",
        room_id=UNIT_ROOM,
        sender_id=chief.wechat_id or "",
        sender_name=chief.name,
    )
    assert "请用“/”分开标题和正文" in bot1.sent[-1].text
    with session_scope(engine) as session:
        attempts = session.exec(select(NoticeAttempt)).all()
    assert len(attempts) == 2
    assert sum(1 for s in bot1.sent if s.text.startswith("【")) == 0


async def test_correction_goes_to_every_group_that_got_the_original(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    village = ROSTER.rows[0].village
    code = await send(broadcaster, scope=village)
    official = next(e for e in ROSTER.extra_roles if e.role.value == "town_official").person
    bot1 = fake(hub, "bot1")
    await bot1.receive(
        f"#更正 {code} 停水改到下午",
        room_id=UNIT_ROOM,
        sender_id=official.wechat_id or "",
        sender_name=official.name,
    )
    assert "正在发往收到通知" in bot1.sent[-1].text
    async with asyncio.timeout(20):
        await broadcaster.wait("N0002")
    corrected = {
        s.room_id
        for a in hub.accounts
        for s in fake(hub, a).sent
        if s.text.startswith("【更正 N0002】")
    }
    assert corrected == {room_id(p) for p in PATHS if p and p[0] == village}


async def test_recall_after_sending_stops_the_chasing_and_marks_it_recalled(
    system, engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    """Regression: after #撤回 the original stayed `done` and its silent units were still
    reminded to confirm it."""
    hub, broadcaster = system
    wire(hub, broadcaster)
    village = ROSTER.rows[0].village
    code = await send(broadcaster, scope=village)
    official = next(e for e in ROSTER.extra_roles if e.role.value == "town_official").person
    bot1 = fake(hub, "bot1")
    await bot1.receive(
        f"#撤回 {code} 发错了",
        room_id=UNIT_ROOM,
        sender_id=official.wechat_id or "",
        sender_name=official.name,
    )
    assert "撤回" in bot1.sent[-1].text and code in bot1.sent[-1].text
    async with asyncio.timeout(20):
        await broadcaster.wait("N0002")
    recalled_in = {s.room_id for a in hub.accounts for s in fake(hub, a).sent if "N0002" in s.text}
    assert recalled_in == {room_id(p) for p in PATHS if p and p[0] == village}
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, code)
        assert notice.status is NoticeStatus.RECALLED
        assert service.reach_report(session, notice)["status"] == "recalled"
        assert not [n for _, n in silent_groups(session) if n.code == code]
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "notice.recall")).one()
        assert entry.message == f"撤回 {code}（N0002），原因：发错了"  # kept, though not posted
    await bot1.receive(
        f"#通知状态 {code}",
        room_id=UNIT_ROOM,
        sender_id=official.wechat_id or "",
        sender_name=official.name,
    )
    assert "已撤回" in bot1.sent[-1].text  # a regression: it read like a partial send


async def test_recall_mid_send_stops_it_and_tells_only_the_groups_that_got_it(
    system, engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    for account in hub.accounts:
        hub.limiters[account] = AsyncLimiter(1, 1)  # slow enough to recall mid-way
    prepared = await broadcaster.prepare(
        NoticeRequest(title="停水", body="明天停水", scope=TOWN, issuer_name="镇水务站")
    )
    await broadcaster.confirm(prepared.code)

    def recorded_sent(session: Session) -> int:
        return sum(1 for d in session.exec(select(Delivery)) if d.state is DeliveryState.SENT)

    for _ in range(1000):  # until some groups are recorded as sent (read without blocking the loop)
        if await run_in_session(broadcaster.engine, recorded_sent) >= 2:
            break
        await asyncio.sleep(0.02)
    await broadcaster.retract(prepared.code)
    # The halted run finishes its last writes first: a blocking read here, with the event
    # loop stopped, would wait for a write lock only the loop can release.
    async with asyncio.timeout(30):
        await broadcaster.idle()
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, prepared.code)
        got = {d.room_id for d in session.exec(select(Delivery)) if d.state is DeliveryState.SENT}
        # cut mid-post by the stop: may have arrived, so told too (a duplicate beats a miss)
        uncertain = {
            d.room_id for d in session.exec(select(Delivery)) if d.state is DeliveryState.UNCERTAIN
        }
        assert notice.status is NoticeStatus.RECALLED
        assert 0 < len(got) < prepared.groups
        assert not [d for d in session.exec(select(Delivery)) if d.state is DeliveryState.PLANNED]
    for account in hub.accounts:
        hub.limiters[account] = AsyncLimiter(100, 1)
    retraction = await broadcaster.send(
        NoticeRequest(
            title="停水",
            body="撤回",
            scope="",
            issuer_name="镇水务站",
            kind=NoticeKind.RETRACTION,
            parent_code=prepared.code,
            ack_required=False,
        )
    )
    async with asyncio.timeout(20):
        await broadcaster.wait(retraction.code)
    told = {s.room_id for a in hub.accounts for s in fake(hub, a).sent if retraction.code in s.text}
    assert told == got | uncertain and len(uncertain) <= len(hub.accounts)


async def test_a_bare_grid_name_means_the_issuers_own_village(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """Regression: a station chief's `#通知 第1网格 …` was refused as ambiguous (every
    village has a 第1网格); it now means the grid of their own village."""
    hub, broadcaster = system
    wire(hub, broadcaster)
    row = next(r for r in ROSTER.rows if r.village == "黄霞村" and r.grid == "第1网格")
    chief = row.station_chief
    await fake(hub, "bot1").receive(
        "#通知 第1网格 停水通知 / 明天上午停水",
        room_id=room_id(row.path[:1]),
        sender_id=chief.wechat_id or "",
        sender_name=chief.name,
    )
    assert "预计" in fake(hub, "bot1").sent[-1].text, fake(hub, "bot1").sent[-1].text
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, "N0001")
        scope = session.get(OrgUnit, notice.scope_org_unit_id)
        assert scope is not None and scope.town_path == ("黄霞村", "第1网格")
