"""The small town the ticket tests run in, and the people they act as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from core.config import Settings
from models.db import session_scope
from models.enums import Role
from orgtree.records import PersonRecord
from orgtree.service import apply_roster, resolve_path
from tests.factories import small_town

ROSTER = small_town()
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
"""09:00 on 30 November in the town."""


def _extra(role: Role, *, department: str | None = None, title: str | None = None) -> PersonRecord:
    return next(
        e.person
        for e in ROSTER.extra_roles
        if e.role is role
        and (department is None or e.department == department)
        and (title is None or (e.title or "").find(title) >= 0)
    )


@dataclass(frozen=True, slots=True)
class Town:
    """Org unit ids and people of :data:`ROSTER` (contact ids are their WeChat ids)."""

    unit_id: int
    """国欢村/第1网格/洋中1号片区."""
    grid_id: int
    village_id: int
    other_grid_unit_id: int
    """国欢村/第2网格/国欢花园1号楼: same village, another grid."""
    other_village_unit_id: int
    """黄霞村/第1网格/霞林苑1号楼1单元."""
    grid_leader: PersonRecord
    other_grid_leader: PersonRecord
    other_village_grid_leader: PersonRecord
    station_chief: PersonRecord
    unit_leader: PersonRecord
    grid_worker: PersonRecord
    town_official: PersonRecord
    justice_liaison: PersonRecord
    police_liaison: PersonRecord


def contact(person: PersonRecord) -> str:
    assert person.wechat_id is not None
    return person.wechat_id


def make_town(engine: Engine) -> Town:
    """Load :data:`ROSTER` and return its ids and people."""
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        row, other, far = ROSTER.rows[0], ROSTER.rows[4], ROSTER.rows[8]

        def unit_id(path: tuple[str, ...]) -> int:
            unit = resolve_path(session, "/".join(path), town=ROSTER.town)
            assert unit.id is not None
            return unit.id

        return Town(
            unit_id=unit_id(row.path),
            grid_id=unit_id(row.path[:2]),
            village_id=unit_id(row.path[:1]),
            other_grid_unit_id=unit_id(other.path),
            other_village_unit_id=unit_id(far.path),
            grid_leader=row.grid_leader,
            other_grid_leader=other.grid_leader,
            other_village_grid_leader=far.grid_leader,
            station_chief=row.station_chief,
            unit_leader=row.unit_leader,
            grid_worker=next(
                e.person
                for e in ROSTER.extra_roles
                if e.role is Role.GRID_WORKER and e.path == row.path[:2]
            ),
            town_official=_extra(Role.TOWN_OFFICIAL, title="综治"),
            justice_liaison=_extra(Role.DEPARTMENT_LIAISON, department="区司法局"),
            police_liaison=_extra(Role.DEPARTMENT_LIAISON, department="派出所"),
        )


def with_tickets(settings: Settings, **changes: object) -> Settings:
    """``settings`` with some ``tickets`` fields changed."""
    return settings.model_copy(update={"tickets": settings.tickets.model_copy(update=changes)})


__all__ = ["ROSTER", "T0", "Town", "contact", "make_town", "with_tickets"]
