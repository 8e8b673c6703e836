from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.config import parse_settings
from models.db import session_scope
from models.enums import Level, Role, UnitKind
from models.org import (
    SINGLE_HOLDER_ROLES,
    Department,
    HouseholdContact,
    OrgUnit,
    Person,
    RoleAssignment,
)
from orgtree.guohuan import guohuan_roster
from orgtree.records import PersonRecord, RoleRecord
from orgtree.service import (
    OrgPathNotFound,
    apply_roster,
    ensure_town,
    export_roster,
    level_counts,
    subtree,
)
from tests.factories import small_town


def test_full_guohuan_tree_loads_with_article_counts(engine: Engine) -> None:
    settings = parse_settings({})
    with session_scope(engine) as session:
        message = ensure_town(session=session, settings=settings)
    assert "单元 4559" in message
    with engine.connect() as connection:
        counts = level_counts(connection)
    assert (counts["town"], counts["village"], counts["grid"], counts["unit"]) == (1, 15, 172, 4559)
    with session_scope(engine) as session:
        grid16 = subtree(session, "黄霞村/第16网格", town="国欢镇")
        chief = subtree(session, "国欢镇/黄霞村", town="国欢镇")
        again = ensure_town(session=session, settings=settings)
        departments = {d.name for d in session.exec(select(Department))}
        exported = export_roster(session, town="国欢镇")
    assert exported == guohuan_roster()  # every post, 户数 and contact household
    assert grid16.unit_count == 73
    kinds = [c.kind for c in grid16.children]
    assert (kinds.count("residential"), kinds.count("facility"), kinds.count("shop")) == (14, 3, 56)
    assert any(lv.name == "郭燕冰" and lv.role == "网格长" for lv in grid16.leaders)
    assert any(lv.name == "林文荣" and lv.role == "网格站站长" for lv in chief.leaders)
    assert again.startswith("组织架构已存在")
    assert {"区司法局", "区信访局", "涵江生态环境局"} <= departments


def test_reimport_changes_nothing(engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        first = apply_roster(session=session, roster=roster)
    with session_scope(engine) as session:
        second = apply_roster(session=session, roster=roster)
    assert first.changed
    assert first.units_created == 1 + 2 + 4 + len(roster.rows)
    assert not second.changed
    assert second.units_unchanged == first.units_created


def test_edited_roster_updates_in_place(engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
    row = roster.rows[0]
    new_leader = PersonRecord(name="张新民", phone="13800009999", wechat_id="wxid_new")
    edited_row = dataclasses.replace(
        row, unit_kind=UnitKind.SHOP, unit_leader=new_leader, second_unit_leader=row.grid_leader
    )
    edited = dataclasses.replace(roster, rows=(edited_row, *roster.rows[1:]))
    with session_scope(engine) as session:
        report = apply_roster(session=session, roster=edited)
    assert (report.units_created, report.units_updated) == (0, 1)
    assert report.people_created == 1
    assert report.roles_removed >= 1  # the old unit leader of that unit
    with session_scope(engine) as session:
        unit = session.exec(select(OrgUnit).where(OrgUnit.path.endswith(row.unit))).one()  # type: ignore[attr-defined]
        leaders = session.exec(
            select(Person.name, RoleAssignment.role)
            .join(Person, col(Person.id) == col(RoleAssignment.person_id))
            .where(RoleAssignment.org_unit_id == unit.id)
        ).all()
        units = session.exec(select(OrgUnit).where(OrgUnit.level == Level.UNIT)).all()
    assert unit.kind is UnitKind.SHOP
    assert ("张新民", Role.UNIT_LEADER) in leaders
    assert (row.grid_leader.name, Role.SECOND_UNIT_LEADER) in leaders
    assert (row.unit_leader.name, Role.UNIT_LEADER) not in leaders
    assert len(units) == len(roster.rows)


def test_export_gives_back_everything(engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
        exported = export_roster(session, town=roster.town)
    assert exported == roster


def test_show_masks_phones_and_suggests_paths(engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
        village = subtree(session, roster.rows[0].village, town=roster.town)
        with pytest.raises(OrgPathNotFound, match="您是不是要找"):
            subtree(session, f"{roster.rows[0].village}/第1网格x", town=roster.town)
    text = repr(village.to_json())
    assert "****" in text
    assert roster.rows[0].station_chief.phone not in text
    assert [c.name for c in village.children] == ["第1网格", "第2网格"]


def _posts(session: Session) -> tuple[set[tuple[str, str, str | None, str | None]], Counter[str]]:
    """(person, role, department, title) of every post outside the unit rows, and the
    contact households by phone."""
    rows = session.exec(
        select(Person.name, RoleAssignment.role, RoleAssignment.department, RoleAssignment.title)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .where(col(RoleAssignment.role).not_in(SINGLE_HOLDER_ROLES))
    ).all()
    contacts: Counter[str] = Counter()
    for phone, households in session.exec(
        select(Person.phone, HouseholdContact.households).join(
            Person, col(Person.id) == col(HouseholdContact.person_id)
        )
    ):
        contacts[phone] += households
    return {(n, Role(r).value, d, t) for n, r, d, t in rows}, contacts


def test_posts_households_and_contacts_update_in_place(engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        first = apply_roster(session=session, roster=roster)
    assert first.contacts_added == len(roster.contacts) > 2
    assert first.roles_added == len(roster.roles())

    worker = next(r for r in roster.extra_roles if r.role is Role.GRID_WORKER)
    official = next(r for r in roster.extra_roles if r.role is Role.TOWN_OFFICIAL)
    kept, changed, *gone = roster.contacts
    rows = list(roster.rows)
    index = next(i for i, r in enumerate(rows) if r.unit_kind is UnitKind.RESIDENTIAL)
    rows[index] = dataclasses.replace(rows[index], households=99)
    new_member = RoleRecord(
        PersonRecord("卓新华", "13900009999"), Role.PARTY_MEMBER, roster.rows[0].path[:2]
    )
    posts = [
        dataclasses.replace(r, title="镇党委副书记") if r == official else r
        for r in roster.extra_roles
        if r != worker
    ]
    edited = dataclasses.replace(
        roster,
        rows=tuple(rows),
        extra_roles=(*posts, new_member),
        contacts=(kept, dataclasses.replace(changed, households=changed.households + 1)),
    )
    with session_scope(engine) as session:
        report = apply_roster(session=session, roster=edited)
    assert (report.units_updated, report.people_created) == (1, 1)
    assert (report.roles_added, report.roles_removed, report.roles_updated) == (1, 1, 1)
    assert (report.contacts_added, report.contacts_updated) == (0, 1)
    assert report.contacts_removed == len(gone)
    assert "职务：新增 1，撤销 1，更新 1；党员联系户：新增 0" in str(report)
    with session_scope(engine) as session:
        exported = export_roster(session, town=roster.town)
        held, _ = _posts(session)
    assert exported.rows == edited.rows
    assert exported.contacts == edited.contacts
    # an export lists posts by place (tree order), so the new grid post moves up
    assert set(exported.extra_roles) == set(edited.extra_roles)
    assert (worker.person.name, "grid_worker", None, None) not in held
    assert (official.person.name, "town_official", None, "镇党委副书记") in held
    with session_scope(engine) as session:
        assert not apply_roster(session=session, roster=edited).changed


def test_a_roster_without_people_sheet_leaves_posts_alone(engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
        before = _posts(session)
    units_only = dataclasses.replace(roster, extra_roles=(), contacts=(), lists_posts=False)
    with session_scope(engine) as session:
        report = apply_roster(session=session, roster=units_only)
        assert not report.changed, str(report)
        assert _posts(session) == before


def test_posts_outside_the_file_are_kept(engine: Engine) -> None:
    """A file of one village replaces that village's posts, never another village's."""
    roster = small_town()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
    village = roster.rows[0].village
    one_village = dataclasses.replace(
        roster,
        rows=tuple(r for r in roster.rows if r.village == village),
        extra_roles=tuple(r for r in roster.extra_roles if r.path[:1] in ((), (village,))),
        contacts=tuple(c for c in roster.contacts if c.path[0] == village),
    )
    with session_scope(engine) as session:
        report = apply_roster(session=session, roster=one_village)
        assert not report.changed, str(report)
        assert export_roster(session, town=roster.town) == roster
