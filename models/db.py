"""Engines, sessions and the schema version.

SQLite (a file in the data directory) is the default; PostgreSQL is reached by
URL. The same URL yields a synchronous engine (CLI, migrations) and an async one
(the server). Schema changes ship as Alembic migrations in ``models/migrations``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

T = TypeVar("T")

UPGRADE_HINT = "gridcast db upgrade (with the same --config / --data-dir)"
"""What to run when the schema is out of date (every entry point says the same)."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseError(Exception):
    """The database cannot be used as configured."""


class SchemaOutOfDate(DatabaseError):
    """The database schema is older (or newer) than this version of gridcast."""


def _driver_url(url: str, *, use_async: bool) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        driver = "aiosqlite" if use_async else "pysqlite"
    elif backend == "postgresql":
        driver = "psycopg"  # psycopg 3 serves both the sync and the async engine
    else:
        raise DatabaseError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=False)


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of the driver's
    # deferred BEGIN: a deferred transaction that reads and then writes fails at once with
    # "database is locked" when another writer got there first; an immediate one waits.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI read while the server writes; the busy timeout rides out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str, *, echo: bool = False, immediate: bool = True) -> Engine:
    """A synchronous engine for the CLI and migrations.

    ``immediate=False`` starts SQLite transactions deferred, so that a read never waits
    for the write lock. Only a caller that reads on the server's own event loop needs it
    (the tests): an immediate transaction there would wait for a lock held by a server
    coroutine that cannot run until the read returns.
    """
    sync_url = _driver_url(url, use_async=False)
    if sync_url.startswith("sqlite"):
        _prepare_sqlite_file(sync_url)
        engine = create_engine(sync_url, echo=echo)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate if immediate else _begin_deferred)
        return engine
    return create_engine(sync_url, echo=echo, pool_pre_ping=True)


def make_async_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """The server's engine."""
    async_url = _driver_url(url, use_async=True)
    if async_url.startswith("sqlite"):
        _prepare_sqlite_file(async_url)
        # One connection: the process's coroutines take turns instead of contending for
        # SQLite's single write lock (other processes wait through busy_timeout).
        # The wait is the design, so it is long: a loaded machine at start (every account's
        # rooms recorded in turn) must not abort on the pool's default 30 s.
        engine = create_async_engine(
            async_url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=300
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(async_url, echo=echo, pool_pre_ping=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_status(connection: Connection) -> SchemaStatus:
    current = MigrationContext.configure(connection).get_current_revision()
    return SchemaStatus(current=current, head=head_revision())


def upgrade(engine: Engine, revision: str = "head") -> SchemaStatus:
    """Apply the migrations up to ``revision``; returns the status before."""
    with engine.begin() as connection:
        before = schema_status(connection)
        command.upgrade(_alembic_config(connection), revision)
    return before


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), revision)


def require_current_schema(connection: Connection, *, upgrade_hint: str) -> None:
    """Refuse to run on a schema that is not this version's."""
    status = schema_status(connection)
    if status.up_to_date:
        return
    if status.current is None:
        raise SchemaOutOfDate(f"the database has no gridcast schema yet; run: {upgrade_hint}")
    raise SchemaOutOfDate(
        f"the database schema is at revision {status.current}, this gridcast needs "
        f"{status.head}; run: {upgrade_hint}"
    )


def backend_name(url: str) -> str:
    return make_url(url).get_backend_name()


async def run_in_session(engine: AsyncEngine, fn: Callable[[Session], T]) -> T:
    """Run a synchronous data function in one transaction of the async engine.

    Data functions are written once, synchronously, against a :class:`Session`;
    the server calls them through this without blocking its event loop on I/O.
    A caller cancelled meanwhile (a shutdown) still lets the transaction finish:
    interrupted half-way, its connection would not go back to the pool, and the next
    caller (the shutdown's own last write) would wait for it until the pool times out.
    """

    def call(connection: Connection) -> T:
        with Session(bind=connection, expire_on_commit=False) as session:
            result = fn(session)
            session.flush()
            return result

    async def transaction() -> T:
        async with engine.begin() as connection:
            return await connection.run_sync(call)

    task = asyncio.ensure_future(transaction())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


class AlreadyRunning(DatabaseError):
    """Another process already runs the bots, outbox and timers on this database."""


_LOCK_KEY = 0x67726964  # "grid": the advisory lock id of a gridcast deployment
_KEEPALIVES = (
    ("tcp_keepalives_idle", 5),
    ("tcp_keepalives_interval", 2),
    ("tcp_keepalives_count", 2),
)


class InstanceLock:
    """Held by the one ``gridcast run`` of a deployment for as long as it runs.

    Two processes resuming the same outbox or firing the same timers would send twice;
    the second one refuses to start instead. SQLite: an exclusive ``flock`` on a file
    next to the database; PostgreSQL: a session advisory lock. Both vanish with the
    process, however it ends.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._file: Any = None
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    def acquire(self) -> None:
        if backend_name(self._url) == "sqlite":
            import fcntl

            database = make_url(self._url).database or ":memory:"
            if database == ":memory:":
                return
            path = Path(f"{database}.lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise AlreadyRunning(
                    f"另一个 gridcast run 正在使用这个数据库（{database}）；一个部署只能运行一个 (another gridcast run holds it)"
                ) from None
            self._file = handle
            return
        self._engine = make_engine(self._url)
        self._connection = self._engine.connect()
        # The server drops this session, and so frees the lock for a standby, within about
        # 9 s of the holder's machine going silent (TCP keepalives, not the system's 2 h).
        for setting, value in _KEEPALIVES:
            self._connection.exec_driver_sql(f"SET {setting} = {value}")
        # Keyed by the schema too: deployments in separate schemas of one database are
        # separate deployments.
        got = self._connection.exec_driver_sql(
            f"SELECT pg_try_advisory_lock({_LOCK_KEY}, hashtext(current_schema()))"
        ).scalar()
        self._connection.commit()
        if not got:
            self.release()
            raise AlreadyRunning(
                "另一个 gridcast run 正在使用这个数据库（同一模式）；一个部署只能运行一个 (another gridcast run holds it)"
            )

    def alive(self) -> bool:
        """Whether the lock is still held: on PostgreSQL, its session still answers (a lost
        session means the lock may already be another process's)."""
        if self._connection is None:
            return self._file is not None or backend_name(self._url) == "sqlite"
        try:
            self._connection.exec_driver_sql("SELECT 1").scalar()
            self._connection.commit()
        except Exception:
            return False
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
