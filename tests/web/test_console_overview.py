"""总览's slow figures: computed for the whole town at start, kept per scope, and
refreshed behind the page once stale, so that a viewer does not wait for the year's scan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlmodel import select

from core.config import Settings
from models.auth import Credential
from models.db import session_scope
from models.enums import TicketLevel, TicketState
from models.org import OrgUnit, Person
from models.tickets import Ticket
from orgtree.service import apply_roster
from tests.factories import small_town
from tickets.board import TicketScope
from web.app import create_app
from web.console.overview import FIGURES

ROSTER = small_town()
ROW = ROSTER.rows[0]
PASSWORD = "overview-password-1"


def _add_ticket(engine: Engine, code: str) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        unit = session.exec(
            select(OrgUnit).where(OrgUnit.path == "/".join((ROSTER.town, *ROW.path)))
        ).one()
        grid = session.get(OrgUnit, unit.parent_id)
        assert grid is not None and unit.id is not None
        session.add(
            Ticket(
                code=code,
                state=TicketState.DISPATCHED,
                level=TicketLevel.GRID,
                category="environment",
                text="3栋楼道的灯坏了",
                unit_id=unit.id,
                grid_id=grid.id,
                village_id=grid.parent_id,
                origin_room_id="unit-room",
                created_at=now - timedelta(minutes=5),
                window_started_at=now - timedelta(minutes=5),
                first_accept_due_at=now + timedelta(hours=2),
            )
        )


async def _wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 (a condition on app state, no event to wait on)
            await asyncio.sleep(0.02)


async def test_figures_are_warm_at_start_and_refreshed_behind_the_page(
    settings: Settings, engine: Engine
) -> None:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        person = session.exec(select(Person).where(Person.phone == ROW.grid_leader.phone)).one()
        assert person.id is not None
        session.add(
            Credential(
                person_id=person.id,
                password_hash=PasswordHasher().hash(PASSWORD),
                updated_at=datetime.now(UTC),
            )
        )
    _add_ticket(engine, "T20260601-0001")
    app = create_app(settings, run_bots=False)
    async with TestClient(TestServer(app)) as client:
        figures = app[FIGURES]
        # The whole town's figures (what town officials see) are computed at start.
        await _wait_for(lambda: TicketScope(everything=True) in figures.kept)
        assert figures.kept[TicketScope(everything=True)][1]["rates_year"].total == 1

        response = await client.post(
            "/api/auth/signin", json={"phone": ROW.grid_leader.phone, "password": PASSWORD}
        )
        assert response.status == 200
        page = await client.get("/console/", headers={"Accept": "text/html"})
        assert page.status == 200
        [grid_scope] = [scope for scope in figures.kept if not scope.everything]
        assert figures.kept[grid_scope][1]["rates_year"].total == 1

        # Fresh figures are served as kept: a new ticket does not show until they age.
        _add_ticket(engine, "T20260601-0002")
        assert (await client.get("/console/", headers={"Accept": "text/html"})).status == 200
        assert figures.kept[grid_scope][1]["rates_year"].total == 1
        assert not figures.refreshing

        # Stale: the page still answers with the kept figures and refreshes them behind.
        _, kept = figures.kept[grid_scope]
        figures.kept[grid_scope] = (time.monotonic() - 1, kept)
        page = await client.get("/console/", headers={"Accept": "text/html"})
        assert page.status == 200
        await _wait_for(lambda: figures.kept[grid_scope][1]["rates_year"].total == 2)
        await _wait_for(lambda: not figures.refreshing)
        assert figures.kept[grid_scope][0] > time.monotonic()
