"""The console's tree view counts and lists what orgtree.service.subtree does."""

from __future__ import annotations

from sqlalchemy import Engine

from models.db import session_scope
from orgtree.browse import browse
from orgtree.service import apply_roster, subtree
from tests.factories import small_town

ROSTER = small_town()


def test_browse_agrees_with_subtree(engine: Engine) -> None:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        row = ROSTER.rows[0]
        for path in ("", row.village, f"{row.village}/{row.grid}", "/".join(row.path)):
            mine = browse(session, path, town=ROSTER.town)
            theirs = subtree(session, path or ROSTER.town, town=ROSTER.town)
            assert mine.units == theirs.unit_count
            assert [c.units for c in mine.children] == [c.unit_count for c in theirs.children]
            assert [c.name for c in mine.children] == [c.name for c in theirs.children]
            assert [h.name for h in mine.holders] == [lv.name for lv in theirs.leaders]
