"""日清、周商、旬查: each with time as a parameter; fires once, survives a restart, and
sends nothing on an empty day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from models.broadcast import Delivery, DeliveryState, Notice, NoticeKind, NoticeStatus
from models.chat import ChatGroup
from models.db import session_scope
from models.enums import TicketLevel, TicketState
from models.rhythm import CadenceRun, CallBack, ConsultationItem
from rhythm.cases import CaseFacts
from rhythm.commands import CallBackAnswer, ConsultCommand, parse_rhythm_command
from rhythm.consultation import answer_call_back, pending_call_backs, record_consultation
from rhythm.daily import run_daily
from rhythm.jobs import RUNNERS, missed_runs
from rhythm.periods import Cadence, last_fire_time
from rhythm.tenday import draw_call_backs, run_ten_day
from rhythm.weekly import agenda_reasons, run_weekly
from tests.tickets.flows import act, events, file, new_code, rate, ticket
from tests.tickets.helpers import T0, Town, contact

DIGEST = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
"""17:30 on 30 November in the town (the default 日清 time)."""


def _village_room(engine: Engine, town: Town) -> str:
    with session_scope(engine) as session:
        session.add(
            ChatGroup(room_id="village@chatroom", topic="国欢村", org_unit_id=town.village_id)
        )
    return "village@chatroom"


def test_daily_on_an_empty_day_sends_nothing_and_fires_once(
    engine: Engine, settings: Settings, town: Town
) -> None:
    with session_scope(engine) as session:
        assert run_daily(session, settings, DIGEST) == []
    with session_scope(engine) as session:
        assert run_daily(session, settings, DIGEST + timedelta(minutes=5)) is None
        runs = session.exec(select(CadenceRun)).all()
    assert [(r.cadence, r.period, r.messages) for r in runs] == [("daily", "2026-11-30", 0)]


def test_daily_digest_lines_and_the_unaccepted_flag(
    engine: Engine, settings: Settings, town: Town
) -> None:
    room = _village_room(engine, town)
    code = new_code(engine, settings, town)
    with session_scope(engine) as session:
        replies = run_daily(session, settings, DIGEST)
    assert replies is not None
    to_leader = [r for r in replies if r.contact_id == contact(town.grid_leader)]
    assert len(to_leader) == 1 and code in to_leader[0].text and "尚未签收 1件" in to_leader[0].text
    [line] = [r for r in replies if r.room_id == room]
    assert "新收1 未签收1" in line.text
    flagged = [r for r in replies if r.contact_id == contact(town.station_chief)]
    assert flagged and code in flagged[0].text
    with session_scope(engine) as session:  # the next day: nothing new arrived
        later = run_daily(session, settings, DIGEST + timedelta(days=1))
    assert later is not None and all("今日新收" not in r.text for r in later)


def test_all_clear_line_when_configured(engine: Engine, settings: Settings, town: Town) -> None:
    room = _village_room(engine, town)
    clear = settings.model_copy(
        update={"cadences": settings.cadences.model_copy(update={"all_clear_line": True})}
    )
    with session_scope(engine) as session:
        replies = run_daily(session, clear, DIGEST)
    assert replies is not None
    assert [r.text for r in replies if r.room_id == room] == ["【日清 11月30日】国欢村：今日已清。"]


def test_a_restart_catches_up_a_missed_cadence_once(
    engine: Engine, settings: Settings, town: Town
) -> None:
    restarted = DIGEST + timedelta(minutes=40)
    assert last_fire_time(settings.cadences.daily, restarted) == DIGEST
    with Session(engine) as session:
        missed = dict(missed_runs(session, settings, restarted))
    assert missed[Cadence.DAILY] == DIGEST
    with session_scope(engine) as session:
        assert run_daily(session, settings, missed[Cadence.DAILY]) == []
    with Session(engine) as session:  # a second restart: it ran, nothing to catch up
        assert Cadence.DAILY not in dict(missed_runs(session, settings, restarted))
    with Session(engine) as session:  # too late to catch up (the next day's digest is due)
        assert (
            Cadence.DAILY not in dict(missed_runs(session, settings, DIGEST + timedelta(hours=13)))
            or last_fire_time(settings.cadences.daily, DIGEST + timedelta(hours=13)) == DIGEST
        )


def _case(**overrides: object) -> CaseFacts:
    base: dict[str, object] = {
        "ticket_id": 1,
        "code": "T20261120-0001",
        "state": TicketState.ACCEPTED,
        "level": TicketLevel.GRID,
        "category": "other",
        "village_id": 1,
        "grid_id": 2,
        "unit_id": 3,
        "created_at": T0 - timedelta(days=10),
        "resolve_by": T0 + timedelta(days=1),
        "accept_by": T0 - timedelta(days=9),
    }
    return CaseFacts(**{**base, **overrides})  # type: ignore[arg-type]


def test_agenda_selection_rules() -> None:
    def reasons(**overrides: object) -> list[str]:
        return agenda_reasons(_case(**overrides), now=T0, overdue_days=3)

    assert reasons() == []
    assert reasons(level=TicketLevel.VILLAGE) == ["escalated"]
    assert reasons(level=TicketLevel.TOWN, state=TicketState.REOPENED, reopen_count=1) == [
        "escalated",
        "reopened",
    ]
    assert reasons(resolve_by=T0 - timedelta(days=3)) == []  # overdue by exactly N days
    assert reasons(resolve_by=T0 - timedelta(days=3, minutes=1)) == ["overdue"]
    assert reasons(level=TicketLevel.DEPARTMENT, state=TicketState.DISPATCHED) == ["unreported"]
    assert reasons(level=TicketLevel.DEPARTMENT, state=TicketState.IN_PROGRESS) == []
    assert reasons(level=TicketLevel.VILLAGE, state=TicketState.CLOSED, reopen_count=2) == []


def test_weekly_agenda_and_a_recorded_outcome(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town)
    act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    act(engine, settings, f"上报 {code} 涉及两个网格，需要村里协调", contact(town.grid_leader))
    monday = T0 + timedelta(days=7)
    with session_scope(engine) as session:
        assert run_weekly(session, settings, T0 - timedelta(days=7)) == []  # before: nothing
        replies = run_weekly(session, settings, monday)
    assert replies is not None
    chief = [r for r in replies if r.contact_id == contact(town.station_chief)]
    assert chief and code in chief[0].text and "已上报村/镇" in chief[0].text
    assert any(r.contact_id == contact(town.grid_worker) for r in replies)  # 三员
    with session_scope(engine) as session:
        assert run_weekly(session, settings, monday + timedelta(hours=1)) is None
    command = parse_rhythm_command(
        f"会商 {code} 结论 请区住建局上门查看 责任人 {town.grid_leader.name} 期限 12月10日",
        today=monday.date(),
    )
    assert isinstance(command, ConsultCommand) and command.owner_name == town.grid_leader.name
    with session_scope(engine) as session:
        recorded = record_consultation(
            session,
            settings,
            command,
            contact_id=contact(town.station_chief),
            name="站长",
            now=monday,
        )
    assert "已记录" in recorded.reply
    assert any(r.contact_id == contact(town.grid_leader) for r in recorded.replies)
    assert events(engine, code)[-1] == "consult"
    with Session(engine) as session:
        item = session.exec(select(ConsultationItem)).one()
    assert item.conclusion == "请区住建局上门查看" and str(item.due_on) == "2026-12-10"


def test_a_call_back_reopens_a_ticket(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    leader = contact(town.grid_leader)
    act(engine, settings, f"接单 {code}", leader, now=T0 + timedelta(minutes=5))
    act(engine, settings, f"办结 {code} 已疏通", leader, now=T0 + timedelta(hours=2))
    rate(engine, settings, f"满意 {code}", "resident-1", now=T0 + timedelta(hours=3))
    assert ticket(engine, code).state is TicketState.CLOSED
    check = datetime(2026, 11, 30, 1, 0, tzinfo=UTC) + timedelta(hours=10)  # 19:00 on the 30th
    with session_scope(engine) as session:
        replies = run_ten_day(session, settings, check)
    assert replies is not None
    [ask] = [r for r in replies if r.contact_id == "resident-1"]
    assert "【回访】" in ask.text and code in ask.text
    answer = parse_rhythm_command("没解决，还是堵", today=check.date())
    assert isinstance(answer, CallBackAnswer) and not answer.solved
    with session_scope(engine) as session:
        pending = pending_call_backs(session, "resident-1")
        recorded = answer_call_back(
            session,
            settings,
            answer,
            contact_id="resident-1",
            name="居民",
            now=check,
            pending=pending,
        )
    assert code in recorded.reply
    row = ticket(engine, code)
    assert row.state is TicketState.REOPENED and row.closed_at is None and row.reopen_count == 1
    assert events(engine, code)[-1] == "call_back"
    with Session(engine) as session:
        assert session.exec(select(CallBack)).one().reopened


def test_ten_day_check_on_an_empty_day_sends_nothing_once(
    engine: Engine, settings: Settings, town: Town
) -> None:
    with session_scope(engine) as session:
        assert run_ten_day(session, settings, T0) == []
        assert run_ten_day(session, settings, T0 + timedelta(hours=1)) is None


def test_a_resident_who_was_not_asked_is_not_a_call_back(
    engine: Engine, settings: Settings, town: Town
) -> None:
    file(engine, settings, "下水道堵了好几天了没人管", "resident-9", unit_id=town.unit_id)
    with Session(engine) as session:
        assert pending_call_backs(session, "resident-9") == []


CHECK = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
"""09:00 on 20 December in the town (a 旬查 day)."""


def _notice_to_units(engine: Engine, town: Town, *, sent: datetime) -> dict[str, int]:
    """N0001 to three unit groups: 洋中1号片区 silent, 国欢花园1号楼 answered, 霞林苑1号楼1单元
    answered only N0001's correction N0002. Returns the rooms' group ids."""
    units = {
        "unit-a@chatroom": town.unit_id,
        "unit-b@chatroom": town.other_grid_unit_id,
        "unit-c@chatroom": town.other_village_unit_id,
    }
    with session_scope(engine) as session:
        groups = {
            room: ChatGroup(room_id=room, topic=room, org_unit_id=u) for room, u in units.items()
        }
        session.add_all(groups.values())
        session.flush()
        original = Notice(
            code="N0001",
            title="台风预警",
            body="今晚停止户外作业",
            scope_org_unit_id=town.village_id,
            levels=["unit"],
            issuer_name="国欢镇应急办",
            status=NoticeStatus.DONE,
            started_at=sent,
        )
        session.add(original)
        session.flush()
        correction = Notice(
            code="N0002",
            kind=NoticeKind.CORRECTION,
            parent_id=original.id,
            title="台风预警",
            body="改为今晚9点",
            scope_org_unit_id=town.village_id,
            levels=["unit"],
            issuer_name="国欢镇应急办",
            status=NoticeStatus.DONE,
            started_at=sent + timedelta(minutes=10),
        )
        session.add(correction)
        session.flush()
        for room, group in groups.items():
            assert original.id and correction.id and group.id
            acked = sent + timedelta(minutes=20)
            for notice, answered in (
                (original, room == "unit-b@chatroom"),
                (correction, room == "unit-c@chatroom"),
            ):
                session.add(
                    Delivery(
                        notice_id=notice.id,  # type: ignore[arg-type]
                        chat_group_id=group.id,
                        room_id=room,
                        level="unit",
                        state=DeliveryState.SENT,
                        sent_at=sent + timedelta(seconds=30),
                        acked_at=acked if answered else None,
                    )
                )
        return {room: g.id or 0 for room, g in groups.items()}


def test_ten_day_check_lists_slow_tickets_by_grid_and_person_and_silent_units(
    engine: Engine, settings: Settings, town: Town
) -> None:
    room = _village_room(engine, town)
    long_open = new_code(engine, settings, town)  # 30 November, accepted: overdue, long open
    act(engine, settings, f"接单 {long_open}", contact(town.grid_leader), now=T0)
    overdue = file(  # 10 December, another grid, not accepted by its leader: overdue only
        engine,
        settings,
        "路灯坏了一个星期了没人修，晚上很黑",
        "resident-2",
        unit_id=town.other_grid_unit_id,
        now=datetime(2026, 12, 10, 1, 0, tzinfo=UTC),
    ).ticket_code
    assert overdue
    _notice_to_units(engine, town, sent=CHECK - timedelta(days=2))
    with session_scope(engine) as session:
        replies = run_ten_day(session, settings, CHECK)
    assert replies is not None
    [village] = [r.text for r in replies if r.room_id == room]
    leader = town.grid_leader.name
    assert village.splitlines() == [
        "【旬查 12月20日】国欢村",
        "超期工单 2件：第1网格 1件，第2网格 1件",
        f"  按承办人：{leader} 1件，{town.other_grid_leader.name} 1件",
        f"  {long_open}、{overdue}",
        "长期未办结工单 1件：第1网格 1件",
        f"  按承办人：{leader} 1件",
        f"  {long_open}",
        "未回复最近通知的单元：",
        "  第1网格：1个单元（洋中1号片区；N0001）",  # 国欢花园1号楼 answered
    ]
    assert [r.text for r in replies if r.contact_id == contact(town.station_chief)] == [village]
    [town_text] = [r.text for r in replies if r.contact_id == contact(town.town_official)]
    # 霞林苑1号楼1单元 answered the correction only: it did not ignore the notice
    assert town_text.startswith("【旬查 12月20日】全镇\n超期工单 2件")
    assert "霞林苑" not in town_text and "洋中1号片区；N0001" in town_text


def test_a_notice_still_within_its_acknowledgement_window_is_not_called_ignored(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """Regression: a 旬查 six minutes after a town notice listed nearly every unit as
    having ignored it."""
    _notice_to_units(engine, town, sent=CHECK - timedelta(minutes=6))
    with session_scope(engine) as session:
        replies = run_ten_day(session, settings, CHECK)
    assert replies is not None
    assert not [r for r in replies if "未回复最近通知" in r.text]


def test_call_backs_are_drawn_at_random_reproducibly() -> None:
    pool = list(range(100, 120))
    drawn = draw_call_backs(pool, 3, seed="2026-12-20/7")
    assert len(drawn) == 3 and drawn == sorted(drawn) and set(drawn) <= set(pool)
    # the same check and village draw the same, whatever order the candidates came in
    assert draw_call_backs(list(reversed(pool)), 3, seed="2026-12-20/7") == drawn
    # another check or village draws otherwise: not simply the first tickets
    draws = {tuple(draw_call_backs(pool, 3, seed=f"2026-12-{d:02d}/7")) for d in range(1, 31)}
    assert len(draws) > 20
    assert {t for d in draws for t in d} == set(pool)
    assert draw_call_backs(pool[:2], 3, seed="x") == pool[:2]  # fewer than asked: all
    assert draw_call_backs([], 3, seed="x") == [] and draw_call_backs(pool, 0, seed="x") == []


def test_a_restart_catches_up_each_missed_cadence_once(
    engine: Engine, settings: Settings, town: Town
) -> None:
    cases = {  # the cadence's last fire before a restart 40 minutes later (local 09:00 = 01:00 UTC)
        Cadence.WEEKLY: datetime(2026, 11, 30, 1, 0, tzinfo=UTC),  # Monday
        Cadence.TEN_DAY: datetime(2026, 12, 10, 1, 0, tzinfo=UTC),
        Cadence.MONTHLY: datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    }
    for cadence, fired in cases.items():
        restarted = fired + timedelta(minutes=40)
        with Session(engine) as session:
            missed = dict(missed_runs(session, settings, restarted))
        assert missed.get(cadence) == fired, cadence
        with session_scope(engine) as session:
            assert RUNNERS[cadence](session, settings, missed[cadence]) is not None
        with Session(engine) as session:  # a second restart: it ran, nothing to catch up
            assert cadence not in dict(missed_runs(session, settings, restarted))
        with session_scope(engine) as session:  # and running it again does nothing
            assert RUNNERS[cadence](session, settings, restarted) is None
        late = fired + settings.cadences.catch_up + timedelta(minutes=1)
        with Session(engine) as session:  # longer down than catch_up: not caught up
            assert cadence not in dict(missed_runs(session, settings, late))
    with Session(engine) as session:
        runs = sorted((r.cadence, r.period) for r in session.exec(select(CadenceRun)))
    assert runs == [("monthly", "2026-11"), ("ten_day", "2026-12-10"), ("weekly", "2026-W49")]


def test_weekly_agenda_is_posted_in_the_village_group_when_configured(
    engine: Engine, settings: Settings, town: Town
) -> None:
    room = _village_room(engine, town)
    code = new_code(engine, settings, town)
    act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    act(engine, settings, f"上报 {code} 涉及两个网格，需要村里协调", contact(town.grid_leader))
    monday = T0 + timedelta(days=7)
    with session_scope(engine) as session:
        replies = run_weekly(session, settings, monday)
    assert replies is not None
    [posted] = [r for r in replies if r.room_id == room]
    assert code in posted.text and "国欢村" in posted.text
    quiet = settings.model_copy(
        update={
            "cadences": settings.cadences.model_copy(update={"consult_in_village_group": False})
        }
    )
    with session_scope(engine) as session:
        replies = run_weekly(session, quiet, monday + timedelta(days=7))
    assert replies is not None and any(code in r.text for r in replies)
    assert [r for r in replies if r.room_id is not None] == []  # privately only


def test_daily_lists_as_unaccepted_only_what_the_grid_leader_can_accept() -> None:
    """Regression: a ticket reopened to a department was listed to its grid leader as
    尚未签收, with 「请回复接单」, which the grid leader cannot do."""
    from models.org import OrgUnit
    from rhythm.daily import grid_days

    now = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)

    def case(code: str, level: TicketLevel) -> CaseFacts:
        return CaseFacts(
            ticket_id=1,
            code=code,
            state=TicketState.DISPATCHED,
            level=level,
            category="environment",
            village_id=2,
            grid_id=3,
            unit_id=4,
            created_at=now - timedelta(days=3),
            resolve_by=now + timedelta(days=4),
            accept_by=now - timedelta(days=2),
        )

    grid = OrgUnit(id=3, parent_id=2, level="grid", name="第1网格", path="镇/村/第1网格")
    [day] = grid_days(
        [case("T1", TicketLevel.GRID), case("T2", TicketLevel.DEPARTMENT)], [grid], now=now
    )
    assert day.unaccepted == ("T1",)
