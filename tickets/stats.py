"""Ticket figures (工单统计) for ``gridcast tickets stats`` and the reports.

:func:`compute_stats` is pure arithmetic over :class:`TicketFacts`; :func:`ticket_stats`
loads the facts of the tickets received in a period and computes them.

The three rates of the 12345 hotlines (三率), as computed here:

* **响应率 (response rate)**: tickets whose first 签收 (or a department's 报到) came by
  their first accept deadline, divided by the tickets whose first response is decided
  (accepted, or the first accept deadline has passed). A ticket still within its first
  accept time and not yet accepted is left out.
* **解决率 (resolution rate)**: tickets that are resolved (办结, being rated, or closed)
  divided by all tickets received. A ticket reopened by an unsatisfied rating counts as
  unresolved until it is resolved again.
* **满意率 (satisfaction rate)**: closed tickets rated 满意 or 基本满意 (the overall rating
  is the worst one its reporters gave) divided by all closed tickets; a ticket closed
  without a rating counts as not satisfied. ``satisfaction_rate_rated`` is the same over
  rated tickets only.

**Resolved within the town** (the article's 96.5% of disputes resolved at the grassroots):
tickets resolved at grid, village or town level divided by all resolved tickets; the rest
were resolved by a district department called in by 吹哨.

Median times run from 受理 to the first 签收/报到, and from 受理 to the (latest) 办结.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, select

from core.clock import TOWN_TZ
from models.enums import Rating, TicketLevel, TicketState
from models.tickets import Ticket
from tickets.lifecycle import LEVEL_ZH, STATE_ZH

__all__ = [
    "TicketFacts",
    "TicketStats",
    "compute_stats",
    "format_stats",
    "load_facts",
    "local_period",
    "ticket_stats",
]

_RESOLVED = frozenset({TicketState.RESOLVED, TicketState.RATING, TicketState.CLOSED})
_SATISFIED = frozenset({Rating.SATISFIED, Rating.BASICALLY_SATISFIED})


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What the figures read of one ticket."""

    state: TicketState
    category: str
    created_at: datetime
    first_accept_due_at: datetime
    first_accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_level: TicketLevel | None = None
    rating: Rating | None = None


@dataclass(frozen=True, slots=True)
class TicketStats:
    total: int
    by_state: dict[str, int]
    by_category: dict[str, int]
    resolved: int
    resolved_by_level: dict[str, int]
    resolved_within_town: float | None
    """Share of resolved tickets resolved at grid, village or town level."""
    responded_on_time: int
    response_due: int
    response_rate: float | None
    resolution_rate: float | None
    closed: int
    closed_satisfied: int
    closed_rated: int
    satisfaction_rate: float | None
    satisfaction_rate_rated: float | None
    median_time_to_accept: timedelta | None
    median_time_to_resolve: timedelta | None

    def to_json(self) -> dict[str, object]:
        def seconds(value: timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {
            "total": self.total,
            "by_state": self.by_state,
            "by_category": self.by_category,
            "resolved": self.resolved,
            "resolved_by_level": self.resolved_by_level,
            "resolved_within_town": self.resolved_within_town,
            "response_rate": self.response_rate,
            "responded_on_time": self.responded_on_time,
            "response_due": self.response_due,
            "resolution_rate": self.resolution_rate,
            "satisfaction_rate": self.satisfaction_rate,
            "satisfaction_rate_rated": self.satisfaction_rate_rated,
            "closed": self.closed,
            "closed_satisfied": self.closed_satisfied,
            "closed_rated": self.closed_rated,
            "median_time_to_accept_s": seconds(self.median_time_to_accept),
            "median_time_to_resolve_s": seconds(self.median_time_to_resolve),
        }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def compute_stats(facts: Iterable[TicketFacts], *, now: datetime) -> TicketStats:
    """The figures of a set of tickets at ``now`` (see the module docstring). Pure."""
    rows = list(facts)
    by_state = Counter(f.state.value for f in rows)
    by_category = Counter(f.category for f in rows)
    resolved = [f for f in rows if f.state in _RESOLVED]
    by_level = Counter(f.resolved_level.value for f in resolved if f.resolved_level is not None)
    leveled = sum(by_level.values())
    in_town = sum(n for level, n in by_level.items() if level != TicketLevel.DEPARTMENT.value)
    decided = [f for f in rows if f.first_accepted_at is not None or f.first_accept_due_at <= now]
    on_time = sum(
        1
        for f in decided
        if f.first_accepted_at is not None and f.first_accepted_at <= f.first_accept_due_at
    )
    closed = [f for f in rows if f.state is TicketState.CLOSED]
    rated = [f for f in closed if f.rating is not None]
    satisfied = sum(1 for f in closed if f.rating in _SATISFIED)
    return TicketStats(
        total=len(rows),
        by_state={s.value: by_state[s.value] for s in TicketState if by_state[s.value]},
        by_category=dict(by_category.most_common()),
        resolved=len(resolved),
        resolved_by_level={lv.value: by_level[lv.value] for lv in TicketLevel},
        resolved_within_town=_share(in_town, leveled),
        responded_on_time=on_time,
        response_due=len(decided),
        response_rate=_share(on_time, len(decided)),
        resolution_rate=_share(len(resolved), len(rows)),
        closed=len(closed),
        closed_satisfied=satisfied,
        closed_rated=len(rated),
        satisfaction_rate=_share(satisfied, len(closed)),
        satisfaction_rate_rated=_share(satisfied, len(rated)),
        median_time_to_accept=_median(
            [f.first_accepted_at - f.created_at for f in rows if f.first_accepted_at is not None]
        ),
        median_time_to_resolve=_median(
            [f.resolved_at - f.created_at for f in resolved if f.resolved_at is not None]
        ),
    )


def local_period(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Local calendar days ``start``..``end`` (both included) as aware instants
    ``[from, to)``."""
    begin = datetime.combine(start, time(), TOWN_TZ) if start else None
    stop = datetime.combine(end + timedelta(days=1), time(), TOWN_TZ) if end else None
    return begin, stop


def load_facts(
    session: Session, *, start: datetime | None = None, end: datetime | None = None
) -> list[TicketFacts]:
    """The facts of the tickets received in ``[start, end)``."""
    statement = select(Ticket)
    if start is not None:
        statement = statement.where(col(Ticket.created_at) >= start)
    if end is not None:
        statement = statement.where(col(Ticket.created_at) < end)
    return [
        TicketFacts(
            state=row.state,
            category=row.category,
            created_at=row.created_at,
            first_accept_due_at=row.first_accept_due_at,
            first_accepted_at=row.first_accepted_at,
            resolved_at=row.resolved_at,
            resolved_level=row.resolved_level,
            rating=row.rating,
        )
        for row in session.exec(statement)
    ]


def ticket_stats(
    *,
    session: Session,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
) -> TicketStats:
    return compute_stats(load_facts(session, start=start, end=end), now=now)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = round(value.total_seconds() / 60)
    if minutes < 60:
        return f"{minutes}分钟"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"
    return f"{value.total_seconds() / 86400:.1f}天"


def format_stats(stats: TicketStats, category_names: dict[str, str]) -> str:
    """The figures as officials read them (Chinese)."""
    states = "，".join(f"{STATE_ZH[TicketState(s)]} {n}" for s, n in stats.by_state.items()) or "无"
    categories = (
        "，".join(f"{category_names.get(c, c)} {n}" for c, n in stats.by_category.items()) or "无"
    )
    levels = "，".join(
        f"{LEVEL_ZH[TicketLevel(lv)]} {n}" for lv, n in stats.resolved_by_level.items()
    )
    return "\n".join(
        [
            f"工单总数：{stats.total}",
            f"按状态：{states}",
            f"按类别：{categories}",
            f"办结层级：{levels}；镇内化解率 {_percent(stats.resolved_within_town)}",
            f"响应率：{_percent(stats.response_rate)}"
            f"（{stats.responded_on_time}/{stats.response_due} 按时签收）",
            f"解决率：{_percent(stats.resolution_rate)}（{stats.resolved}/{stats.total} 已办结）",
            f"满意率：{_percent(stats.satisfaction_rate)}"
            f"（{stats.closed_satisfied}/{stats.closed} 满意或基本满意，未评价计为不满意）",
            f"签收用时中位数：{_duration(stats.median_time_to_accept)}；"
            f"办结用时中位数：{_duration(stats.median_time_to_resolve)}",
        ]
    )
