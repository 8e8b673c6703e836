"""Shared fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL.

PostgreSQL tests run when a server URL is given with ``--postgres-url`` or the
``GRIDCAST_TEST_POSTGRES_URL`` environment variable (``.ci/run`` sets it); each
test gets its own schema in that database, dropped afterwards. ``town`` loads the
ticket tests' small town into it; the bot router and CLI tests use it too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from core.config import Settings, parse_settings
from models.db import make_engine, upgrade
from tests.tickets.helpers import Town, make_town

POSTGRES_ENV = "GRIDCAST_TEST_POSTGRES_URL"

pytest_plugins = ["tests.broadcast.harness"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres-url",
        default=os.environ.get(POSTGRES_ENV),
        help=f"PostgreSQL URL for the database tests (or ${POSTGRES_ENV}); without it they skip",
    )


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str | None:
    url = request.config.getoption("--postgres-url")
    return str(url) if url else None


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(base_url).set(drivername="postgresql+psycopg"))
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {base_url} is not usable: {exc}")
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> Iterator[str]:
    """An empty database URL; the test runs once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gridcast.db'}"
        return
    if postgres_url is None:
        pytest.skip(
            f"PostgreSQL tests skipped: no server given (set {POSTGRES_ENV} or --postgres-url, "
            "e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    yield from _postgres_schema_url(postgres_url)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Default settings on the test's database, web on a free port."""
    return parse_settings(
        {"data_dir": str(tmp_path / "data"), "database": {"url": db_url}, "web": {"port": 0}}
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A synchronous engine on a database migrated to head."""
    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def town(engine: Engine) -> Town:
    """The ticket tests' small town in a fresh database (both backends)."""
    return make_town(engine)
