"""The console without a browser: refusals as pages, the CSRF token on posts, a ticket
action through the lifecycle with the person as actor, exports, phones as core.privacy
shows them (the same on the 组织 page as from /api/org/show), and the board's live stream."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import select

from core.config import Settings
from models.auth import AuditChannel, AuditEntry, Credential
from models.db import session_scope
from models.enums import TicketLevel, TicketState
from models.org import OrgUnit, Person
from models.tickets import Ticket, TicketOutbox, TicketReporter
from orgtree.service import apply_roster
from tests.factories import small_town
from web.app import create_app
from web.security import CSRF_HEADER

ROSTER = small_town()
ROW = ROSTER.rows[0]
LEADER = ROW.grid_leader
PASSWORD = "console-password-1"
CODE = "T20260601-0001"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def console(settings: Settings, engine: Engine) -> AsyncIterator[tuple[TestClient, str]]:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        person = session.exec(select(Person).where(Person.phone == LEADER.phone)).one()
        assert person.id is not None
        session.add(
            Credential(
                person_id=person.id, password_hash=PasswordHasher().hash(PASSWORD), updated_at=now
            )
        )
        unit = session.exec(
            select(OrgUnit).where(OrgUnit.path == "/".join((ROSTER.town, *ROW.path)))
        ).one()
        grid = session.get(OrgUnit, unit.parent_id)
        assert grid is not None
        session.add(
            Ticket(
                code=CODE,
                state=TicketState.DISPATCHED,
                level=TicketLevel.GRID,
                category="environment",
                text="3栋楼道的灯坏了",
                unit_id=unit.id,
                grid_id=grid.id,
                village_id=grid.parent_id,
                origin_room_id="unit-room",
                created_at=now - timedelta(minutes=5),
                window_started_at=now - timedelta(minutes=5),
                first_accept_due_at=now + timedelta(hours=2),
            )
        )
    async with TestClient(TestServer(create_app(settings, run_bots=False))) as client:
        response = await client.post(
            "/api/auth/signin", json={"phone": LEADER.phone, "password": PASSWORD}
        )
        assert response.status == 200
        yield client, (await response.json())["csrf_token"]


async def test_anonymous_browser_goes_to_sign_in_and_scripts_get_json(
    settings: Settings, engine: Engine
) -> None:
    async with TestClient(TestServer(create_app(settings, run_bots=False))) as client:
        page = await client.get("/console/tickets?open=1", headers=HTML, allow_redirects=False)
        assert page.status == 302
        assert page.headers["Location"] == "/console/signin?next=/console/tickets?open=1"
        script = await client.get("/console/tickets")
        assert script.status == 401 and (await script.json())["code"] == "unauthenticated"
        signin = await client.get("/console/signin")
        assert signin.status == 200 and "获取微信验证码" in await signin.text()
        css = await client.get("/console/static/console.css")
        assert css.status == 200 and css.content_type == "text/css"
        missing = await client.get("/console/static/../app.py")
        assert missing.status in (403, 404)


async def test_a_ticket_action_needs_the_csrf_token_and_goes_through_the_lifecycle(
    console: tuple[TestClient, str], engine: Engine
) -> None:
    client, csrf = console
    forged = await client.post(f"/console/tickets/{CODE}/act", data={"action": "accept"})
    assert forged.status == 403 and (await forged.json())["code"] == "csrf"
    accepted = await client.post(
        f"/console/tickets/{CODE}/act", data={"action": "accept"}, headers={CSRF_HEADER: csrf}
    )
    assert accepted.status == 200, await accepted.text()
    refused = await client.post(
        f"/console/tickets/{CODE}/act",
        data={"action": "extend", "days": "99"},
        headers={CSRF_HEADER: csrf},
    )
    assert refused.status in (400, 409)
    resolved = await client.post(
        f"/console/tickets/{CODE}/act",
        data={"action": "resolve", "text": "已更换灯泡"},
        headers={CSRF_HEADER: csrf},
    )
    assert resolved.status == 200, await resolved.text()
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.code == CODE)).one()
        assert ticket.state in (TicketState.RESOLVED, TicketState.RATING)
        assert ticket.assignee_name == LEADER.name
        outbox = session.exec(select(TicketOutbox)).all()
        # The actor's answers (「已接单…请回复办结…」) are shown on the page, not posted to
        # the residents' group (a regression: the group got the grid leader's instructions).
        assert not [o for o in outbox if o.room_id == "unit-room"]
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.target == CODE, AuditEntry.outcome == "ok")
        ).all()
        assert {a.action for a in audit} >= {"ticket.accept", "ticket.resolve"}
        assert all(a.channel is AuditChannel.CONSOLE for a in audit)
    page = await client.get(f"/console/tickets/{CODE}", headers=HTML)
    text = await page.text()
    assert page.status == 200 and "已更换灯泡" in text and LEADER.name in text


async def test_pages_and_exports_keep_to_the_persons_scope(
    console: tuple[TestClient, str],
) -> None:
    client, _csrf = console
    other = next(r for r in ROSTER.rows if r.village != ROW.village)
    refused = await client.get(f"/console/org?path={other.village}", headers=HTML)
    assert refused.status == 403 and "无权访问" in await refused.text()
    for path in ("/console/", "/console/tickets", "/console/notices", "/console/org"):
        page = await client.get(path, headers=HTML)
        assert page.status == 200, (path, await page.text())
    board = await client.get("/console/tickets", headers=HTML)
    assert CODE in await board.text()
    csv = await client.get("/console/tickets/export.csv")
    assert csv.status == 200 and CODE in (await csv.read()).decode("utf-8-sig")
    xlsx = await client.get("/console/tickets/export.xlsx?q=楼道")
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["编号", CODE]
    system = await client.get("/console/system", headers=HTML)
    assert system.status == 403


async def _sign_in_as(client: TestClient, engine: Engine, phone: str) -> None:
    """Sign ``phone``'s roster person in (a password set for them first)."""
    with session_scope(engine) as session:
        person = session.exec(select(Person).where(Person.phone == phone)).one()
        assert person.id is not None
        if session.get(Credential, person.id) is None:
            session.add(
                Credential(
                    person_id=person.id,
                    password_hash=PasswordHasher().hash(PASSWORD),
                    updated_at=datetime.now(UTC),
                )
            )
    client.session.cookie_jar.clear()
    response = await client.post("/api/auth/signin", json={"phone": phone, "password": PASSWORD})
    assert response.status == 200, await response.text()


PHONE_SPAN = re.compile(r'<span class="phone">([^<]*)</span>')


async def test_the_org_page_and_api_org_show_give_a_viewer_the_same_phones(
    console: tuple[TestClient, str], engine: Engine
) -> None:
    """One rule (core.privacy) for the console's 组织 and /api/org/show: the grid leader
    sees the leaders of their grid in full, and so does a unit leader on their unit's page
    (the console used to mask it for them); a unit leader elsewhere may open neither."""
    client, _csrf = console
    grid = f"{ROW.village}/{ROW.grid}"
    unit = "/".join(ROW.path)
    for person, path in ((LEADER, grid), (ROW.unit_leader, unit)):
        await _sign_in_as(client, engine, person.phone)
        page = await client.get(f"/console/org?path={quote(path)}", headers=HTML)
        assert page.status == 200, await page.text()
        on_page = sorted(PHONE_SPAN.findall(await page.text()))
        shown = await client.get(f"/api/org/show?path={quote(path)}")
        assert shown.status == 200, await shown.text()
        node = await shown.json()
        from_api = sorted(
            leader["phone"] for n in (node, *node["children"]) for leader in n["leaders"]
        )
        assert on_page == from_api, person.name
        assert {person.phone, ROW.unit_leader.phone} <= set(on_page)
        assert not any("*" in p for p in on_page)
    elsewhere = next(r for r in ROSTER.rows if r.village != ROW.village).unit_leader
    await _sign_in_as(client, engine, elsewhere.phone)
    assert (await client.get(f"/console/org?path={quote(grid)}", headers=HTML)).status == 403
    assert (await client.get(f"/api/org/show?path={quote(grid)}")).status == 403


async def test_a_reporters_phone_is_whole_for_the_tickets_holder_and_masked_for_a_colleague(
    console: tuple[TestClient, str], engine: Engine
) -> None:
    """The ticket's holder (the grid leader of a grid ticket nobody accepted yet) calls
    the resident back; the village's station chief, who may read the ticket but does not
    handle it, sees the phone masked (core.privacy)."""
    client, _csrf = console
    phone = "13912345678"
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.code == CODE)).one()
        assert ticket.id is not None
        session.add(
            TicketReporter(
                ticket_id=ticket.id, contact_id=f"tel-{phone}", name="王阿姨", phone=phone
            )
        )
    holder = await client.get(f"/console/tickets/{CODE}", headers=HTML)
    assert holder.status == 200
    assert phone in await holder.text()
    await _sign_in_as(client, engine, ROW.station_chief.phone)
    colleague = await client.get(f"/console/tickets/{CODE}", headers=HTML)
    assert colleague.status == 200
    text = await colleague.text()
    assert "王阿姨" in text and "139****5678" in text and phone not in text


async def _next_event(stream: ClientResponse) -> tuple[str, dict[str, object]]:
    """The next Server-Sent Event (name and data), skipping comments and ``retry:``."""
    name, data = "", ""
    while True:
        line = (await stream.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and name:
            return name, json.loads(data)


async def test_the_board_stream_says_changed_when_a_ticket_is_added(
    console: tuple[TestClient, str], engine: Engine
) -> None:
    """The board reloads itself on ``changed`` (console.js): the stream sends the
    current version at once, then a new one within seconds of a ticket in scope."""
    client, _csrf = console
    stream = await client.get("/console/tickets/live")
    assert stream.status == 200
    assert stream.content_type == "text/event-stream"
    first, before = await asyncio.wait_for(_next_event(stream), 5)
    assert first == "changed"
    with session_scope(engine) as session:
        held = session.exec(select(Ticket).where(Ticket.code == CODE)).one()
        now = datetime.now(UTC)
        session.add(
            Ticket(
                code="T20260601-0002",
                state=TicketState.DISPATCHED,
                level=TicketLevel.GRID,
                category="environment",
                text="路灯不亮",
                unit_id=held.unit_id,
                grid_id=held.grid_id,
                village_id=held.village_id,
                created_at=now,
                window_started_at=now,
                first_accept_due_at=now + timedelta(hours=2),
            )
        )
    name, after = await asyncio.wait_for(_next_event(stream), 5)
    assert name == "changed" and after["version"] != before["version"]
    stream.close()


EVIL = '=HYPERLINK("http://evil.example","x") 电梯坏了\x01三天没人修，晚上很黑，我电话13912345678'


def _add_evil_ticket(engine: Engine) -> None:
    """A resident's words as the probe sent them: a formula, a control character, a phone."""
    with session_scope(engine) as session:
        first = session.exec(select(Ticket).where(Ticket.code == CODE)).one()
        session.add(
            Ticket(
                code="T20260601-0002",
                state=TicketState.DISPATCHED,
                level=TicketLevel.GRID,
                category="environment",
                text=EVIL,
                unit_id=first.unit_id,
                grid_id=first.grid_id,
                village_id=first.village_id,
                origin_room_id="unit-room",
                created_at=first.created_at,
                window_started_at=first.window_started_at,
                first_accept_due_at=first.first_accept_due_at,
            )
        )


async def test_exports_neutralise_formulas_and_control_characters_and_mask_typed_phones(
    console: tuple[TestClient, str], engine: Engine
) -> None:
    client, _csrf = console
    _add_evil_ticket(engine)
    # The station chief may read the grid's tickets but does not handle them.
    assert ROW.station_chief is not None
    await _sign_in_as(client, engine, ROW.station_chief.phone)
    csv_export = await client.get("/console/tickets/export.csv")
    assert csv_export.status == 200
    text = (await csv_export.read()).decode("utf-8-sig")
    assert "\"'=HYPERLINK(" in text and "\x01" not in text
    assert "13912345678" not in text and "139****5678" in text
    xlsx = await client.get("/console/tickets/export.xlsx")
    assert xlsx.status == 200, await xlsx.text()  # was 500: IllegalCharacterError
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=HYPER")]
    assert len(cells) == 1 and cells[0].data_type == "s"
    assert "\x01" not in cells[0].value and "13912345678" not in cells[0].value
    board = await client.get("/console/tickets", headers=HTML)
    page_text = await board.text()
    assert "139****5678" in page_text and "13912345678" not in page_text


async def test_the_grid_leader_handling_a_ticket_sees_the_typed_phone(
    console: tuple[TestClient, str], engine: Engine
) -> None:
    client, _csrf = console  # signed in as the grid leader: the ticket is theirs
    _add_evil_ticket(engine)
    board = await client.get("/console/tickets", headers=HTML)
    assert "13912345678" in await board.text()
    csv_export = await client.get("/console/tickets/export.csv")
    assert "13912345678" in (await csv_export.read()).decode("utf-8-sig")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("village=999999999999999999999999999999", "村"),
        ("grid=999999999999999999999999999999", "网格"),
        ("village=9223372036854775808", "村"),
        ("grid=abc", "网格"),
        ("to=9999-12-31", "结束日期"),
        ("from=0001-01-01", "开始日期"),
        ("from=2026-13-45", "开始日期"),
    ],
)
async def test_regression_out_of_range_filters_are_refused_with_400_naming_the_field(
    console: tuple[TestClient, str], query: str, field: str
) -> None:
    """Probe item C3: these were 500 (OverflowError) on the board and both exports."""
    client, _csrf = console
    for path in ("/console/tickets", "/console/tickets/export.csv", "/console/tickets/export.xlsx"):
        response = await client.get(f"{path}?{query}", headers=HTML)
        text = await response.text()
        assert response.status == 400, (path, query, text)
        assert field in text, (path, query, text)
    fine = await client.get("/console/tickets?village=12&to=2100-12-31", headers=HTML)
    assert fine.status == 200


async def test_regression_notice_history_refuses_a_date_out_of_range(
    console: tuple[TestClient, str],
) -> None:
    client, _csrf = console
    for query, field in (("to=9999-12-31", "结束日期"), ("from=0001-01-01", "开始日期")):
        response = await client.get(f"/console/notices?{query}", headers=HTML)
        text = await response.text()
        assert response.status == 400 and field in text and "超出范围" in text, text
