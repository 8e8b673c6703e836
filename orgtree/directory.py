"""Who is who in the org tree: the people holding each post, and how to reach them.

The one place that answers "who holds which post for this unit" for tickets, notice
receipts, the bot and the org CLI. A *post* is a role at an org unit (网格长 of
第16网格); a :class:`PostHolder` is the person in it with the contact id gridcast
writes to. Every function reads the session it is given and orders holders by
appointment (the oldest :class:`~models.org.RoleAssignment` first), so "the grid
leader" is the same person everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core.policy import Post
from models.auth import ChatBinding
from models.enums import Level, Role
from models.org import OrgUnit, Person, RoleAssignment

__all__ = [
    "LEADER_ROLES",
    "PostHolder",
    "area_of",
    "contact_id_of",
    "grid_leaders",
    "grid_of",
    "holders",
    "holders_by_unit",
    "leader_chain",
    "liaisons",
    "person_by_contact",
    "posts_of",
    "station_chiefs",
    "town_officials",
]

LEADER_ROLES = (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER, Role.GRID_LEADER, Role.STATION_CHIEF)
"""The posts that lead one unit, grid or village (a :func:`leader_chain`'s links)."""


def contact_id_of(person: Person) -> str:
    """The WeChat contact id gridcast expects for a roster person."""
    return person.wechat_id or f"tel-{person.phone}"


@dataclass(frozen=True, slots=True)
class PostHolder:
    """A person in a post: whom to tell, and how (``contact_id``; the phone is unmasked)."""

    person_id: int
    contact_id: str
    name: str
    phone: str
    role: Role
    org_unit_id: int
    department: str | None = None
    """A liaison's department, as the roster writes it (区司法局)."""
    title: str | None = None
    """A town official's title (综治办主任)."""

    @property
    def label(self) -> str:
        """网格长张三."""
        return f"{self.role.label}{self.name}"


def person_by_contact(session: Session, contact_id: str) -> Person | None:
    """The roster person behind a WeChat contact: the WeChat id the roster records, or
    a binding the person confirmed (:class:`models.auth.ChatBinding`). Never an id
    pattern someone else could take (a contact named ``tel-<phone>`` is nobody)."""
    person = session.exec(select(Person).where(Person.wechat_id == contact_id)).first()
    if person is not None:
        return person
    binding = session.exec(select(ChatBinding).where(ChatBinding.contact_id == contact_id)).first()
    return session.get(Person, binding.person_id) if binding is not None else None


def holders(
    session: Session, *, roles: Iterable[Role] | None = None, unit_ids: Iterable[int] | None = None
) -> list[PostHolder]:
    """The holders of ``roles`` (all roles when ``None``) at ``unit_ids`` (anywhere when
    ``None``), oldest appointment first."""
    statement = (
        select(RoleAssignment, Person)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .order_by(col(RoleAssignment.id))
    )
    if roles is not None:
        statement = statement.where(col(RoleAssignment.role).in_(list(roles)))
    if unit_ids is not None:
        ids = list(set(unit_ids))
        if not ids:
            return []
        statement = statement.where(col(RoleAssignment.org_unit_id).in_(ids))
    out: list[PostHolder] = []
    for assignment, person in session.exec(statement):
        assert person.id is not None
        out.append(
            PostHolder(
                person_id=person.id,
                contact_id=contact_id_of(person),
                name=person.name,
                phone=person.phone,
                role=Role(assignment.role),
                org_unit_id=assignment.org_unit_id,
                department=assignment.department,
                title=assignment.title,
            )
        )
    return out


def holders_by_unit(
    session: Session, *, unit_ids: Iterable[int], roles: Iterable[Role] | None = None
) -> dict[int, list[PostHolder]]:
    """:func:`holders` grouped by org unit id (units without holders are left out)."""
    out: dict[int, list[PostHolder]] = defaultdict(list)
    for holder in holders(session, roles=roles, unit_ids=unit_ids):
        out[holder.org_unit_id].append(holder)
    return out


def grid_leaders(session: Session, *, grid_id: int) -> list[PostHolder]:
    """网格长 of one grid."""
    return holders(session, roles=[Role.GRID_LEADER], unit_ids=[grid_id])


def station_chiefs(session: Session, *, village_id: int) -> list[PostHolder]:
    """网格站站长 of one village."""
    return holders(session, roles=[Role.STATION_CHIEF], unit_ids=[village_id])


def town_officials(session: Session) -> list[PostHolder]:
    """The town officials who are told about tickets: those of the 综治 office when
    titles say so, otherwise all of them."""
    officials = holders(session, roles=[Role.TOWN_OFFICIAL])
    office = [h for h in officials if "综治" in (h.title or "")]
    return office or officials


def liaisons(session: Session) -> list[PostHolder]:
    """Every department liaison (部门联络员); ``department`` says whose."""
    return holders(session, roles=[Role.DEPARTMENT_LIAISON])


def posts_of(session: Session, *, person_id: int) -> list[Post]:
    """Every post one person holds, oldest appointment first."""
    rows = session.exec(
        select(RoleAssignment, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == col(RoleAssignment.org_unit_id))
        .where(RoleAssignment.person_id == person_id)
        .order_by(col(RoleAssignment.id))
    )
    return [
        Post(
            Role(a.role).value,
            unit.town_path,
            department=a.department,
            title=a.title,
            unit_id=unit.id,
        )
        for a, unit in rows
    ]


def grid_of(session: Session, unit: OrgUnit) -> OrgUnit | None:
    """The grid of a unit (its parent) or of a grid (itself); ``None`` above grids."""
    if unit.level is Level.GRID:
        return unit
    if unit.level is Level.UNIT and unit.parent_id is not None:
        return session.get(OrgUnit, unit.parent_id)
    return None


def area_of(session: Session, unit: OrgUnit) -> tuple[int | None, int | None]:
    """(grid id, village id) of an org unit; ``None`` above its level."""
    match unit.level:
        case Level.UNIT:
            grid = session.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
            return unit.parent_id, grid.parent_id if grid is not None else None
        case Level.GRID:
            return unit.id, unit.parent_id
        case Level.VILLAGE:
            return None, unit.id
    return None, None


def leader_chain(session: Session, *, org_unit_id: int) -> list[tuple[OrgUnit, PostHolder]]:
    """The leaders (:data:`LEADER_ROLES`) of the unit and of every unit above it,
    nearest first."""
    chain: list[tuple[OrgUnit, PostHolder]] = []
    unit = session.get(OrgUnit, org_unit_id)
    while unit is not None and unit.id is not None:
        chain.extend((unit, h) for h in holders(session, roles=LEADER_ROLES, unit_ids=[unit.id]))
        unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
    return chain
