"""The rules of the SLA timers (办理时限): reminders before a deadline, and escalation
(or 督办 at the top) after it. :func:`timer_key` names each timer so it fires once.

Each (re)dispatch to a new level or person opens a new SLA *window*
(``window``/``window_started_at``); :mod:`tickets.sla` computes deadlines from it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from core.clock import format_local_time
from models.enums import TicketLevel, TicketState
from tickets.lifecycle.actions import SlaExpired, SlaReminder
from tickets.lifecycle.checks import Outcome, ladder_notices, new_window, require_system
from tickets.lifecycle.scope import holder_label, holder_recipient, level_recipient
from tickets.lifecycle.states import (
    AWAITING_ACCEPTANCE,
    LEVEL_ZH,
    OPEN_STATES,
    SLA_ZH,
    STATE_PHRASE,
    SlaKind,
    level_above,
)
from tickets.lifecycle.values import Actor, Notification, Recipient, TicketView, refuse

__all__ = [
    "check_timer",
    "sla_expired",
    "sla_reminder",
    "sla_verb",
    "timer_key",
]


def timer_key(ticket: TicketView, sla: SlaKind, *, reminder: bool) -> str:
    """The identity of one SLA timer of the ticket's current window.

    A resolve timer also depends on the extension count: a 延期 arms a new one.
    """
    prefix = "remind-" if reminder else ""
    if sla is SlaKind.ACCEPT:
        return f"{prefix}accept@{ticket.window}"
    return f"{prefix}resolve@{ticket.window}.{ticket.extension_count}"


def check_timer(ticket: TicketView, sla: SlaKind, key: str, *, reminder: bool) -> None:
    applicable = AWAITING_ACCEPTANCE if sla is SlaKind.ACCEPT else OPEN_STATES
    if ticket.state not in applicable:
        refuse(f"工单{ticket.code}{STATE_PHRASE[ticket.state]}，{SLA_ZH[sla]}时限已不适用。")
    if key != timer_key(ticket, sla, reminder=reminder):
        refuse(f"工单{ticket.code}的这个计时已失效（已改派、上报或延期）。")
    if key in ticket.fired_timers:
        refuse(f"工单{ticket.code}的这个计时已处理过。")


def sla_verb(ticket: TicketView, sla: SlaKind) -> str:
    if sla is SlaKind.ACCEPT and ticket.level is TicketLevel.DEPARTMENT:
        return "报到"  # a department's 签收 is its 报到
    return SLA_ZH[sla]


def sla_reminder(ticket: TicketView, action: SlaReminder, actor: Actor) -> Outcome:
    require_system(actor, ticket, "时限提醒")
    check_timer(ticket, action.sla, action.timer_key, reminder=True)
    verb = sla_verb(ticket, action.sla)
    new = replace(ticket, fired_timers=ticket.fired_timers | {action.timer_key})
    return Outcome(
        new,
        note=f"{verb}时限提醒：{format_local_time(action.deadline)}",
        notifications=[
            Notification(
                holder_recipient(ticket),
                f"⏰ 工单{ticket.code}请在{format_local_time(action.deadline)}前{verb}，"
                "逾期将自动升级。",
            )
        ],
    )


def sla_expired(ticket: TicketView, action: SlaExpired, actor: Actor, now: datetime) -> Outcome:
    require_system(actor, ticket, "超时升级")
    check_timer(ticket, action.sla, action.timer_key, reminder=False)
    verb = sla_verb(ticket, action.sla)
    fired = ticket.fired_timers | {action.timer_key}
    why = f"超过{verb}时限{format_local_time(action.deadline)}"
    target = level_above(ticket.level)
    if target is not None:
        new = replace(
            new_window(ticket, now, state=TicketState.DISPATCHED, level=target), fired_timers=fired
        )
        return Outcome(
            new,
            note=f"{why}，升级至{LEVEL_ZH[target]}级",
            notifications=ladder_notices(ticket, new, why, "超时升级"),
        )
    # Town and departments have no rung above them: the town supervises (督办).
    notifications = [
        Notification(holder_recipient(ticket), f"【督办】工单{ticket.code}已{why}，请尽快{verb}。")
    ]
    if ticket.level is TicketLevel.DEPARTMENT:
        notifications.append(
            Notification(
                Recipient.post(TicketLevel.TOWN, None),
                f"【督办】{holder_label(ticket)}承办的工单{ticket.code}已{why}。",
            )
        )
        caller = ticket.whistled_from or TicketLevel.TOWN
        if caller is not TicketLevel.TOWN:
            # The grid (or village) that blew the whistle waits for the department: tell it.
            missed = "未按时报到" if action.sla is SlaKind.ACCEPT else "未按时办结"
            notifications.append(
                Notification(
                    level_recipient(ticket, caller),
                    f"【督办】您吹哨呼叫的{holder_label(ticket)}{missed}工单{ticket.code}"
                    f"（{why}），已报镇综治中心督办。可发送「查询 {ticket.code}」了解进展。",
                )
            )
    return Outcome(
        replace(ticket, fired_timers=fired), note=f"{why}，督办", notifications=notifications
    )
