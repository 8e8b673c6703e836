"""Small org trees for tests (the full Guohuan tree is used where its size matters)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Engine

from core.policy import ADMIN_ROLE
from models.db import session_scope
from orgtree.guohuan import guohuan_roster
from orgtree.principals import create_token
from orgtree.records import TownRoster


@cache
def guohuan() -> TownRoster:
    return guohuan_roster()


def small_town(
    villages: int = 2, grids_per_village: int = 2, units_per_grid: int = 4
) -> TownRoster:
    """A slice of Guohuan: the first villages, grids and units, with their extra roles."""
    full = guohuan()
    rows = []
    grids: dict[str, list[str]] = {}
    for row in full.rows:
        village_grids = grids.setdefault(row.village, [])
        if row.grid not in village_grids:
            if len(grids) > villages or len(village_grids) >= grids_per_village:
                continue
            village_grids.append(row.grid)
        if sum(1 for r in rows if (r.village, r.grid) == (row.village, row.grid)) >= units_per_grid:
            continue
        rows.append(row)
    rows = [r for r in rows if r.village in list(grids)[:villages]]
    paths = {()} | {r.path[:n] for r in rows for n in (1, 2, 3)}
    extra = tuple(e for e in full.extra_roles if e.path in paths)
    contacts = tuple(c for c in full.contacts if c.path in paths)
    return dataclasses.replace(full, rows=tuple(rows), extra_roles=extra, contacts=contacts)


def api_token(
    engine: Engine,
    *,
    role: str = ADMIN_ROLE,
    scope: tuple[str, ...] = (),
    department: str | None = None,
    name: str = "测试令牌",
) -> str:
    """A bearer token with one post, as an admin would create it."""
    with session_scope(engine) as session:
        _row, token = create_token(
            session,
            name=name,
            role=role,
            scope=scope,
            department=department,
            created_by="tests",
            now=datetime.now(UTC),
        )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def shop_town() -> TownRoster:
    """:func:`small_town` plus the first shop (沿街商铺) of its first grid, with its owner
    and second unit leader (双单元长): the last row."""
    roster = small_town()
    grid = roster.rows[0].path[:2]
    shop = next(r for r in guohuan().rows if r.path[:2] == grid and r.unit_kind.value == "shop")
    assert shop.second_unit_leader is not None
    return dataclasses.replace(roster, rows=(*roster.rows, shop))
