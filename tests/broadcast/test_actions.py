"""撤回 and 更正 written once (broadcast/actions.py) for the chat and the console, and the
console's read side of a notice after it went out: coverage by place, the silent units
with their unit leaders, the history's filters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from broadcast import actions, compose, service
from broadcast.engine import NoticeRequest
from broadcast.history import (
    NoticeFilter,
    count_notices,
    coverage,
    notice_lines,
    silent_unit_leaders,
)
from core.privacy import ANONYMOUS, Viewer, mask_phone
from models.broadcast import Delivery, Notice, NoticeKind, NoticeStatus
from models.db import session_scope
from tests.broadcast.harness import PATHS, ROSTER, TOWN, fake, room_id, send
from tests.broadcast.test_receipts import UNIT_ROOM, wire

VILLAGE = ROSTER.rows[0].village
ROW = ROSTER.rows[0]


def notice(engine: Engine, code: str) -> Notice:
    with session_scope(engine) as session:
        return service.notice_by_code(session, code)


async def test_recall_stops_the_notice_and_tells_every_group_that_got_it(  # type: ignore[no-untyped-def]
    system, engine: Engine
) -> None:
    hub, broadcaster = system
    code = await send(broadcaster, scope=VILLAGE)
    recalled = await actions.recall(
        broadcaster,
        code,
        issuer_name="镇应急办",
        issuer_person_id=None,
        channel="web",
        reason="发错了村",
    )
    prepared = recalled.retraction
    assert prepared is not None and "已撤回" in recalled.summary_zh()
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    child = notice(engine, prepared.code)
    assert child.kind is NoticeKind.RETRACTION and child.channel == "web"
    assert child.body == "发错了村" and not child.ack_required
    assert notice(engine, code).status is NoticeStatus.RECALLED
    told = {s.room_id for a in hub.accounts for s in fake(hub, a).sent if prepared.code in s.text}
    assert told == {room_id(p) for p in PATHS if p and p[0] == VILLAGE}
    with pytest.raises(compose.NoticeInvalid, match="已经撤回"):
        await actions.recall(
            broadcaster, code, issuer_name="x", issuer_person_id=None, channel="web", reason=""
        )
    with pytest.raises(compose.NoticeInvalid, match="已经撤回"):
        await actions.correct(
            broadcaster, code, "改到下午", issuer_name="x", issuer_person_id=None, channel="web"
        )


async def test_correction_goes_to_the_groups_of_the_original(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    code = await send(broadcaster, scope=VILLAGE)
    prepared = await actions.correct(
        broadcaster,
        code,
        "集合时间改为下午3点",
        issuer_name="镇应急办",
        issuer_person_id=None,
        channel="web",
    )
    async with asyncio.timeout(20):
        await broadcaster.wait(prepared.code)
    corrected = {
        s.room_id
        for a in hub.accounts
        for s in fake(hub, a).sent
        if s.text.startswith(f"【更正 {prepared.code}】") and "下午3点" in s.text
    }
    assert corrected == {room_id(p) for p in PATHS if p and p[0] == VILLAGE}
    assert notice(engine, code).status is NoticeStatus.DONE  # a correction does not recall


async def test_nothing_changes_when_a_recall_or_correction_is_refused(  # type: ignore[no-untyped-def]
    system, engine: Engine
) -> None:
    hub, broadcaster = system
    pending = await broadcaster.prepare(
        NoticeRequest(title="停水", body="明天停水", scope=VILLAGE, issuer_name="镇水务站")
    )
    with pytest.raises(compose.NoticeInvalid, match="还没有发送"):
        await actions.recall(
            broadcaster,
            pending.code,
            issuer_name="x",
            issuer_person_id=None,
            channel="web",
            reason="",
        )
    assert notice(engine, pending.code).status is NoticeStatus.PENDING
    code = await send(broadcaster, scope=VILLAGE)
    with pytest.raises(compose.NoticeInvalid, match="正文太长"):  # checked before it stops
        await actions.recall(
            broadcaster,
            code,
            issuer_name="x",
            issuer_person_id=None,
            channel="web",
            reason="长" * (compose.MAX_BODY_CHARS + 1),
        )
    with pytest.raises(compose.NoticeInvalid, match="正文不能为空"):
        await actions.correct(
            broadcaster, code, "  ", issuer_name="x", issuer_person_id=None, channel="web"
        )
    with pytest.raises(service.NoticeNotFound):
        await actions.correct(
            broadcaster, "N9999", "x", issuer_name="x", issuer_person_id=None, channel="web"
        )
    assert notice(engine, code).status is NoticeStatus.DONE
    with session_scope(engine) as session:
        assert len(session.exec(select(Notice)).all()) == 2  # no child was created
    assert not any(s.text.startswith("【撤回") for a in hub.accounts for s in fake(hub, a).sent)


async def test_chat_recall_of_a_notice_never_sent_is_refused(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """The chat's #撤回 goes through the same function: a pending notice is cancelled with
    #取消, not recalled (before, it was cancelled and an empty retraction was planned)."""
    hub, broadcaster = system
    wire(hub, broadcaster)
    official = next(e for e in ROSTER.extra_roles if e.role.value == "town_official").person
    pending = await broadcaster.prepare(
        NoticeRequest(title="停水", body="明天停水", scope=VILLAGE, issuer_name="镇水务站")
    )
    bot1 = fake(hub, "bot1")
    await bot1.receive(
        f"#撤回 {pending.code}",
        room_id=UNIT_ROOM,
        sender_id=official.wechat_id or "",
        sender_name=official.name,
    )
    assert "还没有发送" in bot1.sent[-1].text
    assert notice(engine, pending.code).status is NoticeStatus.PENDING


async def test_coverage_drills_down_from_the_village_to_its_units(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    hub, broadcaster = system
    wire(hub, broadcaster)
    code = await send(broadcaster, scope=VILLAGE)
    leader = ROW.unit_leader
    await fake(hub, "bot1").receive(
        "收到", room_id=UNIT_ROOM, sender_id=leader.wechat_id or "", sender_name=leader.name
    )
    n = notice(engine, code)
    assert n.id is not None
    with session_scope(engine) as session:
        top = coverage(session, n.id, town=TOWN, at=(VILLAGE,), viewer=ANONYMOUS)
        grid = coverage(session, n.id, town=TOWN, at=ROW.path[:2], viewer=ANONYMOUS)
        whole = coverage(session, n.id, town=TOWN, at=ROW.path[:2], viewer=Viewer.staff([()]))
        elsewhere = coverage(session, n.id, town=TOWN, at=("没有这个村",), viewer=ANONYMOUS)
        silent, total = silent_unit_leaders(
            session, n.id, within=ROW.path[:2], viewer=Viewer.staff([(VILLAGE,)])
        )
        deliveries = session.exec(select(Delivery).where(Delivery.notice_id == n.id)).all()
    assert elsewhere is None
    assert top is not None and grid is not None and whole is not None
    assert top.total.groups == len(deliveries) and top.total.acked == 1
    assert top.rows[0].own and top.rows[0].name == VILLAGE and top.rows[0].groups == 1
    grids = {r.path: r for r in top.rows[1:]}
    assert sum(r.groups for r in top.rows) == top.total.groups
    assert grids[ROW.path[:2]].acked == 1 and not top.leaf
    assert grid.leaf
    unit = next(r for r in grid.rows if r.path == ROW.path)
    assert unit.acked_by == leader.name and unit.delivery == "已送达"
    assert [(x.name, x.phone) for x in unit.leaders] == [(leader.name, mask_phone(leader.phone))]
    unit_whole = next(r for r in whole.rows if r.path == ROW.path)
    assert unit_whole.leaders[0].phone == leader.phone  # the town sees it in full
    silent_paths = [u.path for u in silent]
    units_in_grid = {r.path for r in ROSTER.rows if r.path[:2] == ROW.path[:2]}
    assert ROW.path not in silent_paths and set(silent_paths) == units_in_grid - {ROW.path}
    assert total == len(silent_paths)
    first = next(r for r in ROSTER.rows if r.path == silent_paths[0])
    assert silent[0].leaders[0].name == first.unit_leader.name
    assert silent[0].leaders[0].phone == first.unit_leader.phone  # inside the chief's village


async def test_history_filters(system, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    _hub, broadcaster = system
    other = next(r.village for r in ROSTER.rows if r.village != VILLAGE)
    first = await send(broadcaster, scope=VILLAGE, title="停水通知", body="明天停水")
    second = await send(broadcaster, scope="/".join(ROW.path[:2]), title="消防检查")
    third = await send(broadcaster, scope=other, title="疫苗接种日")
    town_wide = await send(broadcaster, title="台风预警")
    fix = await actions.correct(
        broadcaster, first, "改到后天", issuer_name="镇水务站", issuer_person_id=None, channel="web"
    )
    async with asyncio.timeout(20):
        await broadcaster.wait(fix.code)

    def codes(scopes: list[tuple[str, ...]] | None = None, **wanted: object) -> list[str]:
        with session_scope(engine) as session:
            found = NoticeFilter(**wanted)  # type: ignore[arg-type]
            lines = notice_lines(session, town=TOWN, scopes=scopes, wanted=found)
            if not found.offset:
                assert count_notices(session, town=TOWN, scopes=scopes, wanted=found) == len(lines)
            return [line.code for line in lines]

    assert codes() == [fix.code, town_wide, third, second, first]
    assert codes(place=(VILLAGE,)) == [fix.code, second, first]
    assert codes(place=ROW.path[:2]) == [second]
    assert codes(place=ROW.path[:2], above=True) == [fix.code, town_wide, second, first]
    assert codes(kind=NoticeKind.CORRECTION) == [fix.code]
    assert codes(text="疫苗") == [third]
    assert codes(text="后天") == [fix.code]  # the body too
    assert codes(text=third.lower()) == [third]
    assert codes(status=NoticeStatus.RECALLED) == []
    assert codes(scopes=[(other,)]) == [third]
    now = datetime.now(UTC)
    assert codes(start=now + timedelta(days=1)) == []
    assert codes(start=now - timedelta(hours=1), end=now + timedelta(hours=1))[-1] == first
    assert codes(limit=2, offset=1) == [town_wide, third]
