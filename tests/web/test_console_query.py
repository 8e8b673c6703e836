"""The console's one reader of ids, days and months in filters (web.console.query)."""

from __future__ import annotations

from datetime import date

import pytest

from rhythm.periods import month_bounds
from web.console.query import MAX_ID, FilterValueError, read_day, read_id, read_month


def test_ids_within_a_64_bit_integer() -> None:
    assert read_id("", "村") is None and read_id(None, "村") is None
    assert read_id("12", "村") == 12 and read_id(str(MAX_ID), "村") == MAX_ID
    for bad in (str(MAX_ID + 1), "9" * 30, "0", "-3", "1e3", "１２", "abc"):
        with pytest.raises(FilterValueError, match="网格「"):
            read_id(bad, "网格")


def test_days_and_months_between_1900_and_2100() -> None:
    assert read_day("2026-06-01", "开始日期") == date(2026, 6, 1)
    assert read_month("2026-11") == "2026-11"
    for bad_day in ("9999-12-31", "0001-01-01", "1899-12-31", "2026-02-30", "昨天"):
        with pytest.raises(FilterValueError, match="结束日期"):
            read_day(bad_day, "结束日期")
    for bad_month in ("9999-12", "0001-01", "2026-13", "2026-1", "26-11", "2026/11"):
        with pytest.raises(FilterValueError, match="月份"):
            read_month(bad_month)


def test_regression_month_bounds_refuses_a_month_at_the_end_of_the_calendar() -> None:
    for month in ("9999-12", "0001-01"):
        with pytest.raises(ValueError, match="out of range"):
            month_bounds(month)
