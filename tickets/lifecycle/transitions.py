""":func:`apply`: what one action by one actor does to a ticket, at a given time.

Pure: it takes a :class:`~tickets.lifecycle.values.TicketView`, an action, the
:class:`~tickets.lifecycle.values.Actor` and the current time, and either returns a
:class:`~tickets.lifecycle.values.Transition` (the new view, the event to store, the
notifications to send and the reply to the actor) or raises
:class:`~tickets.lifecycle.values.TransitionRefused` with a Chinese reason. The rules
of each action live in :mod:`~tickets.lifecycle.handling` (staff),
:mod:`~tickets.lifecycle.rating` (reporters) and :mod:`~tickets.lifecycle.deadlines` (SLA).
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from models.tickets import TicketEventCreate
from tickets.lifecycle import deadlines, handling, rating, review
from tickets.lifecycle.actions import (
    Accept,
    Action,
    AddReporter,
    CallBack,
    CloseWithoutRating,
    Consult,
    Dispatch,
    Escalate,
    Extend,
    Rate,
    Reassign,
    Remark,
    Report,
    Resolve,
    Return,
    SlaExpired,
    SlaReminder,
    Whistle,
)
from tickets.lifecycle.checks import Outcome
from tickets.lifecycle.values import (
    DEFAULT_RULES,
    Actor,
    Rules,
    TicketView,
    Transition,
    require_aware,
)

__all__ = ["apply"]


def apply(
    ticket: TicketView,
    action: Action,
    actor: Actor,
    now: datetime,
    *,
    rules: Rules = DEFAULT_RULES,
) -> Transition:
    """Decide what ``action`` by ``actor`` at ``now`` does to ``ticket``.

    Returns the new view, the event to store, the notifications to send and the reply
    to the actor; raises :class:`TransitionRefused` (Chinese reason) when not allowed.
    Refusals check, in order: the actor's role, the ticket's state, the actor's scope.
    """
    require_aware(now)
    outcome: Outcome
    match action:
        case Dispatch():
            outcome = handling.dispatch(ticket, action, actor, now)
        case Accept():
            outcome = handling.accept(ticket, action, actor, now, rules)
        case Report():
            outcome = handling.report(ticket, action, actor, now, rules)
        case Resolve():
            outcome = handling.resolve(ticket, action, actor, now, rules)
        case Escalate():
            outcome = handling.escalate(ticket, action, actor, now, rules)
        case Whistle():
            outcome = handling.whistle(ticket, action, actor, now, rules)
        case Reassign():
            outcome = handling.reassign(ticket, action, actor, now, rules)
        case Return():
            outcome = handling.return_ticket(ticket, action, actor, now, rules)
        case Extend():
            outcome = handling.extend(ticket, action, actor, rules)
        case Remark():
            outcome = handling.remark(ticket, action, actor, rules)
        case Rate():
            outcome = rating.rate(ticket, action, actor, now, rules)
        case CloseWithoutRating():
            outcome = rating.close_without_rating(ticket, actor, now)
        case SlaReminder():
            outcome = deadlines.sla_reminder(ticket, action, actor)
        case SlaExpired():
            outcome = deadlines.sla_expired(ticket, action, actor, now)
        case AddReporter():
            outcome = handling.add_reporter(ticket, action, actor)
        case Consult():
            outcome = review.consult(ticket, action, actor, rules)
        case CallBack():
            outcome = review.call_back(ticket, action, actor, now, rules)
        case _:
            assert_never(action)
    event = TicketEventCreate(
        kind=action.kind,
        actor_id=actor.person_id,
        actor_role=actor.role,
        at=now,
        from_state=ticket.state,
        to_state=outcome.ticket.state,
        from_level=ticket.level,
        to_level=outcome.ticket.level,
        note=outcome.note,
    )
    return Transition(outcome.ticket, event, tuple(outcome.notifications), outcome.reply)
