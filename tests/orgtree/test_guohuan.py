"""The Guohuan data set: the article's figures, determinism, every role filled."""

from __future__ import annotations

import hashlib
import re
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from models.enums import Role, UnitKind
from orgtree import names
from orgtree.guohuan import guohuan_roster
from orgtree.records import PersonRecord, TownRoster
from orgtree.roster import read_roster, write_roster

# sha256 of the canonical dump of guohuan_roster(2022). If a change to the generator is
# intended, update it; if it changes on another Python version, the generator uses
# something that is not stable across versions.
GOLDEN_2022 = "d9cdca377d860a9404f105cfa84dbda66f4171e088562030a6644f5cdddd8977"
# The same dump without the fields added with the roster's people sheet (UnitRow.households,
# TownRoster.contacts): the pin before they existed. It still holds, so the new fields are
# the only change to the data set (they are drawn after everything else).
GOLDEN_2022_BEFORE_HOUSEHOLDS = "fdefa26d082e84173cc0aeaa2249f7992bcb144981f3a4b46bef8ddbd26450af"


@pytest.fixture(scope="module")
def town() -> TownRoster:
    return guohuan_roster()


def _dump(roster: TownRoster) -> str:
    lines = [roster.town]
    lines += [repr(row) for row in roster.rows]
    lines += [repr(role) for role in roster.extra_roles]
    lines += [repr(contact) for contact in roster.contacts]
    return "\n".join(lines)


def _dump_before_households(roster: TownRoster) -> str:
    lines = [roster.town]
    lines += [re.sub(r", households=\d+\)$", ")", repr(row)) for row in roster.rows]
    lines += [repr(role) for role in roster.extra_roles]
    return "\n".join(lines)


def test_counts_match_the_article(town: TownRoster) -> None:
    assert town.town == "国欢镇"
    assert len(town.villages()) == 15
    assert len(town.grids()) == 172
    assert len(town.rows) == 4559


def test_huangxia_grid_16_is_the_guomei_linghan_compound(town: TownRoster) -> None:
    rows = [row for row in town.rows if row.village == "黄霞村" and row.grid == "第16网格"]
    assert len(rows) == 73
    kinds = Counter(row.unit_kind for row in rows)
    assert kinds == {UnitKind.RESIDENTIAL: 14, UnitKind.FACILITY: 3, UnitKind.SHOP: 56}
    assert {row.grid_leader.name for row in rows} == {"郭燕冰"}
    assert {row.station_chief.name for row in rows} == {"林文荣"}
    assert all(
        row.unit.startswith("国湄领涵") for row in rows if row.unit_kind is UnitKind.RESIDENTIAL
    )
    assert "小区党群服务中心" in {row.unit for row in rows}
    # 林文荣 heads the whole village's grid station.
    chiefs = {row.station_chief for row in town.rows if row.village == "黄霞村"}
    assert [chief.name for chief in chiefs] == ["林文荣"]


def test_villages_are_distinct_plausible_and_uneven(town: TownRoster) -> None:
    villages = town.villages()
    assert len(set(villages)) == 15
    assert "黄霞村" in villages
    assert all(village.endswith("村") for village in villages)
    grids_per_village = Counter(village for village, _ in town.grids())
    assert min(grids_per_village.values()) == 5
    assert max(grids_per_village.values()) >= 20
    units_per_grid = Counter((row.village, row.grid) for row in town.rows)
    assert min(units_per_grid.values()) < 15 < 50 < max(units_per_grid.values())


def test_grid_and_unit_names(town: TownRoster) -> None:
    grids_by_village: dict[str, list[str]] = defaultdict(list)
    for village, grid in town.grids():
        grids_by_village[village].append(grid)
    for grids in grids_by_village.values():
        assert grids == [f"第{n}网格" for n in range(1, len(grids) + 1)]
    units = Counter(row.path for row in town.rows)
    assert max(units.values()) == 1, "unit names are unique within a grid"


def test_unit_kind_mix(town: TownRoster) -> None:
    kinds = Counter(row.unit_kind for row in town.rows)
    assert kinds[UnitKind.RESIDENTIAL] > kinds[UnitKind.SHOP] > kinds[UnitKind.FACILITY] > 0
    assert kinds[UnitKind.RESIDENTIAL] > len(town.rows) / 2
    shop_share = {
        village: sum(r.unit_kind is UnitKind.SHOP for r in town.rows if r.village == village)
        / sum(1 for r in town.rows if r.village == village)
        for village in town.villages()
    }
    assert max(shop_share.values()) > 3 * min(shop_share.values())


def test_deterministic_and_pinned(town: TownRoster) -> None:
    assert guohuan_roster() == town
    assert guohuan_roster(2022) == town
    assert guohuan_roster(7) != town
    assert hashlib.sha256(_dump(town).encode()).hexdigest() == GOLDEN_2022
    before = hashlib.sha256(_dump_before_households(town).encode()).hexdigest()
    assert before == GOLDEN_2022_BEFORE_HOUSEHOLDS


def test_other_seeds_keep_the_article_facts() -> None:
    other = guohuan_roster(7)
    assert (len(other.villages()), len(other.grids()), len(other.rows)) == (15, 172, 4559)
    pilot = [r for r in other.rows if r.village == "黄霞村" and r.grid == "第16网格"]
    assert Counter(r.unit_kind for r in pilot) == {
        UnitKind.RESIDENTIAL: 14,
        UnitKind.FACILITY: 3,
        UnitKind.SHOP: 56,
    }


def test_fast() -> None:
    start = time.perf_counter()
    guohuan_roster(11)
    assert time.perf_counter() - start < 1.0


def test_people_have_unique_fictitious_phones_and_wechat_ids(town: TownRoster) -> None:
    records_by_phone: dict[str, set[PersonRecord]] = defaultdict(set)
    for role in town.roles():
        records_by_phone[role.person.phone].add(role.person)
    assert all(len(records) == 1 for records in records_by_phone.values())
    people = town.people()
    assert len(people) == len(records_by_phone)
    assert all(re.fullmatch(r"13[89]0000\d{4}", person.phone) for person in people)
    wechat_ids = [person.wechat_id for person in people]
    assert len(set(wechat_ids)) == len(people)
    assert all(w is not None and re.fullmatch(r"wxid_gh_\d{6}", w) for w in wechat_ids)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{3}", person.name) for person in people)
    surnames = Counter(person.name[0] for person in people)
    assert surnames.most_common(1)[0][0] == "林"
    assert len({person.name for person in people}) < len(people), "names repeat, as in reality"


def test_every_role_filled(town: TownRoster) -> None:
    for row in town.rows:
        assert row.unit_leader and row.grid_leader and row.station_chief
        if row.unit_kind is UnitKind.SHOP:
            assert row.second_unit_leader is not None
            assert row.second_unit_leader.phone != row.unit_leader.phone
        else:
            assert row.second_unit_leader is None
    per_grid: dict[tuple[str, ...], Counter[Role]] = defaultdict(Counter)
    for role in town.extra_roles:
        per_grid[role.path][role.role] += 1
    for village, grid in town.grids():
        assert per_grid[(village, grid)][Role.PARTY_MEMBER] >= 1
        assert per_grid[(village, grid)][Role.GRID_WORKER] >= 1
    sunk = [role for role in town.extra_roles if role.role is Role.SUNK_CADRE]
    assert 20 < len(sunk) < 172
    assert all(role.department in names.SUNK_CADRE_SOURCES for role in sunk)
    assert ("黄霞村", "第16网格") in {role.path for role in sunk}

    officials = [role for role in town.extra_roles if role.role is Role.TOWN_OFFICIAL]
    assert 5 <= len(officials) <= 12
    assert all(role.path == () and role.title for role in officials)
    liaisons = [role for role in town.extra_roles if role.role is Role.DEPARTMENT_LIAISON]
    assert sorted(role.department or "" for role in liaisons) == sorted(names.DEPARTMENTS)
    for department in ("区司法局", "区信访局", "涵江生态环境局", "镇综治中心", "自来水公司"):
        assert department in names.DEPARTMENTS

    counts = Counter(role.role for role in town.roles())
    assert counts[Role.STATION_CHIEF] == 15
    assert counts[Role.GRID_LEADER] == 172
    assert counts[Role.UNIT_LEADER] == 4559
    assert counts[Role.SECOND_UNIT_LEADER] == sum(
        row.unit_kind is UnitKind.SHOP for row in town.rows
    )
    assert set(counts) == set(Role)


def test_32_party_building_leaders_lead_compound_buildings(town: TownRoster) -> None:
    builders = [role for role in town.extra_roles if role.title == "党员楼栋长"]
    assert len(builders) == 32
    rows = {row.path: row for row in town.rows}
    for role in builders:
        assert role.role is Role.PARTY_MEMBER
        row = rows[role.path]
        assert row.unit_kind is UnitKind.RESIDENTIAL
        assert "号楼" in row.unit
        assert row.unit_leader == role.person
    assert sum(role.path[:2] == ("黄霞村", "第16网格") for role in builders) == 4


def test_every_role_path_exists(town: TownRoster) -> None:
    places: set[tuple[str, ...]] = {()}
    for row in town.rows:
        places |= {(row.village,), (row.village, row.grid), row.path}
    assert all(role.path in places for role in town.roles())


def test_plausible_households(town: TownRoster) -> None:
    """户数: a few to a dozen houses per 片区 of a natural village, dozens per compound
    building or stairwell; one per shop and facility."""
    by_kind: dict[UnitKind, list[int]] = defaultdict(list)
    for row in town.rows:
        assert row.households is not None
        by_kind[row.unit_kind].append(row.households)
    assert set(by_kind[UnitKind.SHOP]) == set(by_kind[UnitKind.FACILITY]) == {1}
    hamlets = [r.households or 0 for r in town.rows if r.unit.endswith("号片区")]
    buildings = [r.households or 0 for r in town.rows if "号楼" in r.unit]
    assert len(hamlets) + len(buildings) == len(by_kind[UnitKind.RESIDENTIAL])
    assert min(hamlets) >= 4 and max(hamlets) <= 14
    assert min(buildings) >= 12 and max(buildings) <= 72
    assert statistics.median(buildings) > 2 * statistics.median(hamlets)
    total = sum(by_kind[UnitKind.RESIDENTIAL])
    assert 35_000 < total < 60_000  # a town of roughly 150,000 people at ~3 per household
    pilot = [r.households for r in town.rows if r.path[:2] == ("黄霞村", "第16网格")]
    assert 300 < sum(h or 0 for h in pilot) < 1000  # 国湄•领涵: 14 buildings, 56 shops


def test_2313_contact_households(town: TownRoster) -> None:
    """党员联系户: 2,313 households whose contact is a party member of their grid (or the
    party building leader of their building), never more than a unit has."""
    assert sum(c.households for c in town.contacts) == names.PARTY_CONTACT_HOUSEHOLDS == 2313
    rows = {row.path: row for row in town.rows}
    members: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for role in town.extra_roles:
        if role.role is Role.PARTY_MEMBER:
            members[role.path[:2]].add(role.person.phone)
    per_unit: Counter[tuple[str, ...]] = Counter()
    for contact in town.contacts:
        row = rows[contact.path]
        assert row.unit_kind is UnitKind.RESIDENTIAL
        assert contact.person.phone in members[contact.path[:2]]
        assert contact.households >= 1
        per_unit[contact.path] += contact.households
    assert all(per_unit[path] <= (rows[path].households or 0) for path in per_unit)
    assert len({(c.person.phone, c.path) for c in town.contacts}) == len(town.contacts)
    contacted_grids = {c.path[:2] for c in town.contacts}
    assert contacted_grids == set(town.grids())
    party_members = {p for phones in members.values() for p in phones}
    contacts = {c.person.phone for c in town.contacts}
    assert 0.6 * len(party_members) < len(contacts) <= len(party_members)
    builders = [r for r in town.extra_roles if r.title == names.PARTY_BUILDING_LEADER]
    assert all(
        any(c.person == b.person and c.path == b.path for c in town.contacts) for b in builders
    )
    order = {path: index for index, path in enumerate(rows)}
    assert [order[c.path] for c in town.contacts] == sorted(order[c.path] for c in town.contacts)


def test_round_trips_through_csv(town: TownRoster, tmp_path: Path) -> None:
    """(Through .xlsx: tests/orgtree/test_roster.py.)"""
    path = write_roster(town, tmp_path / "guohuan.csv")
    assert read_roster(path) == town
