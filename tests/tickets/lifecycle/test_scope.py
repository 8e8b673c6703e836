"""Who may view a ticket, and how it is described."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.tickets.lifecycle.factories import (
    CODE,
    NOW,
    accepted,
    chief,
    dispatched,
    grid_leader,
    housing,
    justice,
    other_grid_leader,
    reporter,
    resolved,
    run,
    stranger,
    town,
    unit_leader,
    whistled,
)
from tickets.lifecycle import (
    SYSTEM,
    CloseWithoutRating,
    TransitionRefused,
    describe,
    ensure_can_view,
)

# --------------------------------------------------------------------- viewing


def test_who_may_view_a_ticket() -> None:
    t = whistled()
    for actor in (reporter, unit_leader, grid_leader, chief, town, justice, SYSTEM):
        ensure_can_view(t, actor)
    with pytest.raises(TransitionRefused, match="只能查询自己反映的工单"):
        ensure_can_view(t, stranger)
    with pytest.raises(TransitionRefused, match="不在您的负责范围"):
        ensure_can_view(t, housing)
    with pytest.raises(TransitionRefused, match="不在您的负责范围"):
        ensure_can_view(t, other_grid_leader)


def test_describe_says_state_holder_and_deadline() -> None:
    text = describe(accepted(), deadline=NOW + timedelta(days=7))
    assert CODE in text and "已签收" in text and "网格长张三" in text
    assert "12月7日 09:00" in text  # Asia/Shanghai
    assert "区司法局" in describe(whistled())
    assert "未评价" in describe(run(resolved(), (CloseWithoutRating(), SYSTEM)))
    assert "由网格办结" in describe(resolved())
    assert "办理时限12月7日 09:00" in text


def test_describe_names_an_acceptance_deadline_as_such() -> None:
    """Regression: a fresh ticket's 2-hour acceptance deadline was called 办理时限, which a
    resident reads as "fixed by then"."""
    text = describe(dispatched(), deadline=NOW + timedelta(hours=2))
    assert "前签收" in text and "办理时限" not in text
