"""A town's org tree as plain records, independent of the database.

The spreadsheet a town keeps (one row per unit) becomes a :class:`TownRoster`; the
generated Guohuan data set is one too. The database layer writes these records into its
tables; nothing here knows about SQL.

Identity of a person is the phone number: names repeat in a town, phones do not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

OrgPath = tuple[str, ...]
"""Names below the town: ``()`` is the town, ``(village,)``, ``(village, grid)``,
``(village, grid, unit)``."""


class UnitKind(StrEnum):
    """Kind of a unit (单元): 住宅 / 配套场所 / 沿街商铺."""

    RESIDENTIAL = "residential"
    FACILITY = "facility"
    SHOP = "shop"

    @property
    def label(self) -> str:
        """The Chinese name towns write in their spreadsheets."""
        return _UNIT_KIND_LABELS[self]


_UNIT_KIND_LABELS: dict[UnitKind, str] = {
    UnitKind.RESIDENTIAL: "住宅",
    UnitKind.FACILITY: "配套场所",
    UnitKind.SHOP: "沿街商铺",
}


class RoleCode(StrEnum):
    """What a person is in the org tree. The first four come from the roster file."""

    STATION_CHIEF = "station_chief"
    GRID_LEADER = "grid_leader"
    UNIT_LEADER = "unit_leader"
    SECOND_UNIT_LEADER = "second_unit_leader"
    PARTY_MEMBER = "party_member"
    GRID_WORKER = "grid_worker"
    SUNK_CADRE = "sunk_cadre"
    DEPARTMENT_LIAISON = "department_liaison"
    TOWN_OFFICIAL = "town_official"

    @property
    def label(self) -> str:
        """The Chinese name of the role."""
        return _ROLE_LABELS[self]


_ROLE_LABELS: dict[RoleCode, str] = {
    RoleCode.STATION_CHIEF: "网格站站长",
    RoleCode.GRID_LEADER: "网格长",
    RoleCode.UNIT_LEADER: "单元长",
    RoleCode.SECOND_UNIT_LEADER: "第二单元长",
    RoleCode.PARTY_MEMBER: "党员",
    RoleCode.GRID_WORKER: "网格员",
    RoleCode.SUNK_CADRE: "下沉人员",
    RoleCode.DEPARTMENT_LIAISON: "部门联络员",
    RoleCode.TOWN_OFFICIAL: "镇干部",
}


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A person. ``phone`` is 11 digits without separators and identifies the person."""

    name: str
    phone: str
    wechat_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnitRow:
    """One row of a town's roster: a unit (单元) with the leaders above it."""

    village: str
    grid: str
    unit: str
    unit_kind: UnitKind
    unit_leader: PersonRecord
    second_unit_leader: PersonRecord | None
    """双单元长: a shop unit's supervising second unit leader; ``None`` when there is none."""
    grid_leader: PersonRecord
    """网格长, the same for every row of the grid."""
    station_chief: PersonRecord
    """网格站站长, the same for every row of the village."""

    @property
    def path(self) -> OrgPath:
        return (self.village, self.grid, self.unit)


@dataclass(frozen=True, slots=True)
class RoleRecord:
    """A role held by a person somewhere in the tree.

    ``department`` names the department a liaison represents or a sunk cadre comes from;
    ``title`` is a finer description, e.g. 党员楼栋长 on a party member's unit role or
    镇长 on a town official.
    """

    person: PersonRecord
    role: RoleCode
    path: OrgPath
    department: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class TownRoster:
    """A town's whole org tree: the roster rows plus the roles the roster file lacks."""

    town: str
    rows: tuple[UnitRow, ...]
    extra_roles: tuple[RoleRecord, ...] = field(default=())

    def villages(self) -> tuple[str, ...]:
        """Village names in order of first appearance."""
        return tuple(dict.fromkeys(row.village for row in self.rows))

    def grids(self) -> tuple[tuple[str, str], ...]:
        """(village, grid) pairs in order of first appearance."""
        return tuple(dict.fromkeys((row.village, row.grid) for row in self.rows))

    def roles(self) -> tuple[RoleRecord, ...]:
        """Every role: station chiefs, grid leaders and unit leaders from the rows
        (each village and grid once), then ``extra_roles``."""
        return (*self._row_roles(), *self.extra_roles)

    def _row_roles(self) -> Iterator[RoleRecord]:
        seen_villages: set[str] = set()
        seen_grids: set[tuple[str, str]] = set()
        for row in self.rows:
            if row.village not in seen_villages:
                seen_villages.add(row.village)
                yield RoleRecord(row.station_chief, RoleCode.STATION_CHIEF, (row.village,))
            if (row.village, row.grid) not in seen_grids:
                seen_grids.add((row.village, row.grid))
                yield RoleRecord(row.grid_leader, RoleCode.GRID_LEADER, (row.village, row.grid))
            yield RoleRecord(row.unit_leader, RoleCode.UNIT_LEADER, row.path)
            if row.second_unit_leader is not None:
                yield RoleRecord(row.second_unit_leader, RoleCode.SECOND_UNIT_LEADER, row.path)

    def people(self) -> tuple[PersonRecord, ...]:
        """Everyone in the roster once, by phone, in order of first appearance."""
        by_phone: dict[str, PersonRecord] = {}
        for role in self.roles():
            by_phone.setdefault(role.person.phone, role.person)
        return tuple(by_phone.values())
