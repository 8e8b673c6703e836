from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables)
from models.db import (
    SchemaOutOfDate,
    downgrade,
    head_revision,
    make_engine,
    require_current_schema,
    schema_status,
    upgrade,
)
from models.search import include_object


def test_upgrade_creates_every_table(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        before = upgrade(engine)
        assert before.current is None
        tables = set(inspect(engine).get_table_names())
        assert set(SQLModel.metadata.tables) <= tables
        with engine.connect() as connection:
            assert schema_status(connection).up_to_date
    finally:
        engine.dispose()


def test_migrations_match_the_models(engine: Engine) -> None:
    """A model changed without a migration shows up here."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    downgrade(engine, "base")
    assert not set(SQLModel.metadata.tables) & set(inspect(engine).get_table_names())
    upgrade(engine)
    with engine.connect() as connection:
        assert schema_status(connection).current == head_revision()


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    before = upgrade(engine)
    assert before.up_to_date


def test_start_refuses_an_empty_database(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with (
            engine.connect() as connection,
            pytest.raises(SchemaOutOfDate, match="run: gridcast db upgrade"),
        ):
            require_current_schema(connection, upgrade_hint="gridcast db upgrade")
    finally:
        engine.dispose()


def test_start_refuses_an_old_schema(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    with engine.connect() as connection, pytest.raises(SchemaOutOfDate, match="revision 0000"):
        require_current_schema(connection, upgrade_hint="gridcast db upgrade")


def test_0027_gives_the_existing_local_admin_token_its_signature(engine: Engine) -> None:
    """The local admin token made before 0027 signs 镇政府, as ``gridcast notice send``
    did by default; other tokens keep their name as signature."""
    from sqlalchemy import text

    downgrade(engine, "0026")
    with engine.begin() as connection:
        for name in ("本机管理员", "12345热线"):
            connection.execute(
                text(
                    "INSERT INTO api_token (name, token_hash, prefix, role, scope, created_by,"
                    " created_at) VALUES (:name, :hash, 'gct_', 'admin', '', 't', :at)"
                ),
                {"name": name, "hash": name, "at": "2026-12-03 00:00:00+00:00"},
            )
    upgrade(engine)
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT name, signature FROM api_token")).all())
    assert rows == {"本机管理员": "镇政府", "12345热线": None}
