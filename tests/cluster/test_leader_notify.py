"""Leader election in one process (a dropped connection), job runs, LISTEN/NOTIFY, SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from cluster.backend import ClusterUnsupported
from cluster.leader import LeaderElection, run_once_across_cluster
from cluster.notify import Listener, publish
from models.db import make_engine, session_scope

PERIOD = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


async def _until(condition) -> None:  # type: ignore[no-untyped-def]
    """Poll a fact the election records (it has no event for every state we check)."""
    async with asyncio.timeout(20):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_leadership_is_lost_with_the_connection_and_passes_on(
    pg_url: str, pg_engine: Engine
) -> None:
    changes: list[tuple[str, bool]] = []
    a = LeaderElection(
        pg_url,
        "t",
        retry_every=0.1,
        check_every=0.1,
        on_change=lambda leading: changes.append(("a", leading)),
    )
    b = LeaderElection(
        pg_url,
        "t",
        retry_every=0.1,
        check_every=0.1,
        on_change=lambda leading: changes.append(("b", leading)),
    )
    async with a:
        await a.wait_until_leader()
        async with b:
            await asyncio.sleep(0.5)
            assert a.is_leader and not b.is_leader
            with pg_engine.begin() as connection:  # the leader's connection drops
                connection.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": a.backend_pid}
                )
            await _until(lambda: ("a", False) in changes)
            await _until(lambda: a.is_leader != b.is_leader and (a.is_leader or b.is_leader))
    assert not a.is_leader and not b.is_leader  # stopped: nobody leads


async def test_a_stopped_leader_frees_the_lock_at_once(pg_url: str) -> None:
    a = LeaderElection(pg_url, "t", retry_every=0.1)
    b = LeaderElection(pg_url, "t", retry_every=0.1)
    async with a:
        await a.wait_until_leader()
    async with b:
        await asyncio.wait_for(b.wait_until_leader(), 20)


async def test_on_sqlite_the_one_process_leads(tmp_path: Path) -> None:
    async with LeaderElection(f"sqlite:///{tmp_path / 'g.db'}") as election:
        assert election.is_leader


def _record(session: Session) -> str:
    session.execute(text("UPDATE bot_account SET name = name || 'x'"))
    return "done"


def test_run_once_across_cluster(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = run_once_across_cluster(session, job_key="daily", period_start=PERIOD, fn=_record)
        again = run_once_across_cluster(session, job_key="daily", period_start=PERIOD, fn=_record)
    assert (first.ran, first.value, again.ran) == (True, "done", False)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        run_once_across_cluster(
            session,
            job_key="weekly",
            period_start=PERIOD,
            fn=lambda s: (_ for _ in ()).throw(RuntimeError()),
        )
    with session_scope(engine) as session:  # the failed run was rolled back: it runs again
        assert run_once_across_cluster(
            session, job_key="weekly", period_start=PERIOD, fn=_record
        ).ran
    with pytest.raises(ValueError), session_scope(engine) as session:
        run_once_across_cluster(session, job_key="x", period_start=datetime(2026, 1, 1), fn=_record)


async def test_notify_reaches_a_listener_after_commit_only(pg_url: str, pg_engine: Engine) -> None:
    async with Listener(pg_url, ["notices", "tickets"]) as listener:
        with session_scope(pg_engine) as session:
            publish(session, channel="notices", payload="rolled back")
            session.rollback()
        with session_scope(pg_engine) as session:
            publish(session, channel="notices", payload="N0042")
        with session_scope(pg_engine) as session:
            publish(session, channel="tickets", payload="T1")
        received = []
        async with asyncio.timeout(20):
            async for notification in listener:
                received.append((notification.channel, notification.payload))
                if len(received) == 2:
                    break
    assert received == [("notices", "N0042"), ("tickets", "T1")]


def test_notify_refuses_sqlite_and_bad_input(tmp_path: Path, pg_engine: Engine) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    engine = make_engine(url)
    try:
        with pytest.raises(ClusterUnsupported), Session(engine) as session:
            publish(session, channel="notices", payload="x")
    finally:
        engine.dispose()
    with pytest.raises(ClusterUnsupported):
        Listener(url, ["notices"])
    with pytest.raises(ValueError), Session(pg_engine) as session:
        publish(session, channel="Bad; DROP", payload="x")
    with pytest.raises(ValueError), Session(pg_engine) as session:
        publish(session, channel="notices", payload="x" * 8000)
