"""SLA arithmetic (办理时限): deadlines, reminders, expiry and the rating window.

Pure functions of a :class:`~tickets.lifecycle.TicketView`, a :class:`SlaPolicy` and
``now``. The scheduler job only calls :func:`run_due` (or :func:`due_actions` and
:func:`tickets.lifecycle.apply`) with the current time and persists the transitions.

Deadlines run from the start of the ticket's current window (each dispatch to a new
level or person starts one); 延期 moves the resolve deadline. Each timer has a key
(:func:`tickets.lifecycle.timer_key`) that the ticket records in ``fired_timers`` when
it fires, so a timer never fires twice, and a deadline that passed while the process
was down fires exactly once when it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.enums import TicketState, Urgency
from tickets.lifecycle import (
    AWAITING_ACCEPTANCE,
    DEFAULT_RULES,
    OPEN_STATES,
    SYSTEM,
    Actor,
    CloseWithoutRating,
    Rules,
    SlaExpired,
    SlaKind,
    SlaReminder,
    TicketView,
    Transition,
    apply,
    timer_key,
)

__all__ = [
    "DEFAULT_POLICY",
    "Deadlines",
    "DueAction",
    "SlaPolicy",
    "SlaWindow",
    "deadlines_for",
    "due_actions",
    "next_wakeup",
    "run_due",
]

DueAction = SlaReminder | SlaExpired | CloseWithoutRating


@dataclass(frozen=True, slots=True)
class SlaWindow:
    """How long the holder has to accept (签收/报到) and to resolve (办结)."""

    accept: timedelta
    resolve: timedelta

    def __post_init__(self) -> None:
        if self.accept <= timedelta(0) or self.resolve <= timedelta(0):
            raise ValueError("accept and resolve durations must be positive")
        if self.accept > self.resolve:
            raise ValueError("the accept time must not be longer than the resolve time")


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Time limits per urgency (config: ``tickets.sla``)."""

    urgent: SlaWindow = SlaWindow(timedelta(minutes=15), timedelta(hours=2))
    normal: SlaWindow = SlaWindow(timedelta(hours=2), timedelta(days=7))
    remind_fraction: float = 0.2
    """Remind when this share of a window is left (20%: 3 min before a 15 min limit)."""
    remind_lead: timedelta | None = None
    """A fixed reminder lead; overrides ``remind_fraction`` when set."""
    rating_window: timedelta = timedelta(days=3)
    """After 办结, close without rating when the reporters have not all rated by then."""

    def __post_init__(self) -> None:
        if not 0 < self.remind_fraction < 1:
            raise ValueError("remind_fraction must be between 0 and 1 (exclusive)")
        if self.remind_lead is not None and self.remind_lead <= timedelta(0):
            raise ValueError("remind_lead must be positive")
        if self.rating_window <= timedelta(0):
            raise ValueError("rating_window must be positive")

    def window_for(self, urgency: Urgency) -> SlaWindow:
        return self.urgent if urgency is Urgency.URGENT else self.normal

    def lead(self, duration: timedelta) -> timedelta:
        """How long before a deadline of a ``duration`` window the reminder goes out."""
        return self.remind_lead if self.remind_lead is not None else duration * self.remind_fraction


DEFAULT_POLICY = SlaPolicy()


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The current window's deadlines. A reminder is ``None`` when it would fall at or
    before the start of the window (a lead longer than the window)."""

    accept_by: datetime
    resolve_by: datetime
    remind_accept_at: datetime | None
    remind_resolve_at: datetime | None
    rating_closes_at: datetime | None
    """Set once the ticket is resolved (办结)."""


def deadlines_for(ticket: TicketView, policy: SlaPolicy = DEFAULT_POLICY) -> Deadlines:
    """Deadlines of the ticket's current window, 延期 included."""
    window = policy.window_for(ticket.urgency)
    start = ticket.window_started_at
    accept_by = start + window.accept
    resolve_by = start + window.resolve + timedelta(days=ticket.extended_days)
    remind_accept = accept_by - policy.lead(window.accept)
    remind_resolve = resolve_by - policy.lead(window.resolve)
    rating_closes = (
        ticket.resolved_at + policy.rating_window if ticket.resolved_at is not None else None
    )
    return Deadlines(
        accept_by=accept_by,
        resolve_by=resolve_by,
        remind_accept_at=remind_accept if remind_accept > start else None,
        remind_resolve_at=remind_resolve if remind_resolve > start else None,
        rating_closes_at=rating_closes,
    )


@dataclass(frozen=True, slots=True)
class _Timer:
    at: datetime
    action: DueAction


def _pending_timers(ticket: TicketView, policy: SlaPolicy) -> list[_Timer]:
    """The timers that still can fire, earliest first; expiries before reminders on ties."""
    if ticket.state in (TicketState.RESOLVED, TicketState.RATING):
        closes_at = deadlines_for(ticket, policy).rating_closes_at
        return [] if closes_at is None else [_Timer(closes_at, CloseWithoutRating())]
    if ticket.state not in OPEN_STATES:
        return []
    d = deadlines_for(ticket, policy)
    timers: list[_Timer] = []
    kinds = [(SlaKind.RESOLVE, d.resolve_by, d.remind_resolve_at)]
    if ticket.state in AWAITING_ACCEPTANCE:
        kinds.insert(0, (SlaKind.ACCEPT, d.accept_by, d.remind_accept_at))
    for sla, deadline, remind_at in kinds:
        expiry_key = timer_key(ticket, sla, reminder=False)
        if expiry_key in ticket.fired_timers:
            continue  # once expired, its reminder is moot too
        timers.append(_Timer(deadline, SlaExpired(sla, expiry_key, deadline)))
        remind_key = timer_key(ticket, sla, reminder=True)
        if remind_at is not None and remind_key not in ticket.fired_timers:
            timers.append(_Timer(remind_at, SlaReminder(sla, remind_key, deadline)))
    timers.sort(key=lambda t: (t.at, isinstance(t.action, SlaReminder)))
    return timers


def due_actions(
    ticket: TicketView, policy: SlaPolicy = DEFAULT_POLICY, *, now: datetime
) -> list[DueAction]:
    """The timer actions due at ``now``, to apply in order as :data:`SYSTEM`.

    Never repeats a timer the ticket recorded as fired. When a deadline has passed,
    only the earliest expiry is returned (no reminder for a deadline already missed, and
    an escalation opens a new window): after applying it, ask again, or use
    :func:`run_due`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    due = [t.action for t in _pending_timers(ticket, policy) if t.at <= now]
    expired: list[DueAction] = [a for a in due if not isinstance(a, SlaReminder)]
    return expired[:1] if expired else due


def next_wakeup(ticket: TicketView, policy: SlaPolicy = DEFAULT_POLICY) -> datetime | None:
    """When the next timer of this ticket fires (maybe in the past); ``None`` if never.

    Schedule one APScheduler job per ticket at this time and call :func:`run_due` there.
    """
    timers = _pending_timers(ticket, policy)
    return timers[0].at if timers else None


def run_due(
    ticket: TicketView,
    policy: SlaPolicy = DEFAULT_POLICY,
    *,
    now: datetime,
    actor: Actor = SYSTEM,
    rules: Rules = DEFAULT_RULES,
) -> list[Transition]:
    """Apply every due timer at ``now``, re-asking after each expiry, and return the
    transitions in order (the last one's ticket is the new state). Pure."""
    transitions: list[Transition] = []
    # Each step records a fired timer or changes the state, so this ends quickly; the
    # bound only guards against a policy/ticket combination nobody thought of.
    for _ in range(16):
        actions = due_actions(ticket, policy, now=now)
        if not actions:
            break
        for action in actions:
            step = apply(ticket, action, actor, now, rules=rules)
            transitions.append(step)
            ticket = step.ticket
    return transitions
