"""Server-Sent Events for the console: a loop that reads a snapshot every fraction of a
second and sends it when it changed; the browser's ``EventSource`` reconnects by itself.

Every open stream ends when the application shuts down (so a stop does not wait for the
browsers), or when the snapshot says it is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["CLOSING", "event_stream", "live_setup"]

CLOSING = web.AppKey("console_closing", asyncio.Event)
KEEPALIVE_S = 15.0

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
) -> web.StreamResponse:
    """Send ``snapshot`` as ``event`` whenever its version changes, every ``interval_s``
    (every ``settled_interval_s`` once the last data was ``settled``: little changes any
    more, as acknowledgements after a notice went out), until it is ``final``."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    closing = request.app[CLOSING]
    last_version: str | None = None
    last_sent = time.monotonic()
    wait_s = interval_s
    with contextlib.suppress(ConnectionResetError):
        await response.write(b"retry: 1000\n\n")
        while not closing.is_set():
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), wait_s)
    return response
