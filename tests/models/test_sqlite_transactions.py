"""SQLite transactions: immediate for writers, deferred for the tests' reads."""

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from models.db import make_engine


def test_a_deferred_read_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gridcast.db'}"
    writer = make_engine(url)
    reader = make_engine(url, immediate=False)
    blocked = make_engine(url)
    try:
        with writer.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        with writer.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))
            started = time.monotonic()
            with reader.connect() as other:
                # The writer's row is not committed yet: the reader sees the last commit.
                assert other.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
            assert time.monotonic() - started < 1
            # An immediate transaction, even for a read, queues behind the writer.
            raw = blocked.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA busy_timeout=100")
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    raw.driver_connection.execute("BEGIN IMMEDIATE")
            finally:
                raw.close()
    finally:
        for engine in (writer, reader, blocked):
            engine.dispose()
