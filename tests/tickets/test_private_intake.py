"""Choosing the unit of a private report (tickets/private_intake.py)."""

from __future__ import annotations

import pytest

from tickets.private_intake import Home, choose_home

OPTIONS = [
    Home(1, ("国欢村", "第1网格", "洋中1号片区"), "unit"),
    Home(2, ("国欢村", "第1网格", "洋中2号片区"), "unit"),
]


@pytest.mark.parametrize(
    ("answer", "chosen"),
    [("1", 1), ("２", 2), ("第二个", 2), ("选2", 2), ("洋中2号片区", 2), ("是洋中1号片区的", 1)],
)
def test_the_writer_picks_by_number_or_by_name(answer: str, chosen: int) -> None:
    home = choose_home(answer, OPTIONS)
    assert home is not None and home.org_unit_id == chosen


@pytest.mark.parametrize("answer", ["3", "0", "好的", "洋中", "楼道灯又坏了"])
def test_anything_else_is_no_choice(answer: str) -> None:
    assert choose_home(answer, OPTIONS) is None
