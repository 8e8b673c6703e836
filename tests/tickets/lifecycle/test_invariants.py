"""Random action sequences keep every ticket consistent."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.enums import ActorRole, Rating, TicketLevel, TicketState
from tests.tickets.lifecycle.factories import (
    EVERYONE,
    NOW,
    WHISTLE_JUSTICE,
    accepted,
    at_town,
    at_village,
    closed,
    dispatched,
    in_progress,
    received,
    reopened,
    reported,
    resolved,
    returned,
    whistled,
)
from tickets.lifecycle import (
    AWAITING_ACCEPTANCE,
    DEFAULT_RULES,
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
    Rules,
    TicketView,
    TransitionRefused,
    Whistle,
    apply,
)

# ------------------------------------------------------------------ invariants


def check_invariants(t: TicketView, rules: Rules = DEFAULT_RULES) -> None:
    at_department = t.level is TicketLevel.DEPARTMENT
    assert at_department == (t.department_code is not None)
    assert at_department == (t.whistled_from is not None)
    assert t.whistled_from is not TicketLevel.DEPARTMENT
    assert 0 <= t.extension_count <= rules.max_extensions
    assert 0 <= t.extended_days <= t.extension_count * rules.max_extension_days
    done = t.state in (TicketState.RESOLVED, TicketState.RATING, TicketState.CLOSED)
    assert done == (t.resolved_level is not None) == (t.resolved_at is not None)
    assert (t.state is TicketState.CLOSED) == (t.closed_at is not None)
    if t.state in AWAITING_ACCEPTANCE:
        assert t.accepted_at is None
    if t.state in (TicketState.ACCEPTED, TicketState.IN_PROGRESS):
        assert t.accepted_at is not None and t.assignee_id is not None
    rated = [pid for pid, _ in t.ratings]
    assert len(rated) == len(set(rated)) and set(rated) <= set(t.reporter_ids)
    if t.state is TicketState.RATING:
        assert rated and set(rated) != set(t.reporter_ids)
    assert t.rating is not Rating.UNSATISFIED
    if t.state is not TicketState.CLOSED:
        assert t.rating is None
    assert len(set(t.reporter_ids)) == len(t.reporter_ids)
    holder_level = {
        ActorRole.GRID_LEADER: TicketLevel.GRID,
        ActorRole.GRID_WORKER: TicketLevel.GRID,
        ActorRole.STATION_CHIEF: TicketLevel.VILLAGE,
        ActorRole.TOWN_OFFICIAL: TicketLevel.TOWN,
        ActorRole.DEPARTMENT_LIAISON: TicketLevel.DEPARTMENT,
    }
    if t.assignee_role is not None:
        assert holder_level[t.assignee_role] is t.level


ACTIONS: list[Action] = [
    Dispatch("g1", "张三", ActorRole.GRID_LEADER),
    Dispatch("w1", "王五", ActorRole.GRID_WORKER),
    Accept(),
    Report(),
    Resolve("已处理"),
    Resolve(""),
    Escalate("太难"),
    WHISTLE_JUSTICE,
    Whistle("housing", "住建局"),
    Reassign("w1", "王五", ActorRole.GRID_WORKER),
    Reassign("g2", "李四", ActorRole.GRID_LEADER),
    Reassign("s1", "陈书记", ActorRole.STATION_CHIEF),
    Reassign("o1", "黄主任", ActorRole.TOWN_OFFICIAL),
    Return("不归我"),
    Extend(3, "等"),
    Extend(9, "等"),
    Remark("进展"),
    Rate(Rating.SATISFIED),
    Rate(Rating.BASICALLY_SATISFIED),
    Rate(Rating.UNSATISFIED),
    CloseWithoutRating(),
    AddReporter("r2"),
]


def _allowed(ticket: TicketView, action: Action, actor: Actor, now: datetime) -> bool:
    try:
        apply(ticket, action, actor, now)
    except TransitionRefused:
        return False
    return True


# The happy path is rare among random (action, actor) pairs: weight it so that
# sequences reach 办结, 回访, 重办 and 关闭 often.
WEIGHTED_ACTIONS = [*ACTIONS, *[Accept(), Report(), Resolve("已处理"), Rate(Rating.SATISFIED)] * 3]


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(WEIGHTED_ACTIONS),
            st.integers(min_value=0, max_value=len(EVERYONE) - 1),
            st.booleans(),
            st.integers(min_value=0, max_value=600),
        ),
        max_size=40,
    )
)
def test_random_action_sequences_keep_the_ticket_consistent(
    steps: list[tuple[Action, int, bool, int]],
) -> None:
    """Any sequence of actions by anyone: refused ones change nothing, accepted ones
    keep every invariant, and a closed ticket never changes again."""
    ticket = received()
    now = NOW
    for action, index, prefer_allowed, minutes in steps:
        now += timedelta(minutes=minutes)
        actors = list(EVERYONE)
        if prefer_allowed:
            actors = [a for a in EVERYONE if _allowed(ticket, action, a, now)] or actors
        actor = actors[index % len(actors)]
        try:
            step = apply(ticket, action, actor, now)
        except TransitionRefused as refusal:
            assert refusal.reason
            continue
        assert step.event.from_state is ticket.state
        assert step.event.to_state is step.ticket.state
        assert step.ticket.code == ticket.code
        assert step.ticket.window >= ticket.window
        check_invariants(step.ticket)
        if ticket.state is TicketState.CLOSED:
            pytest.fail(f"{action} changed a closed ticket")
        ticket = step.ticket


def test_invariants_hold_for_every_fixture() -> None:
    for build in (received, dispatched, accepted, in_progress, resolved, at_village, at_town):
        check_invariants(build())
    for build in (whistled, reported, closed, returned, reopened):
        check_invariants(build())
    check_invariants(replace(accepted(), extension_count=1, extended_days=3))
