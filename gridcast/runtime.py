"""``gridcast run``: the process's shared shell around the aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from gridcast.config import Settings
from web.app import create_app

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 8.0


def _urls(runner: web.AppRunner) -> list[str]:
    urls = []
    for address in runner.addresses:
        host, port = address[0], address[1]
        host = f"[{host}]" if ":" in host else host
        urls.append(f"http://{host}:{port}")
    return urls


async def serve(
    settings: Settings,
    *,
    announce: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Start everything, announce the URLs, and run until SIGINT/SIGTERM or ``stop``."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.web.host, settings.web.port, shutdown_timeout=2.0)
        await site.start()
        if announce is not None:
            announce(_urls(runner))
        await stop.wait()
        log.info("stopping")
    finally:
        try:
            await asyncio.wait_for(runner.cleanup(), timeout=SHUTDOWN_TIMEOUT_S)
        except TimeoutError:
            log.warning("shutdown took longer than %.0f s; exiting anyway", SHUTDOWN_TIMEOUT_S)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
