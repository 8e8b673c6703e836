"""The aiohttp application factory: one ``cleanup_ctx`` per resource.

Order: database -> sandbox (when embedded) -> bots (hub, broadcaster) -> scheduler.
Everything the process holds is rebuilt from the database on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from cryptography.fernet import Fernet
from sqlmodel import Session, select

from bot.desk import LocalDesk, RemoteDesk, desk_handlers
from bot.hub import BotHub
from bot.routers.directory import directory_router
from bot.routers.households import households_router
from bot.routers.notices import notices_router, receipts_router
from bot.routers.rhythm import rhythm_router
from bot.routers.shops import shops_router
from bot.routers.tickets import tickets_router
from bot.store import leader_chain
from bot.transport import ChatTransport
from broadcast.chasing import Chaser
from broadcast.engine import SEND_JITTER_S, Broadcaster
from broadcast.household_visits import add_household_visit_job
from cluster.backend import is_postgres_url
from cluster.changes import ChangeFeed
from cluster.requests import RequestServer
from core.clock import utcnow
from core.config import BotAccountSettings, Settings
from core.policy import Permission
from models.db import (
    UPGRADE_HINT,
    AlreadyRunning,
    InstanceLock,
    make_async_engine,
    require_current_schema,
    run_in_session,
)
from models.org import OrgUnit, town_relative
from orgtree.binding import TopicIndex
from rhythm.jobs import add_rhythm_jobs
from sandbox.control import create_control_app
from sandbox.sandbox import Sandbox
from tickets.timers import add_ticket_jobs
from web import admin, api, cap, console, health, metrics, open311, openapi, privacy, signin
from web.console.live import FEED
from web.endpoints import Api, guarded
from web.keys import BROADCASTER, CHASER, DESK, ENGINE, HUB, SETTINGS
from web.metrics import METRICS_LISTENER, MetricsListener
from web.observability import request_id_middleware
from web.ops_jobs import add_ops_jobs, count_database_errors
from web.security import SESSION_COOKIE, principal_of, security_middleware, session_secret

log = logging.getLogger(__name__)

CHASE_INTERVAL_S = 30
LOCK_CHECK_S = 1.0
"""How often the active process checks its deployment lock (and a standby tries for it)."""
STANDBY = web.AppKey("standby", bool)
LOCK_LOST: web.AppKey[Callable[[], None]] = web.AppKey("lock_lost")

TransportFactory = Callable[[str, str, str], ChatTransport]
"""(account id, endpoint, token) -> transport; the default is the wechaty one."""


def _wechaty_transport(account_id: str, endpoint: str, token: str) -> ChatTransport:
    from bot.wechaty_transport import WechatyTransport  # the one module that imports wechaty

    return WechatyTransport(account_id, endpoint=endpoint, token=token)


def _wechaty_tls_transport(account: BotAccountSettings, endpoint: str, token: str) -> ChatTransport:
    import ssl

    from bot.wechaty_transport import WechatyTransport

    context = ssl.create_default_context(
        cafile=str(account.tls_ca_file) if account.tls_ca_file else None
    )
    context.set_alpn_protocols(["h2"])
    return WechatyTransport(
        account.id,
        endpoint=endpoint,
        token=token,
        ssl_context=context,
        tls_server_name=account.tls_server_name,
    )


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = make_async_engine(settings.database_url, echo=settings.database.echo)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(require_current_schema, upgrade_hint=UPGRADE_HINT)
        count_database_errors(engine)
        app[ENGINE] = engine
        feed = None
        if is_postgres_url(settings.database_url):  # the live views wake on NOTIFY
            feed = ChangeFeed(settings.database_url)
            feed.start()
            app[FEED] = feed
        try:
            yield
        finally:
            if feed is not None:
                await feed.stop()
    finally:
        await engine.dispose()


def _org_paths(session: Session) -> list[tuple[str, ...]]:
    return [town_relative(p) for p in session.exec(select(OrgUnit.path))]


async def instance_lock_ctx(app: web.Application) -> AsyncIterator[None]:
    """Only one process per deployment runs the bots, the outbox and the timers.

    A standby (``gridcast run --standby``, PostgreSQL) waits here until the active process
    is gone. The holder checks its lock's session every ``LOCK_CHECK_S``: once it fails, the
    lock may be a standby's, so this process stops its bots at once (before the server
    frees the lock, about 9 s after a silent machine: see ``InstanceLock``) and asks to
    stop (``LOCK_LOST``)."""
    lock = InstanceLock(app[SETTINGS].database_url)
    if app.get(STANDBY, False):
        told = False
        while True:
            try:
                await asyncio.to_thread(lock.acquire)
                break
            except AlreadyRunning:
                if not told:
                    log.info("standby: another gridcast run is active; taking over when it stops")
                    told = True
                await asyncio.sleep(LOCK_CHECK_S)
        if told:
            log.warning("standby: the active gridcast run is gone; taking over")
    else:
        lock.acquire()
    watchdog = asyncio.create_task(_watch_lock(app, lock), name="instance-lock")
    try:
        yield
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        lock.release()


async def _watch_lock(app: web.Application, lock: InstanceLock) -> None:
    while True:
        await asyncio.sleep(LOCK_CHECK_S)
        try:
            alive = await asyncio.wait_for(asyncio.to_thread(lock.alive), LOCK_CHECK_S * 2)
        except TimeoutError:
            alive = False
        if alive:
            continue
        log.critical(
            "lost the deployment lock (its database session failed): stopping the bots now, "
            "so that a standby can take over without two processes sending"
        )
        for key in (BROADCASTER, HUB):
            part = app.get(key)
            if part is not None:  # its senders stop at once; a dead database may not answer
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(part.stop(), 5.0)
        on_lost = app.get(LOCK_LOST)
        if on_lost is not None:
            on_lost()
        return


def bots_ctx(
    sandbox: Sandbox | None, transport_factory: TransportFactory
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        engine = app[ENGINE]
        accounts = settings.account_settings()
        transports = []
        for account in accounts:
            endpoint = account.endpoint or (sandbox.endpoint(account.id) if sandbox else None)
            token = account.token.get_secret_value() or (
                sandbox.token(account.id) if sandbox else ""
            )
            if endpoint is None:
                raise web.HTTPInternalServerError(
                    text=f"account {account.id}: no endpoint and no sandbox"
                )
            if account.tls and transport_factory is _wechaty_transport:
                transports.append(_wechaty_tls_transport(account, endpoint, token))
            else:
                transports.append(transport_factory(account.id, endpoint, token))
        paths = await run_in_session(engine, _org_paths)
        hub = BotHub(
            engine=engine,
            town=settings.town.name,
            transports=transports,
            topic_index=TopicIndex(
                settings.town.name, paths, mapping=settings.bots.room_mapping_paths()
            ),
            clock=utcnow,
            throttle_cooldown=settings.sandbox.throttle_cooldown,
            limits={a.id: (a.rate_per_s, a.burst) for a in accounts},
        )
        broadcaster = Broadcaster(
            engine=engine,
            messenger=hub,
            town=settings.town.name,
            resend_uncertain=settings.broadcast.resend_uncertain,
            clock=utcnow,
            jitter_s=SEND_JITTER_S,
            seed=settings.sandbox.seed,
            loss_budget=settings.broadcast.loss_budget,
            late_window=settings.broadcast.ack_window,
            reminder_rate_share=settings.broadcast.reminder_rate_share,
        )
        chaser = Chaser(
            broadcaster,
            send=hub.send,
            normal=settings.broadcast.reminders_normal,
            urgent=settings.broadcast.reminders_urgent,
            clock=utcnow,
            interval_s=CHASE_INTERVAL_S,
            ready=hub.wait_rooms,
        )

        async def lookup(org_unit_id: int):  # type: ignore[no-untyped-def]
            return await run_in_session(engine, lambda s: leader_chain(s, org_unit_id))

        hub.dispatcher.include_routers(
            directory_router(lookup),
            notices_router(
                broadcaster,
                chaser=chaser,
                town=settings.town.name,
                deadline_s=settings.broadcast.deadline.total_seconds(),
            ),
            households_router(engine, window=settings.broadcast.ack_window),
            shops_router(engine),
            rhythm_router(engine, settings),
            tickets_router(engine, settings),
            receipts_router(
                broadcaster,
                ack_words=settings.broadcast.ack_words,
                window=settings.broadcast.ack_window,
            ),
        )
        desk = LocalDesk(broadcaster, chaser, hub.send)
        app[HUB] = hub
        app[BROADCASTER] = broadcaster
        app[CHASER] = chaser
        app[DESK] = desk
        await hub.start({a.id: a.name or a.id for a in accounts})
        resumed = await broadcaster.resume()
        if resumed:
            log.info("resumed %d notice(s) interrupted by the last stop", len(resumed))
        tasks = [asyncio.create_task(chaser.run(), name="chasing")]
        url = settings.database_url
        if is_postgres_url(url):  # web processes (gridcast web) hand their requests here
            server = RequestServer(
                engine, desk_handlers(desk), worker=f"run-{os.getpid()}", listen_url=url
            )
            tasks.append(asyncio.create_task(server.run(), name="requests"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await broadcaster.stop()
            await hub.stop()

    return ctx


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """The one APScheduler of the deployment (jobs read their state from the database)."""
    settings = app[SETTINGS]
    engine = app[ENGINE]
    hub = app[HUB]
    scheduler = AsyncIOScheduler(timezone=settings.town.timezone)

    add_ticket_jobs(scheduler, engine=engine, settings=settings, send=hub.send, clock=utcnow)
    add_household_visit_job(
        scheduler, engine=engine, settings=settings, send=hub.send, clock=utcnow
    )
    add_ops_jobs(scheduler, app)
    add_rhythm_jobs(
        scheduler,
        engine=engine,
        settings=settings,
        send=hub.send,
        clock=utcnow,
        ready=hub.wait_rooms,
    )
    scheduler.start()
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)


def json_apis() -> list[Api]:
    """Every typed JSON API of the application; the OpenAPI document describes these."""
    return [api.api, signin.api, admin.api, cap.api, privacy.api]


def create_app(
    settings: Settings,
    *,
    sandbox: Sandbox | None = None,
    transport_factory: TransportFactory = _wechaty_transport,
    run_bots: bool = True,
    remote_desk: bool = False,
    standby: bool = False,
    on_lock_lost: Callable[[], None] | None = None,
) -> web.Application:
    """The whole process as one application: web API, and the sandbox, bots and scheduler.

    ``run_bots=False`` serves the database-backed API only (tests, read-only consoles);
    with ``remote_desk`` (``gridcast web``, PostgreSQL) what needs the bots is asked of the
    process that runs them (:class:`bot.desk.RemoteDesk`). ``standby``: wait for the
    deployment's active process to stop, then take over; ``on_lock_lost`` is called if this
    process loses the deployment lock (``gridcast run`` stops then).
    """
    app = web.Application(
        middlewares=[
            request_id_middleware,
            _session_middleware(settings),
            console.html_errors,
            security_middleware,
        ],
        client_max_size=settings.web.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[STANDBY] = standby
    if on_lock_lost is not None:
        app[LOCK_LOST] = on_lock_lost
    app.cleanup_ctx.append(database_ctx)
    if run_bots:
        app.cleanup_ctx.append(instance_lock_ctx)
    if sandbox is not None:
        app.cleanup_ctx.append(_sandbox_ctx(sandbox))
        app.add_subapp("/sandbox/", create_control_app(sandbox))
    if run_bots:
        app.cleanup_ctx.append(bots_ctx(sandbox, transport_factory))
        app.cleanup_ctx.append(scheduler_ctx)
    elif remote_desk:
        app.cleanup_ctx.append(_remote_desk_ctx)
    app[signin.CODE_SENDS] = set()
    app.cleanup_ctx.append(signin.code_sends_ctx)  # stopped before the bots they go through
    app.add_routes(health.routes)
    app[METRICS_LISTENER] = MetricsListener()
    app.add_routes(metrics.routes)
    app.add_routes(open311.routes)
    apis = json_apis()
    for part in apis:
        part.max_json_depth = settings.web.max_json_depth
        app.add_routes(part.routes)
    app[openapi.APIS] = apis
    app.add_routes(openapi.routes)
    console.setup(app)  # the officials' console at /console/
    app.router.add_get("/", _home)
    return app


async def _remote_desk_ctx(app: web.Application) -> AsyncIterator[None]:
    app[DESK] = RemoteDesk(app[ENGINE])
    yield


def _session_middleware(settings: Settings) -> Any:
    """Sessions in an encrypted, HttpOnly, SameSite=Strict cookie that expires."""
    secure = bool(settings.web.public_url and settings.web.public_url.startswith("https://"))
    storage = EncryptedCookieStorage(
        Fernet(session_secret(settings.data_dir)),
        cookie_name=SESSION_COOKIE,
        max_age=int(settings.web.session_max_age.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=secure,
    )
    return session_middleware(storage)


def _sandbox_ctx(sandbox: Sandbox) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.stop()

    return ctx


@guarded(Permission.PUBLIC)
async def _home(request: web.Request) -> web.Response:
    """The console for signed-in people, the sign-in page for everyone else."""
    signed_in = principal_of(request) is not None
    raise web.HTTPFound("/console/" if signed_in else "/console/signin")
