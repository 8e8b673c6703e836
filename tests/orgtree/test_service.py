from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from core.config import parse_settings
from models.db import session_scope
from models.enums import Level, Role, UnitKind
from models.org import Department, OrgUnit, Person, RoleAssignment
from orgtree.records import PersonRecord
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


def test_export_gives_back_the_rows(engine: Engine) -> None:
    roster = small_town()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=roster)
        exported = export_roster(session, town=roster.town)
    assert sorted(exported.rows, key=lambda r: r.path) == sorted(roster.rows, key=lambda r: r.path)


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
