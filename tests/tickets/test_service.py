"""Ticket data functions on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.config import ConfigError, Settings, parse_settings
from models.db import session_scope
from models.enums import ActorRole, Rating, TicketLevel, TicketState, Urgency
from models.tickets import (
    IntakeKind,
    IntakeMessage,
    Ticket,
    TicketChannel,
    TicketCreate,
    TicketEvent,
    TicketReporter,
)
from tests.tickets.helpers import T0, Town, contact, with_tickets
from tickets import service
from tickets.commands import (
    CommandError,
    RateCommand,
    ReassignCommand,
    TicketCommand,
    parse_command,
)
from tickets.lifecycle import TransitionRefused, apply

COMPLAINT = "3栋楼下的下水道堵了好几天了，臭死了，没人管吗"
MIN = timedelta(minutes=1)


def file(
    engine: Engine,
    settings: Settings,
    text: str,
    sender: str,
    *,
    unit_id: int,
    now: object = T0,
    name: str = "居民",
) -> service.IntakeOutcome:
    with session_scope(engine) as session:
        return service.intake(
            session=session,
            settings=settings,
            text=text,
            sender_contact_id=sender,
            sender_name=name,
            room_id="unit@chatroom",
            org_unit_id=unit_id,
            now=now,  # type: ignore[arg-type]
        )


def command(settings: Settings, text: str) -> TicketCommand | ReassignCommand:
    parsed = parse_command(text, departments=settings.departments)
    assert isinstance(parsed, TicketCommand | ReassignCommand), parsed
    return parsed


def act(
    engine: Engine,
    settings: Settings,
    text: str,
    who: str,
    *,
    now: object = T0,
    mention_ids: tuple[str, ...] = (),
) -> service.ActOutcome:
    with session_scope(engine) as session:
        return service.act(
            session=session,
            settings=settings,
            command=command(settings, text),
            actor_contact_id=who,
            actor_name="",
            now=now,  # type: ignore[arg-type]
            mention_ids=mention_ids,
        )


def rate(
    engine: Engine, settings: Settings, text: str, who: str, *, now: object = T0
) -> service.ActOutcome | None:
    parsed = parse_command(text)
    assert isinstance(parsed, RateCommand)
    with session_scope(engine) as session:
        return service.rate(
            session=session,
            settings=settings,
            command=parsed,
            contact_id=who,
            name="",
            now=now,  # type: ignore[arg-type]
        )


def ticket(engine: Engine, code: str) -> Ticket:
    with Session(engine) as session:
        return session.exec(select(Ticket).where(Ticket.code == code)).one()


def events(engine: Engine, code: str) -> list[str]:
    with Session(engine) as session:
        row = session.exec(select(Ticket).where(Ticket.code == code)).one()
        return list(
            session.exec(
                select(TicketEvent.kind)
                .where(TicketEvent.ticket_id == row.id)
                .order_by(col(TicketEvent.id))
            )
        )


def new_code(engine: Engine, settings: Settings, town: Town, text: str = COMPLAINT) -> str:
    outcome = file(engine, settings, text, "resident-1", unit_id=town.unit_id)
    assert outcome.kind is IntakeKind.TICKET and outcome.ticket_code
    return outcome.ticket_code


# --------------------------------------------------------------------------- intake


def test_intake_opens_a_ticket_with_a_code_and_routes_it_to_the_grid_leader(
    engine: Engine, settings: Settings, town: Town
) -> None:
    outcome = file(engine, settings, COMPLAINT, "resident-1", unit_id=town.unit_id)

    assert outcome.kind is IntakeKind.TICKET
    assert outcome.ticket_code == "T20261130-0001"
    group, private = outcome.replies
    assert group.room_id == "unit@chatroom" and group.mention_ids == ("resident-1",)
    leader = town.grid_leader
    assert "T20261130-0001" in group.text and f"网格长{leader.name}" in group.text
    assert "138****0022" in group.text and leader.phone not in group.text
    assert "11月30日 11:00前响应" in group.text  # 2 h to accept, local time
    assert private.contact_id == contact(leader) and private.room_id is None
    assert COMPLAINT in private.text and "位置：3栋" in private.text
    for verb in ("接单", "办结", "上报", "吹哨", "改派", "延期"):
        assert f"{verb} T20261130-0001" in private.text

    row = ticket(engine, "T20261130-0001")
    assert (row.state, row.level, row.category) == (
        TicketState.DISPATCHED,
        TicketLevel.GRID,
        "sanitation",
    )
    assert row.assignee_contact_id == contact(leader) and row.assignee_person_id is not None
    assert (row.unit_id, row.grid_id, row.village_id) == (
        town.unit_id,
        town.grid_id,
        town.village_id,
    )
    assert row.next_timer_at == T0 + timedelta(hours=2) - timedelta(minutes=24)
    assert events(engine, row.code) == ["create", "dispatch"]
    with Session(engine) as session:
        logged = session.exec(select(IntakeMessage)).one()
    assert (logged.kind, logged.ticket_id, logged.category) == (
        IntakeKind.TICKET,
        row.id,
        "sanitation",
    )


def test_codes_count_per_local_day(engine: Engine, settings: Settings, town: Town) -> None:
    first = file(engine, settings, COMPLAINT, "r1", unit_id=town.unit_id)
    second = file(engine, settings, "楼上邻居天天半夜装修吵死了", "r2", unit_id=town.unit_id)
    # 16:30 UTC is 00:30 the next day in the town: a new day, a new sequence.
    late = T0.replace(hour=16, minute=30)
    third = file(
        engine, settings, "路灯坏了一个星期了晚上黑乎乎的", "r3", unit_id=town.unit_id, now=late
    )
    assert [o.ticket_code for o in (first, second, third)] == [
        "T20261130-0001",
        "T20261130-0002",
        "T20261201-0001",
    ]


def test_codes_are_unique_under_concurrency(engine: Engine) -> None:
    codes: list[str] = []
    errors: list[BaseException] = []

    def allocate() -> None:
        try:
            for _ in range(5):
                with session_scope(engine) as session:
                    codes.append(service.allocate_code(session, T0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(codes) == [f"T20261130-{n:04d}" for n in range(1, 31)]


def test_a_duplicate_joins_the_open_ticket(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    again = file(
        engine, settings, "3栋楼下水道堵了几天了，臭死人了", "resident-2", unit_id=town.unit_id
    )

    assert again.kind is IntakeKind.DUPLICATE and again.ticket_code == code
    group, notice = again.replies
    assert f"与工单{code}是同一问题" in group.text and "共2人反映" in group.text
    assert group.mention_ids == ("resident-2",)
    assert notice.contact_id == contact(town.grid_leader) and "共2人" in notice.text
    with Session(engine) as session:
        reporters = session.exec(select(TicketReporter.contact_id)).all()
    assert sorted(reporters) == ["resident-1", "resident-2"]
    assert events(engine, code)[-1] == "add_reporter"

    same_person = file(
        engine, settings, "3栋下水道堵了好几天了臭死了", "resident-1", unit_id=town.unit_id
    )
    assert same_person.kind is IntakeKind.DUPLICATE and "您已反映过这个问题" in same_person.receipt
    assert len(same_person.replies) == 1


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("5栋楼下的下水道堵了好几天了，臭死了", "unit_id"),  # another building
        ("楼上邻居天天半夜装修吵死了", "unit_id"),  # another category
        ("3栋楼下的下水道堵了好几天了，臭死了", "other_grid_unit_id"),  # another grid
    ],
)
def test_what_is_not_a_duplicate(
    engine: Engine, settings: Settings, town: Town, text: str, unit: str
) -> None:
    new_code(engine, settings, town)
    other = file(engine, settings, text, "resident-2", unit_id=getattr(town, unit))
    assert other.kind is IntakeKind.TICKET


def test_no_merge_after_the_duplicate_window(
    engine: Engine, settings: Settings, town: Town
) -> None:
    new_code(engine, settings, town)
    later = T0 + settings.tickets.duplicate_window + MIN
    other = file(
        engine, settings, "3栋下水道堵了好几天了臭死了", "r2", unit_id=town.unit_id, now=later
    )
    assert other.kind is IntakeKind.TICKET


def test_acknowledgements_and_chat_are_stored_not_ticketed(
    engine: Engine, settings: Settings, town: Town
) -> None:
    outcomes = [
        file(engine, settings, text, "r1", unit_id=town.unit_id)
        for text in ("收到", "今天天气不错出去走走", "😀😀", "[图片]", "啊" * 5000)
    ]
    assert [o.kind for o in outcomes] == [
        IntakeKind.ACKNOWLEDGEMENT,
        *[IntakeKind.NOT_TICKET] * 4,
    ]
    assert all(o.replies == () for o in outcomes)
    with Session(engine) as session:
        assert len(session.exec(select(IntakeMessage)).all()) == 5
        assert session.exec(select(Ticket)).all() == []


def test_flood_limit_gives_one_notice_and_keeps_every_message(
    engine: Engine, settings: Settings, town: Town
) -> None:
    settings = with_tickets(settings, flood_limit_per_hour=2)
    texts = [
        "3栋楼下的下水道堵了好几天了，臭死了",
        "楼上邻居天天半夜装修吵死了",
        "小区门口垃圾好几天没人清理了",
        "路灯坏了一个星期了晚上黑乎乎的",
    ]
    outcomes = [
        file(engine, settings, text, "r1", unit_id=town.unit_id, now=T0 + i * MIN)
        for i, text in enumerate(texts)
    ]
    assert [o.kind for o in outcomes] == [
        IntakeKind.TICKET,
        IntakeKind.TICKET,
        IntakeKind.FLOODED,
        IntakeKind.FLOODED,
    ]
    notice = outcomes[2].replies[0]
    assert "一小时内已反映了2个问题" in notice.text and notice.mention_ids == ("r1",)
    assert town.grid_leader.phone not in notice.text
    assert outcomes[3].replies == ()
    # An urgent report is never held back; another resident is not affected.
    urgent = file(engine, settings, "3栋楼道里着火了冒烟了快来人", "r1", unit_id=town.unit_id)
    assert urgent.kind is IntakeKind.TICKET
    other = file(engine, settings, texts[2], "r2", unit_id=town.unit_id, now=T0 + 5 * MIN)
    assert other.kind is IntakeKind.TICKET
    # An hour later the resident files again.
    later = file(engine, settings, texts[3], "r1", unit_id=town.unit_id, now=T0 + 61 * MIN)
    assert later.kind is IntakeKind.TICKET
    with Session(engine) as session:
        kept = session.exec(
            select(IntakeMessage.text).where(IntakeMessage.sender_contact_id == "r1")
        ).all()
    assert len(kept) == 6


def test_a_village_group_message_goes_to_the_station_chief(
    engine: Engine, settings: Settings, town: Town
) -> None:
    outcome = file(engine, settings, COMPLAINT, "r1", unit_id=town.village_id)
    row = ticket(engine, outcome.ticket_code or "")
    assert (row.level, row.assignee_contact_id) == (
        TicketLevel.VILLAGE,
        contact(town.station_chief),
    )
    assert "网格站站长" in outcome.receipt


# ------------------------------------------------------------------------- commands


def test_accept_by_the_grid_leader_and_refusals_for_others(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town)
    for who, reason in [
        ("resident-1", "只有负责该工单的网格工作人员可以接单"),
        (contact(town.unit_leader), "只有负责该工单的网格工作人员可以接单"),
        (contact(town.other_grid_leader), "不在您的负责范围内"),
        (contact(town.justice_liaison), "请回复「报到"),
    ]:
        with pytest.raises(TransitionRefused, match=reason):
            act(engine, settings, f"接单 {code}", who)
    assert ticket(engine, code).state is TicketState.DISPATCHED
    assert events(engine, code) == ["create", "dispatch"]

    outcome = act(engine, settings, f"接单 {code}", contact(town.grid_leader), now=T0 + MIN)
    assert outcome.state is TicketState.ACCEPTED and "已接单" in outcome.reply
    assert [r.contact_id for r in outcome.replies] == ["resident-1"]
    row = ticket(engine, code)
    assert row.first_accepted_at == T0 + MIN and row.accepted_at == T0 + MIN


def test_unknown_code_is_reported(engine: Engine, settings: Settings, town: Town) -> None:
    with pytest.raises(service.TicketNotFound, match="没有找到工单T20261130-0099"):
        act(engine, settings, "接单 T20261130-0099", contact(town.grid_leader))


def test_whistle_report_resolve_rate_close(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    leader, liaison = contact(town.grid_leader), contact(town.justice_liaison)
    act(engine, settings, f"接单 {code}", leader)

    with pytest.raises(TransitionRefused):
        act(engine, settings, f"吹哨 {code} 区司法局", "resident-1")
    whistle = act(engine, settings, f"吹哨 {code} 区司法局 邻里矛盾需调解", leader, now=T0 + MIN)
    assert "已吹哨" in whistle.reply
    assert {r.contact_id for r in whistle.replies} == {liaison, "resident-1"}
    with pytest.raises(TransitionRefused, match="呼叫的是区司法局"):
        act(engine, settings, f"报到 {code}", contact(town.police_liaison))

    report = act(engine, settings, f"报到 {code}", liaison, now=T0 + 2 * MIN)
    assert report.state is TicketState.IN_PROGRESS
    assert leader in {r.contact_id for r in report.replies}

    resolved = act(engine, settings, f"办结 {code} 已疏通下水道", liaison, now=T0 + 3 * MIN)
    assert resolved.state is TicketState.RESOLVED
    ask = next(r for r in resolved.replies if r.contact_id == "resident-1")
    assert f"满意 {code}" in ask.text and "已疏通下水道" in ask.text
    row = ticket(engine, code)
    assert (row.resolved_level, row.level) == (TicketLevel.DEPARTMENT, TicketLevel.DEPARTMENT)

    with pytest.raises(TransitionRefused, match="只有反映人可以评价"):
        rate(engine, settings, f"满意 {code}", leader)
    rated = rate(engine, settings, "满意", "resident-1", now=T0 + 4 * MIN)
    assert rated is not None and "感谢您的评价" in rated.reply
    row = ticket(engine, code)
    assert (row.state, row.rating) == (TicketState.CLOSED, Rating.SATISFIED)
    assert row.next_timer_at is None
    assert events(engine, code) == [
        "create",
        "dispatch",
        "accept",
        "whistle",
        "report",
        "resolve",
        "rate",
    ]
    assert rate(engine, settings, "满意", "resident-1") is None  # nothing left to rate


def test_unsatisfied_rating_reopens_one_level_up(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town)
    leader = contact(town.grid_leader)
    act(engine, settings, f"接单 {code}", leader)
    act(engine, settings, f"办结 {code} 已清理", leader)
    outcome = rate(engine, settings, f"不满意 {code} 还是堵着", "resident-1")
    assert outcome is not None and outcome.state is TicketState.REOPENED
    assert contact(town.station_chief) in {r.contact_id for r in outcome.replies}
    row = ticket(engine, code)
    assert (row.level, row.reopen_count, row.resolved_level) == (TicketLevel.VILLAGE, 1, None)
    chief = act(engine, settings, f"接单 {code}", contact(town.station_chief))
    assert chief.state is TicketState.ACCEPTED


def test_escalate_reassign_extend_remark_return(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town)
    leader, chief = contact(town.grid_leader), contact(town.station_chief)

    back = act(engine, settings, f"退单 {code} 不属于本网格", leader)
    assert ticket(engine, code).state is TicketState.RETURNED
    assert chief in {r.contact_id for r in back.replies}

    worker = town.grid_worker
    with pytest.raises(service.PersonNotFound, match="没有找到"):
        act(engine, settings, f"改派 {code} @不存在的人", chief)
    reassigned = act(engine, settings, f"改派 {code} @{worker.name}", chief)
    assert contact(worker) in {r.contact_id for r in reassigned.replies}
    row = ticket(engine, code)
    assert (row.assignee_contact_id, row.assignee_role, row.level) == (
        contact(worker),
        ActorRole.GRID_WORKER,
        TicketLevel.GRID,
    )
    act(engine, settings, f"接单 {code}", contact(worker))
    act(engine, settings, f"备注 {code} 已联系物业", contact(worker))
    assert ticket(engine, code).state is TicketState.IN_PROGRESS

    act(engine, settings, f"延期 {code} 3天 等待配件", contact(worker))
    act(engine, settings, f"延期 {code} 2天 配件未到", leader)
    with pytest.raises(TransitionRefused, match="最多只能延期2次"):
        act(engine, settings, f"延期 {code} 1天 还是没到", contact(worker))
    assert ticket(engine, code).extended_days == 5

    up = act(engine, settings, f"上报 {code} 涉及多个网格", leader)
    assert up.state is TicketState.DISPATCHED and chief in {r.contact_id for r in up.replies}
    assert ticket(engine, code).level is TicketLevel.VILLAGE


def test_reassign_across_grids_moves_the_area(
    engine: Engine, settings: Settings, town: Town
) -> None:
    code = new_code(engine, settings, town)
    other = town.other_grid_leader
    act(engine, settings, f"改派 {code} @{other.name}", contact(town.station_chief))
    row = ticket(engine, code)
    assert row.assignee_contact_id == contact(other)
    assert row.grid_id != town.grid_id and row.village_id == town.village_id
    act(engine, settings, f"接单 {code}", contact(other))


def test_a_stored_view_round_trips(engine: Engine, settings: Settings, town: Town) -> None:
    """What the service stores reads back as exactly the view the lifecycle produced."""
    code = new_code(engine, settings, town)
    leader = contact(town.grid_leader)
    steps = [
        f"接单 {code}",
        f"延期 {code} 3天 等待配件",
        f"吹哨 {code} 区司法局",
    ]
    for i, text in enumerate(steps):
        now = T0 + (i + 1) * MIN
        with Session(engine) as session:
            row = session.exec(select(Ticket).where(Ticket.code == code)).one()
            assert row.id is not None
            before = service.ticket_view(row, service._reporter_ids(session, row.id))
            actor = service._Directory(session, settings).actors(leader, "")[0]
        cmd = command(settings, text)
        assert isinstance(cmd, TicketCommand)
        expected = apply(
            before, cmd.action, actor, now, rules=service.lifecycle_rules(settings.tickets)
        )
        act(engine, settings, text, leader, now=now)
        with Session(engine) as session:
            row = session.exec(select(Ticket).where(Ticket.code == code)).one()
            assert row.id is not None
            after = service.ticket_view(row, service._reporter_ids(session, row.id))
        assert after == expected.ticket


# -------------------------------------------------------------------------- queries


def test_query_and_my_tickets(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    with session_scope(engine) as session:
        mine = service.query(
            session=session,
            settings=settings,
            code=code,
            contact_id="resident-1",
            name="",
            now=T0,
        )
        assert f"工单{code}：已派单" in mine and "环境卫生" in mine
        leader_view = service.query(
            session=session,
            settings=settings,
            code=code,
            contact_id=contact(town.grid_leader),
            name="",
            now=T0,
        )
        assert "已派单" in leader_view
        with pytest.raises(TransitionRefused, match="只能查询自己反映的工单"):
            service.query(
                session=session,
                settings=settings,
                code=code,
                contact_id="stranger",
                name="",
                now=T0,
            )
        with pytest.raises(TransitionRefused, match="不在您的负责范围内"):
            service.query(
                session=session,
                settings=settings,
                code=code,
                contact_id=contact(town.other_village_grid_leader),
                name="",
                now=T0,
            )
        listing = service.my_tickets(
            session=session, settings=settings, contact_id="resident-1", name="", now=T0
        )
        assert code in listing and "您反映的工单" in listing
        held = service.my_tickets(
            session=session,
            settings=settings,
            contact_id=contact(town.grid_leader),
            name="",
            now=T0,
        )
        assert "您负责的待办工单" in held and code in held
        none = service.my_tickets(
            session=session, settings=settings, contact_id="nobody", name="", now=T0
        )
        assert "没有工单" in none


def test_list_and_detail(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    with session_scope(engine) as session:
        rows = service.list_tickets(session=session, settings=settings)
        assert [r.code for r in rows] == [code]
        assert rows[0].category_name == "环境卫生" and rows[0].reporter_count == 1
        assert (
            service.list_tickets(session=session, settings=settings, states=[TicketState.CLOSED])
            == []
        )
        detail = service.ticket_detail(session=session, settings=settings, code=code, now=T0)
    assert [e["kind"] for e in detail.events] == ["create", "dispatch", "accept"]
    assert detail.holder == f"网格长{town.grid_leader.name}"


# -------------------------------------------------------------------- one-stop intake


def test_one_stop_intake_goes_through_the_same_pipeline(
    engine: Engine, settings: Settings, town: Town
) -> None:
    ticket_in = TicketCreate(
        unit_path="国欢村/第1网格/洋中1号片区",
        text="3栋楼下的下水道堵了好几天了，臭死了",
        reporter_name="王阿姨",
        reporter_phone="139-1234-5678",
    )
    with session_scope(engine) as session:
        outcome = service.create_ticket(
            session=session, settings=settings, ticket_in=ticket_in, now=T0
        )
    assert outcome.kind is IntakeKind.TICKET and outcome.ticket_code == "T20261130-0001"
    assert "已受理" in outcome.receipt
    (brief,) = outcome.replies
    assert brief.contact_id == contact(town.grid_leader) and "王阿姨，电话13912345678" in brief.text
    with Session(engine) as session:
        reporter = session.exec(select(TicketReporter)).one()
    assert (reporter.contact_id, reporter.phone, reporter.channel) == (
        "tel-13912345678",
        "13912345678",
        TicketChannel.PHONE,
    )
    # A chat report of the same problem joins it.
    joined = file(
        engine, settings, "3栋下水道堵了好几天了臭死了", "resident-2", unit_id=town.unit_id
    )
    assert joined.kind is IntakeKind.DUPLICATE and joined.ticket_code == outcome.ticket_code


def test_one_stop_intake_refuses_unknown_units_and_categories(
    engine: Engine, settings: Settings, town: Town
) -> None:
    with session_scope(engine) as session:
        with pytest.raises(service.UnitNotFound, match="找不到"):
            service.create_ticket(
                session=session,
                settings=settings,
                ticket_in=TicketCreate(
                    unit_path="国欢村/第9网格", text="路灯坏了", reporter_name="张三"
                ),
                now=T0,
            )
        with pytest.raises(service.TicketError, match="未知的类别"):
            service.create_ticket(
                session=session,
                settings=settings,
                ticket_in=TicketCreate(
                    unit_path="国欢村/第1网格", text="路灯坏了", reporter_name="张三", category="x"
                ),
                now=T0,
            )


def test_walk_in_without_phone_gets_no_messages(
    engine: Engine, settings: Settings, town: Town
) -> None:
    with session_scope(engine) as session:
        outcome = service.create_ticket(
            session=session,
            settings=settings,
            ticket_in=TicketCreate(
                unit_path="国欢村/第1网格",
                text="想问一下新农合医保怎么交",
                reporter_name="李大爷",
                channel=TicketChannel.WALK_IN,
                category="consult",
                urgency=Urgency.NORMAL,
            ),
            now=T0,
        )
    code = outcome.ticket_code or ""
    row = ticket(engine, code)
    assert (row.category, row.grid_id) == ("consult", town.grid_id)
    accepted = act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    assert accepted.replies == ()  # the walk-in has no WeChat to notify


def test_a_wrong_command_is_explained() -> None:
    parsed = parse_command("接单")
    assert isinstance(parsed, CommandError) and "正确写法" in parsed.message


def test_nul_characters_are_stored_on_postgresql(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """Regression: PostgreSQL refuses NUL in text; a message with one was lost."""
    outcome = file(
        engine, settings, "3栋\x00楼下的下水道堵了好几天了，臭死了", "r1", unit_id=town.unit_id
    )
    assert outcome.kind is IntakeKind.TICKET
    code = outcome.ticket_code or ""
    act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    act(engine, settings, f"备注 {code} 已\x00联系", contact(town.grid_leader))
    assert "\x00" not in ticket(engine, code).text


def test_policy_and_rules_come_from_the_settings() -> None:
    changed = parse_settings(
        {
            "tickets": {
                "sla": {"urgent": {"accept": "10m", "resolve": "1h"}, "remind_before": 0.5},
                "rating_timeout": "1d",
                "max_extensions": 1,
            }
        }
    )
    policy = service.sla_policy(changed.tickets)
    assert policy.urgent.accept == 10 * MIN and policy.remind_fraction == 0.5
    assert policy.rating_window == timedelta(days=1)
    assert service.lifecycle_rules(changed.tickets).max_extensions == 1
    with pytest.raises(ConfigError, match=r"accept .* must not be longer than resolve"):
        parse_settings({"tickets": {"sla": {"normal": {"accept": "8d", "resolve": "7d"}}}})


def test_similarity_ignores_particles_and_favours_the_shorter_report() -> None:
    assert service.similarity("3栋下水道堵了", "3栋的下水道堵了啊！") == 1.0
    assert service.similarity(COMPLAINT, "3栋楼下水道堵了几天了，臭死人了") >= 0.45
    assert service.similarity(COMPLAINT, "广场舞音响太大声了") == 0.0
    assert service.similarity("", "啊") == 0.0
