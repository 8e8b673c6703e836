"""What changed, as PostgreSQL tells it: the live views wake on a change instead of polling.

Triggers (migration 0024, PostgreSQL only) ``NOTIFY`` :data:`CHANNEL` when rows change:
``notice:<id>`` for a delivery or a receipt of that notice (a row trigger; PostgreSQL folds
identical notifications of one transaction into one, so a batch of 500 deliveries is one
message), ``tickets`` for tickets and their events (a statement trigger). Notifications are
sent at commit, so a listener never hears of a change it cannot read yet.

:class:`ChangeFeed` listens on its own connection and counts, per topic, the changes heard
(:meth:`ChangeFeed.seen`); :meth:`ChangeFeed.wait` returns when a topic's count moved past
what the caller had seen (at once if it already did), or at a timeout: a reader takes
``seen`` *before* reading the data, then waits, so a change between the two is not lost.
After a dropped connection every topic counts as changed (what was missed cannot be
known), and the feed listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable

from cluster.notify import Listener

__all__ = ["ALL_TOPICS", "CHANNEL", "TICKETS_TOPIC", "ChangeFeed", "notice_topic"]

log = logging.getLogger(__name__)

CHANNEL = "gridcast_changes"
TICKETS_TOPIC = "tickets"
ALL_TOPICS = "*"
"""Counted up for every change (and after a reconnection)."""


def notice_topic(notice_id: int) -> str:
    return f"notice:{notice_id}"


class ChangeFeed:
    def __init__(self, url: str, *, retry_s: float = 1.0) -> None:
        self._url = url
        self._retry_s = retry_s
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def seen(self, topics: Iterable[str]) -> int:
        """How many changes of these topics (or of everything, after a reconnection) were
        heard so far."""
        return sum(self._counts[t] for t in (*topics, ALL_TOPICS))

    async def wait(self, topics: Iterable[str], seen: int, timeout_s: float) -> bool:
        """Until a change past ``seen`` is heard (True) or ``timeout_s`` passes (False)."""
        wanted = tuple(topics)
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.seen(wanted) != seen), timeout_s
                )
            except TimeoutError:
                return False
        return True

    async def _bump(self, topic: str) -> None:
        async with self._changed:
            self._counts[topic] += 1
            self._changed.notify_all()

    async def _run(self) -> None:
        while True:
            try:
                async with Listener(self._url, [CHANNEL]) as listener:
                    self.listening.set()
                    await self._bump(ALL_TOPICS)  # whatever happened while not listening
                    async for notification in listener:
                        await self._bump(notification.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("change feed: listening stopped (%s); again in %.0f s", exc, 1.0)
                await asyncio.sleep(self._retry_s)
