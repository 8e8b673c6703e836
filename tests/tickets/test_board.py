"""The console's board queries: a person's scope, the filters (overdue written as SQL
agrees with the deadline arithmetic), and the rates agree with tickets.stats."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from core.policy import Post, Principal
from models.db import session_scope
from models.enums import Level, Rating, Role, TicketLevel, TicketState, Urgency
from models.org import OrgUnit
from models.tickets import Ticket
from orgtree.service import apply_roster
from tests.factories import small_town
from tickets.board import BoardFilter, board_page, deadline_of, rates, scope_of
from tickets.configured import sla_policy
from tickets.stats import ticket_stats

ROSTER = small_town()
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


def _fill(session: Session, count: int = 300) -> list[Ticket]:
    rng = random.Random(3)
    units = session.exec(select(OrgUnit).where(OrgUnit.level == Level.UNIT)).all()
    grids = {u.id: u for u in session.exec(select(OrgUnit).where(OrgUnit.level == Level.GRID))}
    rows = []
    for n in range(count):
        unit = rng.choice(units)
        grid = grids[unit.parent_id]
        created = NOW - timedelta(hours=rng.uniform(0, 24 * 20))
        state = rng.choice(list(TicketState))
        rows.append(
            Ticket(
                code=f"T20260601-{n:04d}",
                state=state,
                level=rng.choice(list(TicketLevel)),
                category=rng.choice(["environment", "facility", "dispute"]),
                urgency=rng.choice(list(Urgency)),
                text=rng.choice(["楼道灯坏了", "井盖松了", "邻居吵架"]),
                unit_id=unit.id,
                grid_id=grid.id,
                village_id=grid.parent_id,
                created_at=created,
                window_started_at=created,
                first_accept_due_at=created + timedelta(hours=2),
                first_accepted_at=created + timedelta(hours=rng.uniform(0, 4))
                if rng.random() < 0.7
                else None,
                extended_days=rng.choice([0, 0, 0, 2]),
                resolved_level=TicketLevel.GRID
                if state in (TicketState.RESOLVED, TicketState.CLOSED)
                else None,
                rating=rng.choice([None, *Rating]) if state is TicketState.CLOSED else None,
            )
        )
    session.add_all(rows)
    session.flush()
    return rows


def test_scope_filters_and_overdue_agree_with_the_deadlines(
    engine: Engine, settings: Settings
) -> None:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        tickets = _fill(session)
        row = ROSTER.rows[0]
        grid = session.exec(
            select(OrgUnit).where(OrgUnit.path == "/".join((ROSTER.town, row.village, row.grid)))
        ).one()
        leader = Principal(
            kind="token",
            id="1",
            name="网格长",
            posts=(Post(Role.GRID_LEADER.value, scope=(row.village, row.grid)),),
        )
        scope = scope_of(session, settings, leader)
        assert scope.grid_ids == {grid.id} and not scope.everything
        page = board_page(
            session=session,
            settings=settings,
            scope=scope,
            wanted=BoardFilter(per_page=1000),
            now=NOW,
        )
        assert page.total == sum(1 for t in tickets if t.grid_id == grid.id)
        assert all(r.place.startswith(f"{row.village}/{row.grid}") for r in page.rows)

        town = scope_of(session, settings, Principal("token", "2", "镇", (Post("town_official"),)))
        policy = sla_policy(settings.tickets)
        overdue = board_page(
            session=session,
            settings=settings,
            scope=town,
            wanted=BoardFilter(overdue=True, per_page=1000),
            now=NOW,
        )
        expected = {t.code for t in tickets if (d := deadline_of(t, policy)) and d < NOW}
        assert {r.code for r in overdue.rows} == expected and expected
        searched = board_page(
            session=session,
            settings=settings,
            scope=town,
            wanted=BoardFilter(text="井盖", states=(TicketState.CLOSED,), per_page=1000),
            now=NOW,
        )
        assert searched.total == sum(
            1 for t in tickets if "井盖" in t.text and t.state is TicketState.CLOSED
        )
        counted = rates(session=session, scope=town, now=NOW)
        computed = ticket_stats(session=session, now=NOW)
        assert counted.total == computed.total
        assert counted.response_rate == computed.response_rate
        assert counted.resolution_rate == computed.resolution_rate
        assert counted.satisfaction_rate == computed.satisfaction_rate
        assert counted.resolved_within_town == computed.resolved_within_town
        nobody = scope_of(session, settings, Principal("token", "3", "无", ()))
        assert nobody.empty
