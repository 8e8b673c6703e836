"""Which period a cadence run belongs to, and when a cadence last fell due. Pure."""

from __future__ import annotations

import enum
from datetime import date, datetime, time, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

from core.clock import TOWN_TZ

__all__ = ["Cadence", "last_fire_time", "local", "month_bounds", "period_key", "previous_month"]


class Cadence(enum.StrEnum):
    DAILY = "daily"  # 日清
    WEEKLY = "weekly"  # 周商
    TEN_DAY = "ten_day"  # 旬查
    MONTHLY = "monthly"  # 月结

    @property
    def label(self) -> str:
        return {"daily": "日清", "weekly": "周商", "ten_day": "旬查", "monthly": "月结"}[self.value]


def local(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return at.astimezone(TOWN_TZ)


def previous_month(day: date) -> str:
    """``2026-11`` for any day of December 2026."""
    first = day.replace(day=1) - timedelta(days=1)
    return f"{first:%Y-%m}"


def period_key(cadence: Cadence, at: datetime) -> str:
    """The period a run at ``at`` covers: the day, the ISO week, the check day, or the
    month that ended (月结 runs at the start of the next month)."""
    day = local(at).date()
    match cadence:
        case Cadence.DAILY | Cadence.TEN_DAY:
            return day.isoformat()
        case Cadence.WEEKLY:
            year, week, _ = day.isocalendar()
            return f"{year}-W{week:02d}"
        case Cadence.MONTHLY:
            return previous_month(day)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``2026-11`` -> [local midnight of Nov 1, of Dec 1), as aware instants."""
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"not a month (YYYY-MM): {month}") from None
    if not 1900 <= first.year <= 2100:
        # date.max and date.min are a month away: the next month, or the local midnight
        # in UTC, would overflow.
        raise ValueError(f"month out of range (years 1900-2100): {month}")
    following = (first + timedelta(days=32)).replace(day=1)
    return (
        datetime.combine(first, time(), TOWN_TZ),
        datetime.combine(following, time(), TOWN_TZ),
    )


def last_fire_time(
    cron: str, now: datetime, *, tz: tzinfo = TOWN_TZ, lookback: timedelta = timedelta(days=40)
) -> datetime | None:
    """The latest time at or before ``now`` the crontab fell due (within ``lookback``)."""
    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    cursor = now - lookback
    last = None
    while True:
        fire = trigger.get_next_fire_time(last, cursor)
        if fire is None or fire > now:
            return last
        last, cursor = fire, fire + timedelta(seconds=1)
