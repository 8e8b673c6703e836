"""Extensions and the SLA timers: reminders, expiry escalation, 督办."""

from __future__ import annotations

import pytest

from models.enums import ActorRole, TicketLevel, TicketState
from tests.tickets.lifecycle.factories import (
    LATER,
    NOW,
    VILLAGE,
    accepted,
    at_town,
    chief,
    dispatched,
    grid_leader,
    recipients,
    refused,
    reported,
    resolved,
    run,
    town,
    whistled,
)
from tickets.lifecycle import (
    SYSTEM,
    Escalate,
    Extend,
    Reassign,
    Recipient,
    Rules,
    SlaExpired,
    SlaKind,
    SlaReminder,
    TransitionRefused,
    apply,
    timer_key,
)

# ------------------------------------------------------------------ extensions


def test_extensions_are_bounded_in_number_and_length() -> None:
    t = run(accepted(), (Extend(7, "等材料"), grid_leader))
    assert (t.state, t.extension_count, t.extended_days) == (TicketState.IN_PROGRESS, 1, 7)
    t = run(t, (Extend(2, "还在等"), chief))
    assert (t.extension_count, t.extended_days) == (2, 9)
    refused(t, Extend(1, "再等等"), grid_leader, "已延期2次", "最多只能延期2次")


def test_extension_bounds_are_parameters() -> None:
    rules = Rules(max_extensions=1, max_extension_days=3)
    step = apply(accepted(), Extend(3, "等"), grid_leader, NOW, rules=rules)
    assert "最多1次" in step.reply
    with pytest.raises(TransitionRefused, match="1到3天"):
        apply(accepted(), Extend(4, "等"), grid_leader, NOW, rules=rules)
    with pytest.raises(TransitionRefused, match="最多只能延期1次"):
        apply(step.ticket, Extend(1, "等"), grid_leader, NOW, rules=rules)
    with pytest.raises(ValueError, match="max_extension_days"):
        Rules(max_extension_days=0)


def test_extension_tells_the_reporters_why() -> None:
    step = apply(accepted(), Extend(3, "等待配件"), grid_leader, NOW)
    assert recipients(step) == [Recipient.person("r1")]
    assert "3天" in step.notifications[0].text and "等待配件" in step.notifications[0].text
    assert step.event.note == "延期3天：等待配件"


def test_extensions_in_an_old_window_do_not_carry_over() -> None:
    t = run(accepted(), (Extend(5, "等"), grid_leader), (Escalate("还是不行"), grid_leader))
    assert (t.extension_count, t.extended_days) == (1, 0)


# ------------------------------------------------------------------ SLA actions


def test_sla_expiry_at_grid_escalates_to_village() -> None:
    t = dispatched()
    key = timer_key(t, SlaKind.ACCEPT, reminder=False)
    step = apply(t, SlaExpired(SlaKind.ACCEPT, key, NOW), SYSTEM, LATER)
    assert (step.ticket.level, step.ticket.state, step.ticket.window) == (
        TicketLevel.VILLAGE,
        TicketState.DISPATCHED,
        t.window + 1,
    )
    assert key in step.ticket.fired_timers
    assert recipients(step)[:2] == [
        Recipient.post(TicketLevel.VILLAGE, VILLAGE),
        Recipient.person("g1"),
    ]
    assert "超时升级" in step.notifications[0].text


def test_sla_expiry_at_town_and_department_is_supervision_only() -> None:
    t = at_town()
    key = timer_key(t, SlaKind.ACCEPT, reminder=False)
    step = apply(t, SlaExpired(SlaKind.ACCEPT, key, NOW), SYSTEM, LATER)
    assert (step.ticket.level, step.ticket.state, step.ticket.window) == (
        TicketLevel.TOWN,
        t.state,
        t.window,
    )
    assert "督办" in step.notifications[0].text

    t = reported()
    key = timer_key(t, SlaKind.RESOLVE, reminder=False)
    step = apply(t, SlaExpired(SlaKind.RESOLVE, key, NOW), SYSTEM, LATER)
    assert step.ticket.level is TicketLevel.DEPARTMENT
    assert recipients(step) == [
        Recipient.department("justice"),
        Recipient.post(TicketLevel.TOWN, None),
        Recipient.post(TicketLevel.GRID, "grid-16"),  # the grid that blew the whistle
    ]


def test_department_missing_its_report_deadline_tells_the_whistling_grid_and_the_town() -> None:
    t = whistled()
    key = timer_key(t, SlaKind.ACCEPT, reminder=False)
    step = apply(t, SlaExpired(SlaKind.ACCEPT, key, NOW), SYSTEM, LATER)
    assert recipients(step) == [
        Recipient.department("justice"),
        Recipient.post(TicketLevel.TOWN, None),
        Recipient.post(TicketLevel.GRID, "grid-16"),
    ]
    to_grid = step.notifications[-1].text
    assert "未按时报到" in to_grid and t.code in to_grid and "镇综治中心" in to_grid


def test_department_deadline_to_accept_is_a_deadline_to_report() -> None:
    t = whistled()
    key = timer_key(t, SlaKind.ACCEPT, reminder=True)
    step = apply(t, SlaReminder(SlaKind.ACCEPT, key, NOW), SYSTEM, NOW)
    assert step.notifications[0].recipient == Recipient.department("justice")
    assert "前报到" in step.notifications[0].text
    key = timer_key(t, SlaKind.ACCEPT, reminder=False)
    step = apply(t, SlaExpired(SlaKind.ACCEPT, key, NOW), SYSTEM, LATER)
    assert "尽快报到" in step.notifications[0].text


def test_sla_timer_fires_once_and_only_for_its_window() -> None:
    t = dispatched()
    key = timer_key(t, SlaKind.ACCEPT, reminder=True)
    reminder = SlaReminder(SlaKind.ACCEPT, key, NOW)
    step = apply(t, reminder, SYSTEM, NOW)
    assert step.ticket.state is TicketState.DISPATCHED and key in step.ticket.fired_timers
    assert "⏰" in step.notifications[0].text and "接单" in step.notifications[0].text
    refused(step.ticket, reminder, SYSTEM, "已处理过")
    refused(
        run(t, (Reassign("w1", "王五", ActorRole.GRID_WORKER), grid_leader)),
        reminder,
        SYSTEM,
        "失效",
    )
    refused(t, reminder, town, "系统自动")
    refused(accepted(), SlaReminder(SlaKind.ACCEPT, key, NOW), SYSTEM, "不适用")
    refused(resolved(), SlaExpired(SlaKind.RESOLVE, "resolve@2.0", NOW), SYSTEM, "不适用")


def test_extension_arms_a_new_resolve_timer() -> None:
    t = accepted()
    before = timer_key(t, SlaKind.RESOLVE, reminder=False)
    t = run(t, (Extend(3, "等"), grid_leader))
    assert timer_key(t, SlaKind.RESOLVE, reminder=False) != before
    assert timer_key(t, SlaKind.ACCEPT, reminder=False) == "accept@2"
