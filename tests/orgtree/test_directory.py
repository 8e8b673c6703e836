"""Who holds which post, and how to reach them (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from models.auth import ChatBinding
from models.enums import Level, Role
from models.org import OrgUnit, Person
from orgtree import directory
from tests.tickets.helpers import Town, contact, make_town


def unit(session: Session, unit_id: int) -> OrgUnit:
    found = session.get(OrgUnit, unit_id)
    assert found is not None
    return found


def test_contact_id_is_the_wechat_id_or_the_phone() -> None:
    assert directory.contact_id_of(Person(name="张三", phone="13800000001", wechat_id="wx-z")) == (
        "wx-z"
    )
    assert directory.contact_id_of(Person(name="李四", phone="13800000002")) == "tel-13800000002"


def test_person_by_contact_reads_wechat_ids_and_confirmed_bindings(engine: Engine) -> None:
    town = make_town(engine)
    leader = town.grid_leader
    with Session(engine) as session:
        by_wechat = directory.person_by_contact(session, contact(leader))
        assert by_wechat is not None and by_wechat.name == leader.name
        assert by_wechat.id is not None
        session.add(
            ChatBinding(contact_id="wx-second-phone", person_id=by_wechat.id, confirmed_via="t")
        )
        session.flush()
        bound = directory.person_by_contact(session, "wx-second-phone")
        assert bound is not None and bound.id == by_wechat.id
        assert directory.person_by_contact(session, "wx-nobody") is None
        assert directory.person_by_contact(session, "tel-10000000000") is None
        assert directory.person_by_contact(session, leader.phone) is None


def test_a_stranger_named_tel_phone_is_not_the_roster_person(engine: Engine) -> None:
    """Regression: a contact id ``tel-<phone>`` used to be taken for the roster person
    with that phone, so a stranger so named could act as a town official in chat."""
    town = make_town(engine)
    with Session(engine) as session:
        for person in (town.grid_leader, town.town_official):
            assert directory.person_by_contact(session, f"tel-{person.phone}") is None


def test_post_holders_of_a_grid_and_a_village(engine: Engine) -> None:
    town = make_town(engine)
    with Session(engine) as session:
        [leader] = directory.grid_leaders(session, grid_id=town.grid_id)
        [chief] = directory.station_chiefs(session, village_id=town.village_id)
        assert directory.grid_leaders(session, grid_id=town.village_id) == []
    assert (leader.name, leader.contact_id, leader.role) == (
        town.grid_leader.name,
        contact(town.grid_leader),
        Role.GRID_LEADER,
    )
    assert leader.org_unit_id == town.grid_id and leader.phone == town.grid_leader.phone
    assert leader.label == f"网格长{town.grid_leader.name}"
    assert (chief.name, chief.org_unit_id) == (town.station_chief.name, town.village_id)


def test_town_officials_are_those_of_the_office_when_titles_say_so(engine: Engine) -> None:
    town = make_town(engine)
    with Session(engine) as session:
        officials = directory.town_officials(session)
        everyone = directory.holders(session, roles=[Role.TOWN_OFFICIAL])
    assert contact(town.town_official) in {h.contact_id for h in officials}
    assert all("综治" in (h.title or "") for h in officials)
    assert len(everyone) > len(officials)


def test_liaisons_carry_their_department(engine: Engine) -> None:
    town = make_town(engine)
    with Session(engine) as session:
        liaisons = directory.liaisons(session)
    by_contact = {h.contact_id: h.department for h in liaisons}
    assert by_contact[contact(town.justice_liaison)] == "区司法局"
    assert by_contact[contact(town.police_liaison)] == "派出所"
    assert {h.role for h in liaisons} == {Role.DEPARTMENT_LIAISON}


def test_holders_are_grouped_by_unit_oldest_appointment_first(engine: Engine) -> None:
    town = make_town(engine)
    with Session(engine) as session:
        grouped = directory.holders_by_unit(session, unit_ids=[town.grid_id, town.village_id])
        flat = directory.holders(session, unit_ids=[town.grid_id, town.village_id])
        assert directory.holders_by_unit(session, unit_ids=[]) == {}
    assert set(grouped) == {town.grid_id, town.village_id}
    assert [h for h in flat if h.org_unit_id == town.grid_id] == grouped[town.grid_id]
    assert town.grid_leader.name in {h.name for h in grouped[town.grid_id]}


def test_posts_of_a_person(engine: Engine) -> None:
    town = make_town(engine)
    with Session(engine) as session:
        person = directory.person_by_contact(session, contact(town.grid_leader))
        assert person is not None and person.id is not None
        posts = directory.posts_of(session, person_id=person.id)
    assert (Role.GRID_LEADER, town.grid_id) in {(p.role, p.unit_id) for p in posts}


def test_grid_and_area_of_each_level(engine: Engine) -> None:
    town: Town = make_town(engine)
    with Session(engine) as session:
        home, grid, village = (
            unit(session, town.unit_id),
            unit(session, town.grid_id),
            unit(session, town.village_id),
        )
        assert village.parent_id is not None
        top = unit(session, village.parent_id)
        assert top.level is Level.TOWN
        assert directory.grid_of(session, home) == grid
        assert directory.grid_of(session, grid) == grid
        assert directory.grid_of(session, village) is None
        assert directory.area_of(session, home) == (town.grid_id, town.village_id)
        assert directory.area_of(session, grid) == (town.grid_id, town.village_id)
        assert directory.area_of(session, village) == (None, town.village_id)
        assert directory.area_of(session, top) == (None, None)


def test_leader_chain_climbs_from_the_unit_nearest_first(engine: Engine) -> None:
    town = make_town(engine)
    with Session(engine) as session:
        chain = directory.leader_chain(session, org_unit_id=town.unit_id)
        assert directory.leader_chain(session, org_unit_id=999_999) == []
    levels = [u.level for u, _ in chain]
    assert levels == sorted(levels, key=lambda level: -level.depth)
    assert levels[0] is Level.UNIT and Level.TOWN not in levels
    names = [(u.level, h.role, h.name) for u, h in chain]
    assert (Level.UNIT, Role.UNIT_LEADER, town.unit_leader.name) in names
    assert (Level.GRID, Role.GRID_LEADER, town.grid_leader.name) in names
    assert (Level.VILLAGE, Role.STATION_CHIEF, town.station_chief.name) in names
