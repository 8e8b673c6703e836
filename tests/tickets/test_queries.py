"""查询, 我的工单, the ticket list and detail."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.config import Settings
from models.db import session_scope
from models.enums import TicketState
from models.tickets import TicketReporter
from tests.tickets.flows import act, new_code
from tests.tickets.helpers import T0, Town, contact
from tickets.lifecycle import TransitionRefused
from tickets.queries import list_tickets, my_tickets, query, ticket_detail


def test_query_and_my_tickets(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    with session_scope(engine) as session:
        mine = query(
            session=session,
            settings=settings,
            code=code,
            contact_id="resident-1",
            name="",
            now=T0,
        )
        assert f"工单{code}：已派单" in mine and "环境卫生" in mine
        leader_view = query(
            session=session,
            settings=settings,
            code=code,
            contact_id=contact(town.grid_leader),
            name="",
            now=T0,
        )
        assert "已派单" in leader_view
        with pytest.raises(TransitionRefused, match="只能查询自己反映的工单"):
            query(
                session=session,
                settings=settings,
                code=code,
                contact_id="stranger",
                name="",
                now=T0,
            )
        with pytest.raises(TransitionRefused, match="不在您的负责范围内"):
            query(
                session=session,
                settings=settings,
                code=code,
                contact_id=contact(town.other_village_grid_leader),
                name="",
                now=T0,
            )
        listing = my_tickets(
            session=session, settings=settings, contact_id="resident-1", name="", now=T0
        )
        assert code in listing and "您反映的工单" in listing
        held = my_tickets(
            session=session,
            settings=settings,
            contact_id=contact(town.grid_leader),
            name="",
            now=T0,
        )
        assert "您负责的待办工单" in held and code in held
        none = my_tickets(session=session, settings=settings, contact_id="nobody", name="", now=T0)
        assert "没有工单" in none


def test_list_and_detail(engine: Engine, settings: Settings, town: Town) -> None:
    code = new_code(engine, settings, town)
    act(engine, settings, f"接单 {code}", contact(town.grid_leader))
    with session_scope(engine) as session:
        rows = list_tickets(session=session, settings=settings)
        assert [r.code for r in rows] == [code]
        assert rows[0].category_name == "环境卫生" and rows[0].reporter_count == 1
        assert list_tickets(session=session, settings=settings, states=[TicketState.CLOSED]) == []
        detail = ticket_detail(session=session, settings=settings, code=code, now=T0)
    assert [e["kind"] for e in detail.events] == ["create", "dispatch", "accept"]
    assert detail.holder == f"网格长{town.grid_leader.name}"


def test_reporters_phone_is_whole_for_the_holder_and_the_whistled_department_only(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """core.privacy: a resident's phone goes to the people handling their ticket, who must
    call back; to anyone else (a colleague out of it, nobody in particular) it is masked."""
    code = new_code(engine, settings, town)
    phone = "13912345678"
    with session_scope(engine) as session:
        reporter = session.exec(select(TicketReporter)).one()
        reporter.phone = phone
        session.add(reporter)
    leader = contact(town.grid_leader)
    act(engine, settings, f"接单 {code}", leader)

    def phone_seen_by(reader: str | None) -> str:
        with session_scope(engine) as session:
            detail = ticket_detail(
                session=session, settings=settings, code=code, now=T0, reader=reader
            )
        return detail.reporters[0]["phone"]

    assert phone_seen_by(leader) == phone
    masked = "139****5678"
    assert phone_seen_by(contact(town.other_grid_leader)) == masked
    assert phone_seen_by(contact(town.station_chief)) == masked
    assert phone_seen_by(None) == masked

    act(engine, settings, f"吹哨 {code} 区司法局 邻里矛盾需调解", leader)
    assert phone_seen_by(contact(town.justice_liaison)) == phone
    assert phone_seen_by(contact(town.police_liaison)) == masked


def test_a_phone_typed_into_the_text_is_whole_only_for_who_handles_the_ticket(
    engine: Engine, settings: Settings, town: Town
) -> None:
    """core.privacy.show_phones_in_text: the ticket page shows it to the holder; the
    station chief above, and a liaison's 查询 answered in a group, see it masked."""
    from models.tickets import Ticket

    code = new_code(engine, settings, town)
    phone = "13912345678"
    with session_scope(engine) as session:
        row = session.exec(select(Ticket).where(Ticket.code == code)).one()
        row.text = f"晚上很黑，我电话{phone}"
        session.add(row)
        reporter = session.exec(select(TicketReporter)).one()
        reporter.phone = "13800007777"
        session.add(reporter)
    leader = contact(town.grid_leader)
    act(engine, settings, f"接单 {code}", leader)

    def text_seen_by(reader: str | None) -> str:
        with session_scope(engine) as session:
            detail = ticket_detail(
                session=session, settings=settings, code=code, now=T0, reader=reader
            )
        return detail.text

    assert phone in text_seen_by(leader)
    assert phone not in text_seen_by(contact(town.station_chief))
    assert "139****5678" in text_seen_by(None)

    act(engine, settings, f"吹哨 {code} 区司法局 邻里矛盾需调解", leader)
    liaison = contact(town.justice_liaison)

    def asked(in_group: bool) -> str:
        with session_scope(engine) as session:
            return query(
                session=session,
                settings=settings,
                code=code,
                contact_id=liaison,
                name="",
                now=T0,
                in_group=in_group,
            )

    private = asked(False)
    assert phone in private and "13800007777" in private
    group = asked(True)
    assert phone not in group and "13800007777" not in group and "139****5678" in group
