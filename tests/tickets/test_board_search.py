"""The board's text search through the trigram index (FTS5 on SQLite, pg_trgm on
PostgreSQL) finds exactly what the plain substring scan finds, in the same order: Chinese,
ASCII, mixed, 1 to long characters, LIKE's wildcards and quotes taken literally."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, or_, text
from sqlmodel import Session, col, select

from core.config import Settings
from models.db import downgrade, session_scope, upgrade
from models.enums import Level, TicketState, Urgency
from models.org import OrgUnit
from models.search import POSTGRES_INDEXES, SEARCHED_COLUMNS, sqlite_index_ready
from models.tickets import Ticket
from orgtree.service import apply_roster
from tests.factories import small_town
from tickets import board
from tickets.board import BoardFilter, TicketScope, board_page, board_rows

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
EVERYTHING = TicketScope(everything=True)

TEXTS = [
    "楼道的灯坏了好几天了，晚上黑乎乎的",
    "门口的垃圾桶满了三天没人清",
    "小区门口的井盖松了",
    "WiFi信号差, 物业说Router坏了",
    "wifi router broken in Building 3",
    "打折50%的广告贴满了电梯_请清理",
    '他说"别管"然后走了',
    "it's the O'Brien shop's sign",
    "路径 C:\\temp\\a_b 的文件",
    "100%_done",
    "邻居家的狗半夜一直叫",
    "隔壁装修每天早上七点就开始电钻",
]
LOCATIONS = [None, "3栋", "17栋2单元", "国欢大道", "Block_7", "东门%口"]
ASSIGNEES = ["", "张网格长", "李四", "O'Neil", "王_五"]

QUERIES = [
    # 1 and 2 characters: the plain scan
    "灯",
    "井盖",
    "a",
    "Wi",
    "%",
    "_",
    "'",
    '"',
    "\\",
    # 3 characters and more: the index
    "井盖松",
    "楼道的灯坏了好几天了，晚上黑乎乎的",
    "门口的",
    "wifi",
    "WiFi",
    "Router",
    "router",
    "WiFi信号",
    "50%",
    "%_d",
    "a_b",
    "_请清",
    "0%_",
    "\\te",
    "C:\\temp\\a_b",
    "'s s",
    "O'Brien",
    "O'Neil",
    '"别管"',
    '说"别',
    "' OR 1=1 --",
    '" OR ticket_search MATCH "a',
    "17栋2",
    "3栋",
    "Block_7",
    "东门%口",
    "张网格长",
    "王_五",
    "T20260601-00",
    "t20260601-001",
    "0601-0042",
    "没有这个词",
    "灯坏了 晚上",
    "清3栋",  # across two columns: not a substring of either
    "  井盖松  ",  # stripped
]


def _fill(session: Session, count: int = 360) -> list[Ticket]:
    rng = random.Random(12)
    units = session.exec(select(OrgUnit).where(OrgUnit.level == Level.UNIT)).all()
    grids = {u.id: u for u in session.exec(select(OrgUnit).where(OrgUnit.level == Level.GRID))}
    rows = []
    for n in range(count):
        unit = rng.choice(units)
        grid = grids[unit.parent_id]
        # a few share a creation time: the order's tie-break (id) must agree too
        created = NOW - timedelta(hours=rng.choice([rng.uniform(0, 24 * 20), 5.0]))
        rows.append(
            Ticket(
                code=f"T20260601-{n:04d}",
                state=rng.choice(list(TicketState)),
                category=rng.choice(["environment", "facility"]),
                urgency=rng.choice(list(Urgency)),
                text=rng.choice(TEXTS),
                location=rng.choice(LOCATIONS),
                assignee_name=rng.choice(ASSIGNEES),
                unit_id=unit.id,
                grid_id=grid.id,
                village_id=grid.parent_id,
                created_at=created,
                window_started_at=created,
                first_accept_due_at=created + timedelta(hours=2),
            )
        )
    session.add_all(rows)
    session.flush()
    return rows


def _change_some(session: Session, tickets: list[Ticket]) -> list[Ticket]:
    """Edits and deletions after the inserts, so the index's triggers are exercised."""
    for ticket in tickets[::7]:
        ticket.text = ticket.text + " 补充：井盖松了又松"
        ticket.assignee_name = "新来的O'Brien"
    for ticket in tickets[3::11]:
        ticket.location = None
        ticket.state = TicketState.CLOSED  # a change of an unsearched column only
    gone = tickets[5::13]
    for ticket in gone:
        session.delete(ticket)
    session.flush()
    return [t for t in tickets if t not in gone]


def _scan_ids(session: Session, query: str, wanted: BoardFilter) -> list[int]:
    """What the board answered before the index: instr / strpos over every row."""
    query = query.strip()
    if query[:1] in "Tt" and query[1:].replace("-", "").isdigit():
        query = query.upper()
    find = func.instr if session.get_bind().dialect.name == "sqlite" else func.strpos
    searched = (Ticket.code, Ticket.text, Ticket.location, Ticket.assignee_name)
    order = board._order(wanted.sort)
    return [
        i
        for i in session.exec(
            select(Ticket.id)
            .where(or_(*(find(col(c), query) > 0 for c in searched)))
            .order_by(*order)  # type: ignore[arg-type]
        )
        if i is not None
    ]


def _contains(ticket: Ticket, query: str) -> bool:
    query = query.strip()
    if query[:1] in "Tt" and query[1:].replace("-", "").isdigit():
        query = query.upper()
    return any(
        query in (value or "")
        for value in (ticket.code, ticket.text, ticket.location, ticket.assignee_name)
    )


def _board_codes(session: Session, settings: Settings, wanted: BoardFilter) -> list[str]:
    page = board_page(session=session, settings=settings, scope=EVERYTHING, wanted=wanted, now=NOW)
    return [row.code for row in page.rows]


def _assert_index_is_used(session: Session, settings: Settings, query: str) -> None:
    policy = board.sla_policy(settings.tickets)
    conditions = board._conditions(session, EVERYTHING, BoardFilter(text=query), policy, NOW)
    statement = select(Ticket.id).where(*conditions)
    if session.get_bind().dialect.name == "sqlite":
        assert sqlite_index_ready(session.connection())
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
        assert any("VIRTUAL TABLE INDEX" in str(step) for step in plan), plan
        return
    indexes = set(
        session.exec(  # type: ignore[call-overload]
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'ticket'")
        ).scalars()
    )
    assert set(POSTGRES_INDEXES) <= indexes
    session.exec(text("SET LOCAL enable_seqscan = off"))  # type: ignore[call-overload]
    compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(
        session.connection().exec_driver_sql(f"EXPLAIN {compiled}").scalars()  # type: ignore[arg-type]
    )
    assert "ix_ticket_search_text" in plan, plan
    session.exec(text("SET LOCAL enable_seqscan = on"))  # type: ignore[call-overload]


def test_the_index_covers_the_searched_columns() -> None:
    assert tuple(column.name for column in board._SEARCHED) == SEARCHED_COLUMNS


def test_indexed_search_finds_what_the_scan_finds(engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=small_town())
        tickets = _change_some(session, _fill(session))
        session.commit()
        by_id = {t.id: t for t in tickets}
        for query in QUERIES:
            for sort in ("new", "old", "urgent"):
                wanted = BoardFilter(text=query, sort=sort, per_page=1000)
                expected = _scan_ids(session, query, wanted)
                assert set(expected) == {t.id for t in tickets if _contains(t, query)}, query
                codes = [by_id[i].code for i in expected]
                assert _board_codes(session, settings, wanted) == codes, (query, sort)
            exported = board_rows(
                session=session,
                settings=settings,
                scope=EVERYTHING,
                wanted=wanted,  # the last sort's
                now=NOW,
                limit=10_000,
            )
            assert [r.code for r in exported] == codes, query
        _assert_index_is_used(session, settings, "WiFi信号")


def test_sqlite_scans_for_a_search_most_tickets_match_when_sorted_by_time(
    engine: Engine, settings: Settings
) -> None:
    """A search a fifth of the board matches scans along ``created_at`` (it stops at a page)
    rather than fetching every match through the index; the other sorts use the index."""
    with session_scope(engine) as session:
        apply_roster(session=session, roster=small_town())
        _fill(session)
        uses_index = {
            (query, by_time): "MATCH" in str(board._text_condition(session, query, by_time=by_time))
            for query in ("T20260601", "WiFi信号")
            for by_time in (True, False)
        }
    sqlite = engine.dialect.name == "sqlite"
    assert uses_index == {
        ("T20260601", True): False,
        ("T20260601", False): sqlite,
        ("WiFi信号", True): sqlite,
        ("WiFi信号", False): sqlite,
    }


def test_postgres_plans_each_search_with_its_own_pattern(
    engine: Engine, settings: Settings
) -> None:
    """A prepared search statement once kept a generic plan for every pattern: it walked
    the whole table in time order instead of using the index."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    with session_scope(engine) as session:
        for query in ("井盖松", "井盖"):
            session.rollback()
            _board_codes(session, settings, BoardFilter(text=query))
            show = text("SELECT current_setting('plan_cache_mode')")
            mode = session.connection().execute(show).scalar()
            assert mode == ("force_custom_plan" if len(query) >= 3 else "auto"), query


def test_search_pages_agree_with_the_scan_and_the_last_page_stops_at_the_cap(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last page of a capped search used to show one ticket past the cap."""
    monkeypatch.setattr(board, "SEARCH_CAP", 30)
    with session_scope(engine) as session:
        apply_roster(session=session, roster=small_town())
        tickets = _fill(session)
        by_id = {t.id: t for t in tickets}
        for query in ("井盖松", "门口的", "T20260601"):
            expected = [by_id[i].code for i in _scan_ids(session, query, BoardFilter())]
            assert len(expected) > 30
            first = board_page(
                session=session,
                settings=settings,
                scope=EVERYTHING,
                wanted=BoardFilter(text=query, per_page=20),
                now=NOW,
            )
            second = board_page(
                session=session,
                settings=settings,
                scope=EVERYTHING,
                wanted=BoardFilter(text=query, per_page=20, page=2),
                now=NOW,
            )
            assert first.capped and first.total == 30 and first.pages == 2
            assert [r.code for r in first.rows + second.rows] == expected[:30]


def test_upgrade_indexes_the_tickets_already_there(db_url: str, settings: Settings) -> None:
    """Migration 0025 backfills the index; its downgrade removes it and the scan answers."""
    from models.db import make_engine

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0024")
        with session_scope(engine) as session:
            apply_roster(session=session, roster=small_town())
            tickets = _fill(session, count=60)
            expected = sorted(t.code for t in tickets if _contains(t, "井盖松"))
        upgrade(engine)
        with session_scope(engine) as session:
            _assert_index_is_used(session, settings, "井盖松")
            found = _board_codes(session, settings, BoardFilter(text="井盖松", per_page=100))
            assert sorted(found) == expected and expected
        downgrade(engine, "0024")
        with session_scope(engine) as session:
            if engine.dialect.name == "sqlite":
                assert not sqlite_index_ready(session.connection())
            found = _board_codes(session, settings, BoardFilter(text="井盖松", per_page=100))
            assert sorted(found) == expected
    finally:
        engine.dispose()
