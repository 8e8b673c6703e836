"""The rules of looking back at a ticket: the outcome of a consultation (会商结论) and
a resident's answer to a call-back (回访).

Neither belongs to the daily handling: a consultation records what the three members
and three leaders (三员三长) decided about a hard case, with an owner and a due date, in
the ticket's history; a call-back asks a reporter of a closed ticket whether the problem
is really solved, and an answer of "no" reopens it (重办) one level up, like an
unsatisfied rating.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from models.enums import ActorRole, TicketState
from tickets.lifecycle.actions import CallBack, Consult
from tickets.lifecycle.checks import Outcome, note_text
from tickets.lifecycle.rating import reopen
from tickets.lifecycle.states import STAFF_ROLES
from tickets.lifecycle.values import Actor, Notification, Recipient, Rules, TicketView, refuse

__all__ = ["call_back", "consult"]


def _covers(actor: Actor, ticket: TicketView) -> bool:
    """Does the actor's post cover the ticket's area (grid, village or the town)?"""
    match actor.role:
        case ActorRole.TOWN_OFFICIAL:
            return True
        case ActorRole.STATION_CHIEF:
            return ticket.village_id in actor.village_ids
        case ActorRole.GRID_LEADER | ActorRole.GRID_WORKER:
            return ticket.grid_id in actor.grid_ids
    return False


def consult(ticket: TicketView, action: Consult, actor: Actor, rules: Rules) -> Outcome:
    """会商 T… 结论 …: staff over the ticket's area record the outcome; the state stays."""
    if actor.role not in STAFF_ROLES:
        refuse(
            f"抱歉，只有参加会商的网格长、网格员、网格站站长或镇干部可以记录工单{ticket.code}的会商结论。"
        )
    if not _covers(actor, ticket):
        refuse(f"抱歉，工单{ticket.code}不在您负责的网格或村，不能记录它的会商结论。")
    conclusion = note_text(action.conclusion, "会商结论", rules)
    owner = action.owner_name.strip() or actor.name
    note = f"会商结论：{conclusion}；责任人：{owner}；完成期限：{action.due_on:%Y-%m-%d}"
    notifications = []
    if action.owner_id and action.owner_id != actor.person_id:
        notifications.append(
            Notification(
                Recipient.person(action.owner_id),
                f"【会商】工单{ticket.code}的会商结论：{conclusion}。由您负责，"
                f"请于{action.due_on.month}月{action.due_on.day}日前完成。",
            )
        )
    return Outcome(
        ticket,
        note=note,
        notifications=notifications,
        reply=f"已记录工单{ticket.code}的会商结论（责任人：{owner}，"
        f"期限：{action.due_on.month}月{action.due_on.day}日）。",
    )


def call_back(
    ticket: TicketView, action: CallBack, actor: Actor, now: datetime, rules: Rules
) -> Outcome:
    """A reporter answers the call-back of a closed ticket; "not solved" reopens it."""
    if actor.person_id not in ticket.reporter_ids:
        refuse(f"抱歉，只有反映人可以回复工单{ticket.code}的回访。")
    if ticket.state is not TicketState.CLOSED:
        refuse(f"工单{ticket.code}还在办理中，不需要回访。")
    answer = note_text(action.answer, "回访情况", rules, required=False)
    if action.solved:
        note = "回访：问题已解决" + (f"（{answer}）" if answer else "")
        return Outcome(
            ticket, note=note, reply=f"感谢您的回复！工单{ticket.code}回访记录：问题已解决。"
        )
    note = "回访：问题未解决" + (f"（{answer}）" if answer else "")
    outcome = reopen(ticket, actor, now, note)
    outcome.ticket = replace(outcome.ticket, closed_at=None, rating=None)
    outcome.notifications = [
        replace(n, text=n.text.replace("反映人评价不满意", "回访时反映人说问题未解决"))
        for n in outcome.notifications
    ]
    outcome.reply = outcome.reply.replace(
        "收到您的评价（不满意）", "收到您的回访答复（问题未解决）"
    )
    return outcome
