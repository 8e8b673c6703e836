"""Filing reported problems: new tickets routed to the grid leader, duplicates joined (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from models.enums import TicketLevel, TicketState
from models.tickets import (
    IntakeKind,
    IntakeMessage,
    TicketReporter,
)
from tests.tickets.flows import COMPLAINT, MIN, act, events, file, new_code, ticket
from tests.tickets.helpers import T0, Town, contact


def test_intake_opens_a_ticket_with_a_code_and_routes_it_to_the_grid_leader(
    engine: Engine, settings: Settings, town: Town
) -> None:
    outcome = file(engine, settings, COMPLAINT, "resident-1", unit_id=town.unit_id)

    assert outcome.kind is IntakeKind.TICKET
    assert outcome.ticket_code == "T20261130-0001"
    group, private, unit_copy = outcome.replies
    assert group.room_id == "unit@chatroom" and group.mention_ids == ("resident-1",)
    leader = town.grid_leader
    assert "T20261130-0001" in group.text and f"网格长{leader.name}" in group.text
    assert leader.phone in group.text  # a work phone, public to the unit's residents
    assert unit_copy.contact_id == contact(town.unit_leader) and "【本单元工单】" in unit_copy.text
    assert "11月30日 11:00前响应" in group.text  # 2 h to accept, local time
    assert private.contact_id == contact(leader) and private.room_id is None
    assert COMPLAINT in private.text and "位置：3栋" in private.text
    for verb in ("接单", "办结", "上报", "吹哨", "改派", "延期"):
        assert f"{verb} T20261130-0001" in private.text

    row = ticket(engine, "T20261130-0001")
    assert (row.state, row.level, row.category) == (
        TicketState.DISPATCHED,
        TicketLevel.GRID,
        "sanitation",
    )
    assert row.assignee_contact_id == contact(leader) and row.assignee_person_id is not None
    assert (row.unit_id, row.grid_id, row.village_id) == (
        town.unit_id,
        town.grid_id,
        town.village_id,
    )
    assert row.next_timer_at == T0 + timedelta(hours=2) - timedelta(minutes=24)
    assert events(engine, row.code) == ["create", "dispatch"]
    with Session(engine) as session:
        logged = session.exec(select(IntakeMessage)).one()
    assert (logged.kind, logged.ticket_id, logged.category) == (
        IntakeKind.TICKET,
        row.id,
        "sanitation",
    )


def test_a_duplicate_joins_the_open_ticket(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    again = file(
        engine, settings, "3栋楼下水道堵了几天了，臭死人了", "resident-2", unit_id=town.unit_id
    )

    assert again.kind is IntakeKind.DUPLICATE and again.ticket_code == code
    group, notice = again.replies
    assert f"与工单{code}是同一问题" in group.text and "共2人反映" in group.text
    assert group.mention_ids == ("resident-2",)
    assert notice.contact_id == contact(town.grid_leader) and "共2人" in notice.text
    with Session(engine) as session:
        reporters = session.exec(select(TicketReporter.contact_id)).all()
    assert sorted(reporters) == ["resident-1", "resident-2"]
    assert events(engine, code)[-1] == "add_reporter"

    same_person = file(
        engine, settings, "3栋下水道堵了好几天了臭死了", "resident-1", unit_id=town.unit_id
    )
    assert same_person.kind is IntakeKind.DUPLICATE and "您已反映过这个问题" in same_person.receipt
    assert len(same_person.replies) == 1


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("5栋楼下的下水道堵了好几天了，臭死了", "unit_id"),  # another building
        ("楼上邻居天天半夜装修吵死了", "unit_id"),  # another category
        ("3栋楼下的下水道堵了好几天了，臭死了", "other_grid_unit_id"),  # another grid
    ],
)
def test_what_is_not_a_duplicate(
    engine: Engine, settings: Settings, town: Town, text: str, unit: str
) -> None:
    new_code(engine, settings, town)
    other = file(engine, settings, text, "resident-2", unit_id=getattr(town, unit))
    assert other.kind is IntakeKind.TICKET


def test_no_merge_after_the_duplicate_window(
    engine: Engine, settings: Settings, town: Town
) -> None:
    new_code(engine, settings, town)
    later = T0 + settings.tickets.duplicate_window + MIN
    other = file(
        engine, settings, "3栋下水道堵了好几天了臭死了", "r2", unit_id=town.unit_id, now=later
    )
    assert other.kind is IntakeKind.TICKET


def test_a_village_group_message_goes_to_the_station_chief(
    engine: Engine, settings: Settings, town: Town
) -> None:
    outcome = file(engine, settings, COMPLAINT, "r1", unit_id=town.village_id)
    row = ticket(engine, outcome.ticket_code or "")
    assert (row.level, row.assignee_contact_id) == (
        TicketLevel.VILLAGE,
        contact(town.station_chief),
    )
    assert "网格站站长" in outcome.receipt


def test_nul_characters_are_stored_on_postgresql(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """Regression: PostgreSQL refuses NUL in text; a message with one was lost."""
    outcome = file(
        engine, settings, "3栋\x00楼下的下水道堵了好几天了，臭死了", "r1", unit_id=town.unit_id
    )
    assert outcome.kind is IntakeKind.TICKET
    code = outcome.ticket_code or ""
    act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    act(engine, settings, f"备注 {code} 已\x00联系", contact(town.grid_leader))
    assert "\x00" not in ticket(engine, code).text
