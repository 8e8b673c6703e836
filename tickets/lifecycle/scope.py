"""Who may see and work a ticket, and who works it now.

A post covers an area: a grid leader their grids, a station chief their villages, a
town official the town, a liaison their department. :func:`is_handler` is the one who
works the ticket now; :func:`is_supervisor` holds a post at or above its level.
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from core.clock import format_local_time
from models.enums import ActorRole, TicketLevel, TicketState
from tickets.lifecycle.states import (
    AWAITING_ACCEPTANCE,
    LEVEL_ZH,
    OPEN_STATES,
    POST_LEVEL,
    RANK,
    RATING_ZH,
    ROLE_ZH,
    STATE_ZH,
)
from tickets.lifecycle.values import Actor, Recipient, TicketView, refuse

__all__ = [
    "describe",
    "ensure_can_view",
    "holder_label",
    "holder_recipient",
    "holds_post",
    "is_handler",
    "is_supervisor",
    "level_recipient",
    "post_area",
]


def holds_post(actor: Actor, level: TicketLevel, ticket: TicketView) -> bool:
    """Does the actor hold the post responsible at ``level`` for the ticket's area?"""
    match level:
        case TicketLevel.GRID:
            return actor.role is ActorRole.GRID_LEADER and ticket.grid_id in actor.grid_ids
        case TicketLevel.VILLAGE:
            return actor.role is ActorRole.STATION_CHIEF and ticket.village_id in actor.village_ids
        case TicketLevel.TOWN:
            return actor.role is ActorRole.TOWN_OFFICIAL
        case TicketLevel.DEPARTMENT:
            return (
                actor.role is ActorRole.DEPARTMENT_LIAISON
                and ticket.department_code is not None
                and actor.department_code == ticket.department_code
            )
        case _:
            assert_never(level)


def is_handler(actor: Actor, ticket: TicketView) -> bool:
    """Is the actor the one who works the ticket now (签收, 办结, 退单)?

    A department's liaisons at department level; otherwise the assignee, or while
    nobody is assigned, whoever holds the post at the ticket's level.
    """
    if ticket.level is TicketLevel.DEPARTMENT:
        return holds_post(actor, TicketLevel.DEPARTMENT, ticket)
    if ticket.assignee_id is not None:
        return actor.person_id == ticket.assignee_id
    return holds_post(actor, ticket.level, ticket)


def is_supervisor(actor: Actor, ticket: TicketView) -> bool:
    """Does the actor hold a post at or above the ticket's level over its area?

    For a department-level ticket: the town and the posts from the level that blew
    the whistle upwards.
    """
    post = POST_LEVEL.get(actor.role)
    if post is None or not holds_post(actor, post, ticket):
        return False
    if ticket.level is TicketLevel.DEPARTMENT:
        floor = ticket.whistled_from or TicketLevel.TOWN
        return RANK[post] >= RANK[floor]
    return RANK[post] >= RANK[ticket.level]


def ensure_can_view(ticket: TicketView, actor: Actor) -> None:
    """查询: reporters see their tickets; staff see those in their area; else refused."""
    if (
        actor.role is ActorRole.SYSTEM
        or actor.person_id in ticket.reporter_ids
        or is_handler(actor, ticket)
        or is_supervisor(actor, ticket)
        or (actor.role is ActorRole.UNIT_LEADER and ticket.unit_id in actor.unit_ids)
    ):
        return
    if actor.role in (ActorRole.RESIDENT, ActorRole.UNIT_LEADER):
        refuse(f"抱歉，您只能查询自己反映的工单，工单{ticket.code}不是您反映的。")
    refuse(f"抱歉，工单{ticket.code}不在您的负责范围内，无法查询。")


def describe(ticket: TicketView, *, deadline: datetime | None = None) -> str:
    """A one-paragraph Chinese status for 查询 (no other resident's details)."""
    parts = [f"工单{ticket.code}：{STATE_ZH[ticket.state]}"]
    if ticket.state in OPEN_STATES:
        parts.append(f"，目前由{holder_label(ticket)}负责")
    elif ticket.resolved_level is not None:
        parts.append(f"，由{LEVEL_ZH[ticket.resolved_level]}办结")
    parts.append(f"；受理于{format_local_time(ticket.created_at)}")
    if ticket.extension_count:
        parts.append(f"；已延期{ticket.extension_count}次")
    if deadline is not None and ticket.state in AWAITING_ACCEPTANCE:
        # Not yet accepted: the deadline is the acceptance's, not the resolution's.
        parts.append(f"；应于{format_local_time(deadline)}前签收")
    elif deadline is not None and ticket.state in OPEN_STATES:
        parts.append(f"；办理时限{format_local_time(deadline)}")
    if ticket.state is TicketState.CLOSED:
        parts.append(f"；评价：{RATING_ZH[ticket.rating] if ticket.rating else '未评价'}")
    return "".join(parts) + "。"


def holder_label(ticket: TicketView) -> str:
    """Who works the ticket now, as people read it (网格长张三, 区司法局, 村网格站)."""
    if ticket.level is TicketLevel.DEPARTMENT:
        return ticket.department_name or str(ticket.department_code)
    if ticket.assignee_id is not None:
        role = ROLE_ZH[ticket.assignee_role] if ticket.assignee_role else ""
        return f"{role}{ticket.assignee_name or ticket.assignee_id}"
    return {
        TicketLevel.GRID: "本网格网格长",
        TicketLevel.VILLAGE: "村网格站",
        TicketLevel.TOWN: "镇综治中心",
    }[ticket.level]


def holder_recipient(ticket: TicketView) -> Recipient:
    """Whoever works the ticket now, as a :class:`Recipient`."""
    if ticket.level is TicketLevel.DEPARTMENT and ticket.department_code is not None:
        return Recipient.department(ticket.department_code)
    if ticket.assignee_id is not None:
        return Recipient.person(ticket.assignee_id)
    return Recipient.post(ticket.level, post_area(ticket, ticket.level))


def level_recipient(ticket: TicketView, level: TicketLevel) -> Recipient:
    if level is TicketLevel.DEPARTMENT and ticket.department_code is not None:
        return Recipient.department(ticket.department_code)
    return Recipient.post(level, post_area(ticket, level))


def post_area(ticket: TicketView, level: TicketLevel) -> str | None:
    return {TicketLevel.GRID: ticket.grid_id, TicketLevel.VILLAGE: ticket.village_id}.get(level)
