"""Shared fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL.

PostgreSQL tests run when a server URL is given with ``--postgres-url`` or the
``GRIDCAST_TEST_POSTGRES_URL`` environment variable (``.ci/run`` sets it); each
test gets its own schema in that database. A test that asks for ``engine`` (a migrated
database) takes one from a pool of migrated schemas and gives it back emptied
(``TRUNCATE … RESTART IDENTITY``): migrating a schema costs PostgreSQL about 0.6 s of
DDL, which over some 700 tests was a third of the suite. A test with only ``db_url``
gets a fresh empty schema, dropped afterwards. ``town`` loads the
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


class _MigratedSchemas:
    """Migrated PostgreSQL schemas, reused emptied from one test to the next."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.admin = create_engine(make_url(base_url).set(drivername="postgresql+psycopg"))
        self.free: list[str] = []
        self.made: list[str] = []
        self.migrated_urls: set[str] = set()

    def url(self, schema: str) -> str:
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        self.made.append(schema)
        engine = make_engine(self.url(schema))
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        self.migrated_urls.add(self.url(schema))
        return schema

    def give_back(self, schema: str) -> None:
        """Emptied and back in the pool, if it is still at the head revision (a test that
        migrated it elsewhere, or left a lock behind, costs a new schema instead)."""
        try:
            with self.admin.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '10s'"))
                version = connection.execute(
                    text(f'SELECT version_num FROM "{schema}".alembic_version')
                ).scalar()
                if version != _head_revision():
                    raise LookupError(version)
                tables = connection.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :schema"
                        " AND tablename <> 'alembic_version'"
                    ),
                    {"schema": schema},
                ).scalars()
                names = ", ".join(f'"{schema}"."{t}"' for t in tables)
                if names:
                    connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        except Exception:
            self.drop(schema)
            return
        self.free.append(schema)

    def drop(self, schema: str) -> None:
        try:
            with self.admin.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '10s'"))
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        except Exception:  # left behind; the session's end tries again
            return
        self.made.remove(schema)

    def close(self) -> None:
        for schema in list(self.made):
            self.drop(schema)
        self.admin.dispose()


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from models.db import _alembic_config

    global _HEAD
    if _HEAD is None:
        with create_engine("sqlite://").connect() as connection:
            _HEAD = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
    assert _HEAD is not None
    return _HEAD


_HEAD: str | None = None


@pytest.fixture(scope="session")
def migrated_schemas(postgres_url: str | None) -> Iterator[_MigratedSchemas | None]:
    if postgres_url is None:
        yield None
        return
    pool = _MigratedSchemas(postgres_url)
    try:
        yield pool
    finally:
        pool.close()


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
    if "engine" in request.fixturenames:  # a migrated schema from the pool
        pool = request.getfixturevalue("migrated_schemas")
        try:
            schema = pool.take()
        except Exception as exc:
            pytest.skip(f"PostgreSQL at {postgres_url} is not usable: {exc}")
        try:
            yield pool.url(schema)
        finally:
            pool.give_back(schema)
        return
    yield from _postgres_schema_url(postgres_url)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Default settings on the test's database, web on a free port."""
    return parse_settings(
        {"data_dir": str(tmp_path / "data"), "database": {"url": db_url}, "web": {"port": 0}}
    )


@pytest.fixture
def engine(db_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A synchronous engine on a database migrated to head.

    Deferred transactions: tests read through it on the running server's event loop,
    where waiting for the write lock would wait on a coroutine that cannot run.
    """
    eng = make_engine(db_url, immediate=False)
    pool = request.getfixturevalue("migrated_schemas")
    if pool is None or db_url not in pool.migrated_urls:
        upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def town(engine: Engine) -> Town:
    """The ticket tests' small town in a fresh database (both backends)."""
    return make_town(engine)
