from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine

from core.config import Settings
from models.db import SchemaOutOfDate, session_scope
from orgtree.service import apply_roster
from tests.factories import small_town
from web.app import create_app


async def test_healthz_reports_database_and_counts(settings: Settings, engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
    async with TestClient(TestServer(create_app(settings, run_bots=False))) as client:
        response = await client.get("/healthz")
        body = await response.json()
    assert response.status == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["counts"]["unit"] == len(roster.rows)
    assert body["counts"]["town"] == 1


async def test_app_refuses_to_start_on_an_unmigrated_database(settings: Settings) -> None:
    server = TestServer(create_app(settings, run_bots=False))
    try:
        with pytest.raises(SchemaOutOfDate, match="gridcast db upgrade"):
            await server.start_server()
    finally:
        await server.close()


async def test_openapi_describes_every_api_route(settings: Settings, engine: Engine) -> None:
    app = create_app(settings, run_bots=False)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/api/openapi.json")
        spec = await response.json()
    assert spec["openapi"].startswith("3.")
    routes = {
        r.canonical.replace("{action:confirm|cancel}", "{action}")
        for r in app.router.resources()
        if r.canonical.startswith("/api/") or r.canonical == "/healthz"
    }
    assert routes == set(spec["paths"])
    assert "title" in spec["components"]["schemas"]["NoticeIn"]["properties"]
