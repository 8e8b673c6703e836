"""PostgreSQL-only fixtures for the cluster tests (most also run on SQLite via ``engine``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from models.chat import BotAccount
from models.db import make_engine, session_scope, upgrade
from tests.conftest import POSTGRES_ENV, _postgres_schema_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url(postgres_url: str | None) -> Iterator[str]:
    """A fresh schema on the test PostgreSQL, migrated to head."""
    if postgres_url is None:
        pytest.skip(f"PostgreSQL only: set {POSTGRES_ENV} or --postgres-url")
    for url in _postgres_schema_url(postgres_url):
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    try:
        yield engine
    finally:
        engine.dispose()


def make_accounts(engine: Engine, count: int) -> list[int]:
    with session_scope(engine) as session:
        accounts = [BotAccount(account_id=f"bot{i}") for i in range(count)]
        session.add_all(accounts)
        session.flush()
        return [account.id for account in accounts if account.id is not None]


def spawn(*args: str) -> subprocess.Popen[bytes]:
    """A worker process of tests/cluster/processes.py."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.cluster.processes", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
    )
