"""The aiohttp application factory: one ``cleanup_ctx`` per resource."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gridcast.config import Settings
from models.db import backend_name, make_async_engine, require_current_schema
from web import health
from web.keys import ENGINE, SETTINGS


def upgrade_hint(settings: Settings) -> str:
    return "gridcast db upgrade (with the same --config / --data-dir)"


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = make_async_engine(settings.database_url, echo=settings.database.echo)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(require_current_schema, upgrade_hint=upgrade_hint(settings))
        app[ENGINE] = engine
        yield
    finally:
        await engine.dispose()


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.add_routes(health.routes)
    return app


__all__ = ["backend_name", "create_app"]
