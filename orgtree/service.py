"""Writing a roster into the database and reading the org tree back.

Imports are idempotent: units are keyed by their path, people by WeChat id or
phone, and single-holder roles (station chief, grid leader, unit leader, second
unit leader) are replaced in place when the file names someone else.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, func
from sqlmodel import Session, col, select

from core.config import Settings
from core.privacy import ANONYMOUS, PhoneOwner, Viewer, show_phone
from models.base import utcnow
from models.enums import Level, Role, UnitKind
from models.org import (
    PATH_SEP,
    SINGLE_HOLDER_ROLES,
    Department,
    HouseholdContact,
    OrgPath,
    OrgUnit,
    Person,
    RoleAssignment,
    town_relative,
)
from orgtree import directory
from orgtree.records import ContactRecord, PersonRecord, RoleRecord, TownRoster, UnitRow


class OrgPathNotFound(LookupError):
    """No org unit has that path."""

    def __init__(self, path: str, suggestions: list[str]) -> None:
        hint = f"；您是不是要找：{'、'.join(suggestions)}" if suggestions else ""
        super().__init__(f"找不到「{path}」{hint}")
        self.path = path
        self.suggestions = suggestions


@dataclass(slots=True)
class ImportReport:
    units_created: int = 0
    units_updated: int = 0
    units_unchanged: int = 0
    people_created: int = 0
    people_updated: int = 0
    roles_added: int = 0
    roles_removed: int = 0
    roles_updated: int = 0
    contacts_added: int = 0
    contacts_removed: int = 0
    contacts_updated: int = 0
    units_not_in_file: int = 0
    by_level: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(
            self.units_created
            + self.units_updated
            + self.people_created
            + self.people_updated
            + self.roles_added
            + self.roles_removed
            + self.roles_updated
            + self.contacts_added
            + self.contacts_removed
            + self.contacts_updated
        )

    def __str__(self) -> str:
        text = (
            f"组织单元：新增 {self.units_created}，更新 {self.units_updated}，未变 {self.units_unchanged}；"
            f"人员：新增 {self.people_created}，更新 {self.people_updated}；"
            f"职务：新增 {self.roles_added}，撤销 {self.roles_removed}，更新 {self.roles_updated}；"
            f"党员联系户：新增 {self.contacts_added}，撤销 {self.contacts_removed}，更新 {self.contacts_updated}"
        )
        if self.units_not_in_file:
            text += f"；数据库中另有 {self.units_not_in_file} 个单元不在文件里（保留未删）"
        return text


@dataclass(frozen=True, slots=True)
class _UnitSpec:
    path: str
    parent_path: str | None
    level: Level
    name: str
    kind: UnitKind | None
    households: int | None = None


def _unit_specs(roster: TownRoster) -> list[_UnitSpec]:
    town = roster.town
    specs: dict[str, _UnitSpec] = {town: _UnitSpec(town, None, Level.TOWN, town, None)}
    for row in roster.rows:
        village = PATH_SEP.join((town, row.village))
        grid = PATH_SEP.join((village, row.grid))
        unit = PATH_SEP.join((grid, row.unit))
        specs.setdefault(village, _UnitSpec(village, town, Level.VILLAGE, row.village, None))
        specs.setdefault(grid, _UnitSpec(grid, village, Level.GRID, row.grid, None))
        specs[unit] = _UnitSpec(
            unit, grid, Level.UNIT, row.unit, UnitKind(row.unit_kind), row.households
        )
    return sorted(specs.values(), key=lambda s: s.level.depth)


def apply_roster(
    *, session: Session, roster: TownRoster, now: datetime | None = None
) -> ImportReport:
    """Create or update the org tree, people, roles and contact households of ``roster``
    (one transaction).

    The four leader posts of a unit row replace their holder. When ``roster.lists_posts``
    the other posts (town officials, liaisons, the 三员, party building leaders) and the
    contact households of every place the roster covers become exactly the roster's;
    otherwise they are left alone. Nothing is ever deleted outside the roster's places.
    """
    now = now or utcnow()
    report = ImportReport()

    units = {u.path: u for u in session.exec(select(OrgUnit))}
    wanted_paths: set[str] = set()
    for spec in _unit_specs(roster):
        wanted_paths.add(spec.path)
        parent_id = units[spec.parent_path].id if spec.parent_path else None
        existing = units.get(spec.path)
        if existing is None:
            unit = OrgUnit(
                parent_id=parent_id,
                level=spec.level,
                kind=spec.kind,
                name=spec.name,
                path=spec.path,
                households=spec.households,
            )
            session.add(unit)
            units[spec.path] = unit
            report.units_created += 1
            report.by_level[spec.level.value] += 1
            if spec.level is not Level.UNIT:
                session.flush()  # children need the id; units themselves are flushed in bulk
        elif (existing.kind, existing.parent_id, existing.name, existing.households) != (
            spec.kind,
            parent_id,
            spec.name,
            spec.households,
        ):
            existing.kind, existing.parent_id, existing.name = spec.kind, parent_id, spec.name
            existing.households = spec.households
            existing.updated_at = now
            report.units_updated += 1
        else:
            report.units_unchanged += 1
    session.flush()
    report.units_not_in_file = sum(
        1 for path, u in units.items() if u.level is Level.UNIT and path not in wanted_paths
    )

    people = {p.phone: p for p in session.exec(select(Person))}
    for record in roster.people():
        person = people.get(record.phone)
        if person is None:
            person = Person(name=record.name, phone=record.phone, wechat_id=record.wechat_id)
            session.add(person)
            people[record.phone] = person
            report.people_created += 1
        elif (person.name, person.wechat_id) != (record.name, record.wechat_id):
            person.name, person.wechat_id = record.name, record.wechat_id
            person.updated_at = now
            report.people_updated += 1
    session.flush()

    def unit_id(path: OrgPath) -> int:
        found = units[PATH_SEP.join((roster.town, *path))].id
        assert found is not None
        return found

    def person_id(record: PersonRecord) -> int:
        found = people[record.phone].id
        assert found is not None
        return found

    covered = {units[path].id for path in wanted_paths} if roster.lists_posts else set()
    _apply_roles(session, roster, unit_id, person_id, covered, report)
    _apply_contacts(session, roster, unit_id, person_id, covered, report)
    session.flush()
    return report


def _apply_roles(
    session: Session,
    roster: TownRoster,
    unit_id: Callable[[OrgPath], int],
    person_id: Callable[[PersonRecord], int],
    covered: set[int | None],
    report: ImportReport,
) -> None:
    existing_roles: dict[tuple[int, str], list[RoleAssignment]] = defaultdict(list)
    for assignment in session.exec(select(RoleAssignment).order_by(col(RoleAssignment.id))):
        existing_roles[(assignment.org_unit_id, assignment.role)].append(assignment)
    kept: set[int | None] = set()
    for role_record in roster.roles():
        org_unit_id = unit_id(role_record.path)
        holder_id = person_id(role_record.person)
        role = role_record.role
        holders = existing_roles[(org_unit_id, role)]
        current = next((a for a in holders if a.person_id == holder_id), None)
        if current is not None:
            kept.add(current.id)
            if (current.department, current.title) != (
                role_record.department,
                role_record.title,
            ):
                current.department, current.title = role_record.department, role_record.title
                report.roles_updated += 1
            continue
        if role in SINGLE_HOLDER_ROLES:
            for stale in holders:
                session.delete(stale)
                report.roles_removed += 1
            holders.clear()
        assignment = RoleAssignment(
            person_id=holder_id,
            org_unit_id=org_unit_id,
            role=role,
            department=role_record.department,
            title=role_record.title,
        )
        session.add(assignment)
        holders.append(assignment)
        report.roles_added += 1
    for (place_id, held_role), holders in existing_roles.items():
        if place_id not in covered or held_role in SINGLE_HOLDER_ROLES:
            continue
        for stale in holders:
            if stale.id is not None and stale.id not in kept:
                session.delete(stale)
                report.roles_removed += 1


def _apply_contacts(
    session: Session,
    roster: TownRoster,
    unit_id: Callable[[OrgPath], int],
    person_id: Callable[[PersonRecord], int],
    covered: set[int | None],
    report: ImportReport,
) -> None:
    if not roster.lists_posts:
        return
    existing = {
        (c.org_unit_id, c.person_id): c
        for c in session.exec(select(HouseholdContact).order_by(col(HouseholdContact.id)))
    }
    kept: set[tuple[int, int]] = set()
    for record in roster.contacts:
        key = (unit_id(record.path), person_id(record.person))
        kept.add(key)
        current = existing.get(key)
        if current is None:
            session.add(
                HouseholdContact(org_unit_id=key[0], person_id=key[1], households=record.households)
            )
            report.contacts_added += 1
        elif current.households != record.households:
            current.households = record.households
            report.contacts_updated += 1
    for key, stale in existing.items():
        if key[0] in covered and key not in kept:
            session.delete(stale)
            report.contacts_removed += 1


def sync_departments(*, session: Session, settings: Settings) -> int:
    """Make the department table match config.yaml; returns how many rows changed."""
    categories: dict[str, list[str]] = defaultdict(list)
    for category in settings.tickets.categories:
        categories[category.department].append(category.code)
    existing = {d.code: d for d in session.exec(select(Department))}
    changed = 0
    for configured in settings.departments:
        wanted = Department(
            code=configured.code,
            name=configured.name,
            aliases=list(configured.aliases),
            categories=categories.get(configured.code, []),
        )
        row = existing.get(configured.code)
        if row is None:
            session.add(wanted)
            changed += 1
        elif (row.name, row.aliases, row.categories) != (
            wanted.name,
            wanted.aliases,
            wanted.categories,
        ):
            row.name, row.aliases, row.categories = wanted.name, wanted.aliases, wanted.categories
            changed += 1
    return changed


def ensure_town(*, session: Session, settings: Settings) -> str:
    """On ``gridcast setup``: load the configured roster when the tree is empty."""
    sync_departments(session=session, settings=settings)
    if session.exec(select(func.count()).select_from(OrgUnit)).one():
        counts = level_counts(session.connection())
        return f"组织架构已存在：{_counts_line(counts)}"
    source = settings.town.roster
    if source == "builtin:guohuan":
        from orgtree.guohuan import guohuan_roster

        roster = guohuan_roster()
    else:
        from orgtree.roster import read_roster

        roster = read_roster(Path(source), departments=settings.departments)
    if roster.town != settings.town.name:
        roster = dataclasses.replace(roster, town=settings.town.name)
    apply_roster(session=session, roster=roster)
    counts = level_counts(session.connection())
    return f"已导入组织架构（{source}）：{_counts_line(counts)}"


def _counts_line(counts: dict[str, object]) -> str:
    return "，".join(f"{Level(k).label} {counts[k]}" for k in ("town", "village", "grid", "unit"))


def level_counts(connection: Connection) -> dict[str, object]:
    """``{"town": 1, "village": 15, "grid": 172, "unit": 4559, "unit_kinds": {...}}``."""
    counts: dict[str, object] = {level.value: 0 for level in Level}
    for level, n in connection.execute(select(OrgUnit.level, func.count()).group_by(OrgUnit.level)):
        counts[Level(level).value] = n
    kinds = {kind.value: 0 for kind in UnitKind}
    for kind, n in connection.execute(
        select(OrgUnit.kind, func.count()).where(OrgUnit.level == Level.UNIT).group_by(OrgUnit.kind)
    ):
        if kind is not None:
            kinds[UnitKind(kind).value] = n
    counts["unit_kinds"] = kinds
    return counts


def resolve_path(session: Session, path: str, *, town: str) -> OrgUnit:
    """Find an org unit by ``国欢镇/黄霞村/第16网格`` (the town prefix may be left out)."""
    parts = [p.strip() for p in path.replace("／", PATH_SEP).split(PATH_SEP) if p.strip()]
    if parts and parts[0] != town:
        parts.insert(0, town)
    full = PATH_SEP.join(parts) or town
    unit = session.exec(select(OrgUnit).where(OrgUnit.path == full)).first()
    if unit is not None:
        return unit
    candidates = list(session.exec(select(OrgUnit.path)))
    suggestions = difflib.get_close_matches(full, candidates, n=5, cutoff=0.6)
    raise OrgPathNotFound(path, suggestions)


@dataclass(frozen=True, slots=True)
class LeaderView:
    role: str
    name: str
    phone: str
    """As the viewer may see it (:func:`core.privacy.show_phone`)."""


@dataclass(frozen=True, slots=True)
class NodeView:
    path: str
    name: str
    level: str
    kind: str | None
    leaders: tuple[LeaderView, ...]
    unit_count: int
    children: tuple[NodeView, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "name": self.name,
            "level": self.level,
            "kind": self.kind,
            "units": self.unit_count,
            "leaders": [
                {"role": lv.role, "name": lv.name, "phone": lv.phone} for lv in self.leaders
            ],
            "children": [c.to_json() for c in self.children],
        }


def _leaders(
    session: Session, units: Iterable[OrgUnit], viewer: Viewer
) -> dict[int, list[LeaderView]]:
    areas = {u.id: u.town_path for u in units if u.id is not None}
    return {
        unit_id: [
            LeaderView(
                h.role.label,
                h.name,
                show_phone(viewer, PhoneOwner.leader(h.phone, areas.get(unit_id, ()))),
            )
            for h in holders
        ]
        for unit_id, holders in directory.holders_by_unit(session, unit_ids=list(areas)).items()
    }


def _unit_counts(session: Session, nodes: list[OrgUnit]) -> dict[int, int]:
    out: dict[int, int] = {}
    for node in nodes:
        assert node.id is not None
        if node.level is Level.UNIT:
            out[node.id] = 1
            continue
        out[node.id] = session.exec(
            select(func.count())
            .select_from(OrgUnit)
            .where(OrgUnit.level == Level.UNIT, col(OrgUnit.path).startswith(node.path + PATH_SEP))
        ).one()
    return out


def subtree(session: Session, path: str, *, town: str, viewer: Viewer = ANONYMOUS) -> NodeView:
    """One org unit with its leaders and its direct children with theirs; phones as
    ``viewer`` may see them (:mod:`core.privacy`: masked for nobody in particular)."""
    node = resolve_path(session, path, town=town)
    children = list(
        session.exec(select(OrgUnit).where(OrgUnit.parent_id == node.id).order_by(col(OrgUnit.id)))
    )
    leaders = _leaders(session, [node, *children], viewer)
    counts = _unit_counts(session, [node, *children])

    def view(n: OrgUnit, kids: tuple[NodeView, ...] = ()) -> NodeView:
        assert n.id is not None
        return NodeView(
            path=n.path,
            name=n.name,
            level=n.level.value,
            kind=n.kind.value if n.kind else None,
            leaders=tuple(leaders.get(n.id, [])),
            unit_count=counts[n.id],
            children=kids,
        )

    return view(node, tuple(view(c) for c in children))


_EXPORT_POST_ORDER = {
    role: index
    for index, role in enumerate(
        (
            Role.TOWN_OFFICIAL,
            Role.DEPARTMENT_LIAISON,
            Role.PARTY_MEMBER,
            Role.GRID_WORKER,
            Role.SUNK_CADRE,
        )
    )
}


def export_roster(session: Session, *, town: str) -> TownRoster:
    """The whole roster of the database in the roster file's shape (for ``org export``):
    the unit rows in tree order, then the other posts and the contact households, each
    ordered by place (tree order), post and age, so that an export of an import of an
    export is the same file."""
    units = list(session.exec(select(OrgUnit).order_by(col(OrgUnit.id))))
    by_id = {u.id: u for u in units}
    place_order = {u.id: index for index, u in enumerate(units)}
    holders: dict[tuple[int, Role], PersonRecord] = {}
    others: list[tuple[tuple[int, int, int], RoleRecord]] = []
    rows = session.exec(
        select(RoleAssignment, Person)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .order_by(col(RoleAssignment.id))
    )
    for assignment, person in rows:
        record = PersonRecord(person.name, person.phone, person.wechat_id)
        role = Role(assignment.role)
        if role in SINGLE_HOLDER_ROLES:
            holders[(assignment.org_unit_id, role)] = record
            continue
        assert assignment.id is not None
        place = by_id[assignment.org_unit_id]
        others.append(
            (
                (place_order[place.id], _EXPORT_POST_ORDER[role], assignment.id),
                RoleRecord(
                    record,
                    role,
                    town_relative(place.path),
                    department=assignment.department,
                    title=assignment.title,
                ),
            )
        )
    contacts: list[tuple[tuple[int, int], ContactRecord]] = []
    for contact, person in session.exec(
        select(HouseholdContact, Person).join(
            Person, col(Person.id) == col(HouseholdContact.person_id)
        )
    ):
        assert contact.id is not None
        unit = by_id[contact.org_unit_id]
        contacts.append(
            (
                (place_order[unit.id], contact.id),
                ContactRecord(
                    PersonRecord(person.name, person.phone, person.wechat_id),
                    town_relative(unit.path),
                    contact.households,
                ),
            )
        )
    out: list[UnitRow] = []
    for unit in units:
        if unit.level is not Level.UNIT or unit.id is None or unit.parent_id is None:
            continue
        grid = by_id[unit.parent_id]
        assert grid.id is not None and grid.parent_id is not None
        village = by_id[grid.parent_id]
        assert village.id is not None and unit.kind is not None
        out.append(
            UnitRow(
                village=village.name,
                grid=grid.name,
                unit=unit.name,
                unit_kind=unit.kind,
                unit_leader=holders[(unit.id, Role.UNIT_LEADER)],
                second_unit_leader=holders.get((unit.id, Role.SECOND_UNIT_LEADER)),
                grid_leader=holders[(grid.id, Role.GRID_LEADER)],
                station_chief=holders[(village.id, Role.STATION_CHIEF)],
                households=unit.households,
            )
        )
    return TownRoster(
        town=town,
        rows=tuple(out),
        extra_roles=tuple(record for _, record in sorted(others, key=lambda item: item[0])),
        contacts=tuple(record for _, record in sorted(contacts, key=lambda item: item[0])),
    )
