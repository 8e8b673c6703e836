"""The console's tree view counts and lists what orgtree.service.subtree does, and shows
the same phones to the same viewer (core.privacy)."""

from __future__ import annotations

from sqlalchemy import Engine

from core.policy import Post, Principal
from core.privacy import ANONYMOUS, mask_phone, viewer_of
from models.db import session_scope
from models.enums import Role
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


def _person(role: Role, scope: tuple[str, ...]) -> Principal:
    return Principal(kind="person", id="1", name="某人", posts=(Post(role.value, scope),))


def test_leaders_phones_are_whole_for_the_areas_grid_leader_and_masked_for_a_unit_leader_elsewhere(
    engine: Engine,
) -> None:
    row = ROSTER.rows[0]
    far = next(r for r in ROSTER.rows if r.village != row.village)
    grid_leader = viewer_of(_person(Role.GRID_LEADER, row.path[:2]))
    elsewhere = viewer_of(_person(Role.UNIT_LEADER, far.path))
    grid = f"{row.village}/{row.grid}"
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        for viewer in (grid_leader, elsewhere, ANONYMOUS):
            mine = browse(session, grid, town=ROSTER.town, viewer=viewer)
            theirs = subtree(session, grid, town=ROSTER.town, viewer=viewer)
            assert [h.phone for h in mine.holders] == [lv.phone for lv in theirs.leaders]
            for child, same in zip(mine.children, theirs.children, strict=True):
                assert [h.phone for h in child.holders] == [lv.phone for lv in same.leaders]
        seen = browse(session, grid, town=ROSTER.town, viewer=grid_leader)
        unseen = browse(session, grid, town=ROSTER.town, viewer=elsewhere)
    unit = next(c for c in seen.children if c.name == row.path[-1])
    masked_unit = next(c for c in unseen.children if c.name == row.path[-1])
    leader = row.unit_leader.phone
    assert leader in [h.phone for h in unit.holders]
    assert row.grid_leader.phone in [h.phone for h in seen.holders]
    assert mask_phone(leader) in [h.phone for h in masked_unit.holders]
    assert mask_phone(row.grid_leader.phone) in [h.phone for h in unseen.holders]
    assert not {leader, row.grid_leader.phone} & {
        h.phone for n in (unseen, *unseen.children) for h in n.holders
    }
