"""Immediate advice for danger reports (tickets/safety.py)."""

from __future__ import annotations

import pytest

from tickets.safety import danger_in, safety_advice


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [
        ("3栋楼道里有很浓的煤气味", "gas", "119"),
        ("厨房漏气了，怎么办", "gas", "119"),
        ("闻到一股天然气味", "gas", "119"),
        ("楼下着火了，好多烟", "fire", "119"),
        ("电动车充电冒烟了", "fire", "119"),
        ("有人被困在电梯里", "trapped", "119"),
        ("楼下有个老人晕倒了", "medical", "120"),
        ("我爸摔倒了起不来", "medical", "120"),
        ("楼上有人拿刀砍人", "violence", "110"),
    ],
)
def test_dangers_get_the_advice_that_fits(text: str, kind: str, number: str) -> None:
    assert kind in [d.kind for d in danger_in(text)]
    advice = safety_advice(text)
    assert advice is not None and number in advice


def test_gas_advice_says_leave_and_no_switches_or_flames() -> None:
    advice = safety_advice("煤气泄漏了")
    assert advice is not None
    assert "撤离" in advice and "不要开关电灯" in advice and "明火" in advice


@pytest.mark.parametrize(
    "text", ["楼道灯坏了", "没着火，就是有点焦味", "隔壁在抽烟烟味很大", "烟花爆竹很吵", ""]
)
def test_ordinary_reports_get_no_advice(text: str) -> None:
    assert safety_advice(text) is None
