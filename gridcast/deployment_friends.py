"""Who is already a friend (好友) of which bot account in the embedded deployment.

Kept apart from :mod:`gridcast.deployment` (which decides rooms and memberships): on
real WeChat the leaders add the accounts of their own groups, residents do not. So in
the simulated WeChat every person holding a post at an org unit starts as a friend of
the accounts in that unit's group, and nobody else is anyone's friend.
"""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, col, select

from models.org import OrgUnit, Person, RoleAssignment
from orgtree.directory import contact_id_of
from sandbox.world import WorldSpec


def reference_friends(session: Session, spec: WorldSpec) -> dict[str, set[str]]:
    """Account id -> contact ids of its friends: the post holders of its groups' org units."""
    holders: dict[str, set[str]] = defaultdict(set)
    for path, person in session.exec(
        select(OrgUnit.path, Person)
        .join(RoleAssignment, col(RoleAssignment.org_unit_id) == col(OrgUnit.id))
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
    ):
        holders[path].add(contact_id_of(person))
    friends: dict[str, set[str]] = {account.account_id: set() for account in spec.accounts}
    for room in spec.rooms:
        # Only people who are in the room: a full room (500) leaves some out.
        present = holders.get(room.org_unit, set()) & {m.contact_id for m in room.members}
        for account_id in room.bot_account_ids:
            friends[account_id] |= present
    return friends
