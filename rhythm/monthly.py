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
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, func, select

from broadcast import corrections
from core.config import Settings
from core.messaging import Attachment, Reply
from models.broadcast import Delivery, Notice, NoticeKind
from models.chat import ChatGroup
from models.enums import Level, TicketState
from models.org import OrgUnit
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


def _figures(
    session: Session,
    settings: Settings,
    scope: str,
    village_id: int | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> MonthlyFigures:
    statement = select(Ticket).where(col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
    if village_id is not None:
        statement = statement.where(Ticket.village_id == village_id)
    rows = list(session.exec(statement))
    facts = [
        TicketFacts(
            state=r.state,
            category=r.category,
            created_at=r.created_at,
            first_accept_due_at=r.first_accept_due_at,
            first_accepted_at=r.first_accepted_at,
            resolved_at=r.resolved_at,
            resolved_level=r.resolved_level,
            rating=r.rating,
        )
        for r in rows
    ]
    cadences = settings.cadences
    disputes = sum(
        1 for r in rows if r.category in cadences.dispute_categories and r.state in _RESOLVED
    )
    petitions = [
        r.id
        for r in rows
        if r.category in cadences.petition_categories
        or r.department_code in cadences.petition_departments
    ]
    visits = 0
    if petitions:
        visits = session.exec(
            select(func.count())
            .select_from(TicketReporter)
            .where(col(TicketReporter.ticket_id).in_(petitions))
        ).one()
    sent, reached, reach, unit_groups, acked = _notice_figures(session, village_id, start, end)
    due, done, on_time = tasks_in(session, start, end, village_id)
    return MonthlyFigures(
        scope=scope,
        tickets=compute_stats(facts, now=now),
        disputes_resolved=disputes,
        petition_visits=int(visits),
        notices_sent=sent,
        groups_reached=reached,
        median_reach_s=reach,
        unit_groups=unit_groups,
        unit_groups_acknowledged=acked,
        tasks_due=due,
        tasks_done=done,
        tasks_on_time=on_time,
    )


def _notice_figures(
    session: Session, village_id: int | None, start: datetime, end: datetime
) -> tuple[int, int, float | None, int, int]:
    """(notices, groups reached, median reach s, unit groups sent, unit groups acknowledged).

    A unit group that answered the notice's correction counts as acknowledged
    (:func:`broadcast.corrections.acknowledged`)."""
    statement = (
        select(Notice, Delivery, OrgUnit, corrections.acknowledged(Delivery))
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
    prefix = None
    if village_id is not None:
        village = session.get(OrgUnit, village_id)
        prefix = village.path if village else None
    notices: dict[int, float] = {}
    reached = unit_groups = acked = 0
    for notice, delivery, unit, answered in session.exec(statement):
        if prefix is not None and not (unit.path == prefix or unit.path.startswith(prefix + "/")):
            continue
        assert (
            notice.id is not None and notice.started_at is not None and delivery.sent_at is not None
        )
        reached += 1
        seconds = (delivery.sent_at - notice.started_at).total_seconds()
        notices[notice.id] = max(notices.get(notice.id, 0.0), seconds)
        if unit.level is Level.UNIT:
            unit_groups += 1
            acked += bool(answered)
    reach = statistics.median(notices.values()) if notices else None
    return len(notices), reached, reach, unit_groups, acked


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
    town = _figures(session, settings, settings.town.name, None, start, end, now)
    if village is not None:
        town = _figures(session, settings, villages[0].name, villages[0].id, start, end, now)
    return MonthlyReport(
        month=month,
        town=town,
        villages=[_figures(session, settings, v.name, v.id, start, end, now) for v in villages]
        if village is None
        else [],
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
        sheet.append([value(figures) for _, value in _COLUMNS])  # type: ignore[no-untyped-call]
    for column in sheet.iter_cols(min_row=3):
        header = sheet.cell(row=2, column=column[0].column).value or ""
        if "率" in str(header) or header == "文章目标":
            for cell in column:
                cell.number_format = "0.0%"
    categories = book.create_sheet("类别")
    codes = list(report.category_names)
    categories.append(["范围", *(report.category_names[c] for c in codes)])
    for figures in [report.town, *report.villages]:
        categories.append([figures.scope, *(figures.tickets.by_category.get(c, 0) for c in codes)])
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
