"""日清: the daily clearing.

At the configured time each grid leader gets a private digest of their grid (arrived
today, still unaccepted, due tomorrow, overdue, with the codes); each village group gets
one line per grid; a ticket still unaccepted is flagged to the station chief. A day with
nothing to say sends nothing (or one 「今日已清」 line per village, when configured).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlmodel import Session

from core.clock import TOWN_TZ
from core.config import Settings
from core.messaging import Reply
from models.enums import Level, Role, TicketLevel
from models.org import OrgUnit
from orgtree import directory
from rhythm.cases import CaseFacts, load_cases
from rhythm.periods import Cadence, local, period_key
from rhythm.places import group_rooms, units_at
from rhythm.runs import claim_period

__all__ = ["GridDay", "compose_daily", "grid_days", "run_daily"]


@dataclass(frozen=True, slots=True)
class GridDay:
    """One grid's day, as the digest shows it (ticket codes)."""

    grid_id: int
    grid_name: str
    village_id: int
    arrived: tuple[str, ...] = ()
    unaccepted: tuple[str, ...] = ()
    due_tomorrow: tuple[str, ...] = ()
    overdue: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.arrived or self.unaccepted or self.due_tomorrow or self.overdue)


@dataclass(frozen=True, slots=True)
class Audience:
    grid_leaders: Mapping[int, Sequence[str]] = field(default_factory=dict)
    """Grid id -> contact ids of its grid leaders."""
    station_chiefs: Mapping[int, Sequence[str]] = field(default_factory=dict)
    """Village id -> contact ids of its station chiefs."""
    village_rooms: Mapping[int, str] = field(default_factory=dict)
    village_names: Mapping[int, str] = field(default_factory=dict)


def grid_days(
    cases: Iterable[CaseFacts], grids: Iterable[OrgUnit], *, now: datetime
) -> list[GridDay]:
    """Each grid's day at ``now`` (local calendar). Pure."""
    today = local(now).date()
    start = datetime.combine(today, time(), TOWN_TZ)
    tomorrow = start + timedelta(days=1)
    after = tomorrow + timedelta(days=1)
    by_grid: dict[int, list[CaseFacts]] = {}
    for case in cases:
        if case.grid_id is not None:
            by_grid.setdefault(case.grid_id, []).append(case)
    days = []
    for grid in grids:
        assert grid.id is not None and grid.parent_id is not None
        mine = by_grid.get(grid.id, [])
        days.append(
            GridDay(
                grid_id=grid.id,
                grid_name=grid.name,
                village_id=grid.parent_id,
                arrived=tuple(c.code for c in mine if start <= c.created_at < tomorrow),
                # Only what the grid leader can 接单: a ticket reopened or escalated to
                # a department, the village or the town waits for them, not for the grid.
                unaccepted=tuple(
                    c.code for c in mine if c.unaccepted and c.level is TicketLevel.GRID
                ),
                due_tomorrow=tuple(
                    c.code for c in mine if c.is_open and tomorrow <= c.resolve_by < after
                ),
                overdue=tuple(c.code for c in mine if c.is_open and c.resolve_by < now),
            )
        )
    return days


def _codes(codes: Sequence[str]) -> str:
    return "、".join(codes[:10]) + (f" 等{len(codes)}件" if len(codes) > 10 else "")


def _digest(day: GridDay, when: date) -> str:
    lines = [f"【日清 {when.month}月{when.day}日】{day.grid_name}"]
    for label, codes in (
        ("今日新收", day.arrived),
        ("尚未签收", day.unaccepted),
        ("明日到期", day.due_tomorrow),
        ("已超期", day.overdue),
    ):
        if codes:
            lines.append(f"{label} {len(codes)}件：{_codes(codes)}")
    if day.unaccepted:
        lines.append("请回复「接单 工单号」签收；未签收的已报网格站站长。")
    return "\n".join(lines)


def _village_line(day: GridDay) -> str:
    return (
        f"{day.grid_name}：新收{len(day.arrived)} 未签收{len(day.unaccepted)} "
        f"明日到期{len(day.due_tomorrow)} 超期{len(day.overdue)}"
    )


def compose_daily(
    days: Sequence[GridDay], audience: Audience, *, when: date, all_clear_line: bool
) -> list[Reply]:
    """The digests, village lines and station-chief flags of one day. Pure."""
    replies: list[Reply] = []
    villages: dict[int, list[GridDay]] = {}
    for day in days:
        villages.setdefault(day.village_id, []).append(day)
        if day.empty:
            continue
        for contact in audience.grid_leaders.get(day.grid_id, ()):
            replies.append(Reply(_digest(day, when), contact_id=contact))
    for village_id, village_days in villages.items():
        busy = [d for d in village_days if not d.empty]
        room = audience.village_rooms.get(village_id)
        head = f"【日清 {when.month}月{when.day}日】{audience.village_names.get(village_id, '')}"
        if busy and room:
            replies.append(
                Reply("\n".join([head, *(_village_line(d) for d in busy)]), room_id=room)
            )
        elif not busy and room and all_clear_line:
            replies.append(Reply(f"{head}：今日已清。", room_id=room))
        flagged = [(d.grid_name, c) for d in busy for c in d.unaccepted]
        if flagged:
            text = "【日清提醒】以下工单至今未签收，请督促：\n" + "\n".join(
                f"{code}（{grid}）" for grid, code in flagged
            )
            replies.extend(
                Reply(text, contact_id=c) for c in audience.station_chiefs.get(village_id, ())
            )
    return replies


def run_daily(session: Session, settings: Settings, now: datetime) -> list[Reply] | None:
    """日清 at ``now``; ``None`` when this day's digest already ran."""
    run = claim_period(session, Cadence.DAILY, period_key(Cadence.DAILY, now), now)
    if run is None:
        return None
    today = local(now).date()
    since = datetime.combine(today, time(), TOWN_TZ)
    grids = units_at(session, Level.GRID)
    days = grid_days(load_cases(session, settings, since=since), grids, now=now)
    village_ids = {d.village_id for d in days}
    leaders = directory.holders(
        session, roles=[Role.GRID_LEADER], unit_ids=[d.grid_id for d in days]
    )
    chiefs = directory.holders(session, roles=[Role.STATION_CHIEF], unit_ids=village_ids)
    audience = Audience(
        grid_leaders=by_unit(leaders),
        station_chiefs=by_unit(chiefs),
        village_rooms=group_rooms(session, village_ids),
        village_names={
            v.id: v.name for v in (session.get(OrgUnit, i) for i in village_ids) if v and v.id
        },
    )
    replies = compose_daily(
        days, audience, when=today, all_clear_line=settings.cadences.all_clear_line
    )
    run.messages = len(replies)
    run.summary = f"{sum(1 for d in days if not d.empty)} grid(s) with open work"
    return replies


def by_unit(holders: Iterable[directory.PostHolder]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for holder in holders:
        contacts = out.setdefault(holder.org_unit_id, [])
        if holder.contact_id not in contacts:
            contacts.append(holder.contact_id)
    return out
