"""Notices as the console shows them: the history within a person's scopes, and one
notice's live picture (counters, the reach curve, villages, failures, the plan's
bottleneck accounts) read from the outbox.

The live picture is what the notice page's Server-Sent Events carry: it is read again a
few times a second while the notice is sent, so it reads only the notice's deliveries.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, or_, true
from sqlmodel import Session, col, select

from models.broadcast import Delivery, DeliveryState, Notice, NoticeKind, NoticeStatus
from models.chat import ChatGroup
from models.enums import Level
from models.org import PATH_SEP, OrgPath, OrgUnit

__all__ = [
    "NoticeFilter",
    "NoticeLine",
    "live_picture",
    "notice_lines",
    "scope_condition",
    "silent_units",
]

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
    status: NoticeStatus | None = None
    text: str = ""
    limit: int = 50


@dataclass(frozen=True, slots=True)
class NoticeLine:
    code: str
    title: str
    kind: str
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
        .where(scope_condition(town, scopes), col(Notice.kind) != NoticeKind.REMINDER)
        .order_by(col(Notice.id).desc())
        .limit(wanted.limit)
    )
    if wanted.status is not None:
        statement = statement.where(col(Notice.status) == wanted.status)
    text = wanted.text.strip()
    if text:
        pattern = f"%{text.replace('%', '').replace('_', '')}%"
        statement = statement.where(
            or_(col(Notice.title).ilike(pattern), col(Notice.code).ilike(pattern))
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
