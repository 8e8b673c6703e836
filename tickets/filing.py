"""Filing a reported problem (受理 and 派单): join the open ticket it duplicates, or open
a new one routed to the grid leader. Group messages (:mod:`tickets.chat_intake`) and
one-stop intake (:mod:`tickets.one_stop`) both end here.

Nothing is sent: what people must be told comes back as replies for the caller.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from core.clock import format_local_time
from core.config import Settings
from core.messaging import Reply
from core.privacy import PhoneOwner, Viewer, show_phone
from models.enums import ActorRole, TicketLevel, TicketState, Urgency
from models.org import OrgUnit
from models.tickets import IntakeKind, Ticket, TicketChannel, TicketEventCreate, TicketReporter
from orgtree import directory
from orgtree.directory import PostHolder
from tickets.actors import lifecycle_role, notification_replies
from tickets.briefs import leader_phone_for_residents, unit_leader_copies
from tickets.configured import (
    category_department_name,
    category_name,
    configured_parser,
    sla_policy,
)
from tickets.duplicates import find_duplicate, similarity
from tickets.errors import UnitNotFound
from tickets.intake import ParsedMessage
from tickets.lifecycle import (
    OPEN_STATES,
    SYSTEM,
    Actor,
    AddReporter,
    Dispatch,
    Notification,
    TicketView,
    TransitionRefused,
    apply,
    holder_label,
    holder_recipient,
    new_ticket,
)
from tickets.rows import (
    allocate_code,
    id_text,
    lock_ticket,
    origin_path,
    record_event,
    reporter_ids,
    storable,
    store_view,
    ticket_view,
)
from tickets.shops import shop_ticket_copies
from tickets.sla import deadlines_for

__all__ = [
    "MAX_PRIVATE_TEXT",
    "Filed",
    "IntakeOutcome",
    "ProblemReport",
    "Reporter",
    "add_follow_up",
    "file_report",
    "follow_up_target",
]

MAX_PRIVATE_TEXT = 500
"""The original text is cut to this many characters in private notices."""

_CHANNEL_ZH = {
    TicketChannel.CHAT: "群聊",
    TicketChannel.PHONE: "电话",
    TicketChannel.WALK_IN: "来访",
    TicketChannel.WEB: "网上",
}


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    """What became of one message: its kind, the ticket, and what to post."""

    kind: IntakeKind
    replies: tuple[Reply, ...] = ()
    ticket_code: str | None = None
    receipt: str = ""
    """The answer to the reporter (also the first reply when it goes to a group)."""


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who reported (反映人): a resident, a member of staff, a caller or a walk-in."""

    contact_id: str
    name: str
    person_id: int | None = None
    phone: str | None = None
    room_id: str | None = None
    channel: TicketChannel = TicketChannel.CHAT


@dataclass(frozen=True, slots=True)
class ProblemReport:
    """One problem to file: who reported what, where, how urgent, from which org unit."""

    reporter: Reporter
    text: str
    category: str
    urgency: Urgency
    location: str | None
    org_unit_id: int
    title: str | None = None
    """The post's title or a one-line summary; heads the ticket."""
    secondary_categories: tuple[str, ...] = ()
    """Other categories a letter with several requests also asks about."""
    category_confident: bool = False
    """The category is a clear call (:attr:`ParsedMessage.category_confident`): a
    follow-up of another clear category is a new problem."""


@dataclass(frozen=True, slots=True)
class Filed:
    """A filed report: a new ticket (``TICKET``) or one more reporter (``DUPLICATE``)."""

    kind: IntakeKind
    code: str
    ticket_id: int | None
    receipt: str
    replies: tuple[Reply, ...]


def file_report(
    *, session: Session, settings: Settings, report: ProblemReport, now: datetime
) -> Filed:
    """Join an open duplicate or open a new ticket. Raises :class:`UnitNotFound`."""
    unit = session.get(OrgUnit, report.org_unit_id)
    if unit is None or unit.id is None:
        raise UnitNotFound(f"组织单元{report.org_unit_id}不存在。")
    grid_id, village_id = directory.area_of(session, unit)
    follow_up = follow_up_target(
        session,
        settings,
        text=report.text,
        contact_id=report.reporter.contact_id,
        unit_id=unit.id,
        category=report.category,
        category_confident=report.category_confident,
        urgency=report.urgency,
        now=now,
    )
    if follow_up is not None:
        added = add_follow_up(
            session, settings, follow_up, report.text, reporter=report.reporter, now=now
        )
        if added is not None:
            return added
    duplicate = find_duplicate(
        session,
        settings.tickets,
        grid_id=grid_id,
        village_id=village_id,
        unit_id=unit.id,
        category=report.category,
        text=report.text,
        location=report.location,
        urgency=report.urgency,
        now=now,
    )
    if duplicate is not None:
        joined = _join(session, settings, duplicate, report, now)
        if joined is not None:
            return joined
    return _open(
        session, settings, report, unit=unit, grid_id=grid_id, village_id=village_id, now=now
    )


def _join(
    session: Session, settings: Settings, duplicate: Ticket, report: ProblemReport, now: datetime
) -> Filed | None:
    """Add the reporter to an open ticket; ``None`` if it can no longer take reporters."""
    reporter = report.reporter
    row = lock_ticket(session, duplicate.code)
    assert row.id is not None
    view = ticket_view(row, reporter_ids(session, row.id))
    if row.state not in OPEN_STATES:
        return None  # closed since we looked: file a new ticket
    try:
        step = apply(view, AddReporter(reporter.contact_id), SYSTEM, now)
    except TransitionRefused as refused:
        # The same resident again: tell them it is in hand, file nothing new.
        receipt = (
            f"{refused.reason}目前由{holder_label(view)}负责，查询进度请发送「查询 {row.code}」。"
        )
        return Filed(IntakeKind.DUPLICATE, row.code, row.id, receipt, ())
    _add_reporter(session, row, reporter, now)
    store_view(session, row, step.ticket, policy=sla_policy(settings.tickets), now=now)
    record_event(session, row, step.event, actor=SYSTEM, note=f"追加反映人{reporter.name}")
    count = len(step.ticket.reporter_ids)
    receipt = (
        f"您反映的问题与工单{row.code}是同一问题，已将您登记为该工单的反映人（共{count}人反映），"
        f"目前由{holder_label(view)}负责，处理结果会一并通知您。查询进度请发送「查询 {row.code}」。"
    )
    notice = Notification(
        holder_recipient(view),
        f"工单{row.code}又有居民反映（共{count}人）：{_cut(report.text)}",
    )
    replies = notification_replies(session, settings, [notice], skip=[reporter.contact_id])
    return Filed(IntakeKind.DUPLICATE, row.code, row.id, receipt, tuple(replies))


def _add_reporter(session: Session, row: Ticket, reporter: Reporter, now: datetime) -> None:
    assert row.id is not None
    session.add(
        TicketReporter(
            ticket_id=row.id,
            contact_id=reporter.contact_id,
            person_id=reporter.person_id,
            name=storable(reporter.name[:64]),
            phone=reporter.phone,
            unit_id=row.unit_id,
            room_id=reporter.room_id,
            channel=reporter.channel,
            reported_at=now,
        )
    )


def _cut(text: str, limit: int = MAX_PRIVATE_TEXT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _open(
    session: Session,
    settings: Settings,
    report: ProblemReport,
    *,
    unit: OrgUnit,
    grid_id: int | None,
    village_id: int | None,
    now: datetime,
) -> Filed:
    """受理 and 派单: a new ticket with its code, routed to the grid leader."""
    assert unit.id is not None
    reporter = report.reporter
    policy = sla_policy(settings.tickets)
    code = allocate_code(session, now)
    view = new_ticket(
        code=code,
        now=now,
        urgency=report.urgency,
        unit_id=str(unit.id),
        grid_id=id_text(grid_id),
        village_id=id_text(village_id),
        reporter_id=reporter.contact_id,
    )
    start = (
        TicketLevel.GRID
        if grid_id is not None
        else TicketLevel.VILLAGE
        if village_id
        else TicketLevel.TOWN
    )
    view = dataclasses.replace(view, level=start)
    row = Ticket(
        code=code,
        state=view.state,
        level=view.level,
        category=report.category,
        urgency=report.urgency,
        location=storable(report.location) if report.location else None,
        channel=reporter.channel,
        text=storable(report.text),
        title=storable(report.title) if report.title else None,
        secondary_categories=list(report.secondary_categories),
        unit_id=unit.id,
        origin_room_id=reporter.room_id,
        created_at=now,
        window_started_at=now,
        first_accept_due_at=now + policy.window_for(report.urgency).accept,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _add_reporter(session, row, reporter, now)
    record_event(
        session,
        row,
        TicketEventCreate(
            kind="create",
            actor_id=reporter.contact_id,
            actor_role=ActorRole.RESIDENT,
            at=now,
            from_state=TicketState.RECEIVED,
            to_state=TicketState.RECEIVED,
            from_level=view.level,
            to_level=view.level,
            note=f"{_CHANNEL_ZH[reporter.channel]}受理：{category_name(settings, report.category)}",
        ),
        actor=Actor(reporter.contact_id, ActorRole.RESIDENT, reporter.name),
        person_id=reporter.person_id,
    )
    holder = _route_target(session, view)
    if holder is not None:
        step = apply(
            view,
            Dispatch(holder.contact_id, holder.name, lifecycle_role(holder.role)),
            SYSTEM,
            now,
        )
        record_event(session, row, step.event, actor=SYSTEM)
        view = step.ticket
        recipients = [holder.contact_id]
    else:
        view = dataclasses.replace(view, level=TicketLevel.TOWN)
        recipients = [h.contact_id for h in directory.town_officials(session)]
    store_view(session, row, view, policy=policy, now=now)
    accept_by = deadlines_for(view, policy).accept_by
    urgent = "【紧急】" if report.urgency is Urgency.URGENT else ""
    who = (
        f"{holder.label}（{leader_phone_for_residents(session, holder, unit)}）"
        if holder is not None
        else "镇综治中心"
    )
    also = _secondary_names(settings, report.secondary_categories)
    receipt = (
        f"{urgent}您反映的问题已受理，工单编号：{code}（{category_name(settings, report.category)}"
        f"{also}）。"
        f"负责人：{who}，将在{format_local_time(accept_by)}前响应。"
        f"查询进度请发送「查询 {code}」。"
    )
    brief = _new_ticket_brief(session, settings, row=row, reporter=reporter, accept_by=accept_by)
    holder_label = holder.label if holder is not None else "镇综治中心"
    skip = {reporter.contact_id, *recipients}
    # 双单元长: a shop's ticket goes to its owner first (tickets.shops); other units'
    # leaders all get a copy.
    copies = shop_ticket_copies(
        session, settings, row=row, holder_label=holder_label, skip=skip, now=now
    )
    if copies is None:
        copies = unit_leader_copies(
            session, settings, row=row, holder_label=holder_label, skip=skip
        )
    replies = tuple(
        Reply(brief, contact_id=contact_id)
        for contact_id in dict.fromkeys(recipients)
        if contact_id != reporter.contact_id
    ) + tuple(copies)
    return Filed(IntakeKind.TICKET, code, row.id, receipt, replies)


def _route_target(session: Session, view: TicketView) -> PostHolder | None:
    """Who a new ticket goes to: the grid leader, else the station chief; ``None`` means
    the town's officials (a town-group message, or nobody holds the posts below)."""
    if view.level is TicketLevel.GRID and view.grid_id:
        leaders = directory.grid_leaders(session, grid_id=int(view.grid_id))
        if leaders:
            return leaders[0]
    if view.village_id:
        chiefs = directory.station_chiefs(session, village_id=int(view.village_id))
        if chiefs:
            return chiefs[0]
    return None


def _new_ticket_brief(
    session: Session,
    settings: Settings,
    *,
    row: Ticket,
    reporter: Reporter,
    accept_by: datetime,
) -> str:
    """The private message to whoever must accept a new ticket: what, where, and how to act."""
    code = row.code
    urgent = "【紧急】" if row.urgency is Urgency.URGENT else ""
    contact = reporter.name
    if reporter.phone:
        # Private, to the one who must call back (core.privacy: the ticket's handler).
        contact += f"，电话{show_phone(Viewer.handler(), PhoneOwner.resident(reporter.phone))}"
    also = _secondary_names(settings, tuple(row.secondary_categories))
    lines = [
        f"{urgent}【新工单】{code}（{category_name(settings, row.category)}{also}）",
        *([f"标题：{row.title}"] if row.title else []),
        f"来源：{origin_path(session, row)}",
        f"反映人：{contact}",
        f"位置：{row.location or '未说明'}",
        f"内容：{_cut(row.text)}",
        f"请在{format_local_time(accept_by)}前签收。回复指令处理：",
        f"接单 {code}",
        f"办结 {code} 处理结果",
        f"上报 {code} 上报原因",
        f"吹哨 {code} {category_department_name(settings, row.category)}",
        f"改派 {code} @某人",
        f"延期 {code} 3天 延期原因",
        f"退单 {code} 退单原因",
    ]
    return "\n".join(lines)


def _secondary_names(settings: Settings, codes: tuple[str, ...]) -> str:
    """``；另涉及：物业管理、噪音扰民`` for the secondary categories, or nothing."""
    if not codes:
        return ""
    return "；另涉及：" + "、".join(category_name(settings, code) for code in codes)


# --- follow-ups (补充): a reply to a ticket's code, or the same resident again -----------

_TICKET_CODE = re.compile(r"T\d{8}-\d{4}", re.IGNORECASE)
# Words by which a resident says the message goes on from what they reported before.
_FOLLOW_UP_WORDS = re.compile(
    r"补充|还有|另外|刚才|刚刚说|上面说|之前说|前面说|再说一下|追加|更新一下"
)


def follow_up_target(
    session: Session,
    settings: Settings,
    *,
    text: str,
    contact_id: str,
    unit_id: int,
    category: str | None,
    now: datetime,
    category_confident: bool = False,
    urgency: Urgency | None = None,
) -> Ticket | None:
    """The open ticket a message adds to, if it is a follow-up (补充), else None.

    - A message quoting or naming a ticket's code (a reply to the bot's receipt) adds to
      that ticket, when it is open and the writer reported it or writes from its unit.
    - A resident's message in the same unit within the duplicate window adds to their
      latest open ticket there when it says it goes on (补充, 还有, 刚才 ...), or is about
      the same thing (its category or a secondary one) with something new to say; the
      same report again (as similar as a duplicate) is left to the duplicate path.
    - Never a message about another problem: of another category, when both it and the
      ticket's first report are clear calls (还有，楼道里有人打起来了 after a street light).
    - Never an urgent message into a ticket that is not urgent (还有，3楼有人晕倒了): it
      is filed as its own urgent ticket, with the urgent deadlines and alerts.
    """
    for match in _TICKET_CODE.finditer(text):
        row = session.exec(select(Ticket).where(Ticket.code == match.group(0).upper())).first()
        if row is None or row.id is None or row.state not in OPEN_STATES:
            continue
        if _sinks(urgency, row):
            continue
        if row.unit_id == unit_id or contact_id in reporter_ids(session, row.id):
            return row
    since = now - settings.tickets.duplicate_window
    rows = session.exec(
        select(Ticket)
        .join(TicketReporter, col(TicketReporter.ticket_id) == col(Ticket.id))
        .where(
            TicketReporter.contact_id == contact_id,
            Ticket.unit_id == unit_id,
            col(Ticket.created_at) >= since,
            col(Ticket.state).in_(list(OPEN_STATES)),
        )
        .order_by(col(Ticket.created_at).desc())
    ).all()
    goes_on = _FOLLOW_UP_WORDS.search(text) is not None
    for row in rows:
        same_thing = category is not None and (
            category == row.category or category in (row.secondary_categories or [])
        )
        if _sinks(urgency, row) or (
            not same_thing
            and category_confident
            and _first_report_parsed(settings, row).category_confident
        ):
            continue  # another problem, or an emergency: its own ticket
        if goes_on or (
            # The same report again says nothing new: the duplicate path answers it.
            same_thing and similarity(text, row.text) < settings.tickets.duplicate_similarity
        ):
            return row
    return None


def _sinks(urgency: Urgency | None, row: Ticket) -> bool:
    """Would an urgent message sink into a ticket that is not urgent?"""
    return urgency is Urgency.URGENT and row.urgency is not Urgency.URGENT


def _first_report_parsed(settings: Settings, row: Ticket) -> ParsedMessage:
    """The ticket's first report as intake reads it (follow-ups are appended after
    ``【补充``, and must not change what the ticket was about)."""
    first = row.text.split(_FOLLOW_UP_MARK, 1)[0]
    return configured_parser(settings).parse(first)


_FOLLOW_UP_MARK = "\n【补充 "


def add_follow_up(
    session: Session,
    settings: Settings,
    ticket: Ticket,
    text: str,
    *,
    reporter: Reporter,
    now: datetime,
) -> Filed | None:
    """Add a resident's follow-up to an open ticket: the text is appended (the full story
    stays on one ticket), an event recorded, the holder told. None if it closed meanwhile."""
    row = lock_ticket(session, ticket.code)
    assert row.id is not None
    if row.state not in OPEN_STATES:
        return None
    view = ticket_view(row, reporter_ids(session, row.id))
    row.follow_up_count = (row.follow_up_count or 0) + 1
    row.text = storable(f"{row.text}{_FOLLOW_UP_MARK}{format_local_time(now)}】{text.strip()}")
    row.updated_at = now
    session.add(row)
    record_event(
        session,
        row,
        TicketEventCreate(
            kind="follow_up",
            actor_id=reporter.contact_id,
            actor_role=ActorRole.RESIDENT,
            at=now,
            from_state=row.state,
            to_state=row.state,
            from_level=row.level,
            to_level=row.level,
        ),
        actor=Actor(reporter.contact_id, ActorRole.RESIDENT, reporter.name),
        person_id=reporter.person_id,
        note=f"补充：{_cut(text, 200)}",
    )
    receipt = (
        f"已将您的补充内容记入工单{row.code}，目前由{holder_label(view)}负责。"
        f"查询进度请发送「查询 {row.code}」。"
    )
    notice = Notification(
        holder_recipient(view), f"工单{row.code}有补充内容（{reporter.name}）：{_cut(text)}"
    )
    replies = notification_replies(session, settings, [notice], skip=[reporter.contact_id])
    return Filed(IntakeKind.DUPLICATE, row.code, row.id, receipt, tuple(replies))
