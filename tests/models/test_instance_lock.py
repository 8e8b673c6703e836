from __future__ import annotations

import asyncio
import contextlib

import pytest

from models.db import AlreadyRunning, InstanceLock


def test_a_second_process_on_the_same_database_is_refused(db_url: str) -> None:
    first, second = InstanceLock(db_url), InstanceLock(db_url)
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match="另一个 gridcast run"):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # free again once the first is gone
    second.release()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_standby_takes_over_and_a_holder_that_loses_its_session_stops(
    db_url: str,
) -> None:
    """``gridcast run --standby``: it waits while the active process holds the lock, takes
    it within about a second of the active one's session ending, and itself stops its bots
    (LOCK_LOST) once its own lock session fails."""
    from aiohttp import web
    from sqlalchemy import text

    from core.config import parse_settings
    from models.db import make_engine
    from web.app import LOCK_LOST, STANDBY, instance_lock_ctx
    from web.keys import SETTINGS

    active = InstanceLock(db_url)
    active.acquire()
    lost = asyncio.Event()
    app = web.Application()
    app[SETTINGS] = parse_settings({"database": {"url": db_url}})
    app[STANDBY] = True
    app[LOCK_LOST] = lost.set
    context = instance_lock_ctx(app)
    started = asyncio.ensure_future(context.__anext__())
    try:
        await asyncio.sleep(2.5)
        assert not started.done()  # waiting: the active one holds the lock
        admin = make_engine(db_url)
        try:
            pids = [active_pid(active)]
            with admin.begin() as connection:  # the active process's session ends
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
            async with asyncio.timeout(5):
                await started  # taken over
            assert not active.alive()
            with admin.connect() as connection:  # now the standby's own session fails
                own = (
                    connection.execute(
                        text(
                            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 1735551332 "
                            "AND pid <> pg_backend_pid()"
                        )
                    )
                    .scalars()
                    .all()
                )
            with admin.begin() as connection:
                for pid in own:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            async with asyncio.timeout(5):
                await lost.wait()  # it noticed and asked to stop
        finally:
            admin.dispose()
    finally:
        started.cancel()
        with contextlib.suppress(BaseException):
            await context.__anext__()
        active.release()


def active_pid(lock: InstanceLock) -> int:
    connection = lock._connection  # the lock's own session
    assert connection is not None
    return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)
