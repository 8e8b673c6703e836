"""A town's org tree as plain records, independent of the database.

The spreadsheet a town keeps (one row per unit) becomes a :class:`TownRoster`; the
generated Guohuan data set is one too. The database layer writes these records into its
tables; nothing here knows about SQL.

Identity of a person is the phone number: names repeat in a town, phones do not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from models.enums import Role, UnitKind
from models.org import OrgPath


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
    households: int | None = 1
    """户数: households in the unit, what notice coverage counts. A residential unit's
    comes from the roster; a shop or facility counts as one unless the roster says more.
    ``None`` only when exported from a database that never had the number (a residential
    unit imported before the roster carried it): the file then shows an empty cell to
    fill in."""

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
    role: Role
    path: OrgPath
    department: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """党员联系户: a party member is the contact of ``households`` households of a unit.

    Chasing uses it: when a unit stays silent on a notice, its contact party members are
    the ones asked to visit. A unit may have several contacts; together they contact at
    most the unit's households.
    """

    person: PersonRecord
    path: OrgPath
    """The unit, ``(village, grid, unit)``."""
    households: int


@dataclass(frozen=True, slots=True)
class TownRoster:
    """A town's whole org tree: the unit rows, the posts not tied to a unit row (town
    officials, department liaisons, the 三员 of each grid, party building leaders) and
    the party members' contact households."""

    town: str
    rows: tuple[UnitRow, ...]
    extra_roles: tuple[RoleRecord, ...] = field(default=())
    """Posts other than the four leader columns of a unit row (the people sheet)."""
    contacts: tuple[ContactRecord, ...] = field(default=())
    lists_posts: bool = True
    """Whether ``extra_roles`` and ``contacts`` are the whole truth for the places the
    roster covers. False for a roster file without a people sheet: an import then leaves
    the posts and contacts already in the database alone."""

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
                yield RoleRecord(row.station_chief, Role.STATION_CHIEF, (row.village,))
            if (row.village, row.grid) not in seen_grids:
                seen_grids.add((row.village, row.grid))
                yield RoleRecord(row.grid_leader, Role.GRID_LEADER, (row.village, row.grid))
            yield RoleRecord(row.unit_leader, Role.UNIT_LEADER, row.path)
            if row.second_unit_leader is not None:
                yield RoleRecord(row.second_unit_leader, Role.SECOND_UNIT_LEADER, row.path)

    def people(self) -> tuple[PersonRecord, ...]:
        """Everyone in the roster once, by phone, in order of first appearance."""
        by_phone: dict[str, PersonRecord] = {}
        for role in self.roles():
            by_phone.setdefault(role.person.phone, role.person)
        for contact in self.contacts:
            by_phone.setdefault(contact.person.phone, contact.person)
        return tuple(by_phone.values())
