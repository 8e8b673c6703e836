"""The town's org tree and roster: org units, people, roles, departments.

镇 / 村 / 网格 / 单元 — town / village / grid / unit are the four levels; every
level has one WeChat group (see :mod:`models.chat`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, enum_type, utcnow
from models.enums import Level, Role, UnitKind

PATH_SEP = "/"
"""Separates the names in :attr:`OrgUnit.path` (``国欢镇/黄霞村/第16网格``)."""

OrgPath = tuple[str, ...]
"""Names below the town: ``()`` is the town, ``(village,)``, ``(village, grid)``,
``(village, grid, unit)``."""


def town_relative(path: str) -> OrgPath:
    """``国欢镇/黄霞村/第16网格`` -> ``("黄霞村", "第16网格")``: the path inside the town."""
    return tuple(path.split(PATH_SEP)[1:])


SINGLE_HOLDER_ROLES = frozenset(
    {Role.STATION_CHIEF, Role.GRID_LEADER, Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER}
)
"""Roles that exactly one person holds per org unit; a re-import replaces the holder."""


class OrgUnit(SQLModel, table=True):
    """One node of the four-level tree."""

    __tablename__ = "org_unit"

    id: int | None = Field(default=None, primary_key=True)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    level: Level = Field(sa_type=enum_type(Level), index=True)
    kind: UnitKind | None = Field(default=None, sa_type=enum_type(UnitKind))
    """Only units have a kind."""
    name: str
    path: str = Field(unique=True)
    """``国欢镇/黄霞村/第16网格/国湄领涵3号楼``: the natural key used by imports."""
    households: int | None = None
    """户数, units only: the households notice coverage counts (a shop or facility is
    usually 1). ``None`` above the unit level, and for a residential unit imported before
    the roster carried the number."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def town_path(self) -> OrgPath:
        """The names below the town (``()`` for the town itself)."""
        return town_relative(self.path)


class Person(SQLModel, table=True):
    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    phone: str = Field(unique=True)
    """11-digit mobile number; identifies the person across imports (names repeat)."""
    wechat_id: str | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoleAssignment(SQLModel, table=True):
    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("person_id", "org_unit_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    role: Role = Field(sa_type=enum_type(Role), index=True)
    department: str | None = None
    """For department liaisons and sunk cadres: the name of the department they come from
    (区司法局; the :class:`Department` of that name for liaisons)."""
    title: str | None = None
    """A finer description, e.g. 党员楼栋长 on a party member, 镇长 on a town official."""


class HouseholdContact(SQLModel, table=True):
    """党员联系户: a party member is the contact of ``households`` households of a unit.

    When the unit stays silent, chasing can ask its contact party members to visit.
    """

    __tablename__ = "household_contact"
    __table_args__ = (UniqueConstraint("person_id", "org_unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    """The unit (level ``unit``) whose households the person contacts."""
    households: int
    """How many of the unit's households; all contacts of a unit together contact at
    most the unit's :attr:`OrgUnit.households`."""


class Department(SQLModel, table=True):
    """A district department (区司法局, 区信访局, ...) a grid can call in (吹哨)."""

    __tablename__ = "department"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Ticket category codes the department takes."""
