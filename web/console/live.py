"""Server-Sent Events for the console: a loop that reads a snapshot and sends it when it
changed; the browser's ``EventSource`` reconnects by itself.

On PostgreSQL the loop reads when the database says its topics changed
(:class:`cluster.changes.ChangeFeed`, fed by ``LISTEN/NOTIFY``), and every
``FEED_FALLBACK_S`` anyway; on SQLite (one process) it reads every ``interval_s``.

Every open stream ends when the application shuts down (so a stop does not wait for the
browsers), or when the snapshot says it is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from cluster.changes import ChangeFeed

__all__ = ["CLOSING", "FEED", "event_stream", "live_setup"]

CLOSING = web.AppKey("console_closing", asyncio.Event)
FEED = web.AppKey("change_feed", ChangeFeed)
KEEPALIVE_S = 15.0
FEED_FALLBACK_S = 5.0
"""With the change feed: read anyway after this long without a notification."""
FEED_GAP_SHARE = 1 / 3
"""With the change feed, a stream reads at most once per ``interval_s`` times this, however
many changes come (a notice being sent commits every 0.1 s): the database does at most
three times the reads of polling, and an isolated change shows at once."""

Snapshot = Callable[[], Awaitable[tuple[str, dict[str, object]]]]
"""Returns (a version that changes when the data does, the data to send)."""


def live_setup(app: web.Application) -> None:
    app[CLOSING] = asyncio.Event()

    async def closing(app: web.Application) -> None:
        app[CLOSING].set()

    app.on_shutdown.append(closing)


async def event_stream(
    request: web.Request,
    snapshot: Snapshot,
    *,
    interval_s: float,
    event: str,
    final: Callable[[dict[str, object]], bool] = lambda _data: False,
    settled: Callable[[dict[str, object]], bool] = lambda _data: False,
    settled_interval_s: float = 2.0,
    topics: Sequence[str] = (),
) -> web.StreamResponse:
    """Send ``snapshot`` as ``event`` whenever its version changes, until it is ``final``:
    read when one of ``topics`` changes (with the change feed), else every ``interval_s``
    (every ``settled_interval_s`` once the last data was ``settled``: little changes any
    more, as acknowledgements after a notice went out)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    closing = request.app[CLOSING]
    feed = request.app.get(FEED) if topics else None
    last_version: str | None = None
    last_sent = time.monotonic()
    wait_s = interval_s
    with contextlib.suppress(ConnectionResetError):
        await response.write(b"retry: 1000\n\n")
        while not closing.is_set():
            mark = feed.seen(topics) if feed is not None else 0
            version, data = await snapshot()
            if version != last_version:
                last_version = version
                payload = json.dumps(data, ensure_ascii=False, default=str)
                await response.write(f"event: {event}\ndata: {payload}\n\n".encode())
                last_sent = time.monotonic()
                if final(data):
                    await response.write(b"event: end\ndata: {}\n\n")
                    break
                wait_s = settled_interval_s if settled(data) else interval_s
            elif time.monotonic() - last_sent > KEEPALIVE_S:
                await response.write(b": keep-alive\n\n")
                last_sent = time.monotonic()
            if feed is not None:
                await _until_changed(feed, topics, mark, closing, interval_s * FEED_GAP_SHARE)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), wait_s)
    return response


async def _until_changed(
    feed: ChangeFeed, topics: Sequence[str], mark: int, closing: asyncio.Event, gap_s: float
) -> None:
    """After ``gap_s``, until the feed hears a change of ``topics`` past ``mark`` (at once
    if it already did), the fallback time passes, or the application closes."""
    await asyncio.sleep(gap_s)
    changed = asyncio.ensure_future(feed.wait(topics, mark, FEED_FALLBACK_S))
    closed = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait((changed, closed), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (changed, closed):
            task.cancel()
        await asyncio.gather(changed, closed, return_exceptions=True)
