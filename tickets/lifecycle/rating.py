"""The rules of the end of a ticket: the reporters' ratings (满意 / 基本满意 / 不满意),
重办 after an unsatisfied one, and the close when the rating window ends.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from models.enums import Rating, TicketLevel, TicketState
from tickets.lifecycle.actions import Rate
from tickets.lifecycle.checks import (
    Outcome,
    new_window,
    note_text,
    require_state,
    require_system,
    to_reporters,
)
from tickets.lifecycle.scope import holder_label, holder_recipient, level_recipient
from tickets.lifecycle.states import AWAITING_RATING, RATING_ZH, STATE_ZH, level_above
from tickets.lifecycle.values import Actor, Notification, Rules, TicketView, refuse

__all__ = [
    "close_without_rating",
    "overall",
    "rate",
    "reopen",
]


def rate(ticket: TicketView, action: Rate, actor: Actor, now: datetime, rules: Rules) -> Outcome:
    if actor.person_id not in ticket.reporter_ids:
        refuse(f"抱歉，只有反映人可以评价工单{ticket.code}。")
    if ticket.state not in AWAITING_RATING:
        if ticket.state is TicketState.CLOSED:
            refuse(f"工单{ticket.code}已关闭，评价已结束。")
        refuse(f"工单{ticket.code}还在办理中（{STATE_ZH[ticket.state]}），办结后再请您评价。")
    if any(pid == actor.person_id for pid, _ in ticket.ratings):
        refuse(f"您已评价过工单{ticket.code}，感谢您的反馈。")
    comment = note_text(action.comment, "评价内容", rules, required=False)
    note = RATING_ZH[action.score] + (f"：{comment}" if comment else "")
    if action.score is Rating.UNSATISFIED:
        return reopen(ticket, actor, now, note)
    ratings = (*ticket.ratings, (actor.person_id, action.score))
    rated = {pid for pid, _ in ratings}
    if rated >= set(ticket.reporter_ids):
        new = replace(
            ticket,
            state=TicketState.CLOSED,
            ratings=ratings,
            rating=overall(ratings),
            closed_at=now,
        )
    else:
        new = replace(ticket, state=TicketState.RATING, ratings=ratings)
    return Outcome(new, note=note, reply=f"感谢您的评价（{RATING_ZH[action.score]}）！")


def overall(ratings: tuple[tuple[str, Rating], ...]) -> Rating | None:
    """The worst rating received; ``None`` when nobody rated."""
    order = (Rating.UNSATISFIED, Rating.BASICALLY_SATISFIED, Rating.SATISFIED)
    scores = {score for _, score in ratings}
    return next((score for score in order if score in scores), None)


def reopen(ticket: TicketView, actor: Actor, now: datetime, note: str) -> Outcome:
    """重办 one level up; the top of the ladder and a department keep the ticket."""
    if ticket.level is TicketLevel.DEPARTMENT and ticket.department_code is not None:
        new = new_window(
            ticket,
            now,
            state=TicketState.REOPENED,
            level=TicketLevel.DEPARTMENT,
            department=(ticket.department_code, ticket.department_name),
            whistled_from=ticket.whistled_from,
        )
    else:
        new = new_window(
            ticket, now, state=TicketState.REOPENED, level=level_above(ticket.level) or ticket.level
        )
    new = replace(
        new,
        resolved_at=None,
        resolved_level=None,
        ratings=(),
        reopen_count=ticket.reopen_count + 1,
    )
    verb = "报到" if new.level is TicketLevel.DEPARTMENT else "接单"
    where = holder_label(new)
    notifications = [
        Notification(
            level_recipient(new, new.level),
            f"【重办】工单{ticket.code}反映人评价不满意，转{where}重办，"
            f"请回复「{verb} {ticket.code}」。",
        ),
        # The rater gets the reply; the other reporters did not say they were unsatisfied.
        *to_reporters(
            replace(
                ticket, reporter_ids=tuple(p for p in ticket.reporter_ids if p != actor.person_id)
            ),
            f"您反映的问题（工单{ticket.code}）有反映人评价不满意，已转{where}重新办理。",
        ),
    ]
    previous = holder_recipient(ticket)
    if previous != notifications[0].recipient:
        notifications.append(
            Notification(previous, f"工单{ticket.code}反映人评价不满意，已转{where}重办。")
        )
    return Outcome(
        new,
        note=note,
        notifications=notifications,
        reply=f"收到您的评价（不满意），工单{ticket.code}已转{where}重新办理。",
    )


def close_without_rating(ticket: TicketView, actor: Actor, now: datetime) -> Outcome:
    require_system(actor, ticket, "超时关闭")
    require_state(ticket, AWAITING_RATING, "关闭")
    rating = overall(ticket.ratings)
    new = replace(ticket, state=TicketState.CLOSED, rating=rating, closed_at=now)
    return Outcome(
        new,
        note="评价期满，未评价" if rating is None else f"评价期满，评价：{RATING_ZH[rating]}",
    )
