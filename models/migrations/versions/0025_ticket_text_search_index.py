"""tickets: a trigram index for the board's text search (FTS5 on SQLite, pg_trgm on PostgreSQL)

The board's text filter is a substring match over code, text, location and assignee
(``tickets/board.py``); without an index it reads every ticket. SQLite: the FTS5 table
``ticket_search`` (tokenizer ``trigram case_sensitive 1``, SQLite 3.34 or later) with
``ticket`` as its external content, filled from the existing tickets and kept in sync by
three triggers. An older SQLite gets nothing and the board keeps scanning. Note for later
migrations: a batch alteration of ``ticket`` on SQLite (copy, drop, rename) drops these
triggers; such a migration must create them again (see ``_SQLITE_TRIGGERS``).

PostgreSQL: ``CREATE EXTENSION IF NOT EXISTS pg_trgm`` (in ``public`` when it may, so that
dropping one schema never drops the extension under another), then one GIN index per
searched column, without GIN's pending list (``fastupdate = off``): with it, the rows
written since the last vacuum are read one by one on every search (a code search took
80 ms instead of 2 after 100,000 inserts); tickets are written at the pace of people, so
updating the index at once costs little. When the extension cannot be created (no right
to), the migration still succeeds without the indexes and the search stays a scan. The
downgrade keeps the extension: other schemas of the database may use it.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 13:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("code", "text", "location", "assignee_name")
_LIST = ", ".join(_COLUMNS)
_NEW = ", ".join(f"new.{c}" for c in _COLUMNS)
_OLD = ", ".join(f"old.{c}" for c in _COLUMNS)
_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in ("id", *_COLUMNS))

_SQLITE_TABLE = (
    f"CREATE VIRTUAL TABLE ticket_search USING fts5({_LIST}, content='ticket', "
    "content_rowid='id', tokenize='trigram case_sensitive 1')"
)
_SQLITE_TRIGGERS = {
    "ticket_search_insert": (
        "CREATE TRIGGER ticket_search_insert AFTER INSERT ON ticket BEGIN "
        f"INSERT INTO ticket_search(rowid, {_LIST}) VALUES (new.id, {_NEW}); END"
    ),
    "ticket_search_delete": (
        "CREATE TRIGGER ticket_search_delete AFTER DELETE ON ticket BEGIN "
        f"INSERT INTO ticket_search(ticket_search, rowid, {_LIST}) "
        f"VALUES ('delete', old.id, {_OLD}); END"
    ),
    "ticket_search_update": (
        f"CREATE TRIGGER ticket_search_update AFTER UPDATE OF id, {_LIST} ON ticket "
        f"WHEN {_CHANGED} BEGIN "
        f"INSERT INTO ticket_search(ticket_search, rowid, {_LIST}) "
        f"VALUES ('delete', old.id, {_OLD}); "
        f"INSERT INTO ticket_search(rowid, {_LIST}) VALUES (new.id, {_NEW}); END"
    ),
}


def _try(bind: Connection, statement: str) -> bool:
    """Run ``statement`` in a savepoint; False (and nothing changed) when it fails."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(statement)
    except DBAPIError:
        return False
    return True


def _upgrade_sqlite(bind: Connection) -> None:
    version = str(bind.exec_driver_sql("SELECT sqlite_version()").scalar())
    if tuple(int(part) for part in version.split(".")[:2]) < (3, 34):
        return  # no trigram tokenizer: the board scans
    if not _try(bind, _SQLITE_TABLE):
        return  # built without FTS5
    for statement in _SQLITE_TRIGGERS.values():
        op.execute(statement)
    op.execute("INSERT INTO ticket_search(ticket_search) VALUES ('rebuild')")


def _upgrade_postgresql(bind: Connection) -> None:
    if not _try(bind, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"):
        _try(bind, "CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema = bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension AS e JOIN pg_namespace AS n"
        " ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    ).scalar()
    if schema is None:
        return  # the extension is not available: the board scans
    ops = f"{bind.dialect.identifier_preparer.quote_schema(str(schema))}.gin_trgm_ops"
    for column in _COLUMNS:
        op.execute(
            f"CREATE INDEX ix_ticket_search_{column} ON ticket USING gin ({column} {ops})"
            " WITH (fastupdate = off)"
        )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _upgrade_sqlite(bind)
    elif bind.dialect.name == "postgresql":
        _upgrade_postgresql(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS ticket_search")
    else:
        for column in _COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_ticket_search_{column}")
