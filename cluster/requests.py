"""Requests from a web process to the process that holds the bots, through PostgreSQL.

Only the process connected to the bot accounts can plan a notice (it knows each account's
state and rate), send it, stop it, or send a private message. A web process
(``gridcast web``, any number of them) keeps no state: it writes a :class:`ClusterRequest`
row and waits for its answer. :func:`submit` inserts it and ``NOTIFY``\\s
:data:`REQUESTS_CHANNEL` in the same transaction; the bot process (:class:`RequestServer`)
``LISTEN``\\s, takes each waiting row with ``SELECT … FOR UPDATE SKIP LOCKED`` (so a row is
taken once, whoever else looks), runs it, and writes the answer. The waiter reads the row
(:func:`wait_for_answer`).

The table, not the notification, is the queue: a notification missed while the listener
was reconnecting is made up by a sweep every ``sweep_every`` seconds. A waiter that gives
up marks a row still ``waiting`` as ``abandoned`` (conditionally: a row already taken is
done and answered), so nothing happens later that its user was told did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session, col, select

from cluster.backend import dialect_name
from cluster.notify import Listener, publish
from models.base import utcnow
from models.cluster import ClusterRequest
from models.db import run_in_session

__all__ = [
    "REQUESTS_CHANNEL",
    "Answer",
    "RequestServer",
    "abandon",
    "answer",
    "prune",
    "submit",
    "take_waiting",
    "wait_for_answer",
]

log = logging.getLogger(__name__)

REQUESTS_CHANNEL = "gridcast_requests"
WAITING, TAKEN, ANSWERED, ABANDONED = "waiting", "taken", "answered", "abandoned"

Handler = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]


def submit(session: Session, verb: str, payload: Mapping[str, Any], *, now: datetime) -> int:
    """Queue a request (and wake the bot process on PostgreSQL); its id."""
    row = ClusterRequest(verb=verb, payload=dict(payload), created_at=now)
    session.add(row)
    session.flush()
    assert row.id is not None
    if dialect_name(session) == "postgresql":
        publish(session, channel=REQUESTS_CHANNEL, payload=str(row.id))
    return row.id


def take_waiting(session: Session, *, worker: str, now: datetime) -> ClusterRequest | None:
    """The oldest waiting request, now ``taken`` by ``worker`` (none: None). Rows another
    transaction is taking are skipped, not waited for."""
    statement = (
        select(ClusterRequest)
        .where(ClusterRequest.state == WAITING)
        .order_by(col(ClusterRequest.id))
        .limit(1)
    )
    if dialect_name(session) == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    row = session.exec(statement).first()
    if row is None:
        return None
    row.state, row.taken_by, row.taken_at = TAKEN, worker, now
    session.flush()
    return row


def answer(session: Session, *, request_id: int, result: Mapping[str, Any], now: datetime) -> None:
    session.execute(
        update(ClusterRequest)
        .where(col(ClusterRequest.id) == request_id)
        .values(state=ANSWERED, answer=dict(result), answered_at=now)
    )


def abandon(session: Session, request_id: int) -> bool:
    """Give up on a request nobody took yet; False: it was taken (it will be answered)."""
    result = session.execute(
        update(ClusterRequest)
        .where(col(ClusterRequest.id) == request_id, col(ClusterRequest.state) == WAITING)
        .values(state=ABANDONED)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def prune(session: Session, *, before: datetime) -> int:
    """Forget answered and abandoned requests created before ``before``."""
    from sqlalchemy import delete

    result = session.execute(
        delete(ClusterRequest).where(
            col(ClusterRequest.created_at) < before,
            col(ClusterRequest.state).in_([ANSWERED, ABANDONED]),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Answer:
    """How a request ended for its waiter."""

    state: str
    """``answered``; ``abandoned`` (nobody took it in time: not done); ``taken`` (being
    done, not answered in time: its outcome will show in the data)."""
    result: Mapping[str, Any] | None = None


async def wait_for_answer(
    engine: AsyncEngine, request_id: int, *, timeout_s: float, poll_s: float = 0.05
) -> Answer:
    """Until the request is answered, or ``timeout_s`` has passed (then it is abandoned if
    nobody took it)."""

    def read(session: Session) -> tuple[str, dict[str, Any] | None]:
        row = session.get(ClusterRequest, request_id)
        if row is None:
            return ABANDONED, None
        return row.state, row.answer

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        state, result = await run_in_session(engine, read)
        if state == ANSWERED:
            return Answer(ANSWERED, result or {})
        if loop.time() >= deadline:
            if await run_in_session(engine, lambda s: abandon(s, request_id)):
                return Answer(ABANDONED)
            return Answer(TAKEN)
        await asyncio.sleep(poll_s)


class RequestServer:
    """Takes and runs the requests, in the process that holds the bots.

    ``handlers`` maps a verb to a coroutine that returns the answer (a JSON object); an
    exception becomes ``{"error": "internal", "message": …}``. ``listen_url``: a
    PostgreSQL URL to ``LISTEN`` on (None: the sweep alone, as on SQLite)."""

    def __init__(
        self,
        engine: AsyncEngine,
        handlers: Mapping[str, Handler],
        *,
        worker: str,
        listen_url: str | None = None,
        sweep_every: float = 1.0,
        keep_answers: timedelta = timedelta(days=1),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._handlers = dict(handlers)
        self._worker = worker
        self._listen_url = listen_url
        self._sweep_every = sweep_every
        self._keep = keep_answers
        self._clock = clock
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled."""
        listening = (
            asyncio.create_task(self._listen(), name="requests-listen")
            if self._listen_url
            else None
        )
        try:
            pruned_at = self._clock()
            while True:
                await self.drain()
                if self._clock() - pruned_at > timedelta(minutes=10):
                    pruned_at = self._clock()
                    before = pruned_at - self._keep
                    await run_in_session(self._engine, functools.partial(prune, before=before))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._sweep_every)
                self._wake.clear()
        finally:
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listening

    async def drain(self) -> int:
        """Run every waiting request; how many."""
        count = 0
        while True:
            now = self._clock()
            taken = await run_in_session(
                self._engine, functools.partial(_take, worker=self._worker, now=now)
            )
            if taken is None:
                return count
            request_id, verb, payload = taken
            handler = self._handlers.get(verb)
            try:
                if handler is None:
                    result: dict[str, Any] = {"error": "unknown", "message": f"未知请求 {verb}"}
                else:
                    result = await handler(payload)
            except Exception as exc:
                log.exception("request %s (%s) failed", request_id, verb)
                result = {"error": "internal", "message": f"处理失败：{type(exc).__name__}"}
            now = self._clock()
            await run_in_session(
                self._engine,
                functools.partial(answer, request_id=request_id, result=result, now=now),
            )
            count += 1

    async def _listen(self) -> None:
        assert self._listen_url is not None
        while True:
            try:
                async with Listener(self._listen_url, [REQUESTS_CHANNEL]) as listener:
                    self._wake.set()  # whatever came while not listening
                    async for _ in listener:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the sweep covers the gap; listen again shortly
                log.warning("requests: listening stopped (%s); again in 1 s", exc)
                await asyncio.sleep(1.0)


def _take(
    session: Session, *, worker: str, now: datetime
) -> tuple[int, str, dict[str, Any]] | None:
    row = take_waiting(session, worker=worker, now=now)
    if row is None or row.id is None:
        return None
    return row.id, row.verb, dict(row.payload)
