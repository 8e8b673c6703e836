"""The default data set: Guohuan town (国欢镇, 涵江区, 莆田市) as the 2022 article describes it.

1 town, 15 villages, 172 grids, 4,559 units. The article's real facts are fixed: 黄霞村
grid 16 is the 国湄•领涵 compound with 73 units (14 residential, 3 facility, 56 shop),
its grid leader is 郭燕冰 and the village's station chief is 林文荣; the town has 32
party building leaders (党员楼栋长) and 2,313 party-member contact households (党员联系户).
Everything else is generated from a seed.

Household counts (户数) and the contact households were added after the rest: they are
drawn last, so every name, phone and unit of the earlier data set stays as it was.

Phones are 138-0000-xxxx then 139-0000-xxxx (an all-zero middle group, obviously
fictitious), one per person. Stability across runs and Python versions: the generator
draws only ``Random.random()`` (whose output for a seed is fixed) and does its own
integer picks and shuffles, since ``randrange``/``shuffle`` are free to change.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, TypeVar

from models.enums import Role, UnitKind
from models.org import OrgPath
from orgtree import names
from orgtree.records import ContactRecord, PersonRecord, RoleRecord, TownRoster, UnitRow

_T = TypeVar("_T")

TOTAL_UNITS: Final = 4559
HUANGXIA: Final = "黄霞村"
HUANGXIA_GRID: Final = "第16网格"
HUANGXIA_STATION_CHIEF: Final = "林文荣"
HUANGXIA_GRID_LEADER: Final = "郭燕冰"
_HUANGXIA_GRID_NUMBER: Final = 16
_MIN_GRID_UNITS: Final = 8
_SHOPS_PER_SECOND_LEADER: Final = 8
_SUNK_CADRE_SHARE: Final = 0.35
_FEMALE_SHARE: Final = 0.45
# 户数 of a residential unit, (lowest, highest). A natural-village 片区 is a cluster of
# a few self-built houses; a compound building is 6-18 floors of 2-4 flats, a stairwell
# (号楼N单元) 6-18 floors of 2 flats.
_HAMLET_HOUSEHOLDS: Final = (4, 14)
_FLOORS: Final = (6, 18)
_FLATS_PER_FLOOR: Final = (2, 4)
# Each contact assignment: a party member and a few households of one unit.
_CONTACT_CHUNK: Final = (3, 8)


def guohuan_roster(seed: int = 2022) -> TownRoster:
    """Guohuan town's org tree, the same for the same seed on every run."""
    return _Generator(random.Random(seed)).build()


class _Draw:
    """Integer picks and shuffles on top of ``Random.random()`` only."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def unit(self) -> float:
        return self._rng.random()

    def below(self, n: int) -> int:
        return min(int(self._rng.random() * n), n - 1)

    def between(self, bounds: tuple[int, int]) -> int:
        """An integer from ``bounds[0]`` to ``bounds[1]``, both included."""
        low, high = bounds
        return low + self.below(high - low + 1)

    def pick(self, items: Sequence[_T]) -> _T:
        return items[self.below(len(items))]

    def shuffled(self, items: Sequence[_T]) -> list[_T]:
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def sample(self, items: Sequence[_T], k: int) -> list[_T]:
        return self.shuffled(items)[:k]


class _People:
    """Makes people with plausible Putian names and unique fictitious phones."""

    def __init__(self, draw: _Draw) -> None:
        self._draw = draw
        self._count = 0
        weights = [weight for _, weight in names.SURNAMES]
        self._surnames = [surname for surname, _ in names.SURNAMES]
        self._cumulative = list(itertools.accumulate(weights))

    def surname(self) -> str:
        x = self._draw.unit() * self._cumulative[-1]
        index = bisect.bisect_right(self._cumulative, x)
        return self._surnames[min(index, len(self._surnames) - 1)]

    def new(self, *, clan: str | None = None, name: str | None = None) -> PersonRecord:
        """A new person; ``clan`` is the village's dominant surname, favoured a little."""
        self._count += 1
        number = self._count
        block, serial = divmod(number, 10_000)
        if block > 1:
            raise ValueError("the 138/139-0000 phone blocks are exhausted")
        phone = f"{138 + block}0000{serial:04d}"
        if name is None:
            name = self._name(clan)
        return PersonRecord(name=name, phone=phone, wechat_id=f"wxid_gh_{number:06d}")

    def _name(self, clan: str | None) -> str:
        surname = clan if clan is not None and self._draw.unit() < 0.3 else self.surname()
        if self._draw.unit() < _FEMALE_SHARE:
            first_chars, second_chars = names.GIVEN_FEMALE_FIRST, names.GIVEN_FEMALE_SECOND
        else:
            first_chars, second_chars = names.GIVEN_MALE_FIRST, names.GIVEN_MALE_SECOND
        first = self._draw.pick(first_chars)
        second = self._draw.pick(second_chars)
        if second == first:
            second = second_chars[(second_chars.index(second) + 1) % len(second_chars)]
        return surname + first + second


@dataclass(frozen=True, slots=True)
class _GridPlan:
    village: str
    number: int
    compound: str | None  # apartment compound name, or None for a natural-village grid
    size: int

    @property
    def name(self) -> str:
        return f"第{self.number}网格"


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self._draw = _Draw(rng)
        self._people = _People(self._draw)
        self._rows: list[UnitRow] = []
        self._roles: list[RoleRecord] = []
        # (row index, grid plan) of residential units in compounds: building candidates.
        self._buildings: list[tuple[int, _GridPlan]] = []
        self._party_members: dict[OrgPath, list[PersonRecord]] = {}

    def build(self) -> TownRoster:
        self._town_roles()
        plans = self._plan_grids()
        for village, *_ in names.VILLAGES:
            self._village(village, [plan for plan in plans if plan.village == village])
        self._party_building_leaders()
        # Drawn after everything else, so that the rest of the data set is unchanged.
        self._households()
        contacts = self._contacts()
        return TownRoster(
            town=names.TOWN,
            rows=tuple(self._rows),
            extra_roles=tuple(self._roles),
            contacts=tuple(contacts),
        )

    def _town_roles(self) -> None:
        for title in names.TOWN_OFFICIAL_TITLES:
            person = self._people.new()
            self._roles.append(RoleRecord(person, Role.TOWN_OFFICIAL, (), title=title))
        for department in names.DEPARTMENTS:
            person = self._people.new()
            self._roles.append(
                RoleRecord(person, Role.DEPARTMENT_LIAISON, (), department=department)
            )

    def _plan_grids(self) -> list[_GridPlan]:
        """Which grids are compounds, and how many units each grid has (sum exact)."""
        compound_names = self._draw.shuffled(names.COMPOUNDS)
        compounds_used = 0
        slots: list[tuple[str, int, str | None]] = []
        for village, grid_count, _, compound_share in names.VILLAGES:
            compound_count = int(grid_count * compound_share + 0.5)
            numbers = range(1, grid_count + 1)
            if village == HUANGXIA:
                others = [n for n in numbers if n != _HUANGXIA_GRID_NUMBER]
                chosen = {_HUANGXIA_GRID_NUMBER, *self._draw.sample(others, compound_count - 1)}
            else:
                chosen = set(self._draw.sample(numbers, compound_count))
            for number in numbers:
                compound: str | None = None
                if village == HUANGXIA and number == _HUANGXIA_GRID_NUMBER:
                    compound = names.GUOMEI_LINGHAN
                elif number in chosen:
                    phase, index = divmod(compounds_used, len(compound_names))
                    compound = compound_names[index] + ("二期" * phase)
                    compounds_used += 1
                slots.append((village, number, compound))

        # Compounds are denser than natural-village grids; the spread is deliberately wide.
        fixed = {(HUANGXIA, _HUANGXIA_GRID_NUMBER): 73}
        weights: list[float] = []
        for village, number, compound in slots:
            if (village, number) in fixed:
                weights.append(0.0)
            elif compound is not None:
                weights.append(1.2 + 1.6 * self._draw.unit())
            else:
                spread = self._draw.unit()
                weights.append(0.25 + 1.5 * spread * spread)
        free_grids = len(slots) - len(fixed)
        to_share = TOTAL_UNITS - sum(fixed.values()) - _MIN_GRID_UNITS * free_grids
        shares = _largest_remainder(weights, to_share)
        plans = []
        for (village, number, compound), share in zip(slots, shares, strict=True):
            size = fixed.get((village, number), _MIN_GRID_UNITS + share)
            plans.append(_GridPlan(village, number, compound, size))
        return plans

    def _village(self, village: str, plans: list[_GridPlan]) -> None:
        shop_share = next(spec[2] for spec in names.VILLAGES if spec[0] == village)
        clan = self._people.surname()
        if village == HUANGXIA:
            chief = self._people.new(name=HUANGXIA_STATION_CHIEF)
        else:
            chief = self._people.new(clan=clan)
        hamlets = self._draw.shuffled(names.HAMLETS)
        road = f"{village.removesuffix('村')}路"
        house_number = 1 + 2 * self._draw.below(20)
        for plan, hamlet in zip(plans, hamlets, strict=False):
            units = self._unit_names(plan, hamlet, road, shop_share, house_number)
            house_number += 2 * sum(1 for _, kind in units if kind is UnitKind.SHOP)
            self._grid(plan, units, chief, clan)

    def _unit_names(
        self, plan: _GridPlan, hamlet: str, road: str, shop_share: float, house_number: int
    ) -> list[tuple[str, UnitKind]]:
        if plan.village == HUANGXIA and plan.number == _HUANGXIA_GRID_NUMBER:
            residential, facilities, shops = 14, 3, 56
        else:
            cap = plan.size // 6
            if plan.compound is not None:
                facilities = min(1 + self._draw.below(3), cap)
                share = shop_share * 1.3 * (0.3 + 1.4 * self._draw.unit())
            else:
                facilities = min(self._draw.below(3), cap)
                share = shop_share * (0.3 + 1.4 * self._draw.unit())
            shops = min(int(plan.size * share + 0.5), plan.size - facilities - 3)
            residential = plan.size - facilities - shops

        units: list[tuple[str, UnitKind]] = []
        if plan.compound is not None:
            compound = plan.compound
            if plan.compound == names.GUOMEI_LINGHAN:
                facility_names = list(names.COMPOUND_FACILITIES[:3])
            else:
                facility_names = self._draw.sample(names.COMPOUND_FACILITIES, facilities)
            units += [(name, UnitKind.RESIDENTIAL) for name in _buildings(compound, residential)]
            units += [(name, UnitKind.FACILITY) for name in facility_names]
            for index in range(shops):
                row, column = divmod(index, 28)
                shop = self._draw.pick(names.SHOP_TYPES)
                units.append((f"沿街商铺{'ABCDEFGH'[row]}{column + 1:02d}-{shop}", UnitKind.SHOP))
        else:
            units += [
                (f"{hamlet}{i}号片区", UnitKind.RESIDENTIAL) for i in range(1, residential + 1)
            ]
            for facility in self._draw.sample(names.VILLAGE_FACILITIES, facilities):
                units.append((f"{hamlet}{facility}", UnitKind.FACILITY))
            for index in range(shops):
                shop = self._draw.pick(names.SHOP_TYPES)
                units.append((f"{road}{house_number + 2 * index}号-{shop}", UnitKind.SHOP))
        return units

    def _grid(
        self,
        plan: _GridPlan,
        units: list[tuple[str, UnitKind]],
        chief: PersonRecord,
        clan: str,
    ) -> None:
        path: OrgPath = (plan.village, plan.name)
        is_pilot = plan.village == HUANGXIA and plan.number == _HUANGXIA_GRID_NUMBER
        if is_pilot:
            leader = self._people.new(name=HUANGXIA_GRID_LEADER)
        else:
            leader = self._people.new(clan=clan)
        party_members = [self._people.new(clan=clan) for _ in range(1 + self._draw.below(4))]
        self._party_members[path] = party_members
        for member in party_members:
            self._roles.append(RoleRecord(member, Role.PARTY_MEMBER, path))
        for _ in range(1 + self._draw.below(2)):
            worker = self._people.new(clan=clan)
            self._roles.append(RoleRecord(worker, Role.GRID_WORKER, path))
        if is_pilot or self._draw.unit() < _SUNK_CADRE_SHARE:
            cadre = self._people.new()
            department = self._draw.pick(names.SUNK_CADRE_SOURCES)
            self._roles.append(RoleRecord(cadre, Role.SUNK_CADRE, path, department=department))

        # 双单元长: a few village cadres, property staff or party members each supervise
        # a stretch of neighbouring shops.
        shop_count = sum(1 for _, kind in units if kind is UnitKind.SHOP)
        supervisors: list[PersonRecord] = []
        for index in range(-(-shop_count // _SHOPS_PER_SECOND_LEADER)):
            if index < len(party_members) and self._draw.unit() < 0.5:
                supervisors.append(party_members[index])
            else:
                supervisors.append(self._people.new(clan=clan))

        shop_index = 0
        for unit, kind in units:
            second: PersonRecord | None = None
            if kind is UnitKind.SHOP:
                second = supervisors[shop_index * len(supervisors) // shop_count]
                shop_index += 1
                unit_leader = self._people.new()  # the shop's legal person
            else:
                unit_leader = self._people.new(clan=clan)
            row = UnitRow(
                village=plan.village,
                grid=plan.name,
                unit=unit,
                unit_kind=kind,
                unit_leader=unit_leader,
                second_unit_leader=second,
                grid_leader=leader,
                station_chief=chief,
            )
            if plan.compound is not None and kind is UnitKind.RESIDENTIAL:
                self._buildings.append((len(self._rows), plan))
            self._rows.append(row)

    def _party_building_leaders(self) -> None:
        """32 党员楼栋长: unit leaders of compound buildings, 4 of them in 国湄•领涵."""
        pilot = [b for b in self._buildings if b[1].compound == names.GUOMEI_LINGHAN]
        others = [b for b in self._buildings if b[1].compound != names.GUOMEI_LINGHAN]
        in_pilot = 4
        chosen = self._draw.sample(pilot, in_pilot) + self._draw.sample(
            others, names.PARTY_BUILDING_LEADER_COUNT - in_pilot
        )
        for row_index, _ in sorted(chosen, key=lambda building: building[0]):
            row = self._rows[row_index]
            self._roles.append(
                RoleRecord(
                    row.unit_leader,
                    Role.PARTY_MEMBER,
                    row.path,
                    title=names.PARTY_BUILDING_LEADER,
                )
            )

    def _households(self) -> None:
        """户数 of every residential unit; shops and facilities stay at one."""
        for index, row in enumerate(self._rows):
            if row.unit_kind is not UnitKind.RESIDENTIAL:
                continue
            if "号楼" not in row.unit:
                households = self._draw.between(_HAMLET_HOUSEHOLDS)
            elif row.unit.endswith("单元"):
                households = 2 * self._draw.between(_FLOORS)
            else:
                households = self._draw.between(_FLATS_PER_FLOOR) * self._draw.between(_FLOORS)
            self._rows[index] = replace(row, households=households)

    def _contacts(self) -> list[ContactRecord]:
        """2,313 党员联系户: each grid's share in proportion to its residential households;
        a party building leader contacts households of their own building first, then
        the grid's party members take a few households of one unit at a time."""
        residential: dict[OrgPath, list[UnitRow]] = {}
        for row in self._rows:
            if row.unit_kind is UnitKind.RESIDENTIAL:
                residential.setdefault((row.village, row.grid), []).append(row)
        grids = list(residential)
        weights = [sum(row.households or 0 for row in residential[grid]) for grid in grids]
        quotas = _largest_remainder(weights, names.PARTY_CONTACT_HOUSEHOLDS)
        building_leaders: dict[OrgPath, list[RoleRecord]] = {}
        for role in self._roles:
            if role.title == names.PARTY_BUILDING_LEADER:
                building_leaders.setdefault(role.path[:2], []).append(role)

        contacts: dict[tuple[str, OrgPath], ContactRecord] = {}
        taken: Counter[OrgPath] = Counter()

        def contact(person: PersonRecord, row: UnitRow, wanted: int) -> int:
            count = min(wanted, (row.households or 0) - taken[row.path])
            if count <= 0:
                return 0
            taken[row.path] += count
            key = (person.phone, row.path)
            before = contacts[key].households if key in contacts else 0
            contacts[key] = ContactRecord(person, row.path, before + count)
            return count

        for grid, quota in zip(grids, quotas, strict=True):
            rows = {row.path: row for row in residential[grid]}
            remaining = quota
            for role in building_leaders.get(grid, []):
                wanted = min(remaining, self._draw.between(_CONTACT_CHUNK))
                remaining -= contact(role.person, rows[role.path], wanted)
            members = self._party_members[grid]
            units = self._draw.shuffled(residential[grid])
            turn = 0
            while remaining > 0:
                wanted = min(remaining, self._draw.between(_CONTACT_CHUNK))
                row = units[turn % len(units)]
                remaining -= contact(members[turn % len(members)], row, wanted)
                turn += 1
        # In unit order, as an export lists them.
        row_order = {row.path: index for index, row in enumerate(self._rows)}
        return sorted(contacts.values(), key=lambda c: row_order[c.path])


def _buildings(compound: str, count: int) -> list[str]:
    """Residential unit names in a compound: buildings, or stairwells of buildings."""
    if count <= 14:
        return [f"{compound}{i}号楼" for i in range(1, count + 1)]
    per_building = 2 if count <= 40 else 3
    return [
        f"{compound}{i // per_building + 1}号楼{i % per_building + 1}单元" for i in range(count)
    ]


def _largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Split ``total`` in proportion to ``weights`` into integers that sum exactly."""
    weight_sum = sum(weights)
    quotas = [weight / weight_sum * total for weight in weights]
    shares = [int(quota) for quota in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares
