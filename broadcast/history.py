"""Notices as the console shows them: the history within a person's scopes, and one
notice's live picture (counters, the reach curve, villages, failures, the plan's
bottleneck accounts) read from the outbox.

The live picture is what the notice page's Server-Sent Events carry: it is read again a
few times a second while the notice is sent, so it reads only the notice's deliveries.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, or_, true
from sqlmodel import Session, col, select

from core.privacy import PhoneOwner, Viewer, show_phone
from models.broadcast import Delivery, DeliveryState, Notice, NoticeKind, NoticeStatus
from models.chat import ChatGroup
from models.enums import Level, Role, UnitKind
from models.org import PATH_SEP, OrgPath, OrgUnit, town_relative
from orgtree.directory import holders_by_unit

__all__ = [
    "DELIVERY_ZH",
    "KIND_ZH",
    "Coverage",
    "CoverageRow",
    "LeaderLine",
    "NoticeFilter",
    "NoticeLine",
    "SilentUnit",
    "count_notices",
    "coverage",
    "live_picture",
    "notice_lines",
    "scope_condition",
    "silent_unit_leaders",
    "silent_units",
]

KIND_ZH = {
    NoticeKind.NOTICE: "通知",
    NoticeKind.CORRECTION: "更正",
    NoticeKind.RETRACTION: "撤回",
    NoticeKind.REMINDER: "催办",
}

STATUS_ZH = {
    NoticeStatus.PENDING: "待确认",
    NoticeStatus.SENDING: "发送中",
    NoticeStatus.DONE: "已送达",
    NoticeStatus.CANCELLED: "已取消",
    NoticeStatus.RECALLED: "已撤回",
}


def scope_condition(town: str, scopes: Sequence[OrgPath] | None) -> ColumnElement[bool]:
    """Notices whose scope lies within one of ``scopes`` (``None``: all of them)."""
    if scopes is None or () in scopes:
        return true()
    parts: list[ColumnElement[bool]] = []
    for scope in scopes:
        path = PATH_SEP.join((town, *scope))
        parts.append(col(OrgUnit.path) == path)
        parts.append(col(OrgUnit.path).startswith(path + PATH_SEP))
    return or_(*parts)


@dataclass(frozen=True, slots=True)
class NoticeFilter:
    """What the history asks for; every field left at its default filters nothing."""

    status: NoticeStatus | None = None
    kind: NoticeKind | None = None
    text: str = ""
    """Part of the code, the title, the body or the issuer's name."""
    start: datetime | None = None
    """Created at or after (UTC)."""
    end: datetime | None = None
    """Created before (UTC)."""
    place: OrgPath | None = None
    """Notices sent to this place or to a part of it (the path below the town)."""
    above: bool = False
    """With ``place``: also the notices sent to the places above it (the grid's village,
    the town), which reached it too."""
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class NoticeLine:
    code: str
    title: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    scope: str
    issuer: str
    urgent: bool
    created_at: datetime
    targeted: int
    sent: int
    reach_s: float | None
    ack_coverage: float | None


def _place_condition(town: str, place: OrgPath, *, above: bool) -> ColumnElement[bool]:
    path = PATH_SEP.join((town, *place))
    parts = [
        col(OrgUnit.path) == path,
        col(OrgUnit.path).startswith(path + PATH_SEP, autoescape=True),
    ]
    if above:
        ancestors = [PATH_SEP.join((town, *place[:depth])) for depth in range(len(place))]
        parts.append(col(OrgUnit.path).in_(ancestors))
    return or_(*parts)


def _conditions(
    town: str, scopes: Sequence[OrgPath] | None, wanted: NoticeFilter
) -> list[ColumnElement[bool]]:
    """The WHERE of the history (over ``Notice`` joined to its scope's ``OrgUnit``)."""
    # Reminder notices (催办) are rows of the outbox, not notices anyone issued.
    conditions = [scope_condition(town, scopes), col(Notice.kind) != NoticeKind.REMINDER]
    if wanted.status is not None:
        conditions.append(col(Notice.status) == wanted.status)
    if wanted.kind is not None:
        conditions.append(col(Notice.kind) == wanted.kind)
    if wanted.start is not None:
        conditions.append(col(Notice.created_at) >= wanted.start)
    if wanted.end is not None:
        conditions.append(col(Notice.created_at) < wanted.end)
    if wanted.place is not None:
        conditions.append(_place_condition(town, wanted.place, above=wanted.above))
    text = wanted.text.strip()
    if text:
        # The words as written: % and _ are searched for, not wildcards (q=% once found
        # every notice).
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(
            or_(
                col(Notice.title).ilike(pattern, escape="\\"),
                col(Notice.code).ilike(pattern, escape="\\"),
                col(Notice.body).ilike(pattern, escape="\\"),
                col(Notice.issuer_name).ilike(pattern, escape="\\"),
            )
        )
    return conditions


def count_notices(
    session: Session, *, town: str, scopes: Sequence[OrgPath] | None, wanted: NoticeFilter
) -> int:
    """How many notices the history's filter finds (for its pages)."""
    statement = (
        select(func.count())
        .select_from(Notice)
        .join(OrgUnit, col(OrgUnit.id) == col(Notice.scope_org_unit_id))
        .where(*_conditions(town, scopes, wanted))
    )
    return int(session.exec(statement).one())


def notice_lines(
    session: Session,
    *,
    town: str,
    scopes: Sequence[OrgPath] | None,
    wanted: NoticeFilter,
) -> list[NoticeLine]:
    """The newest notices within ``scopes``, with their reach time and acknowledgement
    coverage (acknowledged groups among those reached)."""
    statement = (
        select(Notice, OrgUnit.path)
        .join(OrgUnit, col(OrgUnit.id) == col(Notice.scope_org_unit_id))
        .where(*_conditions(town, scopes, wanted))
        .order_by(col(Notice.id).desc())
        .offset(wanted.offset)
        .limit(wanted.limit)
    )
    found = session.exec(statement).all()
    ids = [n.id for n, _ in found if n.id is not None]
    stats: dict[int, tuple[int, int, int, datetime | None]] = {}
    if ids:
        for notice_id, targeted, reached, acked, last in session.exec(
            select(  # type: ignore[call-overload]
                Delivery.notice_id,
                func.count(),
                func.sum(case((col(Delivery.state) == DeliveryState.SENT, 1), else_=0)),
                func.count(col(Delivery.acked_at)),
                func.max(Delivery.sent_at),
            )
            .where(col(Delivery.notice_id).in_(ids))
            .group_by(col(Delivery.notice_id))
        ):
            stats[int(notice_id)] = (int(targeted), int(reached or 0), int(acked), last)
    lines = []
    for notice, path in found:
        assert notice.id is not None
        targeted, reached, acked, last = stats.get(notice.id, (0, 0, 0, None))
        reach_s = None
        if notice.started_at is not None and last is not None and reached == targeted:
            reach_s = round((last - notice.started_at).total_seconds(), 1)
        lines.append(
            NoticeLine(
                code=notice.code,
                title=notice.title,
                kind=notice.kind.value,
                kind_label=KIND_ZH[notice.kind],
                status=notice.status.value,
                status_label=STATUS_ZH[notice.status],
                scope=path.split(PATH_SEP, 1)[1] if PATH_SEP in path else path,
                issuer=notice.issuer_name,
                urgent=notice.priority.value == "urgent",
                created_at=notice.created_at,
                targeted=targeted,
                sent=reached,
                reach_s=reach_s,
                ack_coverage=acked / reached if reached else None,
            )
        )
    return lines


_CURVE_POINTS = 120


def _curve(times: list[float], total: int) -> list[tuple[float, float]]:
    """The reach curve as at most ~120 (seconds, share reached) points."""
    if not times or not total:
        return []
    step = max(1, len(times) // _CURVE_POINTS)
    points = [(0.0, 0.0)]
    for index in range(step - 1, len(times), step):
        points.append((round(times[index], 2), round((index + 1) / total, 4)))
    if points[-1][0] != round(times[-1], 2):
        points.append((round(times[-1], 2), round(len(times) / total, 4)))
    return points


def live_picture(session: Session, notice: Notice, *, now: datetime) -> dict[str, object]:
    """Everything the notice page shows that changes while it is sent (JSON-ready)."""
    assert notice.id is not None
    rows = session.exec(
        select(  # type: ignore[call-overload, misc]
            Delivery.chat_group_id,
            Delivery.state,
            Delivery.sent_at,
            Delivery.acked_at,
            Delivery.account_id,
            Delivery.planned_offset_s,
            Delivery.error,
            Delivery.level,
        ).where(Delivery.notice_id == notice.id)
    ).all()
    group_ids = [r[0] for r in rows]
    places: dict[int, str] = {}
    if group_ids:
        for group_id, path in session.exec(
            select(ChatGroup.id, OrgUnit.path)
            .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
            .where(col(ChatGroup.id).in_(group_ids))
        ):
            if group_id is not None:
                places[group_id] = path
    counts: Counter[str] = Counter()
    levels: dict[str, Counter[str]] = defaultdict(Counter)
    villages: dict[str, Counter[str]] = defaultdict(Counter)
    accounts: dict[str, list[float]] = defaultdict(list)
    failures: list[dict[str, str]] = []
    start = notice.started_at
    times = []
    for group_id, state, sent_at, acked_at, account, offset, error, level in rows:
        counts[state.value] += 1
        parts = places.get(group_id, "").split(PATH_SEP)
        village = parts[1] if len(parts) > 1 else "（镇级群）"
        row = villages[village]
        row["targeted"] += 1
        row[state.value] += 1
        levels[level]["targeted"] += 1
        levels[level][state.value] += 1
        if acked_at is not None and state is DeliveryState.SENT:
            row["acked"] += 1
            levels[level]["acked"] += 1
            counts["acked"] += 1
        if sent_at is not None and start is not None:
            times.append((sent_at - start).total_seconds())
        if account and offset is not None:
            accounts[account].append(offset)
        failed = (DeliveryState.FAILED, DeliveryState.UNREACHABLE, DeliveryState.UNCERTAIN)
        if state in failed and len(failures) < 50:
            failures.append(
                {
                    "place": PATH_SEP.join(parts[1:]) or parts[0],
                    "level": level,
                    "state": state.value,
                    "error": error or "",
                }
            )
    times.sort()
    total = len(rows)
    pending = counts["planned"] + counts["sending"]
    bottleneck = sorted(
        ({"account": a, "groups": len(o), "last_s": round(max(o), 1)} for a, o in accounts.items()),
        key=lambda item: -float(item["last_s"]),  # type: ignore[arg-type]
    )[:3]
    return {
        "code": notice.code,
        "status": notice.status.value,
        "status_label": STATUS_ZH[notice.status],
        "ack_required": notice.ack_required,
        "targeted": total,
        "sent": counts["sent"],
        "failed": counts["failed"],
        "unreachable": counts["unreachable"],
        "uncertain": counts["uncertain"],
        "cancelled": counts["cancelled"],
        "pending": pending,
        "acked": counts["acked"],
        "reached_pct": round(100 * counts["sent"] / total, 1) if total else 0.0,
        "elapsed_s": round((now - start).total_seconds(), 1) if start is not None else None,
        "reach_s": round(times[-1], 1) if times and counts["sent"] == total else None,
        "curve": _curve(times, total),
        "villages": [
            {
                "name": name,
                "targeted": c["targeted"],
                "sent": c["sent"],
                "pending": c["planned"] + c["sending"],
                "failed": c["failed"] + c["unreachable"] + c["uncertain"],
                "acked": c["acked"],
                "ack_pct": round(100 * c["acked"] / c["sent"], 1) if c["sent"] else 0.0,
            }
            for name, c in sorted(villages.items())
        ],
        "failures": failures,
        "levels": [
            {
                "name": Level(name).label,
                "targeted": c["targeted"],
                "sent": c["sent"],
                "acked": c["acked"],
                "ack_pct": round(100 * c["acked"] / c["sent"], 1) if c["sent"] else 0.0,
            }
            for name, c in sorted(levels.items(), key=lambda item: Level(item[0]).depth)
        ],
        "bottleneck": bottleneck,
        "predicted_reach_s": notice.predicted_reach_s,
        "lower_bound_s": notice.lower_bound_s,
        "deadline_s": notice.deadline_s,
    }


def silent_units(session: Session, notice_id: int, limit: int = 200) -> list[str]:
    """Unit groups that got the notice and have not acknowledged it (paths in the town)."""
    rows = session.exec(
        select(OrgUnit.path)
        .join(ChatGroup, col(ChatGroup.org_unit_id) == col(OrgUnit.id))
        .join(Delivery, col(Delivery.chat_group_id) == col(ChatGroup.id))
        .where(
            Delivery.notice_id == notice_id,
            Delivery.level == "unit",
            Delivery.state == DeliveryState.SENT,
            col(Delivery.acked_at).is_(None),
        )
        .order_by(col(OrgUnit.path))
        .limit(limit + 1)
    ).all()
    return [path.split(PATH_SEP, 1)[-1] for path in rows]


# --- after a notice: acknowledgement coverage by place, and the silent units --------------

DELIVERY_ZH = {
    DeliveryState.PLANNED: "待发",
    DeliveryState.SENDING: "发送中",
    DeliveryState.SENT: "已送达",
    DeliveryState.FAILED: "失败",
    DeliveryState.UNCERTAIN: "不确定",
    DeliveryState.UNREACHABLE: "无法送达",
    DeliveryState.CANCELLED: "已取消",
}

_FAILED = frozenset({DeliveryState.FAILED, DeliveryState.UNREACHABLE, DeliveryState.UNCERTAIN})
_PENDING = frozenset({DeliveryState.PLANNED, DeliveryState.SENDING})


@dataclass(frozen=True, slots=True)
class LeaderLine:
    """Who leads a group's place, with the phone as the viewer may see it."""

    role: str
    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One place's groups for a notice: reached, acknowledged, failed, still to send.

    A row ``own`` counts only the place's own group (the village's group in the village's
    table); otherwise it counts every group of the place and below it. A row of one group
    (``own``, or a unit) also says how that group's delivery went and who leads it.
    """

    path: OrgPath
    name: str
    level: str
    own: bool
    groups: int
    sent: int
    acked: int
    failed: int
    pending: int
    silent: int
    """Unit groups reached that have not acknowledged."""
    delivery: str | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    leaders: tuple[LeaderLine, ...] = ()

    @property
    def ack_share(self) -> float | None:
        return self.acked / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class Coverage:
    """The drill-down table at one place: its own group first, then one row per part."""

    at: OrgPath
    total: CoverageRow
    rows: tuple[CoverageRow, ...]
    leaf: bool
    """The rows are single unit groups (nothing further to open)."""


@dataclass(slots=True)
class _Tally:
    groups: int = 0
    sent: int = 0
    acked: int = 0
    failed: int = 0
    pending: int = 0
    silent: int = 0

    def add(self, state: DeliveryState, acked: bool, level: str) -> None:
        self.groups += 1
        if state is DeliveryState.SENT:
            self.sent += 1
            if acked:
                self.acked += 1
            elif level == Level.UNIT:
                self.silent += 1
        elif state in _FAILED:
            self.failed += 1
        elif state in _PENDING:
            self.pending += 1


def _natural(path: OrgPath) -> list[tuple[str, int]]:
    """第2网格 before 第10网格."""
    return [
        (piece, int(number or 0))
        for name in path
        for piece, number in re.findall(r"(\D*)(\d*)", name)
        if piece or number
    ]


def _leaders(
    session: Session, units: dict[int, OrgPath], roles: Sequence[Role], viewer: Viewer
) -> dict[int, tuple[LeaderLine, ...]]:
    found: dict[int, tuple[LeaderLine, ...]] = {}
    for unit_id, posts in holders_by_unit(session, unit_ids=units, roles=roles).items():
        area = units[unit_id]
        found[unit_id] = tuple(
            LeaderLine(
                role=post.role.label,
                name=post.name,
                phone=show_phone(viewer, PhoneOwner.leader(post.phone, area)),
            )
            for post in sorted(posts, key=lambda p: roles.index(p.role))
        )
    return found


_GROUP_LEADERS = (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER, Role.GRID_LEADER, Role.STATION_CHIEF)


def coverage(
    session: Session, notice_id: int, *, town: str, at: OrgPath, viewer: Viewer
) -> Coverage | None:
    """Acknowledgement coverage of a notice at the place ``at`` (below the town) and at
    each of its parts, or None when no group of ``at`` was targeted. Leaders' phones are
    shown as ``viewer`` may see them (:mod:`core.privacy`)."""
    rows = session.exec(
        select(  # type: ignore[call-overload]
            OrgUnit.id,
            OrgUnit.path,
            OrgUnit.name,
            OrgUnit.level,
            Delivery.state,
            Delivery.acked_at,
            Delivery.acked_by,
        )
        .join(ChatGroup, col(ChatGroup.org_unit_id) == col(OrgUnit.id))
        .join(Delivery, col(Delivery.chat_group_id) == col(ChatGroup.id))
        .where(Delivery.notice_id == notice_id)
    ).all()
    depth = len(at)
    total = _Tally()
    parts: dict[OrgPath, _Tally] = defaultdict(_Tally)
    names: dict[OrgPath, tuple[str, Level]] = {}
    single: dict[OrgPath, tuple[int, DeliveryState, datetime | None, str | None]] = {}
    own_key: OrgPath | None = None
    for unit_id, path, name, level, state, acked_at, acked_by in rows:
        place = town_relative(path)
        if place[:depth] != at:
            continue
        level = Level(level)
        acked = acked_at is not None
        total.add(state, acked, level)
        key = place[: depth + 1]
        parts[key].add(state, acked, level)
        if len(place) == depth + 1 or place == at:
            names[key] = (name, level)
            single[key] = (unit_id, state, acked_at, acked_by)
        if place == at:
            own_key = key
    if not total.groups:
        return None
    leaf = depth >= Level.UNIT.depth - 1
    lead_units = {
        single[key][0]: key
        for key in single
        if key == own_key or (leaf and names[key][1] is Level.UNIT)
    }
    leaders = _leaders(session, lead_units, _GROUP_LEADERS, viewer)
    out: list[CoverageRow] = []
    for key, tally in parts.items():
        name, level = names.get(key, (key[-1] if key else town, Level.at_depth(len(key))))
        one = key == own_key or (leaf and key in single)
        unit_id, state, acked_at, acked_by = single.get(key, (0, None, None, None))
        out.append(
            CoverageRow(
                path=key,
                name=name,
                level=level.label,
                own=key == own_key,
                groups=tally.groups,
                sent=tally.sent,
                acked=tally.acked,
                failed=tally.failed,
                pending=tally.pending,
                silent=tally.silent,
                delivery=DELIVERY_ZH[state] if one and state is not None else None,
                acked_by=acked_by if one else None,
                acked_at=acked_at if one else None,
                leaders=leaders.get(unit_id, ()) if one else (),
            )
        )
    out.sort(key=lambda row: (not row.own, _natural(row.path)))
    top = names.get(at, (at[-1] if at else town, Level.at_depth(depth)))
    return Coverage(
        at=at,
        total=CoverageRow(
            path=at,
            name=top[0],
            level=top[1].label,
            own=False,
            groups=total.groups,
            sent=total.sent,
            acked=total.acked,
            failed=total.failed,
            pending=total.pending,
            silent=total.silent,
        ),
        rows=tuple(out),
        leaf=leaf,
    )


@dataclass(frozen=True, slots=True)
class SilentUnit:
    """A unit group that got the notice and has not acknowledged it, and its leaders."""

    path: OrgPath
    kind: str
    sent_at: datetime | None
    leaders: tuple[LeaderLine, ...]


def silent_unit_leaders(
    session: Session,
    notice_id: int,
    *,
    within: OrgPath,
    viewer: Viewer,
    limit: int = 200,
) -> tuple[list[SilentUnit], int]:
    """The silent units of a notice inside ``within`` (at most ``limit``, by path) with
    their unit leaders (a shop's owner and its second unit leader), and how many there are
    in all. Phones are shown as ``viewer`` may see them."""
    rows = session.exec(
        select(OrgUnit.id, OrgUnit.path, OrgUnit.kind, Delivery.sent_at)
        .join(ChatGroup, col(ChatGroup.org_unit_id) == col(OrgUnit.id))
        .join(Delivery, col(Delivery.chat_group_id) == col(ChatGroup.id))
        .where(
            Delivery.notice_id == notice_id,
            Delivery.level == Level.UNIT.value,
            Delivery.state == DeliveryState.SENT,
            col(Delivery.acked_at).is_(None),
        )
        .order_by(col(OrgUnit.path))
    ).all()
    depth = len(within)
    inside = [row for row in rows if town_relative(row[1])[:depth] == within]
    shown = inside[:limit]
    units = {unit_id: town_relative(path) for unit_id, path, _kind, _sent in shown if unit_id}
    leaders = _leaders(session, units, (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER), viewer)
    return [
        SilentUnit(
            path=town_relative(path),
            kind=UnitKind(kind).label if kind else "",
            sent_at=sent_at,
            leaders=leaders.get(unit_id or 0, ()),
        )
        for unit_id, path, kind, sent_at in shown
    ], len(inside)
