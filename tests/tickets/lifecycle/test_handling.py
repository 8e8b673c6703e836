"""The staff path and the escalation ladder: dispatch, accept, resolve, reassign, escalate, whistle, return."""

from __future__ import annotations

from models.enums import ActorRole, Rating, TicketLevel, TicketState, Urgency
from tests.tickets.lifecycle.factories import (
    CODE,
    GRID,
    LATER,
    OTHER_GRID,
    VILLAGE,
    WHISTLE_JUSTICE,
    accepted,
    at_town,
    at_village,
    chief,
    dispatched,
    grid_leader,
    housing,
    in_progress,
    justice,
    other_chief,
    other_grid_leader,
    received,
    recipients,
    refused,
    reported,
    reporter,
    resolved,
    returned,
    run,
    town,
    town2,
    whistled,
    worker,
)
from tickets.lifecycle import (
    SYSTEM,
    Accept,
    AddReporter,
    Dispatch,
    Escalate,
    Extend,
    Rate,
    Reassign,
    Recipient,
    Report,
    Resolve,
    Return,
    Whistle,
    apply,
    is_handler,
    is_supervisor,
    resolved_within_town,
)

# ------------------------------------------------------------- the main path


def test_dispatch_opens_a_window_and_tells_the_assignee() -> None:
    step = apply(
        received(Urgency.URGENT), Dispatch("g1", "张三", ActorRole.GRID_LEADER), SYSTEM, LATER
    )
    t = step.ticket
    assert (t.assignee_id, t.assignee_role, t.level) == (
        "g1",
        ActorRole.GRID_LEADER,
        TicketLevel.GRID,
    )
    assert (t.window, t.window_started_at) == (2, LATER)
    [notice] = step.notifications
    assert notice.recipient == Recipient.person("g1")
    assert "紧急" in notice.text and f"接单 {CODE}" in notice.text


def test_accept_records_who_and_when_and_tells_the_reporters() -> None:
    step = apply(dispatched(), Accept(), grid_leader, LATER)
    assert step.ticket.accepted_at == LATER
    assert step.ticket.assignee_id == "g1"
    assert recipients(step) == [Recipient.person("r1")]
    assert "网格长张三" in step.notifications[0].text
    assert f"办结 {CODE}" in step.reply


def test_accept_an_unrouted_ticket_assigns_the_grid_leader() -> None:
    t = run(received(), (Accept(), grid_leader))
    assert (t.assignee_id, t.assignee_name, t.level) == ("g1", "张三", TicketLevel.GRID)


def test_resolve_asks_every_reporter_to_rate() -> None:
    ticket = run(in_progress(), (AddReporter("r2"), SYSTEM))
    step = apply(ticket, Resolve("已疏通下水道"), grid_leader, LATER)
    assert step.ticket.resolved_at == LATER
    assert step.ticket.resolved_level is TicketLevel.GRID
    assert recipients(step) == [Recipient.person("r1"), Recipient.person("r2")]
    for notice in step.notifications:
        assert "已疏通下水道" in notice.text
        assert f"满意 {CODE}" in notice.text and "不满意" in notice.text
    assert step.event.note == "已疏通下水道"


def test_grid_worker_assigned_by_reassign_can_work_the_ticket() -> None:
    ticket = run(
        accepted(), (Reassign("w1", "王五", ActorRole.GRID_WORKER, note="他住附近"), grid_leader)
    )
    assert (ticket.assignee_id, ticket.level, ticket.state) == (
        "w1",
        TicketLevel.GRID,
        TicketState.DISPATCHED,
    )
    assert not is_handler(grid_leader, ticket) and is_supervisor(grid_leader, ticket)
    refused(ticket, Accept(), grid_leader, "王五")
    ticket = run(
        ticket, (Accept(), worker), (Extend(2, "等配件"), worker), (Resolve("修好"), worker)
    )
    assert ticket.resolved_level is TicketLevel.GRID
    refused(accepted(), WHISTLE_JUSTICE, worker, "网格长及以上")


def test_reassign_tells_new_and_old_holder_and_can_move_the_area() -> None:
    step = apply(
        dispatched(),
        Reassign("g2", "李四", ActorRole.GRID_LEADER, to_grid_id=OTHER_GRID),
        chief,
        LATER,
    )
    assert step.ticket.grid_id == OTHER_GRID
    assert recipients(step) == [Recipient.person("g2"), Recipient.person("g1")]
    # the old grid leader no longer supervises it, the new one handles it
    assert not is_supervisor(grid_leader, step.ticket)
    assert is_handler(other_grid_leader, step.ticket)
    assert step.ticket.window == dispatched().window + 1


def test_supervisor_takes_over_by_reassigning_to_self() -> None:
    ticket = run(dispatched(), (Reassign("s1", "陈书记", ActorRole.STATION_CHIEF), chief))
    assert ticket.level is TicketLevel.VILLAGE
    ticket = run(ticket, (Accept(), chief), (Resolve("村里协调好了"), chief))
    assert ticket.resolved_level is TicketLevel.VILLAGE


# ------------------------------------------------------------ escalation ladder


def test_escalate_moves_one_level_up_and_tells_both_levels() -> None:
    step = apply(accepted(), Escalate("涉及两个网格"), grid_leader, LATER)
    t = step.ticket
    assert (t.level, t.state, t.assignee_id, t.accepted_at) == (
        TicketLevel.VILLAGE,
        TicketState.DISPATCHED,
        None,
        None,
    )
    assert t.window_started_at == LATER
    assert recipients(step) == [
        Recipient.post(TicketLevel.VILLAGE, VILLAGE),
        Recipient.person("g1"),
        Recipient.person("r1"),
    ]
    assert "涉及两个网格" in step.notifications[0].text
    assert is_handler(chief, t) and not is_handler(other_chief, t)
    assert not is_handler(grid_leader, t) and not is_supervisor(grid_leader, t)


def test_ladder_up_to_the_department_and_back() -> None:
    """网格 -> 村 -> 镇 -> 吹哨 -> 报到 -> 办结 -> 满意."""
    ticket = at_village()
    ticket = run(ticket, (Accept(), chief))
    ticket = run(ticket, (Escalate("村里协调不了"), chief))
    assert (ticket.level, ticket.assignee_id) == (TicketLevel.TOWN, None)
    assert is_handler(town, ticket) and is_handler(town2, ticket)
    ticket = run(ticket, (Accept(), town))
    assert not is_handler(town2, ticket) and is_supervisor(town2, ticket)

    step = apply(ticket, WHISTLE_JUSTICE, town, LATER)
    ticket = step.ticket
    assert (ticket.level, ticket.state) == (TicketLevel.DEPARTMENT, TicketState.DISPATCHED)
    assert (ticket.department_code, ticket.whistled_from) == ("justice", TicketLevel.TOWN)
    assert recipients(step)[0] == Recipient.department("justice")
    assert f"报到 {CODE}" in step.notifications[0].text

    step = apply(ticket, Report("明天上门调解"), justice, LATER)
    ticket = step.ticket
    assert (ticket.state, ticket.assignee_id, ticket.accepted_at) == (
        TicketState.IN_PROGRESS,
        "d1",
        LATER,
    )
    assert recipients(step)[0] == Recipient.post(TicketLevel.TOWN, None)
    assert step.event.kind == "report"

    step = apply(ticket, Resolve("双方签订调解协议"), justice, LATER)
    ticket = step.ticket
    assert ticket.resolved_level is TicketLevel.DEPARTMENT
    assert not resolved_within_town(ticket.resolved_level)
    assert Recipient.post(TicketLevel.TOWN, None) in recipients(step)
    ticket = run(ticket, (Rate(Rating.SATISFIED), reporter))
    assert (ticket.state, ticket.rating) == (TicketState.CLOSED, Rating.SATISFIED)


def test_grid_whistle_keeps_the_grid_in_the_loop() -> None:
    ticket = whistled()
    assert ticket.whistled_from is TicketLevel.GRID
    assert is_supervisor(grid_leader, ticket) and is_supervisor(chief, ticket)
    assert not is_supervisor(other_grid_leader, ticket)
    step = apply(ticket, Report(), justice, LATER)
    assert recipients(step)[0] == Recipient.post(TicketLevel.GRID, GRID)
    # the whistler may call another department instead
    ticket = run(ticket, (Whistle("housing", "住建局"), grid_leader))
    assert (ticket.department_code, ticket.whistled_from) == ("housing", TicketLevel.GRID)
    assert is_handler(housing, ticket) and not is_handler(justice, ticket)


def test_department_return_goes_back_to_the_level_that_whistled() -> None:
    step = apply(whistled(), Return("不属于司法调解范围"), justice, LATER)
    t = step.ticket
    assert (t.state, t.level, t.department_code, t.whistled_from) == (
        TicketState.RETURNED,
        TicketLevel.GRID,
        None,
        None,
    )
    assert recipients(step) == [Recipient.post(TicketLevel.GRID, GRID)]
    assert is_handler(grid_leader, t)


def test_grid_return_goes_to_the_village_and_town_return_stays_in_town() -> None:
    t = returned()
    assert (t.state, t.level, t.assignee_id) == (TicketState.RETURNED, TicketLevel.VILLAGE, None)
    assert is_handler(chief, t) and not is_handler(grid_leader, t)
    town_ticket = run(at_town(), (Return("请重新派单"), town))
    assert (town_ticket.state, town_ticket.level) == (TicketState.RETURNED, TicketLevel.TOWN)


def test_pull_back_from_department_clears_it() -> None:
    t = run(reported(), (Reassign("o1", "黄主任", ActorRole.TOWN_OFFICIAL), town))
    assert (t.level, t.department_code, t.whistled_from) == (TicketLevel.TOWN, None, None)


def test_resolved_level_counts_for_the_town_share() -> None:
    assert resolved_within_town(resolved().resolved_level)
    assert resolved_within_town(TicketLevel.TOWN)
    assert not resolved_within_town(TicketLevel.DEPARTMENT)
    assert not resolved_within_town(None)


def test_the_grid_leader_who_whistled_is_told_the_department_finishes_it() -> None:
    """Walk finding: 办结 of a whistled ticket was refused as "out of scope" only."""
    refused(reported(), Resolve("已清运"), grid_leader, "不在您的负责范围内", "无需您再办结")
    assert "吹哨" not in refused(at_village(), Resolve("修好"), other_grid_leader)
