"""The scheduler's operations jobs and the process's own instrumentation: the daily
backup with its retention, the redaction of old message texts, the CAP watched
directory, database error and job run counters."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import utcnow
from core.metrics import DB_ERRORS, SCHEDULER_RUNS
from models.db import run_in_session
from web.keys import ENGINE, SETTINGS

__all__ = ["add_ops_jobs", "backup_file_name", "count_database_errors", "scheduled_backup"]

log = logging.getLogger(__name__)


def count_database_errors(engine: AsyncEngine) -> None:
    """Count every error the driver raises (``gridcast_database_errors``)."""

    def on_error(context: Any) -> None:
        original = getattr(context, "original_exception", None)
        DB_ERRORS.labels(type(original).__name__ if original is not None else "unknown").inc()

    event.listen(engine.sync_engine, "handle_error", on_error)


def _count_run(event_: JobEvent) -> None:
    outcome = {EVENT_JOB_EXECUTED: "ok", EVENT_JOB_ERROR: "error", EVENT_JOB_MISSED: "missed"}
    SCHEDULER_RUNS.labels(event_.job_id, outcome.get(event_.code, "other")).inc()


def backup_file_name(now: datetime, backend: str) -> str:
    suffix = "sqlite" if backend == "sqlite" else "pgdump"
    return f"gridcast-{now.strftime('%Y%m%dT%H%M%SZ')}.{suffix}.backup"


def scheduled_backup(url: str, directory: Path, *, keep: int, now: datetime) -> Path:
    """One backup into ``directory`` and the old ones pruned (blocking: run in a thread)."""
    from models.backup import backup, prune
    from models.db import backend_name

    target = directory / backup_file_name(now, backend_name(url))
    manifest = backup(url, target, now=now)
    removed = prune(directory, keep=keep)
    log.info(
        "backup %s: %d rows in %d tables; %d old backup(s) removed",
        target,
        manifest.rows,
        len(manifest.counts),
        len(removed),
    )
    return target


def add_ops_jobs(scheduler: Any, app: web.Application) -> None:
    settings = app[SETTINGS]
    engine = app[ENGINE]
    scheduler.add_listener(_count_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    if settings.backup.enabled:
        directory = settings.backup.dir or settings.data_dir / "backups"

        async def backup_job() -> None:
            await asyncio.to_thread(
                scheduled_backup,
                settings.database_url,
                directory,
                keep=settings.backup.keep,
                now=utcnow(),
            )

        scheduler.add_job(
            backup_job,
            CronTrigger.from_crontab(settings.backup.schedule, timezone=settings.town.timezone),
            id="backup",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )

    async def retention_job() -> None:
        from tickets.personal_data import redact_expired

        now = utcnow()
        count = await run_in_session(
            engine,
            lambda s: redact_expired(s, retention=settings.privacy.message_retention, now=now),
        )
        if count:
            log.info("redacted the message texts of %d closed ticket(s)", count)

    scheduler.add_job(
        retention_job,
        "cron",
        hour=3,
        minute=15,
        id="privacy-retention",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )
    if settings.cap.enabled and settings.cap.watch_dir is not None:
        from web.cap import watch_directory_job

        scheduler.add_job(
            watch_directory_job(app),
            "interval",
            seconds=settings.cap.watch_interval.total_seconds(),
            id="cap-watch",
            coalesce=True,
            max_instances=1,
            next_run_time=utcnow(),
        )
