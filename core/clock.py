"""Time: the town's local zone, its calendar day, and the current UTC instant.

Service functions take ``now`` as a parameter; only the edges (a scheduler job, a
request handler, a chat message) ask the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.base import utcnow

__all__ = ["TOWN_TZ", "Clock", "format_local_time", "local_day", "utcnow"]

Clock = Callable[[], datetime]
"""Returns the current timezone-aware UTC time; tests pass a fixed or stepped one."""


def _town_tz() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # pragma: no cover - only on hosts without tzdata
        # China has kept UTC+8 without daylight saving since 1991.
        return timezone(timedelta(hours=8), "Asia/Shanghai")


TOWN_TZ: tzinfo = _town_tz()
"""The town's local time zone; dates and times shown to people use it."""


def local_day(at: datetime) -> date:
    """The town-local calendar day of an aware instant."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return at.astimezone(TOWN_TZ).date()


def format_local_time(at: datetime) -> str:
    """``11月30日 14:30`` in the town's time zone."""
    local = at.astimezone(TOWN_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"
