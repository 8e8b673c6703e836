"""Open311 GeoReport v2, written from the spec: services, requests in and out, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine
from sqlmodel import select

from core.config import Settings
from models.auth import AuditEntry
from models.db import session_scope
from models.tickets import Ticket
from orgtree.service import apply_roster
from tests.factories import api_token, bearer, small_town
from web.app import create_app

ROSTER = small_town(villages=2, grids_per_village=1, units_per_grid=1)
ROW_A, ROW_B = ROSTER.rows[0], ROSTER.rows[-1]
BASE = "/open311/v2"
SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
}  # fmt: skip


@pytest.fixture
async def client(settings: Settings, engine: Engine) -> AsyncIterator[TestClient]:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
    async with TestClient(TestServer(create_app(settings, run_bots=False))) as test_client:
        yield test_client


def assert_error(body: object, code: int) -> None:
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"} and body[0]["code"] == code


async def test_services_list_the_ticket_categories(client: TestClient, settings: Settings) -> None:
    response = await client.get(f"{BASE}/services.json")
    assert response.status == 200
    services = await response.json()
    assert [s["service_code"] for s in services] == [c.code for c in settings.tickets.categories]
    assert all(set(s) == SERVICE_FIELDS and s["type"] == "realtime" for s in services)
    definition = await client.get(f"{BASE}/services/dispute.json")
    assert (await definition.json()) == {"service_code": "dispute", "attributes": []}
    missing = await client.get(f"{BASE}/services/nope.json")
    assert missing.status == 404
    assert_error(await missing.json(), 404)


async def test_requests_in_and_out_with_a_scoped_api_key(
    client: TestClient, engine: Engine
) -> None:
    hotline = api_token(engine, role="town_official", name="12345热线")
    form = {
        "api_key": hotline,
        "service_code": "sanitation",
        "address_string": "/".join(ROW_A.path),
        "description": "小区门口垃圾堆了三天没人清运",
        "first_name": "先生",
        "last_name": "林",
        "phone": "13912345678",
    }
    created = await client.post(f"{BASE}/requests.json", data=form)
    assert created.status == 201, await created.text()
    (receipt,) = await created.json()
    assert set(receipt) == {"service_request_id", "service_notice", "account_id"}
    code = receipt["service_request_id"]
    assert code.startswith("T")

    one = await client.get(f"{BASE}/requests/{code}.json", params={"api_key": hotline})
    (request,) = await one.json()
    assert set(request) == REQUEST_FIELDS
    assert request["status"] == "open" and request["service_code"] == "sanitation"
    assert request["address"] == "/".join(ROW_A.path)
    assert "13912345678" not in str(request), request

    listed = await client.get(
        f"{BASE}/requests.json", params={"api_key": hotline, "status": "open"}
    )
    assert [r["service_request_id"] for r in await listed.json()] == [code]
    closed = await client.get(
        f"{BASE}/requests.json", params={"api_key": hotline, "status": "closed"}
    )
    assert await closed.json() == []

    # A village's key sees only its village, and files only there.
    village_b = api_token(engine, role="station_chief", scope=ROW_B.path[:1], name="乙村")
    hidden = await client.get(f"{BASE}/requests/{code}.json", params={"api_key": village_b})
    assert hidden.status == 404
    assert (
        await (await client.get(f"{BASE}/requests.json", params={"api_key": village_b})).json()
        == []
    )
    refused = await client.post(f"{BASE}/requests.json", data={**form, "api_key": village_b})
    assert refused.status == 403
    assert_error(await refused.json(), 403)
    with session_scope(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "ticket.create")).one()
    assert entry.target == code and entry.detail["via"] == "open311"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"api_key": ""}, 401),
        ({"api_key": "gct_wrong"}, 403),
        ({"service_code": ""}, 400),
        ({"service_code": "nope"}, 400),
        ({"address_string": "", "lat": "25.4", "long": "119.1"}, 400),
        ({"address_string": "没有这个村"}, 400),
        ({"description": ""}, 400),
    ],
)
async def test_request_errors_follow_the_spec(
    client: TestClient, engine: Engine, settings: Settings, change: dict[str, str], status: int
) -> None:
    token = api_token(engine, role="town_official")
    form = {
        "api_key": token,
        "service_code": "sanitation",
        "address_string": "/".join(ROW_A.path),
        "description": "路灯坏了",
        **change,
    }
    response = await client.post(f"{BASE}/requests.json", data=form)
    assert response.status == status, await response.text()
    assert_error(await response.json(), status)


async def test_unknown_request_and_bad_dates(client: TestClient, engine: Engine) -> None:
    token = api_token(engine, role="town_official")
    missing = await client.get(f"{BASE}/requests/T20990101-0001.json", params={"api_key": token})
    assert missing.status == 404
    assert_error(await missing.json(), 404)
    bad = await client.get(
        f"{BASE}/requests.json", params={"api_key": token, "start_date": "yesterday"}
    )
    assert bad.status == 400
    assert_error(await bad.json(), 400)
    json_body = await client.post(
        f"{BASE}/requests.json", json={"service_code": "x"}, headers=bearer(token)
    )
    assert json_body.status == 400


async def test_a_phone_typed_into_the_description_is_masked(
    client: TestClient, engine: Engine
) -> None:
    """Probe: the complaint's own text carried the caller's phone in full to every key."""
    hotline = api_token(engine, role="town_official", name="12345热线")
    form = {
        "api_key": hotline,
        "service_code": "sanitation",
        "address_string": "/".join(ROW_A.path),
        "description": "晚上很黑，路灯坏了，我电话13912345678",
        "phone": "13800007777",
    }
    created = await client.post(f"{BASE}/requests.json", data=form)
    assert created.status == 201, await created.text()
    code = (await created.json())[0]["service_request_id"]
    one = await client.get(f"{BASE}/requests/{code}.json", params={"api_key": hotline})
    (request,) = await one.json()
    assert "13912345678" not in str(request) and "139****5678" in request["description"]
    listed = await client.get(f"{BASE}/requests.json", params={"api_key": hotline})
    assert "13912345678" not in await listed.text()


@pytest.mark.parametrize("phone", ["<script>alert(1)</script>", "x" * 1000, "12345", "1391234567"])
async def test_regression_a_bad_phone_is_refused_not_stored_as_its_digits(
    client: TestClient, engine: Engine, phone: str
) -> None:
    """Probe item E2: phone=<script>alert(1)</script> was accepted and stored as "1"."""
    token = api_token(engine, role="town_official")
    form = {
        "api_key": token,
        "service_code": "sanitation",
        "address_string": "/".join(ROW_A.path),
        "description": "路灯坏了",
        "phone": phone,
    }
    response = await client.post(f"{BASE}/requests.json", data=form)
    body = await response.json()
    assert response.status == 400, body
    assert_error(body, 400)
    assert "phone is not a valid phone number" in body[0]["description"]
    with session_scope(engine) as session:
        assert session.exec(select(Ticket)).all() == []


def test_reporter_phones() -> None:
    from tickets.errors import TicketError
    from tickets.one_stop import reporter_phone

    assert reporter_phone("") is None and reporter_phone(None) is None
    assert reporter_phone("+86 139-1234-5678") == "13912345678"
    assert reporter_phone("0594-2345678") == "05942345678"
    for bad in ("<script>alert(1)</script>", "12345", "139123456789", "abc"):
        with pytest.raises(TicketError, match="不是有效的手机号"):
            reporter_phone(bad)
