"""The org tree as the console browses it: one node, its children, their post holders,
and the WeChat groups bound to each with the bot accounts in them.

Phones come back as the viewer may see them (:func:`core.privacy.show_phone`, as
:func:`orgtree.service.subtree` does for ``org show``): the same viewer sees the same
phones on the console's page and from ``/api/org/show``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from core.privacy import ANONYMOUS, PhoneOwner, Viewer, show_phone
from models.chat import BotAccount, ChatGroup, GroupMembership
from models.enums import Level, Role
from models.org import PATH_SEP, OrgUnit, Person, RoleAssignment
from orgtree.service import resolve_path

__all__ = ["GroupView", "HolderView", "NodeRow", "browse"]


@dataclass(frozen=True, slots=True)
class HolderView:
    role: str
    name: str
    phone: str
    """As the viewer may see it (:func:`core.privacy.show_phone`)."""


@dataclass(frozen=True, slots=True)
class GroupView:
    topic: str
    room_id: str
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeRow:
    path: str
    """Inside the town (``黄霞村/第16网格``); empty for the town."""
    name: str
    level: str
    kind: str | None
    households: int | None
    units: int
    holders: tuple[HolderView, ...]
    groups: tuple[GroupView, ...]
    children: tuple[NodeRow, ...] = field(default=())


def browse(session: Session, path: str, *, town: str, viewer: Viewer = ANONYMOUS) -> NodeRow:
    """The node at ``path`` (town-relative or full) with its direct children; each
    holder's work phone as ``viewer`` may see it (masked for nobody in particular).

    Raises :class:`orgtree.service.OrgPathNotFound`."""
    node = resolve_path(session, path or town, town=town)
    children = list(
        session.exec(select(OrgUnit).where(OrgUnit.parent_id == node.id).order_by(col(OrgUnit.id)))
    )
    nodes = [node, *children]
    ids = [n.id for n in nodes if n.id is not None]
    areas = {n.id: n.town_path for n in nodes if n.id is not None}
    holders: dict[int, list[HolderView]] = defaultdict(list)
    # plain columns, not ORM rows: loading entities cost most of this page's time
    for unit_id, role, name, phone in session.exec(
        select(
            col(RoleAssignment.org_unit_id),
            col(RoleAssignment.role),
            col(Person.name),
            col(Person.phone),
        )
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .where(col(RoleAssignment.org_unit_id).in_(ids))
        .order_by(col(RoleAssignment.id))
    ):
        shown = show_phone(viewer, PhoneOwner.leader(phone, areas[unit_id]))
        holders[unit_id].append(HolderView(Role(role).label, name, shown))
    groups: dict[int, list[ChatGroup]] = defaultdict(list)
    for group in session.exec(select(ChatGroup).where(col(ChatGroup.org_unit_id).in_(ids))):
        groups[group.org_unit_id].append(group)
    group_ids = [g.id for gs in groups.values() for g in gs if g.id is not None]
    accounts: dict[int, list[str]] = defaultdict(list)
    if group_ids:
        for group_id, account in session.exec(
            select(GroupMembership.chat_group_id, BotAccount.account_id)
            .join(BotAccount, col(BotAccount.id) == col(GroupMembership.bot_account_id))
            .where(col(GroupMembership.chat_group_id).in_(group_ids))
        ):
            accounts[group_id].append(account)
    # one scan for the units below the node, counted per child in Python
    counts: dict[int, int] = {n.id: 0 for n in nodes if n.id is not None}
    by_path = {n.path + PATH_SEP: n.id for n in children if n.id is not None}
    depth = node.path.count(PATH_SEP) + 1
    assert node.id is not None
    if node.level is Level.UNIT:
        counts[node.id] = 1
    for path in session.exec(
        select(OrgUnit.path).where(
            OrgUnit.level == Level.UNIT, col(OrgUnit.path).startswith(node.path + PATH_SEP)
        )
    ):
        counts[node.id] += 1
        child = by_path.get(PATH_SEP.join(path.split(PATH_SEP)[: depth + 1]) + PATH_SEP)
        if child is not None:
            counts[child] += 1
    for n in children:
        if n.level is Level.UNIT and n.id is not None:
            counts[n.id] = 1

    def row(n: OrgUnit, kids: tuple[NodeRow, ...] = ()) -> NodeRow:
        assert n.id is not None
        return NodeRow(
            path=n.path.split(PATH_SEP, 1)[1] if PATH_SEP in n.path else "",
            name=n.name,
            level=n.level.label,
            kind=n.kind.label if n.kind else None,
            households=n.households,
            units=counts[n.id],
            holders=tuple(holders.get(n.id, [])),
            groups=tuple(
                GroupView(g.topic, g.room_id, tuple(sorted(accounts.get(g.id or -1, []))))
                for g in groups.get(n.id, [])
            ),
            children=kids,
        )

    return row(node, tuple(row(c) for c in children))
