"""旬查: the ten-day check (the 10th, the 20th and the last day of the month).

The village and the town get: overdue and long-open tickets by grid and by person; the
grids whose units ignored the last notices; and a call-back sample (回访): N tickets per
village closed since the last check, drawn at random, whose reporters the bot asks
privately whether the problem is really solved. An answer of "not solved" reopens the
ticket (:func:`rhythm.consultation.answer_call_back`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from broadcast import corrections
from core.config import Settings
from core.messaging import Reply
from core.privacy import mask_phones_in_text
from models.broadcast import Delivery, Notice, NoticeKind, NoticeStatus
from models.chat import ChatGroup
from models.enums import Level, Role, TicketState
from models.org import OrgUnit
from models.rhythm import CallBack
from models.tickets import Ticket, TicketReporter
from orgtree import directory
from rhythm.cases import CaseFacts, load_cases
from rhythm.periods import Cadence, local, period_key
from rhythm.places import group_rooms, private
from rhythm.runs import claim_period
from tickets.actors import reachable

__all__ = ["CheckFigures", "draw_call_backs", "ignoring_grids", "run_ten_day", "slow_cases"]

CHECK_WINDOW = timedelta(days=11)
"""Tickets closed within this long before a check are drawn for call-backs (a check
covers about ten days; one day of overlap, never a ticket twice: see the table)."""
NOTICES_LOOKED_AT = 3
"""旬查 reports the units that ignored the last this-many notices of the window."""


@dataclass(frozen=True, slots=True)
class CheckFigures:
    overdue: list[CaseFacts]
    long_open: list[CaseFacts]


def slow_cases(cases: Iterable[CaseFacts], *, now: datetime, long_open_days: int) -> CheckFigures:
    """Open tickets past their deadline, and open tickets older than ``long_open_days``. Pure."""
    open_cases = [c for c in cases if c.is_open]
    return CheckFigures(
        overdue=[c for c in open_cases if c.resolve_by < now],
        long_open=[c for c in open_cases if now - c.created_at > timedelta(days=long_open_days)],
    )


def draw_call_backs(candidates: Sequence[int], n: int, *, seed: str) -> list[int]:
    """``n`` ticket ids drawn at random (reproducibly for one check and village). Pure."""
    pool = sorted(candidates)
    return sorted(random.Random(seed).sample(pool, min(n, len(pool))))


def ignoring_grids(
    session: Session, *, since: datetime, now: datetime, settled: timedelta = timedelta(0)
) -> dict[int, list[tuple[str, str]]]:
    """Grid id -> (unit name, notice code) of unit groups that did not acknowledge one of
    the last notices sent since ``since`` (nor its correction:
    :func:`broadcast.corrections.acknowledged`). A notice younger than ``settled`` (the
    acknowledgement window) is still being answered and chased: not judged yet."""
    notices = session.exec(
        select(Notice)
        .where(
            Notice.kind == NoticeKind.NOTICE,
            col(Notice.ack_required).is_(True),
            col(Notice.status).in_([NoticeStatus.DONE, NoticeStatus.SENDING]),
            col(Notice.started_at) >= since,
            col(Notice.started_at) <= now - settled,
        )
        .order_by(col(Notice.started_at).desc())
        .limit(NOTICES_LOOKED_AT)
    ).all()
    out: dict[int, list[tuple[str, str]]] = {}
    for notice in notices:
        rows = session.exec(
            select(Delivery, OrgUnit)
            .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
            .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
            .where(
                Delivery.notice_id == notice.id,
                Delivery.level == Level.UNIT.value,
                col(Delivery.sent_at).is_not(None),
                ~corrections.acknowledged(Delivery),
            )
        ).all()
        for _delivery, unit in rows:
            if unit.parent_id is not None:
                out.setdefault(unit.parent_id, []).append((unit.name, notice.code))
    return out


def _by_person(cases: Sequence[CaseFacts]) -> str:
    counts = Counter(c.department_name or c.assignee_name or "待签收" for c in cases)
    return "，".join(f"{who} {n}件" for who, n in counts.most_common(8))


def _check_text(
    title: str,
    figures: CheckFigures,
    grid_names: dict[int, str],
    ignored: dict[int, list[tuple[str, str]]],
    asked: int,
) -> str:
    lines = [title]
    for label, cases in (("超期工单", figures.overdue), ("长期未办结工单", figures.long_open)):
        if not cases:
            continue
        by_grid = Counter(grid_names.get(c.grid_id or 0, "村/镇直接受理") for c in cases)
        lines.append(
            f"{label} {len(cases)}件：" + "，".join(f"{g} {n}件" for g, n in by_grid.most_common())
        )
        lines.append(f"  按承办人：{_by_person(cases)}")
        lines.append("  " + "、".join(c.code for c in cases[:10]))
    if ignored:
        lines.append("未回复最近通知的单元：")
        for grid_id, units in ignored.items():
            names = "、".join(sorted({u for u, _ in units})[:6])
            codes = "、".join(sorted({c for _, c in units}))
            lines.append(
                f"  {grid_names.get(grid_id, '')}：{len({u for u, _ in units})}个单元（{names}；{codes}）"
            )
    if asked:
        lines.append(f"本次抽取{asked}件已关闭工单回访群众，回复「未解决」的将重新办理。")
    return "\n".join(lines)


def run_ten_day(session: Session, settings: Settings, now: datetime) -> list[Reply] | None:
    """旬查 at ``now``; ``None`` when this check already ran."""
    period = period_key(Cadence.TEN_DAY, now)
    run = claim_period(session, Cadence.TEN_DAY, period, now)
    if run is None:
        return None
    day = local(now).date()
    title_day = f"{day.month}月{day.day}日"
    cases = load_cases(session, settings)
    since = now - CHECK_WINDOW
    ignored = ignoring_grids(session, since=since, now=now, settled=settings.broadcast.ack_window)
    grids = {
        g.id: g for g in session.exec(select(OrgUnit).where(OrgUnit.level == Level.GRID)) if g.id
    }
    grid_names = {gid: g.name for gid, g in grids.items()}
    villages = list(
        session.exec(
            select(OrgUnit).where(OrgUnit.level == Level.VILLAGE).order_by(col(OrgUnit.id))
        )
    )
    rooms = group_rooms(session, [v.id for v in villages if v.id is not None])
    replies: list[Reply] = []
    town_figures = slow_cases(cases, now=now, long_open_days=settings.cadences.long_open_days)
    asked_total = 0
    for village in villages:
        assert village.id is not None
        mine = [c for c in cases if c.village_id == village.id]
        figures = slow_cases(mine, now=now, long_open_days=settings.cadences.long_open_days)
        village_ignored = {
            g: u for g, u in ignored.items() if grids.get(g) and grids[g].parent_id == village.id
        }
        asks = _call_backs(session, settings, village.id, period=period, since=since, now=now)
        asked_total += len({a.ticket_id for a, _ in asks})
        replies.extend(reply for _, reply in asks)
        if not (figures.overdue or figures.long_open or village_ignored or asks):
            continue
        text = _check_text(
            f"【旬查 {title_day}】{village.name}",
            figures,
            grid_names,
            village_ignored,
            len({a.ticket_id for a, _ in asks}),
        )
        if village.id in rooms:
            replies.append(Reply(text, room_id=rooms[village.id]))
        replies.extend(
            private(
                directory.holders(session, roles=[Role.STATION_CHIEF], unit_ids=[village.id]), text
            )
        )
    if town_figures.overdue or town_figures.long_open or ignored or asked_total:
        town = session.exec(select(OrgUnit).where(OrgUnit.level == Level.TOWN)).first()
        text = _check_text(
            f"【旬查 {title_day}】全镇", town_figures, grid_names, ignored, asked_total
        )
        if town is not None and town.id is not None:
            room = group_rooms(session, [town.id]).get(town.id)
            if room:
                replies.append(Reply(text, room_id=room))
        replies.extend(private(directory.town_officials(session), text))
    run.messages = len(replies)
    run.summary = f"{len(town_figures.overdue)} overdue, {asked_total} call-back(s)"
    return replies


def _call_backs(
    session: Session,
    settings: Settings,
    village_id: int,
    *,
    period: str,
    since: datetime,
    now: datetime,
) -> list[tuple[CallBack, Reply]]:
    """Draw this village's call-backs and ask each reachable reporter."""
    n = settings.cadences.call_backs_per_village
    if n <= 0:
        return []
    asked_before = set(session.exec(select(CallBack.ticket_id)).all())
    candidates = session.exec(
        select(Ticket.id).where(
            Ticket.village_id == village_id,
            Ticket.state == TicketState.CLOSED,
            col(Ticket.closed_at) >= since,
            col(Ticket.closed_at) <= now,
        )
    ).all()
    pool = [t for t in candidates if t is not None and t not in asked_before]
    out = []
    for ticket_id in draw_call_backs(pool, n, seed=f"{period}/{village_id}"):
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        reporters = session.exec(
            select(TicketReporter).where(TicketReporter.ticket_id == ticket_id)
        ).all()
        for reporter in reporters:
            if not reachable(reporter.contact_id) or reporter.contact_id.startswith("tel-"):
                continue  # a phone caller is called back by phone, not in WeChat
            row = CallBack(
                period=period,
                ticket_id=ticket_id,
                village_id=village_id,
                contact_id=reporter.contact_id,
                asked_at=now,
            )
            session.add(row)
            text = (
                f"【回访】您好！您反映的问题（工单{ticket.code}：{mask_phones_in_text(ticket.text)[:40]}）已办结。"
                f"请问问题是否真正解决了？请回复「已解决」或「未解决 情况说明」。"
            )
            out.append((row, Reply(text, contact_id=reporter.contact_id)))
    return out
