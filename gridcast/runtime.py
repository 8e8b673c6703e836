"""``gridcast run``: the process's shared shell around the aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import Callable

from aiohttp import web
from sqlmodel import Session

from core.config import Settings
from models.db import UPGRADE_HINT, make_async_engine, require_current_schema, run_in_session
from sandbox.sandbox import Sandbox
from sandbox.world import WorldSpec
from web.app import create_app
from web.metrics import METRICS_LISTENER
from web.observability import ACCESS_LOG, AccessLogger

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 8.0


def needs_sandbox(settings: Settings) -> bool:
    return settings.sandbox.enabled and any(not a.endpoint for a in settings.account_settings())


def prepare_database(settings: Settings) -> None:
    """Bring a deployment's database to the current schema, load the town when it is
    empty, and write the local admin token (what ``gridcast setup`` does, quietly)."""
    from core.clock import utcnow
    from models.db import make_engine, session_scope, upgrade
    from orgtree.principals import ensure_local_admin_token
    from orgtree.service import ensure_town

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            ensure_town(session=session, settings=settings)
            ensure_local_admin_token(session, settings.data_dir, now=utcnow())
    finally:
        engine.dispose()


async def build_sandbox(
    settings: Settings, *, heartbeat_interval_s: float = 15.0, message_id_prefix: str = ""
) -> Sandbox:
    """The simulated WeChat of the deployment, built from the org tree in the database."""
    from gridcast.deployment import build_world_spec, risk_settings
    from gridcast.deployment_friends import reference_friends

    def world_spec(session: Session) -> WorldSpec:
        spec = build_world_spec(session, settings)
        return dataclasses.replace(spec, friends=reference_friends(session, spec))

    engine = make_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(require_current_schema, upgrade_hint=UPGRADE_HINT)
        spec = await run_in_session(engine, world_spec)
    finally:
        await engine.dispose()
    return Sandbox(
        spec,
        risk=risk_settings(settings),
        heartbeat_interval_s=heartbeat_interval_s,
        message_id_prefix=message_id_prefix,
    )


async def start_metrics_listener(runner: web.AppRunner, listen: str) -> int:
    """A second listener for Prometheus (``metrics.listen``); returns its port."""
    host, _, port = listen.rpartition(":")
    site = web.TCPSite(runner, host, int(port), shutdown_timeout=1.0)
    await site.start()
    server = site._server  # aiohttp keeps the bound sockets there
    sockets = getattr(server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else int(port)
    log.info("metrics listener on %s:%d (no token needed there)", host, bound)
    return bound


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
    announce: Callable[[list[str], bool], None] | None = None,
    stop: asyncio.Event | None = None,
    web_only: bool = False,
    standby: bool = False,
) -> None:
    """Start everything, announce the URLs, and run until SIGINT/SIGTERM or ``stop``.

    ``web_only`` (``gridcast web``): the console and the API alone, asking the process
    that runs the bots for what needs them; no sandbox, bots or scheduler here.
    ``standby`` (``gridcast run --standby``, PostgreSQL): wait for the deployment's active
    process to stop, then take over (the sandbox, if any, is this process's own)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if web_only:
        sandbox = None
        app = create_app(settings, run_bots=False, remote_desk=True)
    else:
        sandbox = await build_sandbox(settings) if needs_sandbox(settings) else None
        app = create_app(settings, sandbox=sandbox, standby=standby, on_lock_lost=stop.set)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=ACCESS_LOG, access_log_class=AccessLogger
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.web.host, settings.web.port, shutdown_timeout=2.0)
        await site.start()
        if announce is not None:
            announce(_urls(runner), sandbox is not None)
        if settings.metrics.enabled and settings.metrics.listen:
            app[METRICS_LISTENER].port = await start_metrics_listener(
                runner, settings.metrics.listen
            )
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
