"""Where the rhythm's messages go: groups of org units and the people in posts."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from core.messaging import Reply
from models.chat import ChatGroup
from models.enums import Level, Role
from models.org import OrgUnit
from orgtree import directory
from orgtree.directory import PostHolder

__all__ = ["THREE_MEMBERS", "group_rooms", "private", "reachable_holders", "units_at"]

THREE_MEMBERS = (Role.PARTY_MEMBER, Role.GRID_WORKER, Role.SUNK_CADRE)
"""三员: party members, grid workers and sunk cadres."""


def group_rooms(session: Session, unit_ids: Iterable[int]) -> dict[int, str]:
    """The room of each org unit's group (the oldest binding when there are several)."""
    ids = list(set(unit_ids))
    if not ids:
        return {}
    rooms: dict[int, str] = {}
    for group in session.exec(
        select(ChatGroup).where(col(ChatGroup.org_unit_id).in_(ids)).order_by(col(ChatGroup.id))
    ):
        rooms.setdefault(group.org_unit_id, group.room_id)
    return rooms


def units_at(session: Session, level: Level) -> list[OrgUnit]:
    return list(
        session.exec(select(OrgUnit).where(OrgUnit.level == level).order_by(col(OrgUnit.id)))
    )


def reachable_holders(holders: Iterable[PostHolder]) -> list[PostHolder]:
    """One entry per person, in order."""
    seen: set[int] = set()
    out = []
    for holder in holders:
        if holder.person_id in seen:
            continue
        seen.add(holder.person_id)
        out.append(holder)
    return out


def private(holders: Iterable[PostHolder], text: str) -> list[Reply]:
    return [Reply(text, contact_id=h.contact_id) for h in reachable_holders(holders)]


def town_officials(session: Session) -> list[PostHolder]:
    return directory.town_officials(session)
