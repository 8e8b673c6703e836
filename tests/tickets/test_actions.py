"""Staff commands and ratings on stored tickets (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from core.config import Settings
from models.enums import ActorRole, Rating, TicketLevel, TicketState
from tests.tickets.flows import MIN, act, events, new_code, rate, ticket
from tests.tickets.helpers import T0, Town, contact
from tickets.errors import PersonNotFound, TicketNotFound
from tickets.lifecycle import TransitionRefused


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
    with pytest.raises(TicketNotFound, match="没有找到工单T20261130-0099"):
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
    with pytest.raises(PersonNotFound, match="没有找到"):
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
