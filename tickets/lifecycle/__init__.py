"""The ticket lifecycle (工单流转): states, actions, who may do what, and what follows.

Everything here is pure. :func:`apply` takes a :class:`TicketView` (the fields the
rules need, as the service loaded them), an action, the :class:`Actor` and the current
time, and either returns a :class:`Transition` (the new view, the event to store, the
notifications to send and the reply to the actor) or raises :class:`TransitionRefused`
with a Chinese reason. Nothing is persisted or sent here.

改派 (reassign) and 延期 (extend) are events, not states: after them the ticket is
dispatched to its new holder, or still in progress with a later deadline.

Where to read what:

* :mod:`~tickets.lifecycle.states`: states, levels, posts and their Chinese labels;
* :mod:`~tickets.lifecycle.values`: :class:`TicketView`, :class:`Actor`,
  :class:`Recipient`, :class:`Notification`, :class:`Transition`, :class:`Rules`;
* :mod:`~tickets.lifecycle.actions`: the actions (:data:`Action`);
* :mod:`~tickets.lifecycle.scope`: who may see and work a ticket, who works it now;
* :mod:`~tickets.lifecycle.transitions`: :func:`apply`, one exhaustive ``match``, with the
  rules in :mod:`~tickets.lifecycle.handling`, :mod:`~tickets.lifecycle.rating` and
  :mod:`~tickets.lifecycle.deadlines` (the checks they share in
  :mod:`~tickets.lifecycle.checks`).
"""

from __future__ import annotations

from tickets.lifecycle.actions import (
    EVENT_ZH,
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
from tickets.lifecycle.deadlines import timer_key
from tickets.lifecycle.scope import (
    describe,
    ensure_can_view,
    holder_label,
    holder_recipient,
    is_handler,
    is_supervisor,
)
from tickets.lifecycle.states import (
    AWAITING_ACCEPTANCE,
    LEADER_ROLES,
    LEVEL_ZH,
    OPEN_STATES,
    RATING_ZH,
    ROLE_ZH,
    STAFF_ROLES,
    STATE_ZH,
    SlaKind,
    resolved_within_town,
)
from tickets.lifecycle.transitions import apply
from tickets.lifecycle.values import (
    DEFAULT_RULES,
    SYSTEM,
    Actor,
    Notification,
    Recipient,
    RecipientKind,
    Rules,
    TicketView,
    Transition,
    TransitionRefused,
    new_ticket,
)

__all__ = [
    "AWAITING_ACCEPTANCE",
    "DEFAULT_RULES",
    "EVENT_ZH",
    "LEADER_ROLES",
    "LEVEL_ZH",
    "OPEN_STATES",
    "RATING_ZH",
    "ROLE_ZH",
    "STAFF_ROLES",
    "STATE_ZH",
    "SYSTEM",
    "Accept",
    "Action",
    "Actor",
    "AddReporter",
    "CallBack",
    "CloseWithoutRating",
    "Consult",
    "Dispatch",
    "Escalate",
    "Extend",
    "Notification",
    "Rate",
    "Reassign",
    "Recipient",
    "RecipientKind",
    "Remark",
    "Report",
    "Resolve",
    "Return",
    "Rules",
    "SlaExpired",
    "SlaKind",
    "SlaReminder",
    "TicketView",
    "Transition",
    "TransitionRefused",
    "Whistle",
    "apply",
    "describe",
    "ensure_can_view",
    "holder_label",
    "holder_recipient",
    "is_handler",
    "is_supervisor",
    "new_ticket",
    "resolved_within_town",
    "timer_key",
]
