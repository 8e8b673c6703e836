"""The console's filter values from a query string: ids, days and months, read one way
by every page and export.

A value that cannot be read, or lies outside what the database and the date arithmetic
hold (an id beyond a 64-bit integer, a year outside 1900-2100), is a
:class:`FilterValueError` naming the field in Chinese; the pages answer it with 400
(:func:`refusal`), never let it reach a query or a ``timedelta``.
"""

from __future__ import annotations

from datetime import date

from web.endpoints import ApiError

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "MAX_ID",
    "FilterValueError",
    "read_day",
    "read_id",
    "read_month",
    "refusal",
]

MAX_ID = 2**63 - 1
"""The largest id a row can have (SQLite's INTEGER, PostgreSQL's BIGINT)."""
FIRST_YEAR = 1900
LAST_YEAR = 2100
"""Dates a filter may name: wide enough for any real record, far from ``date.max``."""

_SHOWN = 20
"""At most this many characters of a bad value are quoted back."""


class FilterValueError(ValueError):
    """A filter value that makes no sense; ``message`` names the field, in Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def read_id(text: str | None, field: str) -> int | None:
    """``village=12`` -> 12; empty -> None; anything but a whole number from 1 to
    :data:`MAX_ID` -> :class:`FilterValueError` naming ``field`` (村, 网格 ...)."""
    if not text:
        return None
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_ID:
        raise FilterValueError(f"{field}「{text[:_SHOWN]}」不是有效的编号")
    number = int(value)
    if number < 1:
        raise FilterValueError(f"{field}「{text[:_SHOWN]}」不是有效的编号")
    return number


def read_day(text: str | None, field: str) -> date | None:
    """``2026-06-01`` -> that date; empty -> None; not a date, or a year outside
    1900-2100 -> :class:`FilterValueError` naming ``field`` (开始日期, 结束日期 ...)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise FilterValueError(f"{field}「{text[:_SHOWN]}」应写成 2026-06-01 这样") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise FilterValueError(
            f"{field}「{text[:_SHOWN]}」超出范围：年份应在{FIRST_YEAR}到{LAST_YEAR}之间"
        )
    return day


def read_month(text: str, field: str = "月份") -> str:
    """``2026-11`` as given; not a month, or a year outside 1900-2100 ->
    :class:`FilterValueError` naming ``field``."""
    value = text.strip()
    parts = value.split("-")
    if (
        len(value) != 7
        or len(parts) != 2
        or not all(p.isascii() and p.isdigit() for p in parts)
        or not 1 <= int(parts[1]) <= 12
    ):
        raise FilterValueError(f"{field}「{text[:_SHOWN]}」应写成 2026-11 这样")
    if not FIRST_YEAR <= int(parts[0]) <= LAST_YEAR:
        raise FilterValueError(
            f"{field}「{text[:_SHOWN]}」超出范围：年份应在{FIRST_YEAR}到{LAST_YEAR}之间"
        )
    return value


def refusal(error: FilterValueError) -> ApiError:
    """The 400 a page or an export answers a bad filter value with."""
    return ApiError(400, error.message, problems=[error.message])
