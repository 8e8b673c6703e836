"""Ticket figures: the arithmetic of the three rates, levels and medians."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from core.clock import TOWN_TZ
from models.enums import Rating, TicketLevel, TicketState
from tests.tickets.helpers import T0
from tickets.stats import TicketFacts, compute_stats, format_stats, local_period

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DUE = T0 + 2 * HOUR


def facts(
    state: TicketState,
    *,
    accepted: timedelta | None = None,
    resolved: timedelta | None = None,
    level: TicketLevel | None = None,
    rating: Rating | None = None,
    created: datetime = T0,
    category: str = "dispute",
) -> TicketFacts:
    return TicketFacts(
        state=state,
        category=category,
        created_at=created,
        first_accept_due_at=created + 2 * HOUR,
        first_accepted_at=created + accepted if accepted is not None else None,
        resolved_at=created + resolved if resolved is not None else None,
        resolved_level=level,
        rating=rating,
    )


NOW = T0 + 10 * HOUR
SAMPLE = [
    facts(
        TicketState.CLOSED,
        accepted=10 * MIN,
        resolved=HOUR,
        level=TicketLevel.GRID,
        rating=Rating.SATISFIED,
    ),
    facts(
        TicketState.CLOSED, accepted=3 * HOUR, resolved=5 * HOUR, level=TicketLevel.VILLAGE
    ),  # no rating
    facts(
        TicketState.CLOSED,
        accepted=20 * MIN,
        resolved=2 * HOUR,
        level=TicketLevel.DEPARTMENT,
        rating=Rating.BASICALLY_SATISFIED,
        category="noise",
    ),
    facts(TicketState.IN_PROGRESS, accepted=30 * MIN),
    facts(TicketState.DISPATCHED),  # never accepted, deadline passed: late
    facts(TicketState.DISPATCHED, created=NOW - 10 * MIN),  # still within its accept time
]


def test_the_three_rates_levels_and_medians() -> None:
    stats = compute_stats(SAMPLE, now=NOW)
    assert stats.total == 6
    assert stats.by_state == {"dispatched": 2, "in_progress": 1, "closed": 3}
    assert stats.by_category == {"dispute": 5, "noise": 1}
    assert stats.resolved == 3 and stats.resolution_rate == 0.5
    assert stats.resolved_by_level == {"grid": 1, "village": 1, "town": 0, "department": 1}
    assert stats.resolved_within_town == 2 / 3
    # Decided: the five whose first accept deadline passed or who were accepted.
    assert (stats.responded_on_time, stats.response_due) == (3, 5)
    assert stats.response_rate == 0.6
    # Closed without a rating counts as not satisfied; among the rated ones all are.
    assert (stats.closed, stats.closed_satisfied, stats.closed_rated) == (3, 2, 2)
    assert stats.satisfaction_rate == 2 / 3 and stats.satisfaction_rate_rated == 1.0
    assert stats.median_time_to_accept == 25 * MIN  # 10, 20, 30, 180 min
    assert stats.median_time_to_resolve == 2 * HOUR  # 1, 2, 5 h


def test_empty_period_has_no_rates() -> None:
    stats = compute_stats([], now=NOW)
    assert stats.total == 0 and stats.response_rate is None and stats.satisfaction_rate is None
    assert stats.median_time_to_accept is None
    assert "响应率：—" in format_stats(stats, {})


def test_the_articles_share_resolved_within_the_town() -> None:
    """965 of 1,000 resolved disputes at grid, village or town level: 96.5%."""
    resolved = [
        facts(
            TicketState.CLOSED,
            accepted=MIN,
            resolved=HOUR,
            level=TicketLevel.GRID,
            rating=Rating.SATISFIED,
        )
    ] * 965 + [
        facts(TicketState.CLOSED, accepted=MIN, resolved=HOUR, level=TicketLevel.DEPARTMENT)
    ] * 35
    stats = compute_stats(resolved, now=NOW)
    assert stats.resolved_within_town == 0.965
    assert "镇内化解率 96.5%" in format_stats(stats, {"dispute": "邻里纠纷"})


def test_text_and_json() -> None:
    stats = compute_stats(SAMPLE, now=NOW)
    text = format_stats(stats, {"dispute": "邻里纠纷", "noise": "噪音扰民"})
    assert "邻里纠纷 5" in text and "响应率：60.0%" in text and "满意率：66.7%" in text
    assert "签收用时中位数：25分钟" in text and "办结用时中位数：2小时" in text
    data = stats.to_json()
    assert data["median_time_to_accept_s"] == 1500.0 and data["response_rate"] == 0.6


def test_local_period_covers_whole_local_days() -> None:
    start, end = local_period(date(2026, 11, 30), date(2026, 11, 30))
    assert start == datetime(2026, 11, 30, tzinfo=TOWN_TZ)
    assert end == datetime(2026, 12, 1, tzinfo=TOWN_TZ)
    assert local_period(None, None) == (None, None)
