"""Briefs for the people a ticket reaches beyond its reporter and its holder.

What a whistled department needs to act (网格吹哨，部门报到): the complaint, the place,
the grid and its leader's contact, what was done so far, and the deadline for 报到.
A unit's leaders get a copy of a ticket from their unit (a shop's owner first: tickets.shops).

The same brief goes out with the whistle and answers the liaison's 查询. The liaison
handles the ticket, so phones are shown as :mod:`core.privacy` allows a handler: the
grid leader's work phone and a caller's own phone in full.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from core.clock import format_local_time
from core.config import Settings
from core.messaging import Reply
from core.privacy import PhoneOwner, Viewer, mask_phones_in_text, show_phone, show_phones_in_text
from models.enums import Level, Role, TicketLevel, TicketState
from models.org import OrgUnit
from models.tickets import Ticket, TicketEvent, TicketReporter
from orgtree import directory
from orgtree.directory import PostHolder
from tickets.configured import category_name, sla_policy
from tickets.lifecycle import AWAITING_ACCEPTANCE, EVENT_ZH, LEVEL_ZH, TicketView
from tickets.rows import origin_path
from tickets.shops import SHOP_EVENT_ZH
from tickets.sla import deadlines_for

__all__ = [
    "MAX_BRIEF_TEXT",
    "department_brief",
    "history_lines",
    "leader_phone_for_residents",
    "unit_leader_copies",
]

_EVENT_ZH = {**EVENT_ZH, **SHOP_EVENT_ZH}

MAX_BRIEF_TEXT = 500
MAX_HISTORY = 8
"""The latest steps shown in a brief (the whole history is in the console)."""


def _cut(text: str, limit: int = MAX_BRIEF_TEXT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def history_lines(session: Session, row: Ticket, viewer: Viewer | None = None) -> list[str]:
    """What was done so far, oldest first: time, who, what, and their note (phones in
    the notes as ``viewer`` may see them; default: who handles the ticket)."""
    viewer = Viewer.handler() if viewer is None else viewer
    events = session.exec(
        select(TicketEvent).where(TicketEvent.ticket_id == row.id).order_by(col(TicketEvent.id))
    ).all()
    lines: list[str] = []
    for event in events[-MAX_HISTORY:]:
        what = "受理" if event.kind == "create" else _EVENT_ZH.get(event.kind, event.kind)
        who = event.actor_name or ""
        note = f"：{_cut(show_phones_in_text(viewer, event.note), 80)}" if event.note else ""
        lines.append(f"  {format_local_time(event.at)} {who}{what}{note}")
    return lines


def department_brief(
    session: Session,
    settings: Settings,
    row: Ticket,
    view: TicketView,
    *,
    heading: str,
    residents_to: Viewer | None = None,
) -> str:
    """The brief for the liaisons of the department ``view`` is whistled to.
    ``residents_to``: who reads the residents' phones and words (default the department,
    which handles the ticket; a group reading a 查询 answer sees them masked)."""
    viewer = Viewer.handler()
    readers = viewer if residents_to is None else residents_to
    unit = session.get(OrgUnit, row.unit_id)
    grid_line = "网格：无（镇、村级来源）"
    if unit is not None:
        grid = directory.grid_of(session, unit)
        if grid is not None and grid.id is not None:
            leaders = directory.grid_leaders(session, grid_id=grid.id)
            who = "；".join(
                f"网格长{h.name} {show_phone(viewer, PhoneOwner.leader(h.phone, grid.town_path))}"
                for h in leaders
            )
            grid_line = f"网格：{'/'.join(grid.town_path)}，{who or '网格长暂缺'}"
    reporters = session.exec(
        select(TicketReporter)
        .where(TicketReporter.ticket_id == row.id)
        .order_by(col(TicketReporter.id))
    ).all()
    reporter_text = "、".join(
        r.name + (f" {show_phone(readers, PhoneOwner.resident(r.phone))}" if r.phone else "")
        for r in reporters[:3]
    )
    if len(reporters) > 3:
        reporter_text += f"等{len(reporters)}人"
    deadlines = deadlines_for(view, sla_policy(settings.tickets))
    caller = LEVEL_ZH[view.whistled_from or TicketLevel.TOWN]
    lines = [
        heading,
        f"类别：{category_name(settings, row.category)}"
        + ("（紧急）" if row.urgency.value == "urgent" else ""),
        f"反映内容：{_cut(show_phones_in_text(readers, row.text))}",
        f"地点：{origin_path(session, row)}" + (f"，{row.location}" if row.location else ""),
        grid_line,
        f"反映人：{reporter_text or '未登记'}",
        f"吹哨方：{caller}级",
        "已做工作：",
        *history_lines(session, row, readers),
    ]
    if view.level is TicketLevel.DEPARTMENT and view.state in AWAITING_ACCEPTANCE:
        lines.append(
            f"请在{format_local_time(deadlines.accept_by)}前报到：回复「报到 {row.code}」；"
            f"办结后回复「办结 {row.code} 处理结果」。"
        )
    elif view.level is TicketLevel.DEPARTMENT and view.state is not TicketState.CLOSED:
        lines.append(
            f"办理时限：{format_local_time(deadlines.resolve_by)}；"
            f"办结后回复「办结 {row.code} 处理结果」。"
        )
    return "\n".join(lines)


def leader_phone_for_residents(session: Session, holder: PostHolder, unit: OrgUnit) -> str:
    """A post holder's work phone as the residents of ``unit`` may see it (the ticket
    receipt in their group names the person responsible)."""
    post = session.get(OrgUnit, holder.org_unit_id)
    area = post.town_path if post is not None else ()
    return show_phone(Viewer.resident_of(unit.town_path), PhoneOwner.leader(holder.phone, area))


def unit_leader_copies(
    session: Session,
    settings: Settings,
    *,
    row: Ticket,
    holder_label: str,
    skip: Iterable[str],
) -> list[Reply]:
    """A new ticket from a unit reaches its unit leaders, so they know what their unit
    reported; the grid leader handles it. Nothing for a ticket from a grid or village
    group. A shop's ticket goes to its owner first instead (:mod:`tickets.shops`)."""
    unit = session.get(OrgUnit, row.unit_id)
    if unit is None or unit.level is not Level.UNIT or unit.id is None:
        return []
    skipped = set(skip)
    leaders = directory.holders(
        session, roles=(Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER), unit_ids=[unit.id]
    )
    text = (
        f"【本单元工单】{row.code}（{category_name(settings, row.category)}）："
        f"{_cut(mask_phones_in_text(row.text), 120)}\n"
        f"由{holder_label}负责处理。查询进度请发送「查询 {row.code}」。"
    )
    replies: list[Reply] = []
    for leader in leaders:
        if leader.contact_id in skipped:
            continue
        skipped.add(leader.contact_id)
        replies.append(Reply(text, contact_id=leader.contact_id))
    return replies
