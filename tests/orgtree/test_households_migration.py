"""Migration 0005 on a town loaded before the roster carried 户数."""

from __future__ import annotations

from sqlalchemy import text

from models.db import downgrade, make_engine, upgrade


def test_shops_and_facilities_count_one_household_residential_units_wait(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0003")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO org_unit (id, parent_id, level, kind, name, path, created_at, "
                    "updated_at) VALUES (1, NULL, 'town', NULL, 't', 't', :now, :now), "
                    "(2, 1, 'unit', 'shop', 's', 't/s', :now, :now), "
                    "(3, 1, 'unit', 'facility', 'f', 't/f', :now, :now), "
                    "(4, 1, 'unit', 'residential', 'r', 't/r', :now, :now)"
                ),
                {"now": "2026-12-01 00:00:00+00:00"},
            )
        upgrade(engine)
        query = text("SELECT households FROM org_unit ORDER BY id")
        with engine.connect() as connection:
            assert connection.execute(query).scalars().all() == [None, 1, 1, None]
        downgrade(engine, "0003")  # with rows that reference org_unit
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(query).scalars().all() == [None, 1, 1, None]
    finally:
        engine.dispose()
