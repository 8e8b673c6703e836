"""The org tree as the console browses it: one node, its children, their post holders,
and the WeChat groups bound to each with the bot accounts in them.

Phones come back whole; the caller masks them unless the viewer may see them
(:func:`core.privacy.mask_phone`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from models.chat import BotAccount, ChatGroup, GroupMembership
from models.enums import Level
from models.org import PATH_SEP, OrgUnit
from orgtree.directory import holders_by_unit
from orgtree.service import resolve_path

__all__ = ["GroupView", "HolderView", "NodeRow", "browse"]


@dataclass(frozen=True, slots=True)
class HolderView:
    role: str
    name: str
    phone: str


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


def browse(session: Session, path: str, *, town: str) -> NodeRow:
    """The node at ``path`` (town-relative or full) with its direct children.

    Raises :class:`orgtree.service.OrgPathNotFound`."""
    node = resolve_path(session, path or town, town=town)
    children = list(
        session.exec(select(OrgUnit).where(OrgUnit.parent_id == node.id).order_by(col(OrgUnit.id)))
    )
    nodes = [node, *children]
    ids = [n.id for n in nodes if n.id is not None]
    holders = holders_by_unit(session, unit_ids=ids)
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
    counts: dict[int, int] = {}
    for n in nodes:
        assert n.id is not None
        counts[n.id] = (
            1
            if n.level is Level.UNIT
            else int(
                session.exec(
                    select(func.count())
                    .select_from(OrgUnit)
                    .where(
                        OrgUnit.level == Level.UNIT,
                        col(OrgUnit.path).startswith(n.path + PATH_SEP),
                    )
                ).one()
            )
        )

    def row(n: OrgUnit, kids: tuple[NodeRow, ...] = ()) -> NodeRow:
        assert n.id is not None
        return NodeRow(
            path=n.path.split(PATH_SEP, 1)[1] if PATH_SEP in n.path else "",
            name=n.name,
            level=n.level.label,
            kind=n.kind.label if n.kind else None,
            households=n.households,
            units=counts[n.id],
            holders=tuple(HolderView(h.role.label, h.name, h.phone) for h in holders.get(n.id, [])),
            groups=tuple(
                GroupView(g.topic, g.room_id, tuple(sorted(accounts.get(g.id or -1, []))))
                for g in groups.get(n.id, [])
            ),
            children=kids,
        )

    return row(node, tuple(row(c) for c in children))
