"""One leader per deployment, and scheduled jobs that run once per period across the cluster.

:class:`LeaderElection` holds a PostgreSQL session advisory lock
(``pg_try_advisory_lock``) on a connection of its own. The server releases the lock when
that session ends, however the process ends, so a dead leader's successor takes over at its
next try. The leader checks its connection every ``check_every`` seconds and steps down the
moment a check fails; between two checks it may not yet know that its session is gone, so
leadership alone is not a guarantee of exactly once: :func:`run_once_across_cluster` is.
It records ``(job_key, period_start)`` with ``INSERT … ON CONFLICT DO NOTHING`` in the same
transaction as the job's own writes: two processes that both think they lead, or a new
leader catching up a period the old one finished, find the row and skip; a job that fails
rolls back its row, so the period is run again later. Effects outside the database (a
message sent) are only as safe as the job makes them (an outbox, as the broadcaster has).

SQLite: one process per deployment (``models.db.InstanceLock``), so the election always
leads; :func:`run_once_across_cluster` works unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, TypeVar

import psycopg
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cluster.backend import dialect_name, is_postgres_url, libpq_conninfo
from models.base import utcnow
from models.cluster import ClusterJobRun

__all__ = ["LEADER_LOCK_KEY", "JobOutcome", "LeaderElection", "run_once_across_cluster"]

T = TypeVar("T")

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x6C656164  # "lead"; the second key is hashtext(schema:name)
"""The first key of the election's advisory lock (``models.db`` uses 0x67726964 "grid")."""

_TRY_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(current_schema() || ':' || %s))"


class LeaderElection:
    """Try to lead every ``retry_every`` seconds; :attr:`is_leader` says whether this process
    leads now. Use as an async context manager (or :meth:`start` / :meth:`stop`)."""

    def __init__(
        self,
        url: str,
        name: str = "scheduler",
        *,
        retry_every: float = 1.0,
        check_every: float = 1.0,
        timeout: float = 5.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._url = url
        self._name = name
        self._retry_every = retry_every
        self._check_every = check_every
        self._timeout = timeout
        self._on_change = on_change
        self._postgres = is_postgres_url(url)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._leading = asyncio.Event()
        self._is_leader = False

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    @property
    def backend_pid(self) -> int | None:
        """The server process of the election's connection (for diagnostics and tests)."""
        return None if self._connection is None else self._connection.info.backend_pid

    async def wait_until_leader(self) -> None:
        await self._leading.wait()

    async def start(self) -> None:
        if not self._postgres:
            self._set(True)
            return
        self._task = asyncio.create_task(self._run(), name=f"leader-election:{self._name}")

    async def stop(self) -> None:
        """Stop trying; a leader steps down (its session ends, which frees the lock)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()
        self._set(False)

    async def __aenter__(self) -> LeaderElection:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _set(self, leading: bool) -> None:
        if leading == self._is_leader:
            return
        self._is_leader = leading
        if leading:
            self._leading.set()
        else:
            self._leading.clear()
        log.info("leader election %s: %s", self._name, "leading" if leading else "not leading")
        if self._on_change is not None:
            self._on_change(leading)

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._timeout):
                    await connection.close()

    async def _attempt(self) -> None:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                libpq_conninfo(self._url), autocommit=True, connect_timeout=int(self._timeout)
            )
        connection = self._connection
        if self._is_leader:
            # The lock lives as long as the session: a live session still holds it.
            await connection.execute("SELECT 1")
            return
        cursor = await connection.execute(_TRY_LOCK, (LEADER_LOCK_KEY, self._name))
        row = await cursor.fetchone()
        self._set(bool(row and row[0]))

    async def _run(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation of stop() when the attempt finishes at the same moment.
            try:
                async with asyncio.timeout(self._timeout):
                    await self._attempt()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if self._is_leader:
                    log.warning("leader election %s: connection lost (%s)", self._name, exc)
                self._set(False)
                await self._drop()
            await asyncio.sleep(self._check_every if self._is_leader else self._retry_every)


@dataclass(frozen=True, slots=True)
class JobOutcome(Generic[T]):
    ran: bool
    """False: the period had already run (here or in another process)."""
    value: T | None = None


def run_once_across_cluster(
    session: Session,
    *,
    job_key: str,
    period_start: datetime,
    fn: Callable[[Session], T],
    worker_id: str = "",
) -> JobOutcome[T]:
    """Run ``fn(session)`` for the period unless some process already did, in the caller's
    transaction: commit it to make the run count, roll it back to let the period run again.
    A concurrent caller for the same period waits for this transaction and then skips."""
    if period_start.tzinfo is None:
        raise ValueError("period_start must be timezone-aware")
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    inserted = session.execute(
        insert(ClusterJobRun)
        .values(job_key=job_key, period_start=period_start, worker_id=worker_id, ran_at=utcnow())
        .on_conflict_do_nothing(index_elements=["job_key", "period_start"])
        .returning(col(ClusterJobRun.job_key))
    ).first()
    if inserted is None:
        return JobOutcome(ran=False)
    return JobOutcome(ran=True, value=fn(session))
