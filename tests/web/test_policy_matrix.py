"""Every route × every role × in scope / out of scope, generated from the application's
route table: a route without a policy, or without a sample request here, fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.config import Settings
from core.policy import ADMIN_ROLE, Permission
from models.broadcast import Notice
from models.db import session_scope
from models.enums import Level, Role
from models.org import OrgUnit
from models.tickets import Ticket
from orgtree.service import apply_roster
from rhythm.tasks import assign_task
from tests.factories import api_token, bearer, small_town
from web.app import create_app
from web.endpoints import PERMISSION_ATTR

ROSTER = small_town(villages=2, grids_per_village=2, units_per_grid=2)
TOWN = ROSTER.town
VILLAGE_A, VILLAGE_B = sorted({r.village for r in ROSTER.rows})
GRID_A = next(r.grid for r in ROSTER.rows if r.village == VILLAGE_A)
UNIT_A = next(r.unit for r in ROSTER.rows if (r.village, r.grid) == (VILLAGE_A, GRID_A))

ROLES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "admin": (ADMIN_ROLE, (), None),
    "town_official": (Role.TOWN_OFFICIAL.value, (), None),
    "station_chief": (Role.STATION_CHIEF.value, (VILLAGE_A,), None),
    "grid_leader": (Role.GRID_LEADER.value, (VILLAGE_A, GRID_A), None),
    "unit_leader": (Role.UNIT_LEADER.value, (VILLAGE_A, GRID_A, UNIT_A), None),
    "liaison": (Role.DEPARTMENT_LIAISON.value, (), "justice"),
}


@dataclass(frozen=True)
class Sample:
    """A request to a route, aimed inside village A's grid (``in``) or at village B (``out``)."""

    path: str
    body: dict[str, object] | None = None


def samples(codes: dict[str, str]) -> dict[tuple[str, str], dict[str, Sample]]:
    """(method, route) -> scope -> request. Scoped routes have ``in`` and ``out``."""
    notice = {"title": "停水通知", "body": "明天停水", "levels": ["unit"]}
    task = {"title": "果树丈量", "deadline": (date.today() + timedelta(days=2)).isoformat()}
    return {
        ("GET", "/healthz"): {"any": Sample("/healthz")},
        ("GET", "/"): {"any": Sample("/")},
        ("GET", "/api/openapi.json"): {"any": Sample("/api/openapi.json")},
        ("GET", "/api/org/stats"): {"any": Sample("/api/org/stats")},
        ("GET", "/api/org/show"): {
            "in": Sample(f"/api/org/show?path={VILLAGE_A}/{GRID_A}"),
            "out": Sample(f"/api/org/show?path={VILLAGE_B}"),
        },
        ("POST", "/api/notices"): {
            "in": Sample("/api/notices", {**notice, "scope": f"{VILLAGE_A}/{GRID_A}"}),
            "out": Sample("/api/notices", {**notice, "scope": VILLAGE_B}),
        },
        ("GET", "/api/notices/{code}"): {
            "in": Sample(f"/api/notices/{codes['in']}"),
            "out": Sample(f"/api/notices/{codes['out']}"),
        },
        ("POST", "/api/notices/{code}/{action}"): {
            "in": Sample(f"/api/notices/{codes['in']}/cancel"),
            "out": Sample(f"/api/notices/{codes['out']}/cancel"),
        },
        ("GET", "/api/bot/accounts"): {"any": Sample("/api/bot/accounts")},
        ("GET", "/api/bot/status"): {"any": Sample("/api/bot/status")},
        ("POST", "/api/auth/code"): {"any": Sample("/api/auth/code", {"phone": "13000000000"})},
        ("POST", "/api/auth/signin"): {
            "any": Sample("/api/auth/signin", {"phone": "13000000000", "code": "000000"})
        },
        ("GET", "/api/auth/me"): {"any": Sample("/api/auth/me")},
        ("POST", "/api/auth/signout"): {"any": Sample("/api/auth/signout")},
        ("POST", "/api/auth/password"): {
            "any": Sample("/api/auth/password", {"new_password": "correct horse battery"})
        },
        ("GET", "/api/tokens"): {"any": Sample("/api/tokens")},
        ("POST", "/api/tokens"): {
            "any": Sample("/api/tokens", {"name": "x", "role": "town_official"})
        },
        ("DELETE", "/api/tokens/{id}"): {"any": Sample("/api/tokens/999999")},
        ("GET", "/api/audit"): {"any": Sample("/api/audit")},
        ("GET", "/metrics"): {"any": Sample("/metrics")},
        ("POST", "/api/cap"): {"any": Sample("/api/cap", {"not": "xml"})},
        ("POST", "/api/persons/export"): {
            "any": Sample("/api/persons/export", {"who": "13000000000"})
        },
        ("POST", "/api/persons/erase"): {
            "any": Sample("/api/persons/erase", {"who": "13000000000", "confirm": True})
        },
        ("GET", "/open311/v2/services.json"): {"any": Sample("/open311/v2/services.json")},
        ("GET", "/open311/v2/services/{code}.json"): {
            "any": Sample("/open311/v2/services/dispute.json")
        },
        ("GET", "/open311/v2/requests.json"): {"any": Sample("/open311/v2/requests.json")},
        ("GET", "/open311/v2/requests/{id}.json"): {
            "any": Sample("/open311/v2/requests/T20260101-0001.json")
        },
        ("POST", "/open311/v2/requests.json"): {"any": Sample("/open311/v2/requests.json")},
        # the console (pages answer JSON refusals to clients that do not ask for HTML)
        ("GET", "/console/"): {"any": Sample("/console/")},
        ("GET", "/console/signin"): {"any": Sample("/console/signin")},
        ("GET", "/console/signout"): {"any": Sample("/console/signout")},
        ("GET", "/console/static/{name}"): {"any": Sample("/console/static/console.css")},
        ("GET", "/console/tickets"): {"any": Sample("/console/tickets?open=1&q=x")},
        ("GET", "/console/tickets/live"): {"any": Sample("/console/tickets/live")},
        ("GET", "/console/tickets/export.{kind}"): {"any": Sample("/console/tickets/export.csv")},
        ("GET", "/console/tickets/{code}"): {
            "in": Sample(f"/console/tickets/{codes['ticket_in']}"),
            "out": Sample(f"/console/tickets/{codes['ticket_out']}"),
        },
        ("POST", "/console/tickets/{code}/act"): {
            "in": Sample(f"/console/tickets/{codes['ticket_in']}/act"),
            "out": Sample(f"/console/tickets/{codes['ticket_out']}/act"),
        },
        ("GET", "/console/notices"): {"any": Sample("/console/notices")},
        ("GET", "/console/notices/new"): {"any": Sample("/console/notices/new")},
        ("GET", "/console/notices/{code}"): {
            "in": Sample(f"/console/notices/{codes['in']}"),
            "out": Sample(f"/console/notices/{codes['out']}"),
        },
        ("GET", "/console/notices/{code}/live"): {
            "in": Sample(f"/console/notices/{codes['in']}/live"),
            "out": Sample(f"/console/notices/{codes['out']}/live"),
        },
        ("POST", "/console/notices/{code}/recall"): {
            "in": Sample(f"/console/notices/{codes['in']}/recall"),
            "out": Sample(f"/console/notices/{codes['out']}/recall"),
        },
        ("POST", "/console/notices/{code}/correct"): {
            "in": Sample(f"/console/notices/{codes['in']}/correct"),
            "out": Sample(f"/console/notices/{codes['out']}/correct"),
        },
        ("POST", "/console/notices/{code}/chase"): {
            "in": Sample(f"/console/notices/{codes['in']}/chase"),
            "out": Sample(f"/console/notices/{codes['out']}/chase"),
        },
        ("GET", "/console/tasks"): {"any": Sample("/console/tasks")},
        ("GET", "/console/tasks/new"): {"any": Sample("/console/tasks/new")},
        ("POST", "/console/tasks"): {
            "in": Sample("/console/tasks", {**task, "scope": [f"{VILLAGE_A}/{GRID_A}"]}),
            "out": Sample("/console/tasks", {**task, "scope": [VILLAGE_B]}),
        },
        ("GET", "/console/tasks/{code}"): {
            "in": Sample(f"/console/tasks/{codes['task_in']}"),
            "out": Sample(f"/console/tasks/{codes['task_out']}"),
        },
        ("GET", "/console/tasks/{code}/export.{kind}"): {
            "in": Sample(f"/console/tasks/{codes['task_in']}/export.csv"),
            "out": Sample(f"/console/tasks/{codes['task_out']}/export.csv"),
        },
        ("GET", "/console/consult"): {"any": Sample("/console/consult")},
        ("POST", "/console/consult/{code}"): {
            "in": Sample(f"/console/consult/{codes['ticket_in']}"),
            "out": Sample(f"/console/consult/{codes['ticket_out']}"),
        },
        ("GET", "/console/month"): {"any": Sample("/console/month?month=2026-01")},
        ("GET", "/console/month/report.{kind}"): {
            "any": Sample("/console/month/report.xlsx?month=2026-01")
        },
        ("GET", "/console/org"): {
            "in": Sample(f"/console/org?path={VILLAGE_A}/{GRID_A}"),
            "out": Sample(f"/console/org?path={VILLAGE_B}"),
        },
        ("GET", "/console/org/roster"): {"any": Sample("/console/org/roster")},
        ("POST", "/console/org/roster"): {"any": Sample("/console/org/roster")},
        ("GET", "/console/org/export.xlsx"): {"any": Sample("/console/org/export.xlsx")},
        ("GET", "/console/system"): {"any": Sample("/console/system")},
        ("GET", "/console/system/tokens"): {"any": Sample("/console/system/tokens")},
        ("GET", "/console/system/audit"): {"any": Sample("/console/system/audit")},
    }


STAFF = {"admin", "town_official", "station_chief", "grid_leader", "unit_leader"}

# Who may do what, written out by hand (the policy's own tests check the rules; this
# checks that every route asks the policy and obeys it).
ALLOWED: dict[tuple[str, str], dict[str, set[str]]] = {
    ("GET", "/api/org/show"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("POST", "/api/notices"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/api/notices/{code}"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("POST", "/api/notices/{code}/{action}"): {
        "in": {"admin", "town_official"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/api/bot/accounts"): {"any": {"admin", "town_official"}},
    ("GET", "/api/bot/status"): {"any": {"admin", "town_official"}},
    ("POST", "/api/auth/password"): {"any": set()},  # people set passwords, tokens cannot
    ("GET", "/api/tokens"): {"any": {"admin"}},
    ("POST", "/api/tokens"): {"any": {"admin"}},
    ("DELETE", "/api/tokens/{id}"): {"any": {"admin"}},
    ("GET", "/api/audit"): {
        # the audit trail: town officials, station chiefs, grid leaders (A1 of the probe)
        "any": {"admin", "town_official", "station_chief", "grid_leader"}
    },
    ("GET", "/metrics"): {"any": {"admin", "town_official"}},
    ("POST", "/api/cap"): {"any": {"admin", "town_official", "station_chief", "grid_leader"}},
    ("POST", "/api/persons/export"): {"any": {"admin"}},
    ("POST", "/api/persons/erase"): {"any": {"admin"}},
    # Open311: an api_key (any token) reads and files within its post's scope (tested in
    # tests/web/test_open311.py); without one the spec's error list says 401.
    ("GET", "/open311/v2/requests.json"): {"any": set(ROLES)},
    ("GET", "/open311/v2/requests/{id}.json"): {"any": set(ROLES)},
    ("POST", "/open311/v2/requests.json"): {"any": set(ROLES)},
    ("GET", "/console/tickets"): {"any": set(ROLES)},
    ("GET", "/console/tickets/live"): {"any": set(ROLES)},
    ("GET", "/console/tickets/export.{kind}"): {"any": set(ROLES)},
    ("GET", "/console/tickets/{code}"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader", "unit_leader"},
        "out": {"admin", "town_official"},
    },
    # a token reaches the check but cannot act: every ticket step is a person's
    ("POST", "/console/tickets/{code}/act"): {"in": set(), "out": set()},
    ("GET", "/console/notices"): {
        "any": {"admin", "town_official", "station_chief", "grid_leader", "unit_leader"}
    },
    ("GET", "/console/notices/new"): {
        "any": {"admin", "town_official", "station_chief", "grid_leader"}
    },
    ("GET", "/console/notices/{code}"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/console/notices/{code}/live"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("POST", "/console/notices/{code}/recall"): {
        "in": {"admin", "town_official"},
        "out": {"admin", "town_official"},
    },
    ("POST", "/console/notices/{code}/correct"): {
        "in": {"admin", "town_official"},
        "out": {"admin", "town_official"},
    },
    ("POST", "/console/notices/{code}/chase"): {
        "in": {"admin", "town_official"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/console/tasks"): {"any": STAFF},
    ("GET", "/console/tasks/new"): {"any": {"admin", "town_official", "station_chief"}},
    ("POST", "/console/tasks"): {
        "in": {"admin", "town_official", "station_chief"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/console/tasks/{code}"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/console/tasks/{code}/export.{kind}"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/console/consult"): {"any": STAFF},
    # a token reaches the check but cannot record: an outcome is a person's
    ("POST", "/console/consult/{code}"): {"in": set(), "out": set()},
    # 月结 is counted per village and for the town: a grid or a unit has no report
    ("GET", "/console/month"): {"any": {"admin", "town_official", "station_chief"}},
    ("GET", "/console/month/report.{kind}"): {"any": {"admin", "town_official", "station_chief"}},
    ("GET", "/console/org"): {
        "in": {"admin", "town_official", "station_chief", "grid_leader"},
        "out": {"admin", "town_official"},
    },
    ("GET", "/console/org/roster"): {"any": {"admin"}},
    ("POST", "/console/org/roster"): {"any": {"admin"}},
    ("GET", "/console/org/export.xlsx"): {"any": {"admin"}},
    ("GET", "/console/system"): {"any": {"admin", "town_official"}},
    ("GET", "/console/system/tokens"): {"any": {"admin"}},
    ("GET", "/console/system/audit"): {
        # the audit trail: town officials, station chiefs, grid leaders (A1 of the probe)
        "any": {"admin", "town_official", "station_chief", "grid_leader"}
    },
}
SIGNED_IN = set(ROLES)
PUBLIC = {"anonymous", *ROLES}


def expected(route: tuple[str, str], scope: str, permission: Permission) -> set[str]:
    if route in ALLOWED:
        return ALLOWED[route][scope]
    if permission is Permission.PUBLIC:
        return PUBLIC
    if permission is Permission.SIGNED_IN:
        return SIGNED_IN
    return ALLOWED[route][scope]


def routes_of(app: web.Application) -> dict[tuple[str, str], Permission]:
    out = {}
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if canonical.startswith("/sandbox") or route.method == "HEAD":
            continue
        permission = getattr(route.handler, PERMISSION_ATTR, None)
        assert permission is not None, f"{route.method} {canonical} has no policy"
        out[(route.method, canonical)] = permission
    return out


def _ticket(session: Session, path: str, number: int) -> str:
    """A ticket filed in the unit (or village) at ``path``."""
    unit = session.exec(select(OrgUnit).where(OrgUnit.path == path)).one()
    parents = {u.level: u for u in _ancestors(session, unit)}
    code = f"T20260101-{number:04d}"
    session.add(
        Ticket(
            code=code,
            category="environment",
            text="楼道的灯坏了",
            unit_id=unit.id,
            grid_id=parents[Level.GRID].id if Level.GRID in parents else None,
            village_id=parents[Level.VILLAGE].id,
        )
    )
    return code


def _ancestors(session: Session, unit: OrgUnit) -> list[OrgUnit]:
    out = [unit]
    while out[-1].parent_id is not None:
        parent = session.get(OrgUnit, out[-1].parent_id)
        assert parent is not None
        out.append(parent)
    return out


@pytest.fixture
async def matrix(
    settings: Settings, engine: Engine
) -> AsyncIterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        codes = {}
        for scope, path in (("in", f"{VILLAGE_A}/{GRID_A}"), ("out", VILLAGE_B)):
            unit = session.exec(select(OrgUnit).where(OrgUnit.path == f"{TOWN}/{path}")).one()
            notice = Notice(
                code=f"pending-{scope}",
                title="测试",
                body="测试",
                scope_org_unit_id=unit.id,
                levels=["unit"],
                issuer_name="某人",
            )
            session.add(notice)
            session.flush()
            notice.code = f"N{notice.id:04d}"
            codes[scope] = notice.code
        for scope, path in (
            ("ticket_in", f"{VILLAGE_A}/{GRID_A}/{UNIT_A}"),
            ("ticket_out", VILLAGE_B),
        ):
            codes[scope] = _ticket(session, f"{TOWN}/{path}", len(codes))
        for scope, path in (("task_in", f"{VILLAGE_A}/{GRID_A}"), ("task_out", VILLAGE_B)):
            task, _replies = assign_task(
                session,
                settings,
                title="测试任务",
                scope=[path],
                deadline=datetime.now(UTC) + timedelta(days=2),
                now=datetime.now(UTC),
                issuer_name="某人",
            )
            codes[scope] = task.code
    tokens = {
        name: api_token(engine, role=role, scope=scope, department=department, name=name)
        for name, (role, scope, department) in ROLES.items()
    }
    async with TestClient(TestServer(create_app(settings, run_bots=False))) as client:
        yield client, tokens, codes


async def test_every_route_has_a_policy_and_obeys_it(
    matrix: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, tokens, codes = matrix
    table = samples(codes)
    routes = routes_of(client.app)
    missing = set(routes) - set(table)
    assert not missing, f"routes without a sample in this matrix: {sorted(missing)}"
    failures = []
    for route, permission in sorted(routes.items()):
        for scope, sample in table[route].items():
            allowed = expected(route, scope, permission)
            for who in ["anonymous", *ROLES]:
                headers = bearer(tokens[who]) if who in tokens else {}
                method = route[0]
                response = await client.request(
                    method,
                    sample.path,
                    json=sample.body,
                    headers=headers,
                    allow_redirects=False,
                )
                body = await response.json() if response.content_type.endswith("json") else {}
                refused = (
                    isinstance(body, dict) and body.get("code") in ("unauthenticated", "forbidden")
                ) or (  # Open311's error format: [{"code": 401, "description": ...}]
                    isinstance(body, list)
                    and bool(body)
                    and isinstance(body[0], dict)
                    and body[0].get("code") in (401, 403)
                )
                if refused == (who in allowed):
                    failures.append(
                        f"{method} {sample.path} [{scope}] as {who}: {response.status} "
                        f"{(await response.text())[:120]}"
                    )
                assert response.status != 500, (route, who, await response.text())
    assert not failures, "\n".join(failures)
