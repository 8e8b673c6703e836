"""每家每户, the pure rules: reading ``已通知 12/14户``, checking it against the roster,
and the household coverage arithmetic (broadcast/households.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcast.households import (
    Claim,
    ClaimAccepted,
    ClaimRefused,
    HouseholdTally,
    UnitHouseholds,
    household_coverage,
    judge_claim,
    malformed_claim,
    parse_claim,
)


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("已通知 12/14户", Claim(12, 14)),
        ("已通知12户", Claim(12)),
        ("已通知到12/14户", Claim(12, 14)),
        ("已经通知到 12/14户", Claim(12, 14)),
        ("12/14户已通知", Claim(12, 14)),
        ("１２／１４户已通知", Claim(12, 14)),
        ("已通知 12/14", Claim(12, 14)),
        ("已通知 12/14户。", Claim(12, 14)),
        ("已通知12户，2户外出未联系上", Claim(12)),
        ("3栋 已通知 12/14户", Claim(12, 14, unit="3栋")),
        ("3栋已通知12/14户", Claim(12, 14, unit="3栋")),
        ("3栋 12/14户已通知到", Claim(12, 14, unit="3栋")),
        ("已全部通知", Claim(None, all_reached=True)),
        ("全部通知到了", Claim(None, all_reached=True)),
        ("已通知全部住户", Claim(None, all_reached=True)),
        ("3栋 全部通知到了", Claim(None, all_reached=True, unit="3栋")),
    ],
)
def test_claims(text: str, claim: Claim) -> None:
    assert parse_claim(text) == claim


@pytest.mark.parametrize(
    "text",
    [
        "",
        "收到",
        "通知12户",  # an instruction, not a count
        "已通知 12",  # no 户, no total: too vague
        "物业已通知3户停水了吗，我家怎么没接到",
        "我们已经通知过了",
        "已通知3栋12户",
        "已通知 12/14户" + "，" + "还有两户老人不在家需要再跑一趟明天上午去" * 2,
    ],
)
def test_not_claims(text: str) -> None:
    assert parse_claim(text) is None


def test_judge_accepts_a_count_within_the_roster() -> None:
    assert judge_claim(Claim(12, 14), 14) == ClaimAccepted(12, 14)
    assert judge_claim(Claim(0), 14) == ClaimAccepted(0, 14)
    assert judge_claim(Claim(None, all_reached=True), 14) == ClaimAccepted(14, 14)


def test_judge_accepts_another_total_but_says_what_the_roster_says() -> None:
    verdict = judge_claim(Claim(12, 16), 14)
    assert isinstance(verdict, ClaimAccepted) and verdict.reached == 12
    assert "花名册登记本单元为 14 户" in verdict.note


def test_judge_refuses_more_than_the_households() -> None:
    refused = judge_claim(Claim(15, 15), 14)
    assert isinstance(refused, ClaimRefused) and "不能超过 14 户" in refused.reason
    assert isinstance(judge_claim(Claim(15), 14), ClaimRefused)
    assert isinstance(judge_claim(Claim(12, 10), 14), ClaimRefused)  # 12 of 10


def test_judge_without_a_roster_number_needs_a_total() -> None:
    assert isinstance(judge_claim(Claim(12), None), ClaimRefused)
    assert isinstance(judge_claim(Claim(None, all_reached=True), None), ClaimRefused)
    verdict = judge_claim(Claim(12, 14), None)
    assert isinstance(verdict, ClaimAccepted) and verdict.note


def test_coverage_by_hand() -> None:
    units = [
        UnitHouseholds("黄霞村", "第16网格", "1号楼", 48, reached=True, confirmed=30),
        UnitHouseholds("黄霞村", "第16网格", "美发店", 1, reached=True, confirmed=None),
        UnitHouseholds("黄霞村", "第1网格", "2号楼", 20, reached=False, confirmed=None),
        UnitHouseholds("国欢村", "第1网格", "片区", None, reached=True, confirmed=5),
    ]
    coverage = household_coverage(units)
    assert coverage.total == HouseholdTally(
        units=4, households=69, reached=49, confirmed=30, unknown=1
    )
    assert coverage.villages["黄霞村"] == HouseholdTally(3, 69, 49, 30, 0)
    assert coverage.grids[("黄霞村", "第16网格")] == HouseholdTally(2, 49, 49, 30, 0)
    assert coverage.grids[("黄霞村", "第1网格")].reached == 0
    assert coverage.total.confirmed_share == round(30 / 69, 3)


units_strategy = st.lists(
    st.builds(
        UnitHouseholds,
        village=st.sampled_from(["甲村", "乙村", "丙村"]),
        grid=st.sampled_from(["第1网格", "第2网格"]),
        unit=st.text(min_size=1, max_size=3),
        households=st.none() | st.integers(min_value=0, max_value=500),
        reached=st.booleans(),
        confirmed=st.none() | st.integers(min_value=-5, max_value=600),
    ),
    max_size=40,
)


@given(units_strategy)
def test_coverage_invariants(units: list[UnitHouseholds]) -> None:
    coverage = household_coverage(units)
    total = coverage.total
    assert 0 <= total.confirmed <= total.reached <= total.households
    assert total.units == len(units)
    assert total.unknown == sum(u.households is None for u in units)
    # brute force: the definition, unit by unit
    assert total.reached == sum(u.households or 0 for u in units if u.reached)
    assert total.confirmed == sum(
        min(max(u.confirmed or 0, 0), u.households or 0) for u in units if u.reached
    )
    # the parts add up to the whole, at both levels
    for parts in (coverage.villages.values(), coverage.grids.values()):
        assert sum(t.households for t in parts) == total.households
        assert sum(t.reached for t in parts) == total.reached
        assert sum(t.confirmed for t in parts) == total.confirmed
        assert sum(t.units for t in parts) == total.units
    assert 0.0 <= total.confirmed_share <= total.reached_share <= 1.0


@given(st.integers(min_value=0, max_value=99999), st.integers(min_value=1, max_value=999))
def test_parsed_counts_are_judged_consistently(reached: int, households: int) -> None:
    claim = parse_claim(f"已通知 {reached}/{households}户")
    assert claim == Claim(reached, households)
    verdict = judge_claim(claim, households)
    if reached > households:
        assert isinstance(verdict, ClaimRefused)
    else:
        assert verdict == ClaimAccepted(reached, households)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("已通知 -3/48户", "不能带正负号"),
        ("3栋 已通知 -2户", "不能带正负号"),
        ("已通知 99999999999999999999/48户", "户数太大"),
        ("已通知 12/99999999999999999999户", "户数太大"),
        ("已通知 12.5/14户", "应为整数"),
        ("-3/48户已通知", "不能带正负号"),
    ],
)
def test_regression_malformed_counts_are_named(text: str, problem: str) -> None:
    assert parse_claim(text) is None
    reason = malformed_claim(text)
    assert reason is not None and problem in reason and "已通知 12/14户" in reason


@pytest.mark.parametrize(
    "text", ["已通知 12/14户", "收到", "物业已通知3户停水了吗，我家怎么没接到"]
)
def test_good_counts_and_talk_are_not_malformed(text: str) -> None:
    assert malformed_claim(text) is None


def test_regression_a_total_of_zero_is_refused() -> None:
    """已通知 0/0户 was accepted as 0 of the roster's 48."""
    verdict = judge_claim(Claim(0, 0), 48)
    assert isinstance(verdict, ClaimRefused) and "总户数不能为0" in verdict.reason
