"""``gridcast bench console``: the console's page times, the board's queries (filtered, and
a text search over the whole board: ``board_search_ms`` through the trigram index,
``board_search_short_ms`` for 2 characters, which scan) and the delay from a recorded
delivery to the browser, with the full Guohuan tree, 100,000 tickets and
1,000 notices in the database (SQLite, or PostgreSQL with ``--database-url``).

The application is the one ``gridcast run`` serves (``create_app``; no bots, so nothing
else competes for the database); pages are fetched as a town official, who sees the most.
Times are measured by the client over loopback, so they include HTTP and rendering.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import Engine, create_engine, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, col

from core.clock import TOWN_TZ
from core.config import Settings, parse_settings
from gridcast.runtime import prepare_database
from models.broadcast import Delivery, DeliveryState, Notice, NoticeStatus
from models.chat import ChatGroup
from models.db import backend_name, make_engine
from models.enums import Level, Role, TicketLevel, TicketState, Urgency
from models.org import OrgUnit
from models.tickets import Ticket
from orgtree.principals import create_token
from tickets.board import BoardFilter, board_page, scope_of
from web.app import create_app

_STATES = (
    [TicketState.CLOSED] * 70
    + [TicketState.RESOLVED] * 6
    + [TicketState.RATING] * 2
    + [TicketState.ACCEPTED] * 6
    + [TicketState.IN_PROGRESS] * 5
    + [TicketState.DISPATCHED] * 6
    + [TicketState.RETURNED, TicketState.REOPENED, TicketState.RECEIVED, TicketState.RECEIVED]
)
_TEXTS = (
    "楼道的灯坏了好几天了，晚上黑乎乎的",
    "门口的垃圾桶满了三天没人清",
    "隔壁装修每天早上七点就开始电钻",
    "小区门口的井盖松了",
    "邻居家的狗半夜一直叫",
    "路边停车占了消防通道",
)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return round(statistics.median(ordered) * 1000, 1), round(p95 * 1000, 1)


@contextmanager
def _database(url: str | None, folder: str) -> Iterator[str]:
    """A fresh database: a SQLite file, or a schema of its own in the PostgreSQL given."""
    if url is None or url.startswith("sqlite"):
        yield url or f"sqlite:///{folder}/bench.db"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _fill(
    engine: Engine, settings: Settings, *, tickets: int, notices: int, seed: int
) -> dict[str, Any]:
    """Groups for every org unit, ``tickets`` tickets over the last year, ``notices``
    notices (each to one grid's groups, all delivered), and one notice being sent."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    categories = [c.code for c in settings.tickets.categories]
    departments = [d.code for d in settings.departments]
    with engine.begin() as connection:
        units: list[Any] = connection.execute(  # type: ignore[assignment]
            select(col(OrgUnit.id), col(OrgUnit.parent_id), col(OrgUnit.level), col(OrgUnit.path))
        ).all()
        parent = {u[0]: u[1] for u in units}
        level = {u[0]: u[2] for u in units}
        connection.execute(
            insert(ChatGroup),
            [
                {
                    "room_id": f"room-{u[0]}",
                    "topic": u[3],
                    "org_unit_id": u[0],
                    "bound_by": "topic",
                    "created_at": now,
                    "updated_at": now,
                }
                for u in units
            ],
        )
        group_of: dict[Any, Any] = dict(
            connection.execute(select(col(ChatGroup.org_unit_id), col(ChatGroup.id))).all()
        )
        leaves = [u[0] for u in units if u[2] == Level.UNIT]
        rows: list[dict[str, Any]] = []
        for n in range(tickets):
            unit = rng.choice(leaves)
            grid = parent[unit]
            village = parent[grid]
            created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
            age_days = (now - created).total_seconds() / 86400
            # old tickets are closed; what is still open was received lately
            if age_days > 30:
                state = TicketState.CLOSED
            elif age_days > 7:
                state = rng.choice(
                    [TicketState.CLOSED] * 16 + [TicketState.RATING] * 3 + [TicketState.IN_PROGRESS]
                )
            else:
                state = rng.choice(_STATES)
            urgent = rng.random() < 0.1
            resolved = state in (TicketState.CLOSED, TicketState.RESOLVED, TicketState.RATING)
            department = rng.random() < 0.035
            lvl = (
                TicketLevel.DEPARTMENT
                if department
                else rng.choice([TicketLevel.GRID] * 8 + [TicketLevel.VILLAGE, TicketLevel.TOWN])
            )
            due = created + timedelta(minutes=15 if urgent else 120)
            rows.append(
                {
                    "code": f"T{created:%Y%m%d}-{n:06d}",
                    "state": state,
                    "level": lvl,
                    "category": rng.choice(categories),
                    "urgency": Urgency.URGENT if urgent else Urgency.NORMAL,
                    "location": f"{rng.randint(1, 30)}栋",
                    "channel": "chat",
                    "assignee_name": "",
                    "department_name": "",
                    "resolved_level": lvl if resolved else None,
                    "rating": None,
                    "extension_count": 0,
                    "reopen_count": 0,
                    "created_at": created,
                    "accepted_at": None,
                    "resolved_at": created + timedelta(hours=rng.uniform(1, 100))
                    if resolved
                    else None,
                    "closed_at": None,
                    "text": rng.choice(_TEXTS),
                    "unit_id": unit,
                    "grid_id": grid,
                    "village_id": village,
                    "department_code": rng.choice(departments) if department else None,
                    "sla_window": 1,
                    "window_started_at": created,
                    "first_accept_due_at": due,
                    "first_accepted_at": created + timedelta(minutes=rng.uniform(1, 200))
                    if state is not TicketState.RECEIVED
                    else None,
                    "extended_days": 0,
                    "round_ratings": [],
                    "fired_timers": [],
                    "version": 1,
                    "updated_at": created,
                }
            )
            if len(rows) == 5000:
                connection.execute(insert(Ticket), rows)
                rows = []
        if rows:
            connection.execute(insert(Ticket), rows)
        grids = [u[0] for u in units if level[u[0]] == Level.GRID]
        village_of_grid = {g: parent[g] for g in grids}
        children: dict[int, list[int]] = {}
        for u in units:
            if u[1] is not None:
                children.setdefault(u[1], []).append(u[0])
        deliveries = []
        for n in range(notices):
            grid = rng.choice(grids)
            started = now - timedelta(days=rng.uniform(0, 365))
            result = connection.execute(
                insert(Notice).returning(col(Notice.id)),
                {
                    "code": f"N{n + 1:04d}",
                    "kind": "notice",
                    "title": f"通知{n + 1}",
                    "body": "请各户注意。",
                    "scope_org_unit_id": grid,
                    "levels": ["grid", "unit"],
                    "priority": "normal",
                    "deadline_s": 180.0,
                    "ack_required": True,
                    "issuer_name": "镇综治中心",
                    "channel": "web",
                    "status": NoticeStatus.DONE,
                    "created_at": started,
                    "started_at": started,
                    "finished_at": started + timedelta(seconds=30),
                    "lower_bound_s": 20.0,
                    "predicted_reach_s": 21.0,
                },
            )
            notice_id = result.scalar_one()
            for unit in [grid, *children.get(grid, [])]:
                deliveries.append(
                    {
                        "notice_id": notice_id,
                        "chat_group_id": group_of[unit],
                        "room_id": f"room-{unit}",
                        "level": level[unit].value,
                        "account_id": "bot-1",
                        "planned_offset_s": 1.0,
                        "state": DeliveryState.SENT,
                        "attempts": 1,
                        "sent_at": started + timedelta(seconds=rng.uniform(0, 30)),
                        "acked_at": started + timedelta(seconds=60) if rng.random() < 0.8 else None,
                        "escalation_step": 0,
                    }
                )
        connection.execute(insert(Delivery), deliveries)
        village = village_of_grid[grids[0]]
        live = connection.execute(
            insert(Notice).returning(col(Notice.id)),
            {
                "code": f"N{notices + 1:04d}",
                "kind": "notice",
                "title": "台风预警",
                "body": "请各户做好防台准备。",
                "scope_org_unit_id": village,
                "levels": ["village", "grid", "unit"],
                "priority": "urgent",
                "deadline_s": 180.0,
                "ack_required": True,
                "issuer_name": "镇综治中心",
                "channel": "web",
                "status": NoticeStatus.SENDING,
                "created_at": now,
                "started_at": now,
                "lower_bound_s": 20.0,
                "predicted_reach_s": 21.0,
            },
        ).scalar_one()
        village_units = [
            u[0] for u in units if u[3].startswith(next(x[3] for x in units if x[0] == village))
        ]
        connection.execute(
            insert(Delivery),
            [
                {
                    "notice_id": live,
                    "chat_group_id": group_of[u],
                    "room_id": f"room-{u}",
                    "level": level[u].value,
                    "account_id": f"bot-{i % 4 + 1}",
                    "planned_offset_s": i * 0.25,
                    "state": DeliveryState.PLANNED,
                    "attempts": 0,
                    "escalation_step": 0,
                }
                for i, u in enumerate(village_units)
            ],
        )
        ticket_code = connection.execute(
            select(col(Ticket.code)).where(col(Ticket.state) == TicketState.ACCEPTED).limit(1)
        ).scalar_one()
        village_name = next(x[3] for x in units if x[0] == village).split("/", 1)[1]
    with Session(engine) as session:
        _row, token = create_token(
            session,
            name="bench",
            role=Role.TOWN_OFFICIAL.value,
            scope=(),
            department=None,
            created_by="bench",
            now=now,
        )
        session.commit()
    month_before = now.astimezone(TOWN_TZ).replace(day=1) - timedelta(days=1)
    return {
        "token": token,
        "live_code": f"N{notices + 1:04d}",
        "live_id": live,
        "notice_code": "N0001",
        "ticket_code": ticket_code,
        "village": village_name,
        "village_id": village,
        "last_month": f"{month_before.year:04d}-{month_before.month:02d}",
    }


async def _pages(base: str, token: str, facts: dict[str, Any], rounds: int) -> list[dict[str, Any]]:
    q = "&"
    pages = {
        "overview": "/console/",
        "tickets": "/console/tickets",
        "tickets_filtered": f"/console/tickets?open=1&category=environment&village={facts['village_id']}&q=楼道{q}sort=urgent",
        "tickets_overdue": "/console/tickets?overdue=1&page=3",
        "tickets_search": "/console/tickets?q=井盖松",
        "ticket": f"/console/tickets/{facts['ticket_code']}",
        "notices": "/console/notices",
        "notice": f"/console/notices/{facts['notice_code']}",
        "notice_live_page": f"/console/notices/{facts['live_code']}",
        "org_town": "/console/org",
        "org_village": f"/console/org?path={facts['village']}",
        "system": "/console/system",
        "audit": "/console/system/audit",
        "tasks": "/console/tasks",
        "consult": "/console/consult",
        "month_town": f"/console/month?month={facts['last_month']}",
        "month_village": f"/console/month?month={facts['last_month']}&village={facts['village']}",
    }
    out = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base, headers=headers) as client:
        for name, path in pages.items():
            samples = []
            cold = 0.0
            for index in range(rounds + 2):
                started = time.perf_counter()
                async with client.get(path) as response:
                    await response.read()
                    assert response.status == 200, (path, response.status, await response.text())
                if index == 0:
                    cold = time.perf_counter() - started
                if index >= 2:  # the first two warm the caches
                    samples.append(time.perf_counter() - started)
            p50, p95 = _percentiles(samples)
            out.append(
                {
                    "name": name,
                    "path": path,
                    "p50_ms": p50,
                    "p95_ms": p95,
                    "cold_ms": round(cold * 1000, 1),
                }
            )
    return out


async def _sse_latency(
    base: str, token: str, engine: Engine, facts: dict[str, Any], updates: int
) -> dict[str, float]:
    """Record deliveries one by one; time until each shows in the notice's event stream."""
    headers = {"Authorization": f"Bearer {token}"}
    live_id = facts["live_id"]
    with engine.connect() as connection:
        ids: list[Any] = [
            r[0]
            for r in connection.execute(
                select(col(Delivery.id))
                .where(col(Delivery.notice_id) == live_id)
                .order_by(col(Delivery.id))
            )
        ]
    samples = []
    timeout = aiohttp.ClientTimeout(total=None, sock_read=10)
    path = f"/console/notices/{facts['live_code']}/live"
    async with (
        aiohttp.ClientSession(base, headers=headers, timeout=timeout) as client,
        client.get(path) as response,
    ):
        assert response.status == 200

        async def next_sent() -> int:
            while True:
                line = (await response.content.readline()).decode()
                if line.startswith("data: ") and '"sent"' in line:
                    return int(json.loads(line[6:])["sent"])

        sent = await next_sent()
        for delivery_id in ids[:updates]:
            await asyncio.sleep(random.uniform(0.05, 0.3))
            recorded = await asyncio.to_thread(_record_sent, engine, delivery_id)
            while (sent_now := await next_sent()) <= sent:
                pass
            sent = sent_now
            samples.append(time.perf_counter() - recorded)
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "updates": len(ordered),
    }


def _record_sent(engine: Engine, delivery_id: int) -> float:
    with engine.begin() as connection:
        connection.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id)
            .values(state=DeliveryState.SENT, sent_at=datetime.now(UTC), attempts=1)
        )
    return time.perf_counter()  # the commit is done: the delivery is recorded


def _board_queries(
    engine: Engine, settings: Settings, facts: dict[str, Any], rounds: int
) -> dict[str, float]:
    from core.policy import Post, Principal

    official = Principal(
        kind="token", id="bench", name="bench", posts=(Post(Role.TOWN_OFFICIAL.value),)
    )
    filters = {
        "default": BoardFilter(),
        "filtered": BoardFilter(
            open_only=True,
            category="environment",
            village_id=facts["village_id"],
            text="楼道",
            sort="urgent",
        ),
        "overdue": BoardFilter(overdue=True, page=3),
        # text only, over the whole board (a sixth of the tickets match: the cap of 5,000)
        "search": BoardFilter(text="井盖松"),
        "search_code": BoardFilter(text=facts["ticket_code"]),  # one ticket by its code
        # the codes' year: nearly every ticket matches (the index helps least)
        "search_common": BoardFilter(text=facts["ticket_code"][:5]),
        # 2 characters: a trigram index cannot answer them, the board scans
        "search_short": BoardFilter(text="井盖"),
    }
    out = {}
    now = datetime.now(UTC)
    with Session(engine) as session:
        scope = scope_of(session, settings, official)
        for name, wanted in filters.items():
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                board_page(session=session, settings=settings, scope=scope, wanted=wanted, now=now)
                samples.append(time.perf_counter() - started)
            out[name] = _percentiles(samples)[1]
    return out


async def run_console_bench(
    *,
    database_url: str | None = None,
    tickets: int = 100_000,
    notices: int = 1_000,
    rounds: int = 30,
    seed: int = 12,
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="gridcast-console-") as folder,
        _database(database_url, folder) as url,
    ):
        settings = parse_settings(
            {"data_dir": folder, "database": {"url": url}, "web": {"port": 0}}
        )
        started = time.perf_counter()
        prepare_database(settings)
        engine = make_engine(settings.database_url)
        facts = _fill(engine, settings, tickets=tickets, notices=notices, seed=seed)
        fill_s = time.perf_counter() - started
        board = _board_queries(engine, settings, facts, rounds)
        runner = web.AppRunner(
            create_app(settings, run_bots=False),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            pages = await _pages(base, facts["token"], facts, rounds)
            sse = await _sse_latency(base, facts["token"], engine, facts, updates=20)
        finally:
            await runner.cleanup()
            engine.dispose()
    worst = max(pages, key=lambda p: p["p95_ms"])
    return {
        "backend": backend_name(url),
        "tickets": tickets,
        "notices": notices,
        "pages": pages,
        "worst_page_p95_ms": worst["p95_ms"],
        "board_query_ms": board["filtered"],
        "board_search_ms": board["search"],
        "board_search_short_ms": board["search_short"],
        "board_query_p95_ms": board,
        "sse_latency_ms": sse["p95_ms"],
        "sse": sse,
        "fill_s": round(fill_s, 1),
        "targets": {
            "page_p95_ms": 150,
            "board_query_ms": 100,
            "board_search_ms": 100,
            "board_search_short_ms": 100,
            "sse_latency_ms": 1000,
        },
    }


__all__ = ["run_console_bench"]
