"""每家每户 with the database: a unit leader's ``已通知 k/n户`` in the unit group and
privately, the household report of a notice, and the contact party members asked to
visit silent units (time as a parameter)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from bot.hub import BotHub
from bot.routers.households import households_router
from bot.routers.notices import household_lines, notices_router, receipts_router
from broadcast import service
from broadcast.engine import Broadcaster, NoticeRequest
from broadcast.household_visits import VISIT_CONCURRENCY, ask_contact_members, visit_round
from core.config import parse_settings
from core.messaging import Reply, SendFailed
from models.broadcast import Delivery, Notice, NoticeKind
from models.db import session_scope
from models.enums import Role
from models.households import HouseholdConfirmation, HouseholdVisitRequest
from models.org import Person, RoleAssignment
from orgtree.service import resolve_path
from rhythm.monthly import monthly_report
from rhythm.periods import local
from rhythm.tenday import ignoring_grids
from tests.broadcast.harness import ROSTER, TOWN, fake, room_id, send

SETTINGS = parse_settings({})
WINDOW = timedelta(hours=24)
ROW = ROSTER.rows[0]  # 国欢村/第1网格/洋中1号片区, 5 households, contact 吴素英 (3)
LEADER = ROW.unit_leader
UNIT_ROOM = room_id(ROW.path)


def wire(hub: BotHub, broadcaster: Broadcaster) -> None:
    hub.dispatcher.include_routers(
        notices_router(broadcaster, town=TOWN, deadline_s=180),
        households_router(broadcaster.engine, window=WINDOW),
        receipts_router(broadcaster, ack_words=SETTINGS.broadcast.ack_words, window=WINDOW),
    )


def answers(hub: BotHub, since: int = 0) -> list[str]:
    texts = []
    for account in hub.accounts:
        texts.extend(s.text for s in fake(hub, account).sent[since:] if "已记录" in s.text)
    return texts


def replies_to(hub: BotHub, contact_id: str) -> list[str]:
    return [s.text for a in hub.accounts for s in fake(hub, a).sent if s.contact_id == contact_id]


async def test_a_count_in_the_unit_group_is_recorded_and_reported(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    code = await send(broadcaster)
    bot1 = fake(hub, "bot1")
    before = len(bot1.sent)
    await bot1.receive(
        "已通知 3/5户", room_id=UNIT_ROOM, sender_id=LEADER.wechat_id or "", sender_name=LEADER.name
    )
    [answer] = [s for s in bot1.sent[before:]]
    assert answer.room_id == UNIT_ROOM and answer.mention_ids == (LEADER.wechat_id,)
    assert f"已记录：{ROW.unit} 通知 {code}" in answer.text and "已通知 3/5户" in answer.text
    assert "还有 2 户" in answer.text
    # a resident's words that look the same are not a count: intake gets them
    await bot1.receive("已通知 3/5户", room_id=UNIT_ROOM, sender_id="resident-x")
    assert len(bot1.sent) == before + 1
    # a later count replaces the earlier one; the roster says 5, not 6
    await bot1.receive(
        "5/6户已通知", room_id=UNIT_ROOM, sender_id=LEADER.wechat_id or "", sender_name=LEADER.name
    )
    assert "花名册登记本单元为 5 户" in bot1.sent[-1].text
    with session_scope(engine) as session:
        rows = session.exec(select(HouseholdConfirmation)).all()
        notice = service.notice_by_code(session, code)
        report = service.reach_report(session, notice)
    assert [(r.reached, r.stated_total, r.channel) for r in rows] == [
        (3, 5, "group"),
        (5, 6, "group"),
    ]
    households = report["households"]
    assert isinstance(households, dict)
    total = sum(r.households or 0 for r in ROSTER.rows)
    assert households["households"] == households["reached"] == total
    assert households["confirmed"] == 5
    [unit] = [u for u in households["units"] if u["path"] == "/".join(ROW.path)]
    assert unit["confirmed"] == 5 and unit["confirmed_by"] == LEADER.name
    [village] = [v for v in households["villages"] if v["village"] == ROW.village]
    assert village["confirmed"] == 5
    assert len(households["grids"]) == len({r.path[:2] for r in ROSTER.rows})
    assert (
        household_lines(households)[0]
        == f"户数：送达 {total}/{total}户，单元长确认已通知 5户（{5 * 100 / total:.0f}%）。"
    )


async def test_a_count_of_households_is_the_units_receipt(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """Regression: a unit leader who wrote 已通知 12/14户 was still listed as silent and
    chased: reporting households says they read the notice."""
    hub, broadcaster = system
    wire(hub, broadcaster)
    code = await send(broadcaster)
    await fake(hub, "bot1").receive(
        "已通知 3/5户", room_id=UNIT_ROOM, sender_id=LEADER.wechat_id or "", sender_name=LEADER.name
    )
    with session_scope(engine) as session:
        notice = service.notice_by_code(session, code)
        report = service.reach_report(session, notice)
    assert report["levels"]["unit"]["acknowledged"] == 1  # type: ignore[index]
    assert ROW.unit not in " ".join(report["silent_units"])  # type: ignore[arg-type]


async def test_more_than_the_households_is_refused(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    await send(broadcaster)
    bot1 = fake(hub, "bot1")
    await bot1.receive(
        "已通知 9户", room_id=UNIT_ROOM, sender_id=LEADER.wechat_id or "", sender_name=LEADER.name
    )
    assert "不能超过 5 户" in bot1.sent[-1].text
    await bot1.receive(
        "已全部通知", room_id=UNIT_ROOM, sender_id=LEADER.wechat_id or "", sender_name=LEADER.name
    )
    assert "已全部通知（5户）" in bot1.sent[-1].text
    with session_scope(engine) as session:
        assert [r.reached for r in session.exec(select(HouseholdConfirmation))] == [5]


async def test_privately_the_latest_notice_of_the_leaders_unit_or_ask_which(
    system,  # type: ignore[no-untyped-def]
    engine: Engine,
) -> None:
    hub, broadcaster = system
    wire(hub, broadcaster)
    bot1 = fake(hub, "bot1")
    leader_id = LEADER.wechat_id or ""
    await bot1.receive("已通知 2/5户", room_id=None, sender_id=leader_id, sender_name=LEADER.name)
    assert "近期没有需要确认的通知" in bot1.sent[-1].text
    await send(broadcaster, title="停水通知")
    code = await send(broadcaster, title="台风预警")
    await bot1.receive("已通知 2/5户", room_id=None, sender_id=leader_id, sender_name=LEADER.name)
    assert bot1.sent[-1].contact_id == leader_id
    assert f"通知 {code}「台风预警」已通知 2/5户" in bot1.sent[-1].text
    # the same leader also leads a second unit: ask which, or take the named one
    other = ROSTER.rows[1]
    with session_scope(engine) as session:
        person = session.exec(select(Person).where(Person.phone == LEADER.phone)).one()
        unit = resolve_path(session, "/".join(other.path), town=TOWN)
        session.add(RoleAssignment(person_id=person.id, org_unit_id=unit.id, role=Role.UNIT_LEADER))  # type: ignore[arg-type]
    await bot1.receive("已通知 2/5户", room_id=None, sender_id=leader_id, sender_name=LEADER.name)
    assert "您负责多个单元" in bot1.sent[-1].text and other.unit in bot1.sent[-1].text
    hint = "2号片区"  # 洋中2号片区
    await bot1.receive(
        f"{hint} 已通知 {other.households}户",
        room_id=None,
        sender_id=leader_id,
        sender_name=LEADER.name,
    )
    assert f"已记录：{other.unit}" in bot1.sent[-1].text
    await bot1.receive(
        "9号楼 已全部通知", room_id=None, sender_id=leader_id, sender_name=LEADER.name
    )
    assert "没有找到您负责的单元「9号楼」" in bot1.sent[-1].text
    with session_scope(engine) as session:
        rows = session.exec(select(HouseholdConfirmation).order_by(HouseholdConfirmation.id)).all()  # type: ignore[arg-type]
    assert [(r.reached, r.channel) for r in rows] == [(2, "private"), (other.households, "private")]


async def test_contact_party_members_are_asked_once_after_the_grid_leader_step(
    system,  # type: ignore[no-untyped-def]
    engine: Engine,
) -> None:
    hub, broadcaster = system
    wire(hub, broadcaster)
    code = await send(broadcaster)
    normal = SETTINGS.broadcast.reminders_normal
    with session_scope(engine) as session:
        sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)

    def run(after: timedelta) -> list:  # type: ignore[type-arg]
        with session_scope(engine) as session:
            return ask_contact_members(
                session,
                now=sent_at + after,
                normal=normal,
                urgent=SETTINGS.broadcast.reminders_urgent,
                window=WINDOW,
            )

    assert run(normal.remind_group + timedelta(minutes=1)) == []  # only the group reminder yet
    # a count of some households: the unit's contacts are still asked, told how many
    counted = ROSTER.rows[4]  # 国欢村/第2网格/国欢花园1号楼, 36 households, contact 林秋坤
    full = ROSTER.rows[5]  # 国欢花园2号楼: every household confirmed, nobody asked
    for row, text in ((counted, "已通知 10户"), (full, "已全部通知")):
        await fake(hub, "bot1").receive(
            text,
            room_id=room_id(row.path),
            sender_id=row.unit_leader.wechat_id or "",
            sender_name=row.unit_leader.name,
        )
    asks = run(normal.tell_grid_leader + timedelta(seconds=1))
    asked_contacts = [c for c in ROSTER.contacts if c.path != full.path]
    assert sorted(r.contact_id or "" for r in asks) == sorted(
        c.person.wechat_id or "" for c in asked_contacts
    )
    assert not [r for r in asks if full.unit in r.text]
    first = next(c for c in ROSTER.contacts if c.path == ROW.path)
    [ask] = [r for r in asks if ROW.unit in r.text]
    assert ask.contact_id == first.person.wechat_id and ask.room_id is None
    assert f"通知 {code}" in ask.text and f"{first.households} 户的联系党员" in ask.text
    assert "单元群至今没有回复" in ask.text
    assert LEADER.name in ask.text  # whom to tell
    [partly] = [r for r in asks if counted.unit in r.text]
    assert f"已通知 10/{counted.households} 户，其余请上门告知" in partly.text
    assert run(normal.tell_village) == []  # once
    with session_scope(engine) as session:
        assert len(session.exec(select(HouseholdVisitRequest)).all()) == len(asks)
        notice = session.exec(select(Notice).where(Notice.code == code)).one()
        assert {r.notice_id for r in session.exec(select(HouseholdVisitRequest))} == {notice.id}
    # a unit leader's 收到 confirms no household: the contact is asked, and told so
    code2 = await send(broadcaster, title="停电通知")
    await fake(hub, "bot1").receive(
        "收到", room_id=UNIT_ROOM, sender_id=LEADER.wechat_id or "", sender_name=LEADER.name
    )
    later = run(normal.tell_grid_leader + timedelta(minutes=5))
    assert later and all(code2 in r.text for r in later)
    [answered] = [r for r in later if ROW.unit in r.text]
    assert "单元长已回复收到，但还没有报告通知到的户数" in answered.text


async def correct(broadcaster: Broadcaster, code: str, body: str) -> str:
    prepared = await broadcaster.send(
        NoticeRequest(
            title="台风预警",
            body=body,
            scope="",
            issuer_name="国欢镇应急办",
            kind=NoticeKind.CORRECTION,
            parent_code=code,
            ack_required=True,
        )
    )
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    return prepared.code


async def test_a_unit_that_answered_only_the_correction_is_not_visited_listed_or_counted_silent(
    system,  # type: ignore[no-untyped-def]
    engine: Engine,
) -> None:
    hub, broadcaster = system
    wire(hub, broadcaster)
    code = await send(broadcaster)
    correction = await correct(broadcaster, code, "改为今晚9点起停止户外作业。")
    leader_id = LEADER.wechat_id or ""
    for text in ("收到", "已全部通知"):  # both land on the correction, the latest notice
        await fake(hub, "bot1").receive(
            text, room_id=UNIT_ROOM, sender_id=leader_id, sender_name=LEADER.name
        )
    normal = SETTINGS.broadcast.reminders_normal
    with session_scope(engine) as session:
        sent_at = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at)
        asks = ask_contact_members(
            session,
            now=sent_at + normal.tell_grid_leader + timedelta(seconds=5),
            normal=normal,
            urgent=SETTINGS.broadcast.reminders_urgent,
            window=WINDOW,
        )
    # the superseded original is visited for nobody; the correction for the silent units only
    assert asks and all(correction in a.text and code not in a.text for a in asks)
    assert not [a for a in asks if ROW.unit in a.text]
    with session_scope(engine) as session:
        ignoring = ignoring_grids(session, since=sent_at - timedelta(days=1), now=sent_at)
        listed = [unit for units in ignoring.values() for unit, _ in units]
        month = monthly_report(session, SETTINGS, f"{local(sent_at):%Y-%m}", now=sent_at)
    assert ROW.unit not in listed and len(listed) == len(ROSTER.rows) - 1
    assert month.town.notices_sent == 1  # the original; its correction is not a notice
    assert (month.town.unit_groups, month.town.unit_groups_acknowledged) == (len(ROSTER.rows), 1)
    # a correction of the correction: a receipt to it counts for the original too
    other = ROSTER.rows[1]
    again = await correct(broadcaster, correction, "改为今晚10点起停止户外作业。")
    await fake(hub, "bot1").receive(
        "收到",
        room_id=room_id(other.path),
        sender_id=other.unit_leader.wechat_id or "",
        sender_name=other.unit_leader.name,
    )
    with session_scope(engine) as session:
        acked = {
            (d.notice_id, d.chat_group_id)
            for d in session.exec(select(Delivery).where(col(Delivery.acked_at).is_not(None)))
        }
        assert len(acked) == 2 and service.notice_by_code(session, again).id in {
            n for n, _ in acked
        }
        month = monthly_report(session, SETTINGS, f"{local(sent_at):%Y-%m}", now=sent_at)
        listed = [
            unit
            for units in ignoring_grids(
                session, since=sent_at - timedelta(days=1), now=sent_at
            ).values()
            for unit, _ in units
        ]
    assert month.town.unit_groups_acknowledged == 2
    assert ROW.unit not in listed and other.unit not in listed


async def test_each_visit_ask_is_recorded_as_soon_as_it_is_sent(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    await send(broadcaster)
    after = SETTINGS.broadcast.reminders_normal.tell_grid_leader + timedelta(seconds=1)
    with session_scope(engine) as session:
        now = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at) + after

    def recorded() -> list[HouseholdVisitRequest]:
        with session_scope(engine) as session:
            return list(session.exec(select(HouseholdVisitRequest)))

    first: list[Reply] = []
    seen_mid_round: list[int] = []
    hung: list[Reply] = []
    hanging = asyncio.Event()

    async def send_then_die(reply: Reply) -> None:
        if len(first) == 2:  # the third ask never returns: the process is stopped here
            seen_mid_round.append(len(recorded()))
            hung.append(reply)
            hanging.set()
            await asyncio.Event().wait()
        first.append(reply)

    round_ = asyncio.create_task(
        visit_round(
            engine=broadcaster.engine, settings=SETTINGS, send=send_then_die, now=now, concurrency=1
        )
    )
    async with asyncio.timeout(10):
        await hanging.wait()
    round_.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await round_
    assert seen_mid_round == [2]  # the two sent were recorded while the round still ran
    assert len(recorded()) == 2
    # the next round sends the rest, several at a time; the interrupted ask fails this time
    rest: list[Reply] = []
    in_flight = most = 0

    async def send_slowly(reply: Reply) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        if reply == hung[0]:
            raise SendFailed("bot1", "发送失败", permanent=False)
        rest.append(reply)

    pending = len(ROSTER.contacts) - 2
    assert await visit_round(
        engine=broadcaster.engine, settings=SETTINGS, send=send_slowly, now=now
    ) == (pending - 1, 1)
    assert 1 < most <= VISIT_CONCURRENCY
    assert not {r.text for r in first} & {r.text for r in rest}  # nothing twice
    assert len(recorded()) == 2 + pending - 1  # the failed ask is not recorded ...
    last: list[Reply] = []

    async def send_ok(reply: Reply) -> None:
        last.append(reply)

    # ... so the next round sends it, and only it: none lost
    assert await visit_round(
        engine=broadcaster.engine, settings=SETTINGS, send=send_ok, now=now
    ) == (1, 0)
    assert last == hung and len(recorded()) == len(ROSTER.contacts)
