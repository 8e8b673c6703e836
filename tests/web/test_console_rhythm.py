"""The console's 节奏 pages without a browser: tasks (list, completion, export, assign
through the policy's ASSIGN_TASK), 会商 (agendas, outcomes recorded as in chat) and 月结
(the XLSX and chart of ``gridcast report month``), each within the person's scope, with
refusals and bad input that change nothing."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from openpyxl import load_workbook
from sqlalchemy import Engine, func
from sqlmodel import select

from core.clock import TOWN_TZ
from core.config import Settings
from models.auth import AuditEntry, AuditOutcome, Credential
from models.db import session_scope
from models.enums import TicketLevel, TicketState
from models.org import OrgUnit, Person
from models.rhythm import ConsultationItem, Task, TaskAssignment
from models.tickets import Ticket, TicketEvent, TicketOutbox
from orgtree.service import apply_roster
from tests.factories import small_town
from web.app import create_app
from web.security import CSRF_HEADER

ROSTER = small_town()
TOWN = ROSTER.town
ROW = ROSTER.rows[0]
VILLAGE_A = ROW.village
GRID_A = ROW.grid
VILLAGE_B = next(r.village for r in ROSTER.rows if r.village != VILLAGE_A)
CHIEF = ROW.station_chief
LEADER = ROW.grid_leader
OFFICIAL = next(e.person for e in ROSTER.extra_roles if e.role.value == "town_official")
PASSWORD = "console-rhythm-1"
HTML = {"Accept": "text/html,application/xhtml+xml"}
CODE = "T20260601-0001"
CODE_B = "T20260601-0002"


def _unit(session: object, path: str) -> OrgUnit:
    return session.exec(select(OrgUnit).where(OrgUnit.path == f"{TOWN}/{path}")).one()  # type: ignore[attr-defined]


@pytest.fixture
async def client(settings: Settings, engine: Engine) -> AsyncIterator[TestClient]:
    now = datetime.now(UTC)
    hasher = PasswordHasher()
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        for record in (CHIEF, LEADER, OFFICIAL):
            person = session.exec(select(Person).where(Person.phone == record.phone)).one()
            assert person.id is not None
            session.add(
                Credential(person_id=person.id, password_hash=hasher.hash(PASSWORD), updated_at=now)
            )
        for code, row in (
            (CODE, ROW),
            (CODE_B, next(r for r in ROSTER.rows if r.village == VILLAGE_B)),
        ):
            unit = _unit(session, "/".join(row.path))
            grid = session.get(OrgUnit, unit.parent_id)
            assert grid is not None
            ticket = Ticket(
                code=code,
                state=TicketState.DISPATCHED,
                level=TicketLevel.VILLAGE,
                category="environment",
                text="河道垃圾堆积",
                unit_id=unit.id,
                grid_id=grid.id,
                village_id=grid.parent_id,
                created_at=now - timedelta(days=10),
                window_started_at=now - timedelta(days=10),
            )
            session.add(ticket)
            session.flush()
            assert ticket.id is not None and grid.parent_id is not None
            session.add(
                ConsultationItem(
                    period="2026-W22",
                    village_id=grid.parent_id,
                    ticket_id=ticket.id,
                    reasons=["escalated", "overdue"],
                    listed_at=now,
                )
            )
    async with TestClient(TestServer(create_app(settings, run_bots=False))) as test_client:
        yield test_client


async def sign_in(client: TestClient, phone: str) -> str:
    client.session.cookie_jar.clear()
    response = await client.post("/api/auth/signin", json={"phone": phone, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


def tomorrow() -> str:
    return (datetime.now(TOWN_TZ) + timedelta(days=1)).date().isoformat()


def counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return (
            session.exec(select(func.count()).select_from(Task)).one(),
            session.exec(select(func.count()).select_from(TaskAssignment)).one(),
            session.exec(select(func.count()).select_from(TicketOutbox)).one(),
        )


async def test_a_station_chief_assigns_a_task_in_their_village_and_sees_its_completion(
    client: TestClient, engine: Engine
) -> None:
    csrf = await sign_in(client, CHIEF.phone)
    form = await client.get("/console/tasks/new", headers=HTML)
    text = await form.text()
    assert form.status == 200 and 'for="t-title"' in text and f"{TOWN}/{VILLAGE_A}" in text
    assert f"{TOWN}/{VILLAGE_B}" not in text
    data = {
        "title": "果树丈量",
        "scope": f"{TOWN}/{VILLAGE_A}",
        "deadline": tomorrow(),
        "time": "18:00",
        "body": "配合征迁组丈量果树",
        "checklist": "1",
    }
    forged = await client.post("/console/tasks", data=data)
    assert forged.status == 403 and (await forged.json())["code"] == "csrf"
    assert counts(engine) == (0, 0, 0)
    done = await client.post("/console/tasks", data=data, headers={CSRF_HEADER: csrf})
    body = await done.json()
    assert done.status == 200, body
    code = body["code"]
    assert body["redirect"] == f"/console/tasks/{code}" and "果树丈量" in body["message"]
    tasks, assignments, queued = counts(engine)
    grids = {r.grid for r in ROSTER.rows if r.village == VILLAGE_A}
    assert (tasks, assignments) == (1, len(grids)) and queued >= len(grids)
    with session_scope(engine) as session:
        outbox = session.exec(select(TicketOutbox)).all()
        assert any(o.contact_id == LEADER.wechat_id and code in o.text for o in outbox)
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "task.assign")).one()
        assert entry.target == code and entry.outcome is AuditOutcome.OK
        task = session.exec(select(Task)).one()
        assert task.issuer_name == CHIEF.name and task.checklist
    listing = await client.get("/console/tasks", headers=HTML)
    text = await listing.text()
    assert listing.status == 200 and code in text and "果树丈量" in text and CHIEF.name in text
    detail = await client.get(f"/console/tasks/{code}", headers=HTML)
    text = await detail.text()
    assert detail.status == 200 and GRID_A in text and LEADER.name in text and "已下达" in text
    xlsx = await client.get(f"/console/tasks/{code}/export.xlsx")
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    assert sheet is not None
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][0] == "果树丈量" and lines[1][0] == "村" and len(lines) == 2 + len(grids)
    raw = (await (await client.get(f"/console/tasks/{code}/export.csv")).read()).decode("utf-8-sig")
    assert [r[1] for r in csv.reader(io.StringIO(raw))][1:] == sorted(
        grids, key=[r.grid for r in ROSTER.rows].index
    )


async def test_refusals_and_bad_input_assign_nothing(client: TestClient, engine: Engine) -> None:
    csrf = await sign_in(client, CHIEF.phone)
    base = {"title": "果树丈量", "deadline": tomorrow()}
    cases = [
        ({**base, "scope": f"{TOWN}/{VILLAGE_B}"}, 403, "不在您的村"),
        ({**base, "scope_text": "不存在村"}, 400, "找不到范围"),
        ({**base}, 400, "请选择或填写任务范围"),
        ({**base, "scope": f"{TOWN}/{VILLAGE_A}", "deadline": "2026-13-45"}, 400, "应写成"),
        ({**base, "scope": f"{TOWN}/{VILLAGE_A}", "deadline": "2020-01-01"}, 400, "之后"),
        ({**base, "scope": f"{TOWN}/{VILLAGE_A}", "time": "25:99"}, 400, "18:00"),
        ({**base, "scope": f"{TOWN}/{VILLAGE_A}", "title": ""}, 400, "任务名称"),
    ]
    for data, status, words in cases:
        response = await client.post("/console/tasks", data=data, headers={CSRF_HEADER: csrf})
        body = await response.json()
        assert response.status == status and words in body["message"], (data, body)
    assert counts(engine) == (0, 0, 0)
    with session_scope(engine) as session:
        refused = session.exec(
            select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.REFUSED)
        ).all()
        assert refused  # the out-of-scope attempt is in the audit trail
    await sign_in(client, LEADER.phone)
    page = await client.get("/console/tasks/new", headers=HTML)
    assert page.status == 403 and "只有镇干部和村网格站站长可以下达任务" in await page.text()
    missing = await client.get("/console/tasks/R9999", headers=HTML)
    assert missing.status == 404 and "没有找到任务R9999" in await missing.text()


async def test_a_task_shows_only_the_grids_in_the_viewers_scope(
    client: TestClient, engine: Engine
) -> None:
    csrf = await sign_in(client, OFFICIAL.phone)
    response = await client.post(
        "/console/tasks",
        data={
            "title": "安全检查",
            "scope_text": f"{VILLAGE_A}、{VILLAGE_B}",
            "deadline": tomorrow(),
        },
        headers={CSRF_HEADER: csrf},
    )
    assert response.status == 200, await response.text()
    code = (await response.json())["code"]
    whole = await (await client.get(f"/console/tasks/{code}", headers=HTML)).text()
    assert VILLAGE_A in whole and VILLAGE_B in whole
    await sign_in(client, LEADER.phone)
    mine = await client.get(f"/console/tasks/{code}", headers=HTML)
    text = await mine.text()
    other = next(r for r in ROSTER.rows if r.village == VILLAGE_B)
    assert mine.status == 200 and GRID_A in text and LEADER.name in text
    assert other.grid_leader.name not in text and 'id="task-done">0/1 ' in text
    raw = (await (await client.get(f"/console/tasks/{code}/export.csv")).read()).decode("utf-8-sig")
    assert len(raw.strip().splitlines()) == 2  # the header and the leader's own grid
    listing = await (await client.get("/console/tasks", headers=HTML)).text()
    assert code in listing
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(TaskAssignment)).one() == len(
            {(r.village, r.grid) for r in ROSTER.rows}
        )


async def test_consultation_outcome_from_the_console_as_in_chat(
    client: TestClient, engine: Engine
) -> None:
    csrf = await sign_in(client, CHIEF.phone)
    page = await client.get("/console/consult", headers=HTML)
    text = await page.text()
    assert page.status == 200 and CODE in text and CODE_B not in text
    assert "已上报村/镇" in text and 'for="c-' + CODE + '"' in text
    bad = await client.post(
        f"/console/consult/{CODE}",
        data={"conclusion": "联系住建局上门", "due": "12月5日"},
        headers={CSRF_HEADER: csrf},
    )
    assert bad.status == 400 and "2026-12-05" in (await bad.json())["message"]
    for far in ("9999-12-31", (datetime.now(TOWN_TZ) + timedelta(days=400)).date().isoformat()):
        # Probe item F10: 9999-12-31 was accepted and shown as 期限：12月31日.
        refused = await client.post(
            f"/console/consult/{CODE}",
            data={"conclusion": "联系住建局上门", "due": far},
            headers={CSRF_HEADER: csrf},
        )
        assert refused.status == 400 and "一年内" in (await refused.json())["message"]
    out = await client.post(
        f"/console/consult/{CODE_B}", data={"conclusion": "x"}, headers={CSRF_HEADER: csrf}
    )
    assert out.status == 403
    unknown = await client.post(
        "/console/consult/T20260601-0999", data={"conclusion": "x"}, headers={CSRF_HEADER: csrf}
    )
    assert unknown.status == 404
    with session_scope(engine) as session:
        assert all(not i.conclusion for i in session.exec(select(ConsultationItem)))
    due = (datetime.now(TOWN_TZ) + timedelta(days=5)).date()
    done = await client.post(
        f"/console/consult/{CODE}",
        data={"conclusion": "联系住建局上门", "owner": LEADER.name, "due": due.isoformat()},
        headers={CSRF_HEADER: csrf},
    )
    assert done.status == 200, await done.text()
    assert "已记录工单" in (await done.json())["message"]
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.code == CODE)).one()
        item = session.exec(
            select(ConsultationItem).where(ConsultationItem.ticket_id == ticket.id)
        ).one()
        assert (item.conclusion, item.owner_name, item.due_on) == (
            "联系住建局上门",
            LEADER.name,
            due,
        )
        assert item.recorded_by == CHIEF.name
        events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).all()
        assert any("会商结论：联系住建局上门" in (e.note or "") for e in events)
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "ticket.consult")).all()
        assert [a.outcome for a in audit if a.outcome is AuditOutcome.OK] == [AuditOutcome.OK]
    page = await (await client.get("/console/consult", headers=HTML)).text()
    assert "联系住建局上门" in page
    # The ticket's grid leader is one of its 三长 (issue 13): they record too.
    await sign_in(client, LEADER.phone)
    page = await (await client.get("/console/consult", headers=HTML)).text()
    assert CODE in page and 'for="c-' + CODE + '"' in page


async def test_the_monthly_report_within_scope(client: TestClient) -> None:
    await sign_in(client, CHIEF.phone)
    page = await client.get("/console/month?month=2026-06", headers=HTML)
    text = await page.text()
    assert page.status == 200 and VILLAGE_A in text and "月结" in text and "受理工单" in text
    assert f'<option value="{VILLAGE_B}"' not in text
    made = re.search(r"统计于 (\d+月\d+日 \d\d:\d\d)", text)
    assert made, text  # kept a minute: the page says when it was counted
    bad = await client.get("/console/month?month=2026-13x", headers=HTML)
    assert bad.status == 400 and "应写成 2026-11" in await bad.text()
    for month in ("9999-12", "0001-01"):  # probe item C3: these were 500 (OverflowError)
        for path in ("month", "month/report.xlsx", "month/report.png"):
            far = await client.get(f"/console/{path}?month={month}", headers=HTML)
            text = await far.text()
            assert far.status == 400 and "月份" in text and "超出范围" in text, (path, text)
    unknown = await client.get("/console/month?month=2026-06&village=不存在村", headers=HTML)
    assert unknown.status == 400 and "没有名为「不存在村」的村" in await unknown.text()
    other = await client.get(f"/console/month?month=2026-06&village={VILLAGE_B}", headers=HTML)
    assert other.status == 403
    xlsx = await client.get(f"/console/month/report.xlsx?month=2026-06&village={VILLAGE_A}")
    assert xlsx.status == 200
    book = load_workbook(io.BytesIO(await xlsx.read()))
    assert book["月报"].cell(row=3, column=1).value == VILLAGE_A
    png = await client.get(f"/console/month/report.png?month=2026-06&village={VILLAGE_A}")
    assert png.status == 200 and (await png.read()).startswith(b"\x89PNG")
    refused = await client.get(f"/console/month/report.xlsx?month=2026-06&village={VILLAGE_B}")
    assert refused.status == 403
    await sign_in(client, LEADER.phone)
    grid_only = await client.get("/console/month", headers=HTML)
    assert grid_only.status == 403 and "月结按村和全镇统计" in await grid_only.text()
    await sign_in(client, OFFICIAL.phone)
    town = await (await client.get("/console/month?month=2026-06", headers=HTML)).text()
    assert "全镇" in town and VILLAGE_B in town
