"""Notices in the database: scope, the groups and accounts a plan needs, the
outbox rows, and the reach report. Synchronous data functions over a Session."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from broadcast import membership, planner
from broadcast.household_reach import household_report
from core.ids import InvalidCode, format_notice_code, parse_notice_code
from models.broadcast import (
    FINAL_DELIVERY_STATES,
    Delivery,
    DeliveryState,
    Notice,
    NoticeAttempt,
    NoticeKind,
    NoticePriority,
    NoticeStatus,
    Receipt,
)
from models.chat import BotAccount, ChatGroup, GroupMembership
from models.enums import Level, Role
from models.org import PATH_SEP, OrgPath, OrgUnit, Person, RoleAssignment, town_relative
from orgtree.service import resolve_path


class NoticeNotFound(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"找不到通知 {code}")
        self.code = code


@dataclass(frozen=True, slots=True)
class TargetGroup:
    chat_group_id: int
    room_id: str
    level: str
    org_unit_id: int
    path: str
    members: frozenset[str]
    """Bot account ids in the group."""


def scope_unit(
    session: Session, scope: str, *, town: str, relative_to: Sequence[OrgPath] = ()
) -> OrgUnit:
    """``国欢镇``, ``黄霞村``, ``黄霞村/第16网格`` or ``黄霞村第16网格`` -> the org unit.

    ``relative_to``: the issuer's own scopes (their village, their grid). A short scope is
    first read inside them, so a station chief's bare ``第16网格`` is their village's grid
    16, not an ambiguous name.
    """
    from orgtree.binding import Binding, TopicIndex

    cleaned = scope.strip().strip(PATH_SEP)
    for base in relative_to:
        for depth in range(len(base), 0, -1):
            path = PATH_SEP.join((town, *base[:depth], cleaned))
            unit = session.exec(select(OrgUnit).where(OrgUnit.path == path)).first()
            if unit is not None:
                return unit
    try:
        return resolve_path(session, scope, town=town)
    except LookupError:
        paths = [town_relative(p) for p in session.exec(select(OrgUnit.path))]
        bound = TopicIndex(town, paths).bind("", scope)
        if not isinstance(bound, Binding):
            raise
        return resolve_path(session, PATH_SEP.join(bound.path), town=town)


def target_groups(session: Session, scope: OrgUnit, levels: Sequence[str]) -> list[TargetGroup]:
    """The bound groups of the scope's subtree at ``levels``, with their bot accounts."""
    wanted = [Level(level) for level in levels]
    rows = session.execute(
        sa_select(
            col(ChatGroup.id),
            col(ChatGroup.room_id),
            col(OrgUnit.level),
            col(OrgUnit.id),
            col(OrgUnit.path),
        )
        .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
        .where(
            (col(OrgUnit.path) == scope.path) | col(OrgUnit.path).startswith(scope.path + PATH_SEP),
            col(OrgUnit.level).in_(wanted),
        )
        .order_by(col(ChatGroup.id))
    ).all()
    members = group_members(session)
    return [
        TargetGroup(gid, room, Level(level).value, unit_id, path, members.get(gid, frozenset()))
        for gid, room, level, unit_id, path in rows
        if gid is not None
    ]


def planner_groups(targets: Iterable[TargetGroup]) -> list[planner.Group]:
    return [planner.Group(str(t.chat_group_id), Level(t.level).depth, t.members) for t in targets]


def create_notice(
    session: Session,
    *,
    title: str,
    body: str,
    scope: OrgUnit,
    levels: Sequence[str],
    priority: NoticePriority,
    deadline_s: float,
    ack_required: bool,
    issuer_name: str,
    issuer_person_id: int | None,
    channel: str,
    targets: Sequence[TargetGroup],
    issuer_token_id: int | None = None,
    plan: planner.DeliveryPlan,
    now: datetime,
    kind: NoticeKind = NoticeKind.NOTICE,
    parent_id: int | None = None,
) -> Notice:
    """Store a notice (pending confirmation) and one outbox row per target group."""
    assert scope.id is not None
    notice = Notice(
        code="pending",
        kind=kind,
        parent_id=parent_id,
        title=title,
        body=body,
        scope_org_unit_id=scope.id,
        levels=list(levels),
        priority=priority,
        deadline_s=deadline_s,
        ack_required=ack_required,
        issuer_person_id=issuer_person_id,
        issuer_token_id=issuer_token_id,
        issuer_name=issuer_name,
        channel=channel,
        created_at=now,
        lower_bound_s=plan.lower_bound_s,
        predicted_reach_s=plan.predicted_reach_s,
    )
    session.add(notice)
    session.flush()
    assert notice.id is not None
    notice.code = format_notice_code(notice.id)
    if kind is NoticeKind.REMINDER:  # never named by people: 催办 rows are not a notice
        notice.code = "C" + notice.code[1:]
    planned = {int(d.group_id): d for d in plan.deliveries}
    unreachable = {int(u.group_id): u for u in plan.unreachable}
    rows = []
    for target in targets:
        delivery = planned.get(target.chat_group_id)
        lost = unreachable.get(target.chat_group_id)
        rows.append(
            {
                "notice_id": notice.id,
                "chat_group_id": target.chat_group_id,
                "room_id": target.room_id,
                "level": target.level,
                "account_id": delivery.account_id if delivery else None,
                "planned_offset_s": delivery.send_at if delivery else None,
                "state": DeliveryState.UNREACHABLE if lost else DeliveryState.PLANNED,
                "error": unreachable_text(lost) if lost else None,
                "attempts": 0,
                "escalation_step": 0,
            }
        )
    if rows:
        session.execute(insert(Delivery), rows)
    return notice


def unreachable_text(lost: planner.UnreachableGroup) -> str:
    if lost.reason is planner.UnreachableReason.NO_BOT_ACCOUNT:
        return "群里没有机器人账号"
    return f"群里的机器人账号都不可用（{lost.detail}）"


def notice_by_code(session: Session, code: str) -> Notice:
    try:
        seq = parse_notice_code(code)
    except InvalidCode as exc:
        raise NoticeNotFound(code) from exc
    notice = session.get(Notice, seq)
    if notice is None or notice.kind is NoticeKind.REMINDER:
        raise NoticeNotFound(code)
    return notice


def log_refusal(
    session: Session, *, contact_id: str, name: str, text: str, reason: str, now: datetime
) -> None:
    session.add(
        NoticeAttempt(contact_id=contact_id, name=name, text=text[:2000], reason=reason, at=now)
    )


def apply_updates(session: Session, updates: Sequence[Mapping[str, object]]) -> int:
    """Bulk UPDATE of delivery rows by primary key (the outbox writer's batch).

    Several changes of one row in a batch are merged in order first, so the row ends in
    its latest state whatever order the bulk statements run in."""
    merged: dict[object, dict[str, object]] = {}
    for row in updates:
        merged.setdefault(row["id"], {}).update(row)
    by_keys: dict[tuple[str, ...], list[Mapping[str, object]]] = defaultdict(list)
    for row in merged.values():
        by_keys[tuple(sorted(row))].append(row)
    for rows in by_keys.values():
        session.execute(update(Delivery), list(rows))
    return len(updates)


@dataclass(frozen=True, slots=True)
class Stopped:
    """What a retraction (撤回) stopped."""

    notice: Notice
    cancelled: int
    """Groups of the notice that had not got it yet and will not."""
    reached: int
    """Groups that got it (or may have): where the retraction line goes."""
    children: tuple[int, ...]
    """Its reminders and corrections that were still to be sent, stopped too."""


def _open_children(session: Session, notice: Notice) -> Sequence[Notice]:
    """Its reminders and corrections still to be sent or being sent."""
    return session.exec(
        select(Notice).where(
            Notice.parent_id == notice.id,
            col(Notice.kind).in_([NoticeKind.REMINDER, NoticeKind.CORRECTION]),
            col(Notice.status).in_([NoticeStatus.PENDING, NoticeStatus.SENDING]),
        )
    ).all()


def notice_and_open_children(session: Session, code: str) -> list[int]:
    """The ids a retraction must halt in this process before the database is told."""
    notice = notice_by_code(session, code)
    return [n.id for n in (notice, *_open_children(session, notice)) if n.id is not None]


def stop_notice(session: Session, code: str) -> Stopped:
    """A retracted notice (撤回): nothing of it is sent from now on, and, once any group
    got it, it is ``recalled`` — so silent units are no longer chased about it. Its
    reminders and a correction waiting for it stop with it."""
    notice = notice_by_code(session, code)
    children = _open_children(session, notice)
    session.execute(  # caught mid-post by the stop: it may have arrived
        update(Delivery)
        .where(
            col(Delivery.notice_id).in_([notice.id, *(c.id for c in children)]),
            col(Delivery.state) == DeliveryState.SENDING,
        )
        .values(state=DeliveryState.UNCERTAIN, error="撤回时正在发送，可能已送达")
    )
    cancelled = 0
    if notice.status is NoticeStatus.PENDING:
        notice.status = NoticeStatus.CANCELLED
        cancelled = cancel_open(session, notice)
    elif notice.status in (NoticeStatus.SENDING, NoticeStatus.DONE):
        notice.status = NoticeStatus.RECALLED
        cancelled = cancel_open(session, notice)
    for child in children:
        cancel_open(session, child)
        got_it = session.exec(
            select(func.count()).where(
                Delivery.notice_id == child.id,
                col(Delivery.state).in_([DeliveryState.SENT, DeliveryState.UNCERTAIN]),
            )
        ).one()
        # A correction some groups got is withdrawn with the original, not just dropped.
        child.status = NoticeStatus.RECALLED if got_it else NoticeStatus.CANCELLED
    for sent in session.exec(
        select(Notice).where(
            Notice.parent_id == notice.id,
            Notice.kind == NoticeKind.CORRECTION,
            Notice.status == NoticeStatus.DONE,
        )
    ):
        sent.status = NoticeStatus.RECALLED  # withdrawn with the original: not chased
    reached = session.exec(
        select(func.count()).where(
            Delivery.notice_id == notice.id,
            col(Delivery.state).in_([DeliveryState.SENT, DeliveryState.UNCERTAIN]),
        )
    ).one()
    return Stopped(notice, cancelled, int(reached), tuple(c.id for c in children if c.id))


def recover_interrupted(session: Session, *, resend: bool) -> list[int]:
    """After a crash: deliveries caught in ``sending`` become ``uncertain``.

    Returns the ids of notices that were sending and must be resumed. With
    ``resend`` the uncertain rows are sent again (a duplicate beats a miss).
    """
    session.execute(
        update(Delivery)
        .where(col(Delivery.state) == DeliveryState.SENDING)
        .values(state=DeliveryState.UNCERTAIN, error="发送中进程中断，无法确定是否送达")
    )
    return [
        n.id
        for n in session.exec(select(Notice).where(Notice.status == NoticeStatus.SENDING))
        if n.id is not None
    ]


def reopen_unreachable(
    session: Session,
    *,
    account_ids: Collection[str],
    since: datetime,
    exclude: Collection[int] = (),
) -> list[int]:
    """Accounts are back: the rows left ``unreachable`` in the groups they are in, of
    finished notices started since ``since``, are planned again and their notices sending
    again.

    Returns the ids of those notices (to be resumed). Notices in ``exclude`` (running in
    this process) are left alone: their run re-plans them in memory.
    """
    in_groups = (
        sa_select(col(GroupMembership.chat_group_id))
        .join(BotAccount, col(BotAccount.id) == col(GroupMembership.bot_account_id))
        .where(col(BotAccount.account_id).in_(list(account_ids)))
    )
    rows = session.execute(
        sa_select(col(Delivery.id), col(Delivery.notice_id))
        .join(Notice, col(Notice.id) == col(Delivery.notice_id))
        .where(
            col(Delivery.state) == DeliveryState.UNREACHABLE,
            col(Delivery.chat_group_id).in_(in_groups),
            col(Notice.status) == NoticeStatus.DONE,
            col(Notice.started_at) >= since,
            col(Notice.id).not_in(list(exclude)),
        )
    ).all()
    if not rows:
        return []
    ids = [delivery_id for delivery_id, _ in rows]
    session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids), col(Delivery.state) == DeliveryState.UNREACHABLE)
        .values(state=DeliveryState.PLANNED, error="机器人账号恢复在线，补发")
    )
    notice_ids = sorted({notice_id for _, notice_id in rows})
    session.execute(
        update(Notice)
        .where(col(Notice.id).in_(notice_ids))
        .values(status=NoticeStatus.SENDING, finished_at=None)
    )
    return notice_ids


def open_deliveries(session: Session, notice_id: int, *, resend_uncertain: bool) -> list[Delivery]:
    states = [DeliveryState.PLANNED] + ([DeliveryState.UNCERTAIN] if resend_uncertain else [])
    return list(
        session.exec(
            select(Delivery)
            .where(Delivery.notice_id == notice_id, col(Delivery.state).in_(states))
            .order_by(col(Delivery.planned_offset_s), col(Delivery.id))
        )
    )


def group_members(
    session: Session, chat_group_ids: Iterable[int] | None = None
) -> dict[int, frozenset[str]]:
    """Bot account ids per group: of ``chat_group_ids``, or of every group (None)."""
    query = select(GroupMembership.chat_group_id, BotAccount.account_id).join(
        BotAccount, col(BotAccount.id) == col(GroupMembership.bot_account_id)
    )
    if chat_group_ids is not None:
        ids = list(chat_group_ids)
        if not ids:
            return {}
        query = query.where(col(GroupMembership.chat_group_id).in_(ids))
    out: dict[int, set[str]] = defaultdict(set)
    for group_id, account_id in session.exec(query):
        out[group_id].add(account_id)
    return {k: frozenset(v) for k, v in out.items()}


# --- the reach report ----------------------------------------------------------------


def _percentile_time(times: Sequence[float], total: int, share: float) -> float | None:
    need = max(1, -(-int(total * share * 1000) // 1000))
    if total == 0 or len(times) < need:
        return None
    return round(times[need - 1], 1)


def reach_report(session: Session, notice: Notice) -> dict[str, object]:
    """Targeted, sent, failed, unreachable, uncertain per level; time to 50/90/99/100%;
    acknowledgement coverage per level; silent units; households reached and confirmed
    (:func:`broadcast.household_reach.household_report`)."""
    assert notice.id is not None
    deliveries = list(session.exec(select(Delivery).where(Delivery.notice_id == notice.id)))
    per_level: dict[str, Counter[str]] = defaultdict(Counter)
    for d in deliveries:
        per_level[d.level]["targeted"] += 1
        per_level[d.level][d.state.value] += 1
        if d.state is DeliveryState.SENT and d.acked_at is not None:
            per_level[d.level]["acknowledged"] += 1
    start = notice.started_at
    sent_times = sorted(
        (d.sent_at - start).total_seconds()
        for d in deliveries
        if d.sent_at is not None and start is not None
    )
    total = len(deliveries)
    levels_out = {}
    for level in ("town", "village", "grid", "unit"):
        counts = per_level.get(level)
        if not counts:
            continue
        sent = counts["sent"]
        levels_out[level] = {
            "name": Level(level).label,
            "targeted": counts["targeted"],
            "sent": sent,
            "failed": counts["failed"],
            "unreachable": counts["unreachable"],
            "uncertain": counts["uncertain"],
            "pending": counts["planned"] + counts["sending"],
            "acknowledged": counts["acknowledged"],
            "ack_coverage": round(counts["acknowledged"] / sent, 3) if sent else 0.0,
        }
    silent = session.exec(
        select(OrgUnit.path)
        .join(ChatGroup, col(ChatGroup.org_unit_id) == col(OrgUnit.id))
        .join(Delivery, col(Delivery.chat_group_id) == col(ChatGroup.id))
        .where(
            Delivery.notice_id == notice.id,
            Delivery.level == "unit",
            Delivery.state == DeliveryState.SENT,
            col(Delivery.acked_at).is_(None),
        )
        .order_by(col(OrgUnit.path))
    ).all()
    receipts = session.exec(
        select(func.count()).select_from(Receipt).where(Receipt.notice_id == notice.id)
    ).one()
    return {
        "code": notice.code,
        "title": notice.title,
        "kind": notice.kind.value,
        "status": notice.status.value,
        "priority": notice.priority.value,
        "issuer": notice.issuer_name,
        "deadline_s": notice.deadline_s,
        "lower_bound_s": notice.lower_bound_s,
        "predicted_reach_s": notice.predicted_reach_s,
        "started_at": notice.started_at.isoformat() if notice.started_at else None,
        "finished_at": notice.finished_at.isoformat() if notice.finished_at else None,
        "targeted": total,
        "sent": len(sent_times),
        "final": sum(1 for d in deliveries if d.state in FINAL_DELIVERY_STATES),
        "levels": levels_out,
        "time_to": {
            f"{int(share * 100)}%": _percentile_time(sent_times, total, share)
            for share in (0.5, 0.9, 0.99, 1.0)
        },
        "receipts": receipts,
        "silent_units": [p.split(PATH_SEP, 1)[-1] for p in silent],
        "median_send_s": round(statistics.median(sent_times), 1) if sent_times else None,
        "households": household_report(session, notice),
    }


def curve_points(session: Session, notice: Notice) -> tuple[list[float], list[float]]:
    """Seconds from the start of every send and every acknowledgement (for the reach curve)."""
    start = notice.started_at
    if start is None:
        return [], []
    sent = sorted(
        (t - start).total_seconds()
        for t in session.exec(select(Delivery.sent_at).where(Delivery.notice_id == notice.id))
        if t is not None
    )
    acks = sorted(
        (t - start).total_seconds()
        for t in session.exec(select(Delivery.acked_at).where(Delivery.notice_id == notice.id))
        if t is not None
    )
    return sent, acks


def sent_targets(session: Session, notice: Notice, *, with_open: bool = False) -> list[TargetGroup]:
    """The groups that got ``notice`` (or may have): where a correction or retraction
    goes. ``with_open``: also those it is still to reach (a correction of a notice being
    sent; the groups it does not reach in the end are dropped before the correction
    goes, see :func:`drop_unreached`)."""
    states = [DeliveryState.SENT, DeliveryState.UNCERTAIN]
    if with_open:
        states += [DeliveryState.PLANNED, DeliveryState.SENDING]
    rows = session.exec(
        select(Delivery).where(Delivery.notice_id == notice.id, col(Delivery.state).in_(states))
    ).all()
    members = group_members(session, {r.chat_group_id for r in rows})
    units = {
        g.id: (g.org_unit_id, "")
        for g in session.exec(
            select(ChatGroup).where(col(ChatGroup.id).in_([r.chat_group_id for r in rows]))
        )
    }
    return [
        TargetGroup(
            r.chat_group_id,
            r.room_id,
            r.level,
            units[r.chat_group_id][0],
            "",
            members.get(r.chat_group_id, frozenset()),
        )
        for r in rows
    ]


def drop_unreached(session: Session, child: Notice) -> int:
    """Cancel the rows of a correction whose group the original did not reach after all
    (planned while the original was being sent); returns how many."""
    reached = sa_select(col(Delivery.chat_group_id)).where(
        col(Delivery.notice_id) == child.parent_id,
        col(Delivery.state).in_([DeliveryState.SENT, DeliveryState.UNCERTAIN]),
    )
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.notice_id) == child.id,
            col(Delivery.state) == DeliveryState.PLANNED,
            col(Delivery.chat_group_id).not_in(reached),
        )
        .values(state=DeliveryState.CANCELLED, error="原通知没有送达这个群")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def cancel_open(session: Session, notice: Notice) -> int:
    """Cancel the rows not sent yet; returns how many. A row ``uncertain`` (it may have
    arrived) stays so: a retraction line goes there too."""
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.notice_id) == notice.id,
            col(Delivery.state) == DeliveryState.PLANNED,
        )
        .values(state=DeliveryState.CANCELLED)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def finish(session: Session, notice_id: int, now: datetime) -> None:
    """The run ended: ``done``, unless it was stopped meanwhile — a stopped notice keeps
    saying why it stopped. One conditional UPDATE, so a 撤回 committed between a read and
    this write is not overwritten."""
    session.execute(
        update(Notice)
        .where(
            col(Notice.id) == notice_id,
            col(Notice.status).in_([NoticeStatus.SENDING, NoticeStatus.PENDING]),
        )
        .values(status=NoticeStatus.DONE, finished_at=now)
    )


def notice_text(session: Session, notice: Notice) -> str:
    """The text posted in every group for ``notice``."""
    from broadcast import compose

    urgent = notice.priority is NoticePriority.URGENT
    if notice.kind is NoticeKind.NOTICE or notice.parent_id is None:
        return compose.render(
            code=notice.code,
            title=notice.title,
            body=notice.body,
            issuer=notice.issuer_name,
            urgent=urgent,
            ack_required=notice.ack_required,
        )
    parent = session.get(Notice, notice.parent_id)
    assert parent is not None
    if notice.kind is NoticeKind.CORRECTION:
        return compose.render_correction(
            code=notice.code,
            original_code=parent.code,
            title=parent.title,
            body=notice.body,
            issuer=notice.issuer_name,
            ack_required=notice.ack_required,
        )
    if notice.kind is NoticeKind.REMINDER:  # the line after each group's @-mentions
        return compose.render_reminder(code=parent.code, title=parent.title)
    return compose.render_retraction(
        code=notice.code, original_code=parent.code, title=parent.title, issuer=notice.issuer_name
    )


# --- the deployment's memberships, for the membership design ---------------------------


_INVITER_ROLES: dict[Level, tuple[Role, ...]] = {
    Level.UNIT: (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER),
    Level.GRID: (Role.GRID_LEADER,),
    Level.VILLAGE: (Role.STATION_CHIEF,),
    Level.TOWN: (Role.TOWN_OFFICIAL,),
}
"""Who invites a bot into a group of each level (the group's own leader); when there is
none, the leader one level up, who sits in the groups below."""


@dataclass(frozen=True, slots=True)
class DeploymentGroups:
    """Every org unit's group, the bot accounts in it today, and who can invite more."""

    levels: dict[str, int]
    """Group (town-relative org path, ``/``-joined; ``""`` is the town) -> level depth."""
    topics: dict[str, str]
    existing: dict[str, frozenset[str]]
    """Bot accounts the running system has seen in each group."""
    inviters: dict[str, membership.Inviter | None]


def deployment_groups(session: Session, *, town: str) -> DeploymentGroups:
    """Read the org tree, the discovered memberships and the leaders from the database."""
    from orgtree.binding import topic_for

    units = list(session.exec(select(OrgUnit).order_by(col(OrgUnit.id))))
    key_of = {u.id: "/".join(u.town_path) for u in units}
    levels = {key_of[u.id]: u.level.depth for u in units}
    topics = {key_of[u.id]: topic_for(town, u.town_path) for u in units}
    members = group_members(session)
    existing: dict[str, frozenset[str]] = {}
    for group in session.exec(select(ChatGroup)):
        key = key_of.get(group.org_unit_id)
        if key is not None and group.id is not None:
            existing[key] = existing.get(key, frozenset()) | members.get(group.id, frozenset())
            topics[key] = group.topic
    holders: dict[int, dict[Role, Person]] = defaultdict(dict)
    for assignment, person in session.exec(
        select(RoleAssignment, Person)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .order_by(col(RoleAssignment.id))
    ):
        holders[assignment.org_unit_id].setdefault(Role(assignment.role), person)
    by_id = {u.id: u for u in units}
    inviters: dict[str, membership.Inviter | None] = {}
    for unit in units:
        found: membership.Inviter | None = None
        for candidate in (unit, by_id.get(unit.parent_id)):
            if candidate is None:
                continue
            for role in _INVITER_ROLES[candidate.level]:
                leader = holders[candidate.id or -1].get(role)
                if leader is not None:
                    found = membership.Inviter(leader.name, leader.phone, role.label)
                    break
            if found is not None:
                break
        inviters[key_of[unit.id]] = found
    return DeploymentGroups(levels=levels, topics=topics, existing=existing, inviters=inviters)
