"""The org directory as the ticket lifecycle sees it: the :class:`~tickets.lifecycle.Actor`
posts a sender holds, and the contact ids behind a :class:`~tickets.lifecycle.Recipient`.

Who holds which post comes from :mod:`orgtree.directory`; this module only maps roster
roles to the lifecycle's :class:`~models.enums.ActorRole` and liaisons to configured
departments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlmodel import Session

from core.config import Settings
from core.departments import department_code
from core.messaging import Reply
from models.enums import ActorRole, Role, TicketLevel
from models.org import OrgUnit
from orgtree import directory
from orgtree.directory import PostHolder
from tickets.lifecycle import Actor, Notification, Recipient, RecipientKind

__all__ = [
    "actors_of",
    "contacts_of",
    "department_code",
    "liaisons_of",
    "lifecycle_role",
    "notification_replies",
    "post_holders",
    "reachable",
]

WORKER_ROLES = frozenset({Role.GRID_WORKER, Role.SUNK_CADRE, Role.PARTY_MEMBER})
"""Roster roles that work a grid's tickets as its 网格员."""
_ACTOR_ORDER = (
    ActorRole.TOWN_OFFICIAL,
    ActorRole.STATION_CHIEF,
    ActorRole.GRID_LEADER,
    ActorRole.DEPARTMENT_LIAISON,
    ActorRole.GRID_WORKER,
    ActorRole.UNIT_LEADER,
)


def lifecycle_role(role: Role) -> ActorRole:
    """The lifecycle post of a roster role (workers, cadres and party members are 网格员)."""
    return {
        Role.GRID_LEADER: ActorRole.GRID_LEADER,
        Role.STATION_CHIEF: ActorRole.STATION_CHIEF,
        Role.TOWN_OFFICIAL: ActorRole.TOWN_OFFICIAL,
        Role.DEPARTMENT_LIAISON: ActorRole.DEPARTMENT_LIAISON,
        Role.UNIT_LEADER: ActorRole.UNIT_LEADER,
        Role.SECOND_UNIT_LEADER: ActorRole.UNIT_LEADER,
    }.get(role, ActorRole.GRID_WORKER)


def actors_of(session: Session, settings: Settings, *, contact_id: str, name: str) -> list[Actor]:
    """Every post the sender holds, most senior first, then the sender as a resident
    (reporters who are also staff rate their own tickets)."""
    resident = Actor(person_id=contact_id, role=ActorRole.RESIDENT, name=name)
    person = directory.person_by_contact(session, contact_id)
    if person is None or person.id is None:
        return [resident]
    name = person.name
    grids: dict[ActorRole, set[str]] = {
        ActorRole.GRID_LEADER: set(),
        ActorRole.GRID_WORKER: set(),
    }
    villages: set[str] = set()
    units: set[str] = set()
    departments: list[str] = []
    town = False
    for post in directory.posts_of(session, person_id=person.id):
        unit_id = str(post.unit_id)
        held = Role(post.role)
        if held is Role.TOWN_OFFICIAL:
            town = True
        elif held is Role.STATION_CHIEF:
            villages.add(unit_id)
        elif held is Role.GRID_LEADER:
            grids[ActorRole.GRID_LEADER].add(unit_id)
        elif held in WORKER_ROLES:
            unit = session.get(OrgUnit, post.unit_id)
            grid = directory.grid_of(session, unit) if unit is not None else None
            if grid is not None:
                grids[ActorRole.GRID_WORKER].add(str(grid.id))
        elif held in (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER):
            units.add(unit_id)
        elif held is Role.DEPARTMENT_LIAISON:
            code = department_code(post.department, settings.departments)
            if code is not None:
                departments.append(code)
    actors: list[Actor] = []
    for role in _ACTOR_ORDER:
        if role is ActorRole.TOWN_OFFICIAL and town:
            actors.append(Actor(contact_id, role, name))
        elif role is ActorRole.STATION_CHIEF and villages:
            actors.append(Actor(contact_id, role, name, village_ids=frozenset(villages)))
        elif role in (ActorRole.GRID_LEADER, ActorRole.GRID_WORKER) and grids[role]:
            actors.append(Actor(contact_id, role, name, grid_ids=frozenset(grids[role])))
        elif role is ActorRole.DEPARTMENT_LIAISON:
            actors.extend(
                Actor(contact_id, role, name, department_code=code)
                for code in dict.fromkeys(departments)
            )
        elif role is ActorRole.UNIT_LEADER and units:
            actors.append(Actor(contact_id, role, name, unit_ids=frozenset(units)))
    return [*actors, dataclasses.replace(resident, name=name)]


def liaisons_of(session: Session, settings: Settings, code: str) -> list[PostHolder]:
    """The liaisons of one configured department."""
    return [
        h
        for h in directory.liaisons(session)
        if department_code(h.department, settings.departments) == code
    ]


def post_holders(
    session: Session, level: TicketLevel | None, area_id: str | None
) -> list[PostHolder]:
    """Holders of a post; an empty post falls back to the next one up, so a notice
    is never addressed to nobody."""
    if level is TicketLevel.GRID and area_id:
        holders = directory.grid_leaders(session, grid_id=int(area_id))
        if holders:
            return holders
        grid = session.get(OrgUnit, int(area_id))
        if grid is not None and grid.parent_id is not None:
            return post_holders(session, TicketLevel.VILLAGE, str(grid.parent_id))
    if level is TicketLevel.VILLAGE and area_id:
        holders = directory.station_chiefs(session, village_id=int(area_id))
        if holders:
            return holders
    return directory.town_officials(session)


def contacts_of(session: Session, settings: Settings, recipient: Recipient) -> list[str]:
    """The contact ids a notification for ``recipient`` goes to."""
    match recipient.kind:
        case RecipientKind.PERSON:
            return [recipient.person_id] if recipient.person_id else []
        case RecipientKind.POST:
            return [h.contact_id for h in post_holders(session, recipient.level, recipient.area_id)]
        case RecipientKind.DEPARTMENT:
            holders = liaisons_of(session, settings, recipient.department_code or "")
            return [h.contact_id for h in holders or directory.town_officials(session)]
    return []  # pragma: no cover


def reachable(contact_id: str) -> bool:
    """Walk-ins without a phone have no WeChat to write to."""
    return not contact_id.startswith("offline-")


def notification_replies(
    session: Session,
    settings: Settings,
    notifications: Iterable[Notification],
    *,
    skip: Iterable[str] = (),
) -> list[Reply]:
    """Private messages for the notifications (the actor, who got the reply, is skipped)."""
    skipped = set(skip)
    replies: list[Reply] = []
    seen: set[tuple[str, str]] = set()
    for notification in notifications:
        for contact_id in contacts_of(session, settings, notification.recipient):
            key = (contact_id, notification.text)
            if contact_id in skipped or key in seen or not reachable(contact_id):
                continue
            seen.add(key)
            replies.append(Reply(text=notification.text, contact_id=contact_id))
    return replies
