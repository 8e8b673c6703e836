"""Reach to every household (3分钟通知到每家每户): the rules, as pure functions.

A notice reaches a unit's households through its unit group; the unit leader then
confirms on behalf of the households they reached by phone or at the door:
``已通知 12/14户`` (:func:`parse_claim`). :func:`judge_claim` checks the count against the
roster's 户数; :func:`household_coverage` adds households targeted, reached (the unit
group got the notice) and confirmed (the leader's latest count) per unit, grid and
village. The database side is :mod:`broadcast.household_reach`; chasing silent units
through their contact party members is :mod:`broadcast.household_visits`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "MAX_CLAIM_CHARS",
    "Claim",
    "ClaimAccepted",
    "ClaimRefused",
    "Coverage",
    "HouseholdTally",
    "UnitHouseholds",
    "confirmed_households",
    "household_coverage",
    "judge_claim",
    "malformed_claim",
    "parse_claim",
    "tally_json",
]

MAX_CLAIM_CHARS = 40
"""Longer messages are residents talking, not a leader's count."""
MAX_HOUSEHOLDS = 9999


@dataclass(frozen=True, slots=True)
class Claim:
    """What a unit leader wrote: ``reached`` of ``stated_total`` households notified, or
    all of them (``all_reached``); ``unit`` is the unit named before it (``3栋``), if any."""

    reached: int | None
    stated_total: int | None = None
    all_reached: bool = False
    unit: str = ""


_NUMBER = r"(?P<k>\d{1,5})(?:\s*/\s*(?P<n>\d{1,5})\s*户?|\s*户)"
_NOTIFIED = r"(?:都)?已经?通知(?:到|了)?"
_FORMS = (
    # 已通知 12/14户, 已通知12户, 已通知到12/14户, 3栋 已通知 12/14户
    re.compile(rf"^(?P<unit>.*?)\s*{_NOTIFIED}\s*{_NUMBER}(?P<rest>.*)$"),
    # 12/14户已通知, 3栋 12/14户已通知到
    re.compile(rf"^(?:(?P<unit>.*?)\s+)?{_NUMBER}\s*{_NOTIFIED}(?P<rest>.*)$"),
)
_ALL = re.compile(
    r"^(?P<unit>.*?)\s*(?:已经?全部通知(?:到|完)?|全部(?:都)?(?:已经?)?通知(?:到|完)?|已通知全部(?:住户|户)?)"
    r"(?P<rest>.*)$"
)
_TRAILING = re.compile(r"^(?:了|啦|完毕|完了)?(?:[\s\W_]*|\s*[，,；;。]\s*\S.{0,19})$")
_UNIT_HINT = re.compile(r"^[^\s，。,.!！?？]{1,20}$")


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    return text.replace("／", "/")


def parse_claim(text: str) -> Claim | None:
    """``已通知 12/14户`` (and ``已通知12户``, ``已通知到12/14户``, ``12/14户已通知``,
    ``3栋 已通知 12/14户``, ``已全部通知``, ``全部通知到了``) -> a :class:`Claim`; anything
    else -> ``None``. Pure."""
    text = _normalize(text)
    if not text or len(text) > MAX_CLAIM_CHARS:
        return None
    for form in _FORMS:
        match = form.match(text)
        if match is None or not _TRAILING.match(match.group("rest") or ""):
            continue
        unit = (match.group("unit") or "").strip()
        if unit and not _UNIT_HINT.match(unit):
            continue
        total = match.group("n")
        return Claim(int(match.group("k")), int(total) if total else None, False, unit)
    match = _ALL.match(text)
    if match is not None and _TRAILING.match(match.group("rest") or ""):
        unit = match.group("unit").strip()
        if not unit or _UNIT_HINT.match(unit):
            return Claim(None, None, True, unit)
    return None


_ODD_NUMBER = r"[-+−－]?\s*\d[\d.,，．]*"
_ODD_COUNT = r"(?P<k>" + _ODD_NUMBER + r")(?:\s*/\s*(?P<n>" + _ODD_NUMBER + r"))?\s*户"
_ODD_FORMS = (
    re.compile(rf"^(?P<unit>.*?)\s*{_NOTIFIED}\s*{_ODD_COUNT}"),
    re.compile(rf"^(?:(?P<unit>.*?)\s+)?{_ODD_COUNT}\s*{_NOTIFIED}"),
)
_MAX_COUNT_DIGITS = 5


def malformed_claim(text: str) -> str | None:
    """For a message written as ``已通知 k/n户`` whose numbers :func:`parse_claim` cannot
    take (``-3/48户``, ``12.5户``, 20 digits, ``0/0户``), the refusal naming the problem;
    else ``None``. Pure."""
    text = _normalize(text)
    if not text or len(text) > MAX_CLAIM_CHARS + 40:
        return None
    for form in _ODD_FORMS:
        match = form.match(text)
        if match is None:
            continue
        unit = (match.group("unit") or "").strip()
        if unit and not _UNIT_HINT.match(unit):
            continue
        numbers = [n for n in (match.group("k"), match.group("n")) if n]
        written = "/".join(n.replace(" ", "") for n in numbers)
        shown = written if len(written) <= 24 else written[:24] + "…"
        if any(n.lstrip()[0] in "-+−－" for n in numbers):
            problem = "户数不能带正负号"
        elif any(not n.isdigit() for n in numbers):
            problem = "户数应为整数"
        elif any(len(n) > _MAX_COUNT_DIGITS for n in numbers):
            problem = "户数太大"
        elif len(numbers) == 2 and int(numbers[1]) == 0:
            problem = "总户数不能为0"
        else:
            return None
        return (
            f"没有记录：「{shown}户」{problem}，请写成 已通知 12/14户 这样（已通知户数/总户数）。"
        )
    return None


@dataclass(frozen=True, slots=True)
class ClaimAccepted:
    """Record ``reached`` households; ``note`` tells the leader what the roster says."""

    reached: int
    households: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class ClaimRefused:
    reason: str


def judge_claim(claim: Claim, households: int | None) -> ClaimAccepted | ClaimRefused:
    """Check a claim against the unit's 户数 (``None``: the roster has no number). Pure.

    More households than the unit has is refused; a total that differs from the roster
    is accepted with the roster's number, and the leader is told."""
    if claim.stated_total == 0:  # 已通知 0/0户: not a count of anything
        return ClaimRefused("总户数不能为0，请写成 已通知 12/14户 这样（已通知户数/总户数）。")
    if households is None or households < 1:
        if claim.all_reached or claim.stated_total is None:
            return ClaimRefused(
                "花名册还没有登记本单元的户数，请写明已通知户数和总户数，例如：已通知 12/14户。"
            )
        households = claim.stated_total
        if claim.reached is not None and claim.reached > households:
            return ClaimRefused(
                f"已通知户数（{claim.reached}户）不能多于总户数（{households}户），请核对后重发。"
            )
        return ClaimAccepted(
            claim.reached or 0,
            households,
            "花名册还没有登记本单元的户数：已记录您报的数字，补登户数后计入全镇户数统计。",
        )
    if claim.all_reached:
        return ClaimAccepted(households, households)
    reached = claim.reached or 0
    if claim.stated_total is not None and reached > claim.stated_total:
        return ClaimRefused(
            f"已通知户数（{reached}户）不能多于您写的总户数（{claim.stated_total}户），请核对后重发。"
        )
    if reached > households:
        return ClaimRefused(
            f"本单元花名册登记 {households} 户，已通知户数（{reached}户）不能超过 {households} 户，"
            "请核对后重发。"
        )
    note = ""
    if claim.stated_total is not None and claim.stated_total != households:
        note = f"花名册登记本单元为 {households} 户（您写的是 {claim.stated_total} 户），按 {households} 户计；如花名册有误请联系网格长更正。"
    return ClaimAccepted(reached, households, note)


def confirmed_households(
    households: int | None, *, reached: int, stated_total: int | None, all_reached: bool
) -> tuple[int, int | None]:
    """(households confirmed, out of how many) by a unit leader's latest count: out of
    the roster's 户数, else the total they wrote (``None``: neither is known). Pure."""
    total = households if households is not None and households > 0 else stated_total
    return (total if all_reached and total is not None else reached), total


# --- coverage arithmetic -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitHouseholds:
    """One unit a notice targeted: its 户数 (``None`` when the roster has none), whether
    its group got the notice, and its leader's latest confirmed count (``None``: none)."""

    village: str
    grid: str
    unit: str
    households: int | None
    reached: bool
    confirmed: int | None = None

    @property
    def households_reached(self) -> int:
        """The unit's households when its group got the notice, else 0."""
        return max(self.households or 0, 0) if self.reached else 0

    @property
    def households_confirmed(self) -> int:
        """The leader's count, at most the households reached."""
        return min(max(self.confirmed or 0, 0), self.households_reached)


@dataclass(frozen=True, slots=True)
class HouseholdTally:
    """Households of some units: targeted, reached (their group got the notice) and
    confirmed by their leaders; ``unknown`` counts units without a 户数."""

    units: int = 0
    households: int = 0
    reached: int = 0
    confirmed: int = 0
    unknown: int = 0

    def add(self, unit: UnitHouseholds) -> HouseholdTally:
        return HouseholdTally(
            self.units + 1,
            self.households + max(unit.households or 0, 0),
            self.reached + unit.households_reached,
            self.confirmed + unit.households_confirmed,
            self.unknown + (unit.households is None),
        )

    @property
    def reached_share(self) -> float:
        return round(self.reached / self.households, 3) if self.households else 0.0

    @property
    def confirmed_share(self) -> float:
        return round(self.confirmed / self.households, 3) if self.households else 0.0


@dataclass(frozen=True, slots=True)
class Coverage:
    """:class:`HouseholdTally` for the whole notice, per village and per grid (in the
    order the units came)."""

    total: HouseholdTally = HouseholdTally()
    villages: dict[str, HouseholdTally] = field(default_factory=dict)
    grids: dict[tuple[str, str], HouseholdTally] = field(default_factory=dict)


def household_coverage(units: Iterable[UnitHouseholds]) -> Coverage:
    """Add households targeted, reached and confirmed per grid, village and in total. Pure.

    A unit's households count as reached when its group got the notice; confirmed are
    its leader's latest count (at most the households reached: a count for a group that
    never got the notice, or above the roster's number, adds nothing beyond them)."""
    total = HouseholdTally()
    villages: dict[str, HouseholdTally] = {}
    grids: dict[tuple[str, str], HouseholdTally] = {}
    for unit in units:
        total = total.add(unit)
        villages[unit.village] = villages.get(unit.village, HouseholdTally()).add(unit)
        key = (unit.village, unit.grid)
        grids[key] = grids.get(key, HouseholdTally()).add(unit)
    return Coverage(total, villages, grids)


def tally_json(tally: HouseholdTally) -> dict[str, int | float]:
    """A tally as the JSON API and the console show it."""
    return {
        "units_targeted": tally.units,
        "households": tally.households,
        "reached": tally.reached,
        "confirmed": tally.confirmed,
        "unknown_units": tally.unknown,
        "reached_share": tally.reached_share,
        "confirmed_share": tally.confirmed_share,
    }
