"""The rhythm on the one scheduler of ``gridcast run``.

Each cadence is a cron job (config ``cadences``, local time) that calls its data function
with the fire time and sends what it returns. The period a run covers is recorded
(:mod:`rhythm.runs`), so a cadence fires once per period whatever happens; a run missed
while the process was down is caught up at start when it is at most ``cadences.catch_up``
late (:func:`missed_runs`). Task reminders and escalations run with the ticket timers'
interval.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from core.clock import utcnow
from core.config import Settings
from core.messaging import Reply
from models.db import run_in_session
from rhythm.daily import run_daily
from rhythm.monthly import run_monthly
from rhythm.periods import Cadence, last_fire_time, period_key
from rhythm.runs import already_ran
from rhythm.tasks import run_task_timers
from rhythm.tenday import run_ten_day
from rhythm.weekly import run_weekly

__all__ = ["RUNNERS", "add_rhythm_jobs", "missed_runs", "run_cadence"]

log = logging.getLogger(__name__)

Runner = Callable[[Session, Settings, datetime], "list[Reply] | None"]
RUNNERS: dict[Cadence, Runner] = {
    Cadence.DAILY: run_daily,
    Cadence.WEEKLY: run_weekly,
    Cadence.TEN_DAY: run_ten_day,
    Cadence.MONTHLY: run_monthly,
}


def cron_of(settings: Settings, cadence: Cadence) -> str:
    return str(getattr(settings.cadences, cadence.value))


def missed_runs(
    session: Session, settings: Settings, now: datetime
) -> list[tuple[Cadence, datetime]]:
    """Cadences whose last fire time is within ``catch_up`` of ``now`` and did not run."""
    missed = []
    for cadence in Cadence:
        fired = last_fire_time(cron_of(settings, cadence), now)
        if fired is None or now - fired > settings.cadences.catch_up:
            continue
        if not already_ran(session, cadence, period_key(cadence, fired)):
            missed.append((cadence, fired))
    return missed


async def run_cadence(
    engine: AsyncEngine,
    settings: Settings,
    cadence: Cadence,
    at: datetime,
    send: Callable[[Reply], Awaitable[object]],
) -> int:
    """Run one cadence for the period of ``at`` and send its messages; returns how many
    were sent (0 when the period already ran or had nothing to say)."""
    replies = await run_in_session(engine, lambda s: RUNNERS[cadence](s, settings, at))
    if replies is None:
        log.info("%s for %s already ran", cadence.label, period_key(cadence, at))
        return 0
    sent = 0
    for reply in replies:
        try:
            await send(reply)
            sent += 1
        except Exception as exc:  # one failed message must not stop the others
            log.warning(
                "%s: message to %s not sent: %s",
                cadence.label,
                reply.room_id or reply.contact_id,
                exc,
            )
    log.info("%s for %s: %d message(s)", cadence.label, period_key(cadence, at), sent)
    return sent


def add_rhythm_jobs(
    scheduler: Any,
    *,
    engine: AsyncEngine,
    settings: Settings,
    send: Callable[[Reply], Awaitable[object]],
    clock: Callable[[], datetime] = utcnow,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """The four cadences (cron, local time), a catch-up at start, and the task timers.

    ``ready`` is awaited before the catch-up (the hub's rooms: a digest needs its groups)."""
    timezone = settings.town.timezone
    grace = int(settings.cadences.catch_up.total_seconds())
    for cadence in Cadence:

        async def fire(cadence: Cadence = cadence) -> None:
            await run_cadence(engine, settings, cadence, clock(), send)

        scheduler.add_job(
            fire,
            CronTrigger.from_crontab(cron_of(settings, cadence), timezone=timezone),
            id=f"rhythm.{cadence.value}",
            name=cadence.label,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace,
        )

    async def catch_up() -> None:
        if ready is not None:
            await ready()
        now = clock()
        missed = await run_in_session(engine, lambda s: missed_runs(s, settings, now))
        for cadence, fired in missed:
            log.info("%s of %s was missed while stopped: running it now", cadence.label, fired)
            await run_cadence(engine, settings, cadence, fired, send)

    scheduler.add_job(
        catch_up, id="rhythm.catch_up", next_run_time=clock(), misfire_grace_time=None
    )

    async def task_timers() -> None:
        replies = await run_in_session(engine, lambda s: run_task_timers(s, settings, clock()))
        for reply in replies:
            try:
                await send(reply)
            except Exception as exc:
                log.warning("task reminder to %s not sent: %s", reply.contact_id, exc)

    scheduler.add_job(
        task_timers,
        "interval",
        seconds=settings.tickets.timer_interval.total_seconds(),
        id="rhythm.task_timers",
        name="任务提醒与逾期",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=clock(),
    )
