"""Open311 GeoReport v2 (``/open311/v2``): tickets for the 12345 hotline and the city's
other systems, in the spec's field names and error format.

- ``GET services.json``: the ticket categories (public, as the spec has it);
- ``POST requests.json`` (form-encoded, ``api_key``): a ticket through one-stop intake;
- ``GET requests.json`` / ``GET requests/{id}.json`` (``api_key``): status and the public
  part of the resolution, within the key's scope.

The ``api_key`` is a gridcast API token (``Authorization: Bearer`` works too): its post
decides where it may file and what it may read, as everywhere else. Errors are the
spec's list of ``{"code", "description"}``. Locations are org paths
(``address_string`` = ``黄霞村/第16网格/国湄领涵3号楼``): gridcast has no map.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from core.audit import record
from core.clock import utcnow
from core.config import Settings
from core.policy import Permission, Principal, decide
from core.privacy import ANONYMOUS, mask_phones_in_text, show_phones_in_text
from models.auth import AuditChannel
from models.db import run_in_session
from models.enums import TicketState
from models.org import OrgUnit, town_relative
from models.tickets import Ticket, TicketChannel, TicketCreate, TicketEvent
from orgtree.principals import token_principal
from tickets.errors import TicketError, UnitNotFound
from tickets.one_stop import create_ticket, reporter_phone
from tickets.outbox import queue_replies
from web.endpoints import guarded
from web.keys import ENGINE, SETTINGS
from web.security import client_address, principal_of

__all__ = ["routes"]

routes = web.RouteTableDef()
BASE = "/open311/v2"
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
_CLOSED = (TicketState.RESOLVED, TicketState.RATING, TicketState.CLOSED)


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def response(self) -> web.Response:
        return web.json_response(
            [{"code": self.status, "description": self.description}],
            status=self.status,
            dumps=_dumps,
        )


def _dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _ok(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


async def _caller(request: web.Request, api_key: str | None) -> Principal:
    principal = principal_of(request)
    if principal is None and api_key:
        now = utcnow()
        principal = await run_in_session(
            request.app[ENGINE],
            lambda s: token_principal(
                s, api_key.strip(), now=now, departments=request.app[SETTINGS].departments
            ),
        )
    if principal is None:
        raise Open311Error(401 if not api_key else 403, "api_key missing or invalid")
    return principal


def _check_jurisdiction(settings: Settings, given: str | None) -> None:
    wanted = settings.open311.jurisdiction_id
    if wanted and given and given != wanted:
        raise Open311Error(404, f"jurisdiction_id {given} is not served here")


def _service(settings: Settings, code: str) -> dict[str, Any]:
    category = next((c for c in settings.tickets.categories if c.code == code), None)
    if category is None:
        raise Open311Error(400, f"service_code {code} not found")
    return {"code": category.code, "name": category.name}


@routes.get(f"{BASE}/services.json")
@guarded(Permission.PUBLIC)
async def services(request: web.Request) -> web.Response:
    """The ticket categories as Open311 services."""
    settings = request.app[SETTINGS]
    try:
        _check_jurisdiction(settings, request.query.get("jurisdiction_id"))
    except Open311Error as exc:
        return exc.response()
    departments = {d.code: d.name for d in settings.departments}
    return _ok(
        [
            {
                "service_code": c.code,
                "service_name": c.name,
                "description": f"{c.name}（承办部门：{departments.get(c.department, c.department)}）",
                "metadata": False,
                "type": "realtime",
                "keywords": ",".join(c.keywords),
                "group": departments.get(c.department, c.department),
            }
            for c in settings.tickets.categories
        ]
    )


@routes.get(f"{BASE}/services/{{code}}.json")
@guarded(Permission.PUBLIC)
async def service_definition(request: web.Request) -> web.Response:
    """No service has extra attributes (``metadata`` is false everywhere)."""
    settings = request.app[SETTINGS]
    try:
        service = _service(settings, request.match_info["code"])
    except Open311Error as exc:
        return Open311Error(404, exc.description).response()
    return _ok({"service_code": service["code"], "attributes": []})


def _status_notes(session: Session, row: Ticket) -> str:
    """The public part of the resolution: the note of the last 办结, phones masked."""
    event = session.exec(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == row.id, TicketEvent.kind == "resolve")
        .order_by(col(TicketEvent.at).desc())
    ).first()
    return mask_phones_in_text(event.note) if event is not None and event.note else ""


def _request_json(session: Session, settings: Settings, row: Ticket) -> dict[str, Any]:
    unit = session.get(OrgUnit, row.unit_id)
    path = "/".join(town_relative(unit.path)) if unit is not None else ""
    names = {c.code: c.name for c in settings.tickets.categories}
    return {
        "service_request_id": row.code,
        "status": "closed" if row.state in _CLOSED else "open",
        "status_notes": _status_notes(session, row),
        "service_name": names.get(row.category, row.category),
        "service_code": row.category,
        # Open311 callers are integrations, not a ticket's handler: a phone typed into
        # the complaint is the resident's own and stays masked (core.privacy).
        "description": show_phones_in_text(ANONYMOUS, row.text),
        "agency_responsible": row.department_name or row.assignee_name or settings.town.name,
        "service_notice": "",
        "requested_datetime": _iso(row.created_at),
        "updated_datetime": _iso(row.updated_at),
        "expected_datetime": None,
        "address": path,
        "address_id": path,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _scope_of(session: Session, row: Ticket) -> tuple[str, ...]:
    unit = session.get(OrgUnit, row.unit_id)
    return town_relative(unit.path) if unit is not None else ()


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a W3C date-time (2026-07-30T08:00:00+08:00)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@routes.get(f"{BASE}/requests.json")
@guarded(Permission.PUBLIC)  # checked below: the api_key's post, in the spec's error format
async def get_requests(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    query = request.query
    try:
        _check_jurisdiction(settings, query.get("jurisdiction_id"))
        principal = await _caller(request, query.get("api_key"))
        ids = [i.strip() for i in query.get("service_request_id", "").split(",") if i.strip()]
        codes = [c.strip() for c in query.get("service_code", "").split(",") if c.strip()]
        for code in codes:
            _service(settings, code)
        status = query.get("status", "")
        if status not in ("", "open", "closed"):
            raise Open311Error(400, "status must be open or closed")
        end = _parse_time(query.get("end_date"), "end_date") or utcnow()
        start = _parse_time(query.get("start_date"), "start_date") or (end - DEFAULT_WINDOW)
    except Open311Error as exc:
        return exc.response()

    def read(session: Session) -> list[dict[str, Any]]:
        statement = select(Ticket).order_by(col(Ticket.created_at).desc())
        if ids:
            statement = statement.where(col(Ticket.code).in_(ids))
        else:
            statement = statement.where(
                col(Ticket.created_at) >= start, col(Ticket.created_at) <= end
            )
        if codes:
            statement = statement.where(col(Ticket.category).in_(codes))
        if status == "closed":
            statement = statement.where(col(Ticket.state).in_(_CLOSED))
        elif status == "open":
            statement = statement.where(col(Ticket.state).not_in(_CLOSED))
        out = []
        for row in session.exec(statement.limit(MAX_RESULTS * 2)):
            if not decide(
                principal,
                Permission.VIEW_TICKETS,
                scope=_scope_of(session, row),
                department=row.department_code,
            ):
                continue
            out.append(_request_json(session, settings, row))
            if len(out) >= MAX_RESULTS:
                break
        return out

    return _ok(await run_in_session(request.app[ENGINE], read))


@routes.get(f"{BASE}/requests/{{id}}.json")
@guarded(Permission.PUBLIC)  # checked below, as above
async def get_request(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    code = request.match_info["id"]
    try:
        _check_jurisdiction(settings, request.query.get("jurisdiction_id"))
        principal = await _caller(request, request.query.get("api_key"))
    except Open311Error as exc:
        return exc.response()

    def read(session: Session) -> dict[str, Any] | None:
        row = session.exec(select(Ticket).where(Ticket.code == code)).first()
        if row is None:
            return None
        allowed = decide(
            principal,
            Permission.VIEW_TICKETS,
            scope=_scope_of(session, row),
            department=row.department_code,
        )
        return _request_json(session, settings, row) if allowed else None

    found = await run_in_session(request.app[ENGINE], read)
    if found is None:  # not there, or not the key's to see: the same answer
        return Open311Error(404, f"service_request_id {code} not found").response()
    return _ok([found])


_FIELDS = (
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
)


@routes.post(f"{BASE}/requests.json")
@guarded(Permission.PUBLIC)  # checked below: ACT_ON_TICKET within the address's scope
async def post_request(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    engine = request.app[ENGINE]
    try:
        is_form = request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
        try:
            form = await request.post() if is_form else None
        except (ValueError, UnicodeDecodeError):
            raise Open311Error(400, "the form could not be read") from None
        except web.HTTPRequestEntityTooLarge:
            raise Open311Error(413, "request too large") from None
        fields = {k: str(form.get(k, "") if form else "").strip() for k in _FIELDS}
        principal = await _caller(request, fields["api_key"] or request.query.get("api_key"))
        if not is_form:
            raise Open311Error(400, "the body must be application/x-www-form-urlencoded")
        _check_jurisdiction(settings, fields["jurisdiction_id"] or None)
        if not fields["service_code"]:
            raise Open311Error(400, "service_code is required")
        _service(settings, fields["service_code"])
        address = fields["address_string"] or fields["address_id"]
        if not address:
            raise Open311Error(
                400,
                "address_string or address_id is required (an org path such as 黄霞村/第16网格); "
                "lat/long alone cannot be placed",
            )
        if not fields["description"]:
            raise Open311Error(400, "description is required")
        if len(fields["description"]) > 4000:
            raise Open311Error(400, "description is longer than 4000 characters")
        name = (fields["last_name"] + fields["first_name"]).strip() or "12345热线来电人"
        try:
            phone = reporter_phone(fields["phone"])
        except TicketError:
            raise Open311Error(
                400,
                "phone is not a valid phone number (a mobile such as 13800001234, "
                "or a landline with its area code such as 0594-2345678)",
            ) from None
        now = utcnow()
        scope: tuple[str, ...] = ()

        def file(session: Session) -> tuple[str, str]:
            nonlocal scope
            from orgtree.service import OrgPathNotFound, resolve_path

            try:
                unit = resolve_path(session, address, town=settings.town.name)
            except OrgPathNotFound:
                raise Open311Error(400, f"address {address} is not a place of this town") from None
            scope = unit.town_path
            decision = decide(principal, Permission.ACT_ON_TICKET, scope=scope)
            if not decision:
                raise Open311Error(403, decision.reason)
            try:
                outcome = create_ticket(
                    session=session,
                    settings=settings,
                    ticket_in=TicketCreate(
                        unit_path=address,
                        text=fields["description"],
                        reporter_name=name[:64],
                        reporter_phone=phone,
                        channel=TicketChannel.PHONE,
                        category=fields["service_code"],
                    ),
                    now=now,
                )
            except (UnitNotFound, TicketError) as exc:
                raise Open311Error(400, str(exc)) from None
            queue_replies(session=session, replies=outcome.replies, now=now)
            code = outcome.ticket_code or ""
            record(
                session,
                principal=principal,
                channel=AuditChannel.API,
                action="ticket.create",
                now=now,
                source=client_address(request),
                target=code,
                scope=scope,
                detail={"via": "open311", "service_code": fields["service_code"]},
                message=f"Open311 受理：{outcome.kind.value}",
            )
            return code, outcome.receipt

        code, receipt = await run_in_session(engine, file)
    except Open311Error as exc:
        return exc.response()
    return _ok(
        [{"service_request_id": code, "service_notice": receipt, "account_id": None}], status=201
    )
