"""``/healthz``: is the process up, is the database usable, what does it hold."""

from __future__ import annotations

import time

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from core.policy import Permission
from core.version import VERSION
from models.db import backend_name, schema_status
from orgtree.service import level_counts
from web.endpoints import guarded
from web.keys import ENGINE, SETTINGS

routes = web.RouteTableDef()


class DatabaseHealthOut(BaseModel):
    ok: bool
    backend: str | None = None
    schema_: str | None = Field(default=None, alias="schema", serialization_alias="schema")
    ms: float | None = None
    error: str | None = None


class HealthOut(BaseModel):
    """``/healthz``: 200 with ``status: ok``, or 503 with ``status: degraded``."""

    version: str
    town: str
    database: DatabaseHealthOut
    counts: dict[str, object] | None = None
    status: str


def _snapshot(connection: Connection) -> dict[str, object]:
    status = schema_status(connection)
    return {
        "schema": status.current,
        "schema_up_to_date": status.up_to_date,
        "counts": level_counts(connection),
    }


@routes.get("/healthz")
@guarded(Permission.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    started = time.perf_counter()
    body: dict[str, object] = {"version": VERSION, "town": settings.town.name}
    try:
        async with request.app[ENGINE].connect() as connection:
            snapshot = await connection.run_sync(_snapshot)
        body["database"] = {
            "ok": True,
            "backend": backend_name(settings.database_url),
            "schema": snapshot["schema"],
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        body["counts"] = snapshot["counts"]
        body["status"] = "ok"
        return _answer(body, 200)
    except Exception as exc:  # the health endpoint must answer, whatever broke
        body["database"] = {"ok": False, "error": type(exc).__name__}
        body["status"] = "degraded"
        return _answer(body, 503)


def _answer(body: dict[str, object], status: int) -> web.Response:
    """Through :class:`HealthOut`, so the answer is what the OpenAPI document says."""
    data = HealthOut.model_validate(body).model_dump(mode="json", by_alias=True)
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(obj: object) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)
