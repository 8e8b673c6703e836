"""Every valid transition of :func:`tickets.lifecycle.apply`, and every refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from models.enums import ActorRole, Rating, TicketState
from tests.tickets.lifecycle.factories import (
    CODE,
    LATER,
    NOW,
    WHISTLE_JUSTICE,
    accepted,
    at_town,
    at_village,
    chief,
    closed,
    dispatched,
    grid_leader,
    housing,
    in_progress,
    justice,
    other_chief,
    other_grid_leader,
    received,
    refused,
    reopened,
    reported,
    reporter,
    resolved,
    returned,
    stranger,
    town,
    unit_leader,
    whistled,
    worker,
)
from tickets.lifecycle import (
    EVENT_ZH,
    SYSTEM,
    Accept,
    Action,
    Actor,
    AddReporter,
    CloseWithoutRating,
    Dispatch,
    Escalate,
    Extend,
    Rate,
    Reassign,
    Remark,
    Report,
    Resolve,
    Return,
    TicketView,
    Whistle,
    apply,
)

# ------------------------------------------------------------ valid transitions

VALID: list[tuple[Any, ...]] = [
    (
        "dispatch",
        received,
        Dispatch("g1", "张三", ActorRole.GRID_LEADER),
        SYSTEM,
        TicketState.DISPATCHED,
    ),
    (
        "town dispatches",
        received,
        Dispatch("w1", "王五", ActorRole.GRID_WORKER),
        town,
        TicketState.DISPATCHED,
    ),
    ("accept", dispatched, Accept(), grid_leader, TicketState.ACCEPTED),
    ("accept unrouted", received, Accept(), grid_leader, TicketState.ACCEPTED),
    ("accept returned", returned, Accept(), chief, TicketState.ACCEPTED),
    ("accept reopened", reopened, Accept(), chief, TicketState.ACCEPTED),
    ("remark starts work", accepted, Remark("到现场"), grid_leader, TicketState.IN_PROGRESS),
    ("remark in progress", in_progress, Remark("等材料"), grid_leader, TicketState.IN_PROGRESS),
    ("supervisor remark", accepted, Remark("注意安全"), chief, TicketState.ACCEPTED),
    ("remark resolved", resolved, Remark("补充照片"), grid_leader, TicketState.RESOLVED),
    ("resolve accepted", accepted, Resolve("已修好"), grid_leader, TicketState.RESOLVED),
    ("resolve in progress", in_progress, Resolve("已修好"), grid_leader, TicketState.RESOLVED),
    ("escalate dispatched", dispatched, Escalate("太难"), grid_leader, TicketState.DISPATCHED),
    ("escalate accepted", accepted, Escalate("太难"), grid_leader, TicketState.DISPATCHED),
    ("escalate village", at_village, Escalate("太难"), chief, TicketState.DISPATCHED),
    ("supervisor escalates", dispatched, Escalate("太难"), chief, TicketState.DISPATCHED),
    ("escalate returned", returned, Escalate("村里也不管"), chief, TicketState.DISPATCHED),
    ("whistle", accepted, WHISTLE_JUSTICE, grid_leader, TicketState.DISPATCHED),
    ("whistle from town", at_town, WHISTLE_JUSTICE, town, TicketState.DISPATCHED),
    ("re-whistle", whistled, Whistle("housing", "住建局"), town, TicketState.DISPATCHED),
    ("report", whistled, Report(), justice, TicketState.IN_PROGRESS),
    ("department resolves", reported, Resolve("调解成功"), justice, TicketState.RESOLVED),
    (
        "reassign",
        accepted,
        Reassign("w1", "王五", ActorRole.GRID_WORKER),
        grid_leader,
        TicketState.DISPATCHED,
    ),
    (
        "reassign returned",
        returned,
        Reassign("g2", "李四", ActorRole.GRID_LEADER),
        chief,
        TicketState.DISPATCHED,
    ),
    (
        "pull back",
        reported,
        Reassign("o1", "黄主任", ActorRole.TOWN_OFFICIAL),
        town,
        TicketState.DISPATCHED,
    ),
    ("return", dispatched, Return("不是本网格"), grid_leader, TicketState.RETURNED),
    ("department returns", whistled, Return("不归我们管"), justice, TicketState.RETURNED),
    ("extend", accepted, Extend(3, "等材料"), grid_leader, TicketState.IN_PROGRESS),
    ("supervisor extends", in_progress, Extend(3, "等材料"), chief, TicketState.IN_PROGRESS),
    ("rate satisfied", resolved, Rate(Rating.SATISFIED), reporter, TicketState.CLOSED),
    ("rate unsatisfied", resolved, Rate(Rating.UNSATISFIED), reporter, TicketState.REOPENED),
    ("close unrated", resolved, CloseWithoutRating(), SYSTEM, TicketState.CLOSED),
    ("add reporter", in_progress, AddReporter("r2"), SYSTEM, TicketState.IN_PROGRESS),
]


@pytest.mark.parametrize(
    ("build", "action", "actor", "to_state"),
    [case[1:] for case in VALID],
    ids=[case[0] for case in VALID],
)
def test_valid_transition(
    build: object, action: Action, actor: Actor, to_state: TicketState
) -> None:
    assert callable(build)
    ticket: TicketView = build()
    step = apply(ticket, action, actor, LATER)
    assert step.ticket.state is to_state
    assert step.event.kind == action.kind
    assert step.event.actor_id == actor.person_id
    assert step.event.actor_role is actor.role
    assert step.event.at == LATER
    assert (step.event.from_state, step.event.to_state) == (ticket.state, to_state)
    assert (step.event.from_level, step.event.to_level) == (ticket.level, step.ticket.level)
    if actor is not SYSTEM:
        assert step.reply


# ------------------------------------------------------------------ refusals

REFUSED: list[tuple[Any, ...]] = [
    ("accept resolved", resolved, Accept(), grid_leader, "工单T20261130-0012已办结，不能再接单"),
    ("accept closed", closed, Accept(), grid_leader, "已关闭，不能再接单"),
    ("accept twice", accepted, Accept(), grid_leader, "已签收，不能接单"),
    ("accept by resident", dispatched, Accept(), stranger, "无权"),
    ("accept other grid", dispatched, Accept(), other_grid_leader, "不在您的负责范围"),
    ("accept by chief", dispatched, Accept(), chief, "改派"),
    ("accept by liaison", dispatched, Accept(), justice, "报到"),
    ("accept at department", whistled, Accept(), town, "等待部门报到"),
    ("resolve unaccepted", dispatched, Resolve("好了"), grid_leader, "尚未签收", "接单 T"),
    ("resolve twice", resolved, Resolve("好了"), grid_leader, "已办结，不能再办结"),
    ("resolve no note", accepted, Resolve("  "), grid_leader, "处理结果"),
    ("resolve by resident", accepted, Resolve("好了"), reporter, "无权"),
    ("resolve by supervisor", accepted, Resolve("好了"), chief, "不在您的负责范围"),
    ("resolve other dept", reported, Resolve("好了"), housing, "不在您的负责范围"),
    ("escalate by worker", accepted, Escalate("难"), worker, "网格长及以上"),
    ("escalate by resident", accepted, Escalate("难"), reporter, "网格长及以上"),
    ("escalate no reason", accepted, Escalate(""), grid_leader, "上报原因"),
    ("escalate at town", at_town, Escalate("难"), town, "镇级", "吹哨"),
    ("escalate department", whistled, Escalate("难"), town, "不能再上报"),
    ("escalate other grid", accepted, Escalate("难"), other_grid_leader, "不在您的负责范围"),
    ("escalate other village", accepted, Escalate("难"), other_chief, "不在您的负责范围"),
    ("escalate resolved", resolved, Escalate("难"), grid_leader, "已办结，不能再上报"),
    ("whistle by liaison", accepted, WHISTLE_JUSTICE, justice, "网格长及以上"),
    ("whistle twice", whistled, WHISTLE_JUSTICE, town, "无需重复吹哨"),
    ("whistle other village", accepted, WHISTLE_JUSTICE, other_chief, "不在您的负责范围"),
    ("whistle closed", closed, WHISTLE_JUSTICE, grid_leader, "已关闭"),
    ("report by grid", whistled, Report(), grid_leader, "联络员"),
    ("report wrong dept", whistled, Report(), housing, "不是贵单位"),
    ("report not whistled", accepted, Report(), justice, "无需报到"),
    ("report twice", reported, Report(), justice, "正在处置，不能报到"),
    (
        "reassign by worker",
        accepted,
        Reassign("g2", "李四", ActorRole.GRID_LEADER),
        worker,
        "网格长",
    ),
    (
        "reassign upwards",
        accepted,
        Reassign("s1", "陈书记", ActorRole.STATION_CHIEF),
        grid_leader,
        "网格级及以下",
        "上报",
    ),
    (
        "reassign to resident",
        accepted,
        Reassign("r2", "林先生", ActorRole.RESIDENT),
        grid_leader,
        "不能承办",
    ),
    (
        "reassign to liaison",
        accepted,
        Reassign("d1", "郑律师", ActorRole.DEPARTMENT_LIAISON),
        town,
        "不能承办",
    ),
    (
        "reassign same",
        accepted,
        Reassign("g1", "张三", ActorRole.GRID_LEADER),
        grid_leader,
        "无需改派",
    ),
    (
        "reassign other grid",
        accepted,
        Reassign("w1", "王五", ActorRole.GRID_WORKER),
        other_grid_leader,
        "不在",
    ),
    (
        "reassign dept by liaison",
        reported,
        Reassign("o1", "黄", ActorRole.TOWN_OFFICIAL),
        justice,
        "网格长",
    ),
    (
        "reassign closed",
        closed,
        Reassign("w1", "王五", ActorRole.GRID_WORKER),
        grid_leader,
        "已关闭",
    ),
    ("return accepted", accepted, Return("不归我"), grid_leader, "已签收", "上报"),
    ("return no reason", dispatched, Return(""), grid_leader, "退单原因"),
    ("return by supervisor", dispatched, Return("不归我"), chief, "不在您的负责范围"),
    ("extend unaccepted", dispatched, Extend(3, "等"), grid_leader, "尚未签收", "接单 T"),
    ("extend zero days", accepted, Extend(0, "等"), grid_leader, "1到7天"),
    ("extend too long", accepted, Extend(8, "等"), grid_leader, "1到7天"),
    ("extend no reason", accepted, Extend(3, " "), grid_leader, "延期原因"),
    ("extend by resident", accepted, Extend(3, "等"), reporter, "无权"),
    ("extend resolved", resolved, Extend(3, "等"), grid_leader, "已办结，不能再延期"),
    ("remark empty", accepted, Remark(""), grid_leader, "备注内容"),
    ("remark closed", closed, Remark("补充"), grid_leader, "已关闭，不能再备注"),
    ("remark by resident", accepted, Remark("还没修"), reporter, "无权"),
    ("remark by unit leader", accepted, Remark("还没修"), unit_leader, "无权"),
    ("remark other grid", accepted, Remark("看看"), other_grid_leader, "不在您的负责范围"),
    ("rate by stranger", resolved, Rate(Rating.SATISFIED), stranger, "只有反映人"),
    ("rate too early", in_progress, Rate(Rating.SATISFIED), reporter, "办结后再请您评价"),
    ("rate closed", closed, Rate(Rating.SATISFIED), reporter, "评价已结束"),
    ("close by person", resolved, CloseWithoutRating(), town, "系统自动"),
    ("close open", accepted, CloseWithoutRating(), SYSTEM, "已签收，不能关闭"),
    (
        "dispatch by grid",
        received,
        Dispatch("g1", "张三", ActorRole.GRID_LEADER),
        grid_leader,
        "派单",
    ),
    ("dispatch twice", dispatched, Dispatch("g2", "李四", ActorRole.GRID_LEADER), SYSTEM, "改派"),
    (
        "dispatch to resident",
        received,
        Dispatch("r2", "林先生", ActorRole.RESIDENT),
        SYSTEM,
        "不能承办",
    ),
    ("add reporter by person", accepted, AddReporter("r2"), town, "系统自动"),
    ("add reporter twice", accepted, AddReporter("r1"), SYSTEM, "已反映过"),
    ("add reporter resolved", resolved, AddReporter("r2"), SYSTEM, "新建工单"),
]


@pytest.mark.parametrize(
    ("build", "action", "actor", "fragments"),
    [(case[1], case[2], case[3], case[4:]) for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_transition(
    build: object, action: Action, actor: Actor, fragments: tuple[str, ...]
) -> None:
    assert callable(build)
    refused(build(), action, actor, *fragments)


def test_refusals_name_the_ticket_and_are_chinese() -> None:
    reason = refused(resolved(), Accept(), grid_leader)
    assert CODE in reason
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reason)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply(dispatched(), Accept(), grid_leader, datetime(2026, 11, 30))


def test_overlong_note_is_refused() -> None:
    refused(accepted(), Remark("很" * 1001), grid_leader, "太长", "1000")
    assert apply(accepted(), Remark("很" * 1000), grid_leader, NOW)


def test_every_event_kind_has_a_chinese_label() -> None:
    kinds = {case[2].kind for case in VALID} | {"sla_reminder", "sla_expired"}
    assert kinds <= EVENT_ZH.keys()
    assert EVENT_ZH["whistle"] == "吹哨" and EVENT_ZH["report"] == "报到"
