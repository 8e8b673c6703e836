"""What every rule of :func:`~tickets.lifecycle.apply` checks and builds: refusals for the
wrong role, state or scope, bounded notes, and the hand-over to a new holder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from models.enums import ActorRole, TicketLevel, TicketState
from tickets.lifecycle.scope import holder_label, holder_recipient, level_recipient
from tickets.lifecycle.states import HOLDER_LEVEL, LEVEL_ZH, STAFF_ROLES, STATE_PHRASE
from tickets.lifecycle.values import Actor, Notification, Recipient, Rules, TicketView, refuse

__all__ = [
    "Outcome",
    "holder_level",
    "ladder_notices",
    "new_window",
    "note_text",
    "require_role",
    "require_scope",
    "require_state",
    "require_system",
    "to_reporters",
]


@dataclass(slots=True)
class Outcome:
    """What one rule decided; :func:`~tickets.lifecycle.apply` adds the event."""

    ticket: TicketView
    note: str = ""
    notifications: list[Notification] = field(default_factory=list)
    reply: str = ""


def to_reporters(ticket: TicketView, text: str) -> list[Notification]:
    """The same text to every reporter of the ticket."""
    return [Notification(Recipient.person(pid), text) for pid in ticket.reporter_ids]


def note_text(text: str, what: str, rules: Rules, *, required: bool = True) -> str:
    """A note, reason or result, trimmed; refused when missing (if required) or too long."""
    note = text.strip()
    if required and not note:
        refuse(f"请写明{what}。")
    if len(note) > rules.max_note_chars:
        refuse(f"{what}太长了（{len(note)}字），请控制在{rules.max_note_chars}字以内。")
    return note


def require_role(actor: Actor, allowed: Iterable[ActorRole], ticket: TicketView, who: str) -> None:
    if actor.role not in frozenset(allowed):
        refuse(f"抱歉，{who}。您无权处理工单{ticket.code}。")


def require_state(
    ticket: TicketView, allowed: frozenset[TicketState], verb: str, hint: str = ""
) -> None:
    if ticket.state not in allowed:
        again = (
            "再"
            if ticket.state in (TicketState.RESOLVED, TicketState.RATING, TicketState.CLOSED)
            else ""
        )
        refuse(f"工单{ticket.code}{STATE_PHRASE[ticket.state]}，不能{again}{verb}。{hint}")


def require_scope(ok: bool, ticket: TicketView) -> None:
    if not ok:
        # A whistled ticket is the department's to finish: say so, not only "out of scope".
        hint = (
            f"吹哨后由{holder_label(ticket)}办理和办结，无需您再办结。"
            if ticket.level is TicketLevel.DEPARTMENT
            else ""
        )
        refuse(f"工单{ticket.code}不在您的负责范围内（目前由{holder_label(ticket)}负责）。{hint}")


def require_system(actor: Actor, ticket: TicketView, verb: str) -> None:
    if actor.role is not ActorRole.SYSTEM:
        refuse(f"「{verb}」由系统自动执行，不能手动操作工单{ticket.code}。")


def new_window(
    ticket: TicketView,
    now: datetime,
    *,
    state: TicketState,
    level: TicketLevel,
    assignee: tuple[str, str, ActorRole] | None = None,
    department: tuple[str, str] | None = None,
    whistled_from: TicketLevel | None = None,
) -> TicketView:
    """Hand the ticket to a new holder: a fresh SLA window, not yet accepted."""
    person_id, name, role = assignee if assignee else (None, "", None)
    dept_code, dept_name = department if department else (None, "")
    return replace(
        ticket,
        state=state,
        level=level,
        assignee_id=person_id,
        assignee_name=name,
        assignee_role=role,
        department_code=dept_code,
        department_name=dept_name,
        whistled_from=whistled_from,
        window=ticket.window + 1,
        window_started_at=now,
        accepted_at=None,
        extended_days=0,
    )


def holder_level(name: str, role: ActorRole) -> TicketLevel:
    """The level a ticket is at when ``role`` holds it; refuse non-staff targets."""
    if role not in STAFF_ROLES:
        refuse(f"只能派给网格员、网格长、网格站站长或镇综治中心人员，{name}不能承办工单。")
    return HOLDER_LEVEL[role]


def ladder_notices(old: TicketView, new: TicketView, why: str, how: str) -> list[Notification]:
    """A ticket moved up the ladder: tell both levels and the reporters."""
    to_level = LEVEL_ZH[new.level]
    return [
        Notification(
            level_recipient(new, new.level),
            f"工单{old.code}由{LEVEL_ZH[old.level]}{how}至{to_level}级（{why}），"
            f"请回复「接单 {old.code}」。",
        ),
        Notification(
            holder_recipient(old),
            f"工单{old.code}已{how}至{to_level}级（{why}）。",
        ),
        *to_reporters(old, f"您反映的问题（工单{old.code}）已转{to_level}级处理。"),
    ]
