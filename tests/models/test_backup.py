"""Backups: taken while the database is in use, restored into a new data directory (or a
new PostgreSQL database), the same rows in every table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from models.backup import BackupError, backup, manifest_path, prune, restore, table_counts
from models.db import session_scope
from models.search import POSTGRES_INDEXES
from orgtree.service import apply_roster
from tests.factories import api_token, small_town


def _fill(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=small_town(villages=1, grids_per_village=1))
    api_token(engine)
    with engine.connect() as connection:
        return table_counts(connection)


@pytest.fixture
def new_database(db_url: str) -> Iterator[str]:
    """An empty database of the same kind as ``db_url`` (a new data directory for SQLite)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        yield f"sqlite:///{Path(url.database).parent / 'restored' / 'gridcast.db'}"
        return
    name = f"r_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        url.set(drivername="postgresql+psycopg", query={}), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_backup_while_in_use_and_restore_elsewhere(
    engine: Engine, db_url: str, new_database: str, tmp_path: Path
) -> None:
    counts = _fill(engine)
    target = tmp_path / "backups" / "one.backup"
    with engine.connect() as busy:  # the system keeps a connection open meanwhile
        busy.execute(text("SELECT 1"))
        manifest = backup(db_url, target)
    assert manifest.counts == counts and manifest.rows > 0 and manifest_path(target).exists()
    restored = restore(new_database, target)
    assert restored.counts == counts and restored.revision == manifest.revision
    with pytest.raises(BackupError, match="empty"):
        restore(new_database, target)  # never over a database that holds data


def test_cli_backup_verifies_and_restore_compares(tmp_path: Path) -> None:
    source, copy = tmp_path / "a", tmp_path / "b"
    runner = CliRunner()
    from gridcast.cli import main
    from models.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{source / 'gridcast.db'}")
    upgrade(engine)
    counts = _fill(engine)
    engine.dispose()
    file = tmp_path / "gridcast.backup"
    made = runner.invoke(main, ["backup", str(file), "--data-dir", str(source)])
    assert made.exit_code == 0, made.output
    assert "校验通过" in made.output
    back = runner.invoke(main, ["restore", str(file), "--data-dir", str(copy)])
    assert back.exit_code == 0, back.output
    engine = make_engine(f"sqlite:///{copy / 'gridcast.db'}")
    with engine.connect() as connection:
        assert table_counts(connection) == counts
    engine.dispose()


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    for day in range(1, 6):
        path = tmp_path / f"gridcast-2026010{day}T023000Z.sqlite.backup"
        path.write_text("x")
        manifest_path(path).write_text("{}")
    removed = prune(tmp_path, keep=2)
    assert [p.name[9:17] for p in removed] == ["20260103", "20260102", "20260101"]
    assert sorted(p.name for p in tmp_path.glob("*.backup")) == [
        "gridcast-20260104T023000Z.sqlite.backup",
        "gridcast-20260105T023000Z.sqlite.backup",
    ]


def test_restore_without_pg_trgm_in_public_leaves_the_search_indexes_out(
    engine: Engine, db_url: str, new_database: str, tmp_path: Path
) -> None:
    """A schema's dump names ``public.gin_trgm_ops`` (migration 0025) but does not hold the
    extension; where it cannot be there, the rest is restored and the board scans."""
    if make_url(db_url).get_backend_name() != "postgresql":
        pytest.skip("pg_trgm is PostgreSQL's")
    counts = _fill(engine)
    target = tmp_path / "one.backup"
    backup(db_url, target)
    elsewhere = create_engine(make_url(new_database).set(drivername="postgresql+psycopg"))
    try:
        with elsewhere.begin() as connection:  # taken, and not in public
            connection.execute(text("CREATE SCHEMA other"))
            connection.execute(text("CREATE EXTENSION pg_trgm SCHEMA other"))
        restored = restore(new_database, target)
        assert restored.counts == counts
        with elsewhere.connect() as connection:
            indexes = set(connection.execute(text("SELECT indexname FROM pg_indexes")).scalars())
        assert "ix_ticket_created_at" in indexes
        assert not indexes & set(POSTGRES_INDEXES)
    finally:
        elsewhere.dispose()
