"""PostgreSQL: NOTIFY gridcast_changes when deliveries, receipts and tickets change

The live views of the console (and of every ``gridcast web`` process) wake on these
instead of polling (``cluster/changes.py``). Statement triggers with transition tables: one
notification per notice per statement, however many rows. SQLite: nothing (one process).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 08:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BY_NOTICE = ("delivery", "receipt")
_TICKETS = ("ticket", "ticket_event")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION gridcast_notify_notices() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('gridcast_changes', 'notice:' || n.notice_id) "
        "FROM (SELECT DISTINCT notice_id FROM changed) AS n; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE FUNCTION gridcast_notify_tickets() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN PERFORM pg_notify('gridcast_changes', 'tickets'); RETURN NULL; END $$"
    )
    for table in _BY_NOTICE:
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_changes AFTER {event} ON {table} "
                "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
                "EXECUTE FUNCTION gridcast_notify_notices()"
            )
    for table in _TICKETS:
        op.execute(
            f"CREATE TRIGGER {table}_changes AFTER INSERT OR UPDATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridcast_notify_tickets()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _BY_NOTICE:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_changes ON {table}")
    for table in _TICKETS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changes ON {table}")
    op.execute("DROP FUNCTION IF EXISTS gridcast_notify_notices()")
    op.execute("DROP FUNCTION IF EXISTS gridcast_notify_tickets()")
