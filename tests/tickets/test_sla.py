"""SLA arithmetic: deadlines, reminders, expiry, restarts, the rating window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.enums import ActorRole, Rating, TicketLevel, TicketState, Urgency
from tickets.lifecycle import (
    SYSTEM,
    Accept,
    Action,
    Actor,
    CloseWithoutRating,
    Dispatch,
    Escalate,
    Extend,
    Rate,
    Recipient,
    Resolve,
    SlaExpired,
    SlaKind,
    SlaReminder,
    TicketView,
    apply,
    new_ticket,
    timer_key,
)
from tickets.sla import (
    DEFAULT_POLICY,
    SlaPolicy,
    SlaWindow,
    deadlines_for,
    due_actions,
    next_wakeup,
    run_due,
)

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

reporter = Actor("r1", ActorRole.RESIDENT)
grid_leader = Actor("g1", ActorRole.GRID_LEADER, "张三", grid_ids=frozenset({"grid-16"}))
chief = Actor("s1", ActorRole.STATION_CHIEF, "陈书记", village_ids=frozenset({"huangxia"}))
town = Actor("o1", ActorRole.TOWN_OFFICIAL, "黄主任")


def dispatched(urgency: Urgency = Urgency.NORMAL, at: datetime = T0) -> TicketView:
    ticket = new_ticket(
        code="T20261130-0012",
        now=at,
        urgency=urgency,
        unit_id="unit-3",
        grid_id="grid-16",
        village_id="huangxia",
        reporter_id="r1",
    )
    return apply(ticket, Dispatch("g1", "张三", ActorRole.GRID_LEADER), SYSTEM, at).ticket


def step(ticket: TicketView, action: Action, actor: Actor, at: datetime) -> TicketView:
    return apply(ticket, action, actor, at).ticket


def at_town(at: datetime = T0) -> TicketView:
    ticket = step(dispatched(at=at), Escalate("难"), grid_leader, at)
    return step(ticket, Escalate("更难"), chief, at)


# ------------------------------------------------------------------- policy


def test_default_policy_matches_the_issue() -> None:
    assert DEFAULT_POLICY.urgent == SlaWindow(15 * MIN, 2 * HOUR)
    assert DEFAULT_POLICY.normal == SlaWindow(2 * HOUR, 7 * DAY)
    assert DEFAULT_POLICY.remind_fraction == 0.2
    assert DEFAULT_POLICY.window_for(Urgency.URGENT) is DEFAULT_POLICY.urgent


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SlaWindow(timedelta(0), HOUR), "positive"),
        (lambda: SlaWindow(2 * HOUR, HOUR), "accept time"),
        (lambda: SlaPolicy(remind_fraction=1.0), "remind_fraction"),
        (lambda: SlaPolicy(remind_lead=-MIN), "remind_lead"),
        (lambda: SlaPolicy(rating_window=timedelta(0)), "rating_window"),
    ],
)
def test_bad_policy_is_refused(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()


def test_deadlines_normal() -> None:
    d = deadlines_for(dispatched())
    assert d.accept_by == T0 + 2 * HOUR
    assert d.resolve_by == T0 + 7 * DAY
    assert d.remind_accept_at == T0 + 96 * MIN  # 20% of 2 h before
    assert d.remind_resolve_at == T0 + 7 * DAY - timedelta(hours=33, minutes=36)
    assert d.rating_closes_at is None


def test_deadlines_urgent_and_fixed_lead() -> None:
    d = deadlines_for(dispatched(Urgency.URGENT))
    assert (d.accept_by, d.remind_accept_at) == (T0 + 15 * MIN, T0 + 12 * MIN)
    assert d.resolve_by == T0 + 2 * HOUR
    policy = SlaPolicy(remind_lead=5 * MIN)
    d = deadlines_for(dispatched(Urgency.URGENT), policy)
    assert (d.remind_accept_at, d.remind_resolve_at) == (T0 + 10 * MIN, T0 + 115 * MIN)
    # a lead longer than the window would remind at once: no reminder instead
    d = deadlines_for(dispatched(Urgency.URGENT), SlaPolicy(remind_lead=HOUR))
    assert d.remind_accept_at is None and d.remind_resolve_at == T0 + HOUR


def test_extensions_move_the_resolve_deadline() -> None:
    ticket = step(dispatched(), Accept(), grid_leader, T0 + MIN)
    ticket = step(ticket, Extend(3, "等材料"), grid_leader, T0 + 2 * DAY)
    ticket = step(ticket, Extend(2, "还在等"), grid_leader, T0 + 3 * DAY)
    d = deadlines_for(ticket)
    assert d.resolve_by == T0 + 12 * DAY
    assert d.accept_by == T0 + 2 * HOUR  # 签收 deadline is unaffected


def test_a_new_level_gets_a_fresh_window() -> None:
    ticket = step(dispatched(), Escalate("难"), grid_leader, T0 + HOUR)
    assert deadlines_for(ticket).accept_by == T0 + 3 * HOUR


# ------------------------------------------------------------------- timers


def test_reminder_then_expiry_escalates_with_notice_to_both_levels() -> None:
    ticket = dispatched()
    assert due_actions(ticket, now=T0 + 95 * MIN) == []
    [reminder] = due_actions(ticket, now=T0 + 96 * MIN)
    assert isinstance(reminder, SlaReminder) and reminder.sla is SlaKind.ACCEPT
    assert reminder.deadline == T0 + 2 * HOUR
    ticket = step(ticket, reminder, SYSTEM, T0 + 96 * MIN)
    assert due_actions(ticket, now=T0 + 119 * MIN) == []

    [expired] = due_actions(ticket, now=T0 + 2 * HOUR)
    assert isinstance(expired, SlaExpired) and expired.sla is SlaKind.ACCEPT
    transition = apply(ticket, expired, SYSTEM, T0 + 2 * HOUR)
    assert transition.ticket.level is TicketLevel.VILLAGE
    village, grid = transition.notifications[:2]
    assert village.recipient == Recipient.post(TicketLevel.VILLAGE, "huangxia")
    assert grid.recipient == Recipient.person("g1")  # the grid leader who let it lapse
    assert "超时升级" in village.text and "超时升级" in grid.text
    assert due_actions(transition.ticket, now=T0 + 2 * HOUR) == []


def test_resolve_expiry_escalates_an_accepted_ticket() -> None:
    ticket = step(dispatched(), Accept(), grid_leader, T0 + 10 * MIN)
    assert due_actions(ticket, now=T0 + 3 * HOUR) == []  # accepted: no 签收 timer
    transitions = run_due(ticket, now=T0 + 7 * DAY)
    assert [t.event.kind for t in transitions] == ["sla_expired"]
    assert transitions[-1].ticket.level is TicketLevel.VILLAGE
    assert transitions[-1].ticket.state is TicketState.DISPATCHED


def test_overdue_after_restart_fires_exactly_once() -> None:
    """The process was down for a month: one escalation, no stale reminders."""
    ticket = dispatched()
    later = T0 + 30 * DAY
    actions = due_actions(ticket, now=later)
    assert [type(a) for a in actions] == [SlaExpired]
    transitions = run_due(ticket, now=later)
    assert len(transitions) == 1
    ticket = transitions[0].ticket
    assert (ticket.level, ticket.window_started_at) == (TicketLevel.VILLAGE, later)
    assert run_due(ticket, now=later) == []
    assert run_due(ticket, now=later + MIN) == []


def test_overdue_at_town_supervises_each_deadline_once() -> None:
    ticket = at_town()
    transitions = run_due(ticket, now=T0 + 30 * DAY)
    assert [t.event.note.split("，")[0][:6] for t in transitions] == [
        "超过接单时限",
        "超过办结时限",
    ]
    ticket = transitions[-1].ticket
    assert (ticket.level, ticket.state) == (TicketLevel.TOWN, TicketState.DISPATCHED)
    assert run_due(ticket, now=T0 + 31 * DAY) == []
    assert next_wakeup(ticket) is None


def test_extension_rearms_the_resolve_reminder() -> None:
    ticket = step(dispatched(), Accept(), grid_leader, T0 + MIN)
    d = deadlines_for(ticket)
    assert d.remind_resolve_at is not None
    [fired] = run_due(ticket, now=d.remind_resolve_at)
    ticket = fired.ticket
    assert run_due(ticket, now=d.remind_resolve_at + HOUR) == []
    ticket = step(ticket, Extend(3, "等配件"), grid_leader, d.remind_resolve_at + HOUR)
    new = deadlines_for(ticket)
    assert new.resolve_by == d.resolve_by + 3 * DAY
    assert new.remind_resolve_at is not None
    assert run_due(ticket, now=new.remind_resolve_at - MIN) == []
    [again] = run_due(ticket, now=new.remind_resolve_at)
    assert isinstance(again.event.kind, str) and again.event.kind == "sla_reminder"


def test_rating_window_closes_without_rating() -> None:
    ticket = step(dispatched(), Accept(), grid_leader, T0 + MIN)
    ticket = step(ticket, Resolve("修好了"), grid_leader, T0 + DAY)
    d = deadlines_for(ticket)
    assert d.rating_closes_at == T0 + 4 * DAY
    assert next_wakeup(ticket) == T0 + 4 * DAY
    assert due_actions(ticket, now=T0 + 4 * DAY - MIN) == []
    assert due_actions(ticket, now=T0 + 4 * DAY) == [CloseWithoutRating()]
    [closed] = run_due(ticket, now=T0 + 10 * DAY)
    assert (closed.ticket.state, closed.ticket.rating) == (TicketState.CLOSED, None)
    assert run_due(closed.ticket, now=T0 + 20 * DAY) == []
    assert next_wakeup(closed.ticket) is None


def test_rated_ticket_has_no_timers() -> None:
    ticket = step(dispatched(), Accept(), grid_leader, T0 + MIN)
    ticket = step(ticket, Resolve("修好了"), grid_leader, T0 + DAY)
    ticket = step(ticket, Rate(Rating.SATISFIED), reporter, T0 + DAY)
    assert due_actions(ticket, now=T0 + 100 * DAY) == []


def test_next_wakeup_is_the_earliest_pending_timer() -> None:
    ticket = dispatched()
    assert next_wakeup(ticket) == T0 + 96 * MIN
    ticket = run_due(ticket, now=T0 + 96 * MIN)[-1].ticket
    assert next_wakeup(ticket) == T0 + 2 * HOUR


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_actions(dispatched(), now=datetime(2026, 11, 30))


def test_stale_due_action_is_refused_by_the_lifecycle() -> None:
    """A timer computed before someone acted does not fire on the changed ticket."""
    ticket = dispatched()
    [reminder] = due_actions(ticket, now=T0 + 100 * MIN)
    moved = step(ticket, Escalate("难"), grid_leader, T0 + 99 * MIN)
    assert isinstance(reminder, SlaReminder)
    assert reminder.timer_key == timer_key(ticket, SlaKind.ACCEPT, reminder=True)
    with pytest.raises(Exception, match="失效"):
        apply(moved, reminder, SYSTEM, T0 + 100 * MIN)


@settings(max_examples=200, deadline=None)
@given(
    urgency=st.sampled_from(list(Urgency)),
    ticks=st.lists(st.integers(min_value=0, max_value=4 * 24 * 60), min_size=1, max_size=12),
    accept_at=st.one_of(st.none(), st.integers(min_value=0, max_value=24 * 60)),
)
def test_timers_never_fire_twice_whatever_the_ticks(
    urgency: Urgency, ticks: list[int], accept_at: int | None
) -> None:
    """Ticks at arbitrary (sorted) times, with an optional 签收 in between."""
    ticket = dispatched(urgency)
    fired: list[str] = []
    accepted = accept_at is None
    for minutes in sorted(ticks):
        now = T0 + minutes * MIN
        if not accepted and accept_at is not None and minutes >= accept_at:
            accepted = True
            if ticket.state is TicketState.DISPATCHED:
                holder = {
                    TicketLevel.GRID: grid_leader,
                    TicketLevel.VILLAGE: chief,
                    TicketLevel.TOWN: town,
                }
                ticket = step(ticket, Accept(), holder[ticket.level], now)
        for transition in run_due(ticket, now=now):
            new_keys = transition.ticket.fired_timers - ticket.fired_timers
            assert len(new_keys) == 1
            fired.extend(new_keys)
            ticket = transition.ticket
        assert due_actions(ticket, now=now) == []
    assert len(fired) == len(set(fired))
    assert ticket.level is not TicketLevel.DEPARTMENT
