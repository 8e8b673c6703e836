"""月结: the monthly report, per town and per village, as XLSX and as a chart (PNG).

Figures of the tickets received in the month (:mod:`tickets.stats`: counts, categories,
the level they were resolved at and the share resolved within the town against the
article's 96.5%, the three rates, median times), disputes resolved (矛盾纠纷化解) and
petitions (信访, in 人次: reporters), notices sent with their reach times and
acknowledgement coverage (unit groups that acknowledged), and tasks completed.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from broadcast import corrections
from core.config import Settings
from core.messaging import Attachment, Reply
from core.spreadsheet import xlsx_row
from models.broadcast import Delivery, Notice, NoticeKind
from models.chat import ChatGroup
from models.enums import Level, TicketState
from models.org import OrgUnit, town_relative
from models.tickets import Ticket, TicketReporter
from orgtree import directory
from rhythm.periods import Cadence, month_bounds, period_key
from rhythm.places import group_rooms, private
from rhythm.runs import claim_period
from rhythm.tasks import tasks_in
from tickets.stats import TicketFacts, TicketStats, compute_stats

__all__ = [
    "ARTICLE_WITHIN_TOWN",
    "MonthlyFigures",
    "MonthlyReport",
    "monthly_report",
    "render_png",
    "run_monthly",
    "write_xlsx",
]

ARTICLE_WITHIN_TOWN = 0.965
"""The article's 96.5% of disputes resolved at the grassroots."""
_RESOLVED = (TicketState.RESOLVED, TicketState.RATING, TicketState.CLOSED)


@dataclass(frozen=True, slots=True)
class MonthlyFigures:
    scope: str
    tickets: TicketStats
    disputes_resolved: int = 0
    petition_visits: int = 0
    notices_sent: int = 0
    groups_reached: int = 0
    median_reach_s: float | None = None
    unit_groups: int = 0
    unit_groups_acknowledged: int = 0
    tasks_due: int = 0
    tasks_done: int = 0
    tasks_on_time: int = 0

    @property
    def ack_coverage(self) -> float | None:
        return self.unit_groups_acknowledged / self.unit_groups if self.unit_groups else None


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    month: str
    town: MonthlyFigures
    villages: list[MonthlyFigures] = field(default_factory=list)
    category_names: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _MonthTickets:
    """The month's tickets of one scope, as the report reads them."""

    facts: list[TicketFacts] = field(default_factory=list)
    disputes_resolved: int = 0
    petition_visits: int = 0


@dataclass(slots=True)
class _MonthNotices:
    """The month's notices as one scope saw them."""

    reach_s: dict[int, float] = field(default_factory=dict)
    """Per notice: seconds from its start to its last group in the scope."""
    reached: int = 0
    unit_groups: int = 0
    acknowledged: int = 0


def _month_tickets(
    session: Session,
    settings: Settings,
    start: datetime,
    end: datetime,
    village_id: int | None = None,
) -> dict[int | None, _MonthTickets]:
    """The tickets received in [start, end) per village id, and the town's under ``None``.

    One read of plain columns for every scope (not ORM rows per village: the month of a
    busy town is thousands of tickets)."""
    statement = select(  # type: ignore[call-overload, misc]
        Ticket.id,
        Ticket.village_id,
        Ticket.state,
        Ticket.category,
        Ticket.department_code,
        Ticket.created_at,
        Ticket.first_accept_due_at,
        Ticket.first_accepted_at,
        Ticket.resolved_at,
        Ticket.resolved_level,
        Ticket.rating,
    ).where(col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
    if village_id is not None:
        statement = statement.where(Ticket.village_id == village_id)
    rows: Sequence[Any] = session.exec(statement).all()
    cadences = settings.cadences
    petitions = {
        r.id
        for r in rows
        if r.category in cadences.petition_categories
        or r.department_code in cadences.petition_departments
    }
    reporters: dict[int, int] = {}
    if petitions:
        reporters = dict(
            session.exec(
                select(TicketReporter.ticket_id, func.count())
                .where(col(TicketReporter.ticket_id).in_(sorted(petitions)))
                .group_by(col(TicketReporter.ticket_id))
            ).all()
        )
    scopes: dict[int | None, _MonthTickets] = {}
    for r in rows:
        fact = TicketFacts(
            state=r.state,
            category=r.category,
            created_at=r.created_at,
            first_accept_due_at=r.first_accept_due_at,
            first_accepted_at=r.first_accepted_at,
            resolved_at=r.resolved_at,
            resolved_level=r.resolved_level,
            rating=r.rating,
        )
        dispute = r.category in cadences.dispute_categories and r.state in _RESOLVED
        visits = reporters.get(r.id, 0)
        for key in (None, r.village_id):
            figures = scopes.get(key)
            if figures is None:
                figures = scopes[key] = _MonthTickets()
            figures.facts.append(fact)
            figures.disputes_resolved += dispute
            figures.petition_visits += visits
    return scopes


def _month_notices(
    session: Session, start: datetime, end: datetime, village: OrgUnit | None = None
) -> dict[str | None, _MonthNotices]:
    """The notices started in [start, end) per village name, and the town's under ``None``.

    A unit group that answered the notice's correction counts as acknowledged
    (:func:`broadcast.corrections.acknowledged`)."""
    statement = (
        select(  # type: ignore[call-overload]
            Notice.id,
            Notice.started_at,
            Delivery.sent_at,
            OrgUnit.level,
            OrgUnit.path,
            corrections.acknowledged(Delivery),
        )
        .join(Delivery, col(Delivery.notice_id) == col(Notice.id))
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
        .where(
            Notice.kind == NoticeKind.NOTICE,
            col(Notice.started_at) >= start,
            col(Notice.started_at) < end,
            col(Delivery.sent_at).is_not(None),
        )
    )
    if village is not None:
        statement = statement.where(
            or_(col(OrgUnit.path) == village.path, col(OrgUnit.path).startswith(village.path + "/"))
        )
    rows: Sequence[Any] = session.exec(statement).all()
    scopes: dict[str | None, _MonthNotices] = {}
    for notice_id, started_at, sent_at, level, path, answered in rows:
        seconds = (sent_at - started_at).total_seconds()
        inside = town_relative(path)
        for key in (None, inside[0]) if inside else (None,):
            figures = scopes.get(key)
            if figures is None:
                figures = scopes[key] = _MonthNotices()
            figures.reached += 1
            figures.reach_s[notice_id] = max(figures.reach_s.get(notice_id, 0.0), seconds)
            if level is Level.UNIT:
                figures.unit_groups += 1
                figures.acknowledged += bool(answered)
    return scopes


def _figures(
    scope: str,
    tickets: _MonthTickets,
    notices: _MonthNotices,
    tasks: tuple[int, int, int],
    now: datetime,
) -> MonthlyFigures:
    due, done, on_time = tasks
    return MonthlyFigures(
        scope=scope,
        tickets=compute_stats(tickets.facts, now=now),
        disputes_resolved=tickets.disputes_resolved,
        petition_visits=tickets.petition_visits,
        notices_sent=len(notices.reach_s),
        groups_reached=notices.reached,
        median_reach_s=statistics.median(notices.reach_s.values()) if notices.reach_s else None,
        unit_groups=notices.unit_groups,
        unit_groups_acknowledged=notices.acknowledged,
        tasks_due=due,
        tasks_done=done,
        tasks_on_time=on_time,
    )


def monthly_report(
    session: Session, settings: Settings, month: str, *, now: datetime, village: str | None = None
) -> MonthlyReport:
    """The report of ``month`` (``2026-11``); ``village`` limits the villages listed."""
    start, end = month_bounds(month)
    villages = list(
        session.exec(
            select(OrgUnit).where(OrgUnit.level == Level.VILLAGE).order_by(col(OrgUnit.id))
        )
    )
    if village is not None:
        villages = [v for v in villages if v.name == village]
        if not villages:
            raise ValueError(f"没有名为「{village}」的村")
    only = villages[0] if village is not None else None
    tickets = _month_tickets(session, settings, start, end, only.id if only else None)
    notices = _month_notices(session, start, end, only)

    def of(unit: OrgUnit) -> MonthlyFigures:
        return _figures(
            unit.name,
            tickets.get(unit.id, _MonthTickets()),
            notices.get(unit.name, _MonthNotices()),
            tasks_in(session, start, end, unit.id),
            now,
        )

    if village is not None:
        return MonthlyReport(
            month=month,
            town=of(villages[0]),
            category_names={c.code: c.name for c in settings.tickets.categories},
        )
    town = _figures(
        settings.town.name,
        tickets.get(None, _MonthTickets()),
        notices.get(None, _MonthNotices()),
        tasks_in(session, start, end, None),
        now,
    )
    return MonthlyReport(
        month=month,
        town=town,
        villages=[of(v) for v in villages],
        category_names={c.code: c.name for c in settings.tickets.categories},
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def summary_text(report: MonthlyReport) -> str:
    t = report.town
    s = t.tickets
    return "\n".join(
        [
            f"【月结 {report.month}】{t.scope}",
            f"受理工单{s.total}件，办结{s.resolved}件；镇内化解率{_pct(s.resolved_within_town)}（目标96.5%）",
            f"响应率{_pct(s.response_rate)}，解决率{_pct(s.resolution_rate)}，满意率{_pct(s.satisfaction_rate)}",
            f"化解矛盾纠纷{t.disputes_resolved}件，接待信访{t.petition_visits}人次",
            f"发布通知{t.notices_sent}条，送达{t.groups_reached}个群，单元群回复率{_pct(t.ack_coverage)}",
            f"任务完成{t.tasks_done}/{t.tasks_due}（按期{t.tasks_on_time}）",
        ]
    )


_COLUMNS = [
    ("范围", lambda f: f.scope),
    ("受理", lambda f: f.tickets.total),
    ("办结", lambda f: f.tickets.resolved),
    ("网格办结", lambda f: f.tickets.resolved_by_level.get("grid", 0)),
    ("村办结", lambda f: f.tickets.resolved_by_level.get("village", 0)),
    ("镇办结", lambda f: f.tickets.resolved_by_level.get("town", 0)),
    ("部门办结", lambda f: f.tickets.resolved_by_level.get("department", 0)),
    ("镇内化解率", lambda f: f.tickets.resolved_within_town),
    ("文章目标", lambda f: ARTICLE_WITHIN_TOWN),
    ("响应率", lambda f: f.tickets.response_rate),
    ("解决率", lambda f: f.tickets.resolution_rate),
    ("满意率", lambda f: f.tickets.satisfaction_rate),
    ("签收用时中位数(小时)", lambda f: _hours(f.tickets.median_time_to_accept)),
    ("办结用时中位数(小时)", lambda f: _hours(f.tickets.median_time_to_resolve)),
    ("化解矛盾纠纷", lambda f: f.disputes_resolved),
    ("信访人次", lambda f: f.petition_visits),
    ("通知", lambda f: f.notices_sent),
    ("送达群数", lambda f: f.groups_reached),
    ("送达用时中位数(秒)", lambda f: f.median_reach_s),
    ("单元群", lambda f: f.unit_groups),
    ("单元群已回复", lambda f: f.unit_groups_acknowledged),
    ("回复率", lambda f: f.ack_coverage),
    ("任务", lambda f: f.tasks_due),
    ("任务完成", lambda f: f.tasks_done),
    ("按期完成", lambda f: f.tasks_on_time),
]


def _hours(value: object) -> float | None:
    from datetime import timedelta

    return round(value.total_seconds() / 3600, 1) if isinstance(value, timedelta) else None


def write_xlsx(report: MonthlyReport, target: object) -> None:
    """The report as a workbook: 月报 (one row per scope), 类别 (tickets per category)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "月报"
    sheet.append([f"{report.month} 月结"])
    sheet.append([name for name, _ in _COLUMNS])
    for figures in [report.town, *report.villages]:
        sheet.append(xlsx_row(sheet, [value(figures) for _, value in _COLUMNS]))  # type: ignore[no-untyped-call]
    for column in sheet.iter_cols(min_row=3):
        header = sheet.cell(row=2, column=column[0].column).value or ""
        if "率" in str(header) or header == "文章目标":
            for cell in column:
                cell.number_format = "0.0%"
    categories = book.create_sheet("类别")
    codes = list(report.category_names)
    categories.append(xlsx_row(categories, ["范围", *(report.category_names[c] for c in codes)]))
    for figures in [report.town, *report.villages]:
        categories.append(
            xlsx_row(
                categories,
                [figures.scope, *(figures.tickets.by_category.get(c, 0) for c in codes)],
            )
        )
    book.save(target)


def render_png(report: MonthlyReport) -> bytes:
    """A bar chart of tickets received and resolved per village (or for the one scope).

    Labels are Chinese when a CJK font is installed (fonts-noto-cjk, WenQuanYi); otherwise
    villages are numbered in the order of the text summary, so no glyph is missing.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    rows = report.villages or [report.town]
    cjk = next(
        (
            f.name
            for f in font_manager.fontManager.ttflist
            if any(
                k in f.name
                for k in ("CJK", "WenQuanYi", "Source Han", "SimHei", "YaHei", "PingFang")
            )
        ),
        None,
    )
    names = [r.scope for r in rows] if cjk else [str(i) for i in range(1, len(rows) + 1)]
    labels = (
        ("受理", "办结", f"{report.month} 月结 · {report.town.scope}")
        if cjk
        else ("received", "resolved", f"{report.month} monthly report")
    )
    figure, axes = plt.subplots(figsize=(max(6, len(rows) * 0.8), 4), dpi=100)
    try:
        if cjk:
            for text in (axes.title, axes.xaxis.label):
                text.set_fontfamily(cjk)
        xs = range(len(rows))
        axes.bar([x - 0.2 for x in xs], [r.tickets.total for r in rows], width=0.4, label=labels[0])
        axes.bar(
            [x + 0.2 for x in xs], [r.tickets.resolved for r in rows], width=0.4, label=labels[1]
        )
        axes.set_xticks(list(xs))
        axes.set_xticklabels(names, fontfamily=cjk or "DejaVu Sans", rotation=30 if cjk else 0)
        axes.set_title(labels[2], fontfamily=cjk or "DejaVu Sans")
        axes.legend(prop={"family": cjk or "DejaVu Sans"})
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def run_monthly(session: Session, settings: Settings, now: datetime) -> list[Reply] | None:
    """月结 at ``now`` (the 1st): last month's summary and chart in the town group and to
    the town officials; ``None`` when that month's already ran. Nothing on an empty month."""
    month = period_key(Cadence.MONTHLY, now)
    run = claim_period(session, Cadence.MONTHLY, month, now)
    if run is None:
        return None
    report = monthly_report(session, settings, month, now=now)
    town = report.town
    if not (town.tickets.total or town.notices_sent or town.tasks_due):
        run.summary = "empty month"
        return []
    text = summary_text(report)
    legend = "；".join(f"{i}={v.scope}" for i, v in enumerate(report.villages, 1))
    chart = Attachment(f"{month}月结.png", render_png(report), "image/png")
    town_unit = session.exec(select(OrgUnit).where(OrgUnit.level == Level.TOWN)).first()
    replies: list[Reply] = []
    room = (
        group_rooms(session, [town_unit.id]).get(town_unit.id)
        if town_unit and town_unit.id
        else None
    )
    text += f"\n图中编号：{legend}" if legend else ""
    if room:
        replies.append(Reply(text, room_id=room))
        replies.append(Reply(f"{month}月结图", room_id=room, attachment=chart))
    for official in private(directory.town_officials(session), text):
        replies.append(official)
        replies.append(Reply(f"{month}月结图", contact_id=official.contact_id, attachment=chart))
    run.messages = len(replies)
    run.summary = f"{town.tickets.total} ticket(s)"
    return replies
