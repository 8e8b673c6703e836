"""SLA timers (办理时限) and the ticket outbox, for the one scheduler of ``gridcast run``.

:func:`fire_timers` applies the timers of one ticket due at ``now`` (a data function,
like the rest of the ticket code); :func:`run_due_timers` applies every SLA reminder, expiry escalation and rating timeout
due at ``now`` (and the reminders of shops' second unit leaders, :mod:`tickets.shops`)
and returns the messages to send; it is idempotent (each ticket records
the timers that fired), so calling it at start fires the deadlines that passed while the
process was down exactly once. :func:`add_ticket_jobs` wraps it in one APScheduler
interval job that also sends the replies.

APScheduler 3 must not share a job store between schedulers: add the job to the single
scheduler of the ``gridcast run`` process. The job keeps no state of its own (the
default memory job store is fine); everything lives in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from models.base import utcnow
from models.db import run_in_session
from models.enums import TicketState
from models.tickets import Ticket
from tickets.actors import notification_replies
from tickets.configured import lifecycle_rules, sla_policy
from tickets.lifecycle import SYSTEM
from tickets.outbox import take_outbox
from tickets.rows import lock_ticket, record_event, reporter_ids, store_view, ticket_view
from tickets.shops import remind_shop_tickets
from tickets.sla import next_wakeup, run_due

__all__ = [
    "JOB_ID",
    "add_ticket_jobs",
    "due_ticket_codes",
    "fire_timers",
    "refresh_timer_schedule",
    "run_due_timers",
]

log = logging.getLogger(__name__)

JOB_ID = "tickets.timers"


def due_ticket_codes(*, session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Tickets with an SLA reminder, expiry or rating timeout due at ``now``."""
    return list(
        session.exec(
            select(Ticket.code)
            .where(col(Ticket.next_timer_at).is_not(None), col(Ticket.next_timer_at) <= now)
            .order_by(col(Ticket.next_timer_at))
            .limit(limit)
        )
    )


def fire_timers(*, session: Session, settings: Settings, code: str, now: datetime) -> list[Reply]:
    """Apply every timer of one ticket due at ``now`` (idempotent: fired timers are
    recorded on the ticket, and the ticket is locked while they are applied)."""
    policy = sla_policy(settings.tickets)
    row = lock_ticket(session, code)
    assert row.id is not None
    view = ticket_view(row, reporter_ids(session, row.id))
    transitions = run_due(view, policy, now=now, rules=lifecycle_rules(settings.tickets))
    replies: list[Reply] = []
    for step in transitions:
        record_event(session, row, step.event, actor=SYSTEM)
        replies.extend(notification_replies(session, settings, step.notifications))
    final = transitions[-1].ticket if transitions else view
    store_view(session, row, final, policy=policy, now=now)
    return replies


def refresh_timer_schedule(*, session: Session, settings: Settings) -> int:
    """Recompute every unfinished ticket's next timer (the SLA settings may have changed
    while the process was down); returns how many changed."""
    policy = sla_policy(settings.tickets)
    changed = 0
    rows = session.exec(select(Ticket).where(Ticket.state != TicketState.CLOSED)).all()
    for row in rows:
        assert row.id is not None
        wakeup = next_wakeup(ticket_view(row, reporter_ids(session, row.id)), policy)
        if wakeup != row.next_timer_at:
            row.next_timer_at = wakeup
            changed += 1
    return changed


async def run_due_timers(
    engine: AsyncEngine, settings: Settings, now: datetime, *, refresh: bool = False
) -> list[Reply]:
    """Fire what is due at ``now`` and take the queued ticket messages; returns the
    replies to send. ``refresh`` first recomputes every ticket's next timer (use it once
    at start: the SLA settings may have changed while the process was down).

    Each ticket is handled in its own transaction: one failing ticket is logged and
    retried on the next call, the others carry on."""
    if refresh:
        changed = await run_in_session(
            engine, lambda s: refresh_timer_schedule(session=s, settings=settings)
        )
        if changed:
            log.info("tickets: %d timer(s) rescheduled", changed)
    # 双单元长: shop owners silent past tickets.shop_owner_silence (tickets.shops), in the
    # transaction that looks for due tickets (no extra one per tick)
    codes, replies = await run_in_session(
        engine,
        lambda s: (due_ticket_codes(session=s, now=now), remind_shop_tickets(s, settings, now)),
    )
    for code in codes:
        try:
            replies.extend(
                await run_in_session(
                    engine,
                    lambda s, code=code: fire_timers(  # type: ignore[misc]
                        session=s, settings=settings, code=code, now=now
                    ),
                )
            )
        except Exception:
            log.exception("tickets: timers of %s failed", code)
    replies.extend(await run_in_session(engine, lambda s: take_outbox(session=s, now=now)))
    return replies


def add_ticket_jobs(
    scheduler: Any,
    *,
    engine: AsyncEngine,
    settings: Settings,
    send: Callable[[Reply], Awaitable[object]],
    clock: Callable[[], datetime] = utcnow,
) -> Any:
    """Add the timer job to an ``AsyncIOScheduler`` (APScheduler 3) and return the job.

    It runs every ``tickets.timer_interval``, first right when the scheduler starts (with
    ``refresh``); a run that is late still runs (``misfire_grace_time=None``), late runs
    are merged (``coalesce``) and never overlap (``max_instances=1``). ``send`` posts one
    reply (``BotHub.send``); a failed send is logged and does not stop the others.
    """
    first = True

    async def tick() -> None:
        nonlocal first
        refresh, first = first, False
        replies = await run_due_timers(engine, settings, clock(), refresh=refresh)
        for reply in replies:
            try:
                await send(reply)
            except Exception as exc:
                log.warning(
                    "tickets: reply to %s not sent: %s", reply.room_id or reply.contact_id, exc
                )

    return scheduler.add_job(
        tick,
        "interval",
        seconds=settings.tickets.timer_interval.total_seconds(),
        id=JOB_ID,
        name="工单时限（提醒、超时升级、评价超时）",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=clock(),
    )
