"""What the bot reads from and writes to the database (synchronous; the hub runs
these through ``AsyncSession.run_sync``-style calls on its async engine)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from bot.dispatcher import GroupInfo, Holder, SenderInfo
from models.chat import BotAccount, ChatGroup, GroupMembership, UnboundRoom, UnreachableContact
from models.enums import AccountStatus, Level, Role
from models.org import PATH_SEP, OrgUnit, Person, RoleAssignment
from models.tickets import IntakeMessage
from orgtree import directory
from orgtree.directory import contact_id_of


def ensure_accounts(session: Session, accounts: Iterable[tuple[str, str]]) -> dict[str, BotAccount]:
    """Create rows for the configured (account id, name) pairs; returns them by account id."""
    existing = {a.account_id: a for a in session.exec(select(BotAccount))}
    for account_id, name in accounts:
        if account_id not in existing:
            row = BotAccount(account_id=account_id, name=name)
            session.add(row)
            existing[account_id] = row
        elif existing[account_id].name != name:
            existing[account_id].name = name
    session.flush()
    return existing


def record_account_state(
    session: Session,
    *,
    account_id: str,
    status: AccountStatus,
    detail: str,
    now: datetime,
    throttled_until: datetime | None = None,
    contact_id: str | None = None,
) -> None:
    row = session.exec(select(BotAccount).where(BotAccount.account_id == account_id)).first()
    if row is None:
        row = BotAccount(account_id=account_id)
        session.add(row)
    if row.status != status or row.status_detail != detail:
        row.status_changed_at = now
    row.status, row.status_detail, row.throttled_until = status, detail, throttled_until
    if contact_id:
        row.contact_id = contact_id


def _org_unit_by_path(session: Session, town: str, path: tuple[str, ...]) -> OrgUnit | None:
    full = PATH_SEP.join((town, *path))
    return session.exec(select(OrgUnit).where(OrgUnit.path == full)).first()


@dataclass(frozen=True, slots=True)
class RoomSeen:
    """A room one account is in, and where the topic index placed it."""

    room_id: str
    topic: str
    path: tuple[str, ...] | None
    bound_by: str
    reason: str


def record_rooms(
    session: Session, *, town: str, account_id: str, rooms: Sequence[RoomSeen], now: datetime
) -> int:
    """Store the rooms an account is in: bound ones as groups with the membership, the
    others as unbound rooms (reported, never guessed). Returns how many were bound."""
    account = session.exec(select(BotAccount).where(BotAccount.account_id == account_id)).one()
    assert account.id is not None
    paths = {PATH_SEP.join((town, *r.path)) for r in rooms if r.path is not None}
    units = (
        {u.path: u for u in session.exec(select(OrgUnit).where(col(OrgUnit.path).in_(paths)))}
        if paths
        else {}
    )
    room_ids = [r.room_id for r in rooms]
    groups = {
        g.room_id: g
        for g in session.exec(select(ChatGroup).where(col(ChatGroup.room_id).in_(room_ids)))
    }
    member_of = {
        m.chat_group_id: m
        for m in session.exec(
            select(GroupMembership).where(GroupMembership.bot_account_id == account.id)
        )
    }
    unbound = {
        u.room_id: u
        for u in session.exec(select(UnboundRoom).where(UnboundRoom.account_id == account_id))
    }
    bound = 0
    for room in rooms:
        unit = units.get(PATH_SEP.join((town, *room.path))) if room.path is not None else None
        if unit is None or unit.id is None:
            reason = room.reason or f"映射的单位「{'/'.join(room.path or ())}」在组织架构中不存在"
            stale = unbound.get(room.room_id)
            if stale is None:
                session.add(
                    UnboundRoom(
                        room_id=room.room_id,
                        account_id=account_id,
                        topic=room.topic,
                        reason=reason,
                        seen_at=now,
                    )
                )
            else:
                stale.topic, stale.reason, stale.seen_at = room.topic, reason, now
            continue
        bound += 1
        group = groups.get(room.room_id)
        if group is None:
            group = ChatGroup(
                room_id=room.room_id, topic=room.topic, org_unit_id=unit.id, bound_by=room.bound_by
            )
            session.add(group)
            groups[room.room_id] = group
        elif (group.topic, group.org_unit_id, group.bound_by) != (
            room.topic,
            unit.id,
            room.bound_by,
        ):
            group.topic, group.org_unit_id, group.bound_by, group.updated_at = (
                room.topic,
                unit.id,
                room.bound_by,
                now,
            )
        if room.room_id in unbound:
            session.delete(unbound.pop(room.room_id))
    session.flush()
    # Bulk statements: an account is in hundreds of groups, and on SQLite the whole
    # process shares one connection while this runs (at start, for every account).
    seen_ids = {g.id for r in rooms if (g := groups.get(r.room_id)) is not None and g.id}
    known = [member_of[i].id for i in seen_ids if i in member_of]
    if known:
        session.execute(
            update(GroupMembership).where(col(GroupMembership.id).in_(known)).values(seen_at=now)
        )
    new = [i for i in seen_ids if i not in member_of]
    if new:
        session.execute(
            insert(GroupMembership),
            [
                {"bot_account_id": account.id, "chat_group_id": i, "seen_at": now}
                for i in sorted(new)
            ],
        )
    return bound


def group_info(session: Session, room_id: str, *, town: str) -> GroupInfo | None:
    row = session.exec(
        select(OrgUnit)
        .join(ChatGroup, col(ChatGroup.org_unit_id) == col(OrgUnit.id))
        .where(ChatGroup.room_id == room_id)
    ).first()
    if row is None or row.id is None:
        return None
    parts = row.town_path
    return GroupInfo(org_unit_id=row.id, path=parts, level=row.level.value, name=row.name)


def sender_info(session: Session, contact_id: str, name: str, *, town: str) -> SenderInfo:
    person = directory.person_by_contact(session, contact_id)
    if person is None or person.id is None:
        return SenderInfo(contact_id=contact_id, name=name)
    posts = directory.posts_of(session, person_id=person.id)
    return SenderInfo(
        contact_id=contact_id,
        name=person.name,
        person_id=person.id,
        roles=tuple((post.role, post.scope) for post in posts),
    )


def leader_chain(session: Session, org_unit_id: int) -> list[tuple[str, Holder]]:
    """Role holders of the unit and of every unit above it, nearest first (phones in
    full: the directory router shows them through :func:`core.privacy.show_phone`)."""
    return [
        (
            unit.level.value,
            Holder(
                h.role.label,
                h.name,
                h.phone,
                h.contact_id,
                post_area=unit.town_path,
                role_code=h.role.value,
            ),
        )
        for unit, h in directory.leader_chain(session, org_unit_id=org_unit_id)
    ]


_HOME_LEVELS = (Level.UNIT, Level.GRID)


def _group_of_unit(unit: OrgUnit) -> GroupInfo:
    assert unit.id is not None
    return GroupInfo(
        org_unit_id=unit.id, path=unit.town_path, level=unit.level.value, name=unit.name
    )


def home_groups(
    session: Session, contact_id: str, *, room_ids: Iterable[str] = ()
) -> tuple[GroupInfo, ...]:
    """Where someone who writes privately belongs: the units and grids of their posts
    in the roster, of the bound groups they are a member of (``room_ids``), and of the
    groups they wrote in before; units first, then by path."""
    units: dict[int, OrgUnit] = {}
    person = directory.person_by_contact(session, contact_id)
    if person is not None and person.id is not None:
        for unit in session.exec(
            select(OrgUnit)
            .join(RoleAssignment, col(RoleAssignment.org_unit_id) == col(OrgUnit.id))
            .where(
                RoleAssignment.person_id == person.id,
                col(OrgUnit.level).in_(list(_HOME_LEVELS)),
                col(RoleAssignment.role).in_(list(_RESIDENT_POSTS)),
            )
        ):
            units[unit.id or 0] = unit
    rooms = set(room_ids)
    written = session.exec(
        select(IntakeMessage.room_id)
        .where(
            IntakeMessage.sender_contact_id == contact_id,
            col(IntakeMessage.room_id).is_not(None),
        )
        .distinct()
        .limit(20)
    ).all()
    rooms.update(r for r in written if r)
    if rooms:
        for unit in session.exec(
            select(OrgUnit)
            .join(ChatGroup, col(ChatGroup.org_unit_id) == col(OrgUnit.id))
            .where(
                col(ChatGroup.room_id).in_(list(rooms)), col(OrgUnit.level).in_(list(_HOME_LEVELS))
            )
        ):
            units[unit.id or 0] = unit
    ordered = sorted(units.values(), key=lambda u: (u.level is not Level.UNIT, u.path))
    return tuple(_group_of_unit(u) for u in ordered)


# --- friendship: who the bot may write to privately ---------------------------------

HELD_TEXTS = 20
"""Undelivered private texts kept per contact, sent once they are a friend (newest kept)."""

_LEADER_ROLES = (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER, Role.GRID_LEADER, Role.STATION_CHIEF)
_RESIDENT_POSTS = (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER)
"""Posts that say where someone lives or keeps a shop (a grid leader's grid is their work)."""


@dataclass(frozen=True, slots=True)
class RosterContact:
    """A roster person as the bot reaches them: their expected contact id and their groups."""

    person_id: int
    name: str
    contact_id: str
    """The contact id gridcast addresses them by (:func:`orgtree.directory.contact_id_of`)."""
    post_room_ids: tuple[str, ...]
    """The groups of the org units where they hold a post, leader posts first."""


def _addressee(session: Session, contact_id: str) -> Person | None:
    """The roster person gridcast writes to as ``contact_id`` (see
    :func:`orgtree.directory.contact_id_of`): for *sending* only, never for deciding who
    someone who writes to the bot is."""
    person = directory.person_by_contact(session, contact_id)
    if person is None and contact_id.startswith("tel-"):
        person = session.exec(
            select(Person).where(Person.phone == contact_id[4:], col(Person.wechat_id).is_(None))
        ).first()
    return person


def _roster_contact(session: Session, person: Person) -> RosterContact:
    assert person.id is not None
    rows = session.exec(
        select(RoleAssignment.role, ChatGroup.room_id)
        .join(ChatGroup, col(ChatGroup.org_unit_id) == col(RoleAssignment.org_unit_id))
        .where(RoleAssignment.person_id == person.id)
        .order_by(col(RoleAssignment.id), col(ChatGroup.id))
    ).all()
    ranked = sorted(rows, key=lambda row: Role(row[0]) not in _LEADER_ROLES)  # stable
    return RosterContact(
        person_id=person.id,
        name=person.name,
        contact_id=contact_id_of(person),
        post_room_ids=tuple(dict.fromkeys(room_id for _role, room_id in ranked)),
    )


def roster_contact(session: Session, contact_id: str) -> RosterContact | None:
    """The roster person gridcast addresses as ``contact_id``, if any."""
    person = _addressee(session, contact_id)
    return _roster_contact(session, person) if person is not None else None


def roster_person_asking(
    session: Session, contact_id: str, *, weixin: str = "", phones: Sequence[str] = ()
) -> RosterContact | None:
    """The roster person behind a friend request: by contact id, by the WeChat id the
    puppet reports (微信号), or by a phone number it reports (WeChat verified it)."""
    person = directory.person_by_contact(session, contact_id)
    if person is None and weixin:
        person = session.exec(select(Person).where(Person.wechat_id == weixin)).first()
    numbers = [p.strip().removeprefix("+86") for p in phones if p.strip()]
    if person is None and numbers:
        person = session.exec(select(Person).where(col(Person.phone).in_(numbers))).first()
    return _roster_contact(session, person) if person is not None else None


def resident_room(session: Session, contact_id: str) -> str | None:
    """The group a resident (no roster person) last wrote in, where the bot reads them:
    where their follow-ups go when no bot account is their friend, and what makes their
    friend request one to accept."""
    return session.exec(
        select(IntakeMessage.room_id)
        .where(
            IntakeMessage.sender_contact_id == contact_id,
            col(IntakeMessage.room_id).is_not(None),
        )
        .order_by(col(IntakeMessage.received_at).desc())
        .limit(1)
    ).first()


def record_unreachable(
    session: Session,
    *,
    contact_id: str,
    person_id: int | None,
    name: str,
    text: str,
    room_id: str | None,
    now: datetime,
    ask_every: timedelta,
) -> bool:
    """Record a private message nobody could send; returns whether to ask the person
    again (in ``room_id``): the first time, and then at most every ``ask_every``."""
    row = session.exec(
        select(UnreachableContact).where(UnreachableContact.contact_id == contact_id)
    ).first()
    if row is None:
        row = UnreachableContact(contact_id=contact_id, first_failed_at=now, held=[])
        session.add(row)
    elif row.reachable_at is not None:  # unreachable again (they deleted the bot)
        row.reachable_at, row.asked_at, row.undelivered, row.first_failed_at = None, None, 0, now
    row.person_id, row.name, row.last_failed_at = person_id, name, now
    row.undelivered += 1
    row.held = [*row.held, text][-HELD_TEXTS:]
    ask = room_id is not None and (row.asked_at is None or now - row.asked_at >= ask_every)
    if room_id is not None:
        row.room_id = room_id
    if ask:
        row.asked_at = now
    return ask


def held_count(session: Session, contact_id: str) -> int:
    row = session.exec(
        select(UnreachableContact).where(UnreachableContact.contact_id == contact_id)
    ).first()
    return row.undelivered if row is not None else 0


def mark_reachable(session: Session, *, contact_ids: Iterable[str], now: datetime) -> list[str]:
    """They are a bot account's friend now: returns the held texts to send (and forgets them)."""
    held: list[str] = []
    for row in session.exec(
        select(UnreachableContact).where(
            col(UnreachableContact.contact_id).in_(list(dict.fromkeys(contact_ids))),
            col(UnreachableContact.reachable_at).is_(None),
        )
    ):
        held.extend(row.held)
        row.held, row.reachable_at = [], now
    return held


def unreachable_report(session: Session) -> list[dict[str, object]]:
    """People no bot account can write to privately, longest waiting first."""
    rows = session.exec(
        select(UnreachableContact)
        .where(col(UnreachableContact.reachable_at).is_(None))
        .order_by(col(UnreachableContact.first_failed_at))
    ).all()
    topics = (
        {
            g.room_id: g.topic
            for g in session.exec(
                select(ChatGroup).where(
                    col(ChatGroup.room_id).in_([r.room_id for r in rows if r.room_id])
                )
            )
        }
        if rows
        else {}
    )
    return [
        {
            "contact_id": r.contact_id,
            "name": r.name,
            "in_roster": r.person_id is not None,
            "undelivered": r.undelivered,
            "since": r.first_failed_at.isoformat(),
            "asked_in": topics.get(r.room_id or "", r.room_id or ""),
            "asked_at": r.asked_at.isoformat() if r.asked_at else None,
        }
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class AccountsReport:
    accounts: list[dict[str, object]]
    unbound: list[dict[str, str]]
    groups_without_online_account: list[str]
    unreachable_privately: list[dict[str, object]]
    """People no bot account is a friend of (private messages to them are held)."""


def accounts_report(session: Session) -> AccountsReport:
    """Each account's state and groups; rooms not placed; groups no online account can reach."""
    accounts = list(session.exec(select(BotAccount).order_by(col(BotAccount.account_id))))
    online = {a.id for a in accounts if a.status is AccountStatus.ONLINE}
    per_group: dict[int, set[int]] = {}
    counts: dict[int, int] = {}
    for membership in session.exec(select(GroupMembership)):
        per_group.setdefault(membership.chat_group_id, set()).add(membership.bot_account_id)
        counts[membership.bot_account_id] = counts.get(membership.bot_account_id, 0) + 1
    flagged_ids = [g for g, members in per_group.items() if not members & online]
    flagged = (
        [
            g.topic
            for g in session.exec(
                select(ChatGroup)
                .where(col(ChatGroup.id).in_(flagged_ids))
                .order_by(col(ChatGroup.topic))
            )
        ]
        if flagged_ids
        else []
    )
    return AccountsReport(
        accounts=[
            {
                "account_id": a.account_id,
                "name": a.name,
                "status": a.status.value,
                "detail": a.status_detail,
                "since": a.status_changed_at.isoformat(),
                "groups": counts.get(a.id or -1, 0),
            }
            for a in accounts
        ],
        unbound=[
            {"room_id": u.room_id, "account_id": u.account_id, "topic": u.topic, "reason": u.reason}
            for u in session.exec(select(UnboundRoom).order_by(col(UnboundRoom.topic)))
        ],
        groups_without_online_account=flagged,
        unreachable_privately=unreachable_report(session),
    )
