"""系统: the bot accounts' states and send limits, API tokens (created and revoked through
``/api/tokens``), and the audit trail within the person's scope."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session, col, select

from bot.store import accounts_report
from core.audit import entries
from core.policy import Permission
from models.auth import ApiToken
from models.db import run_in_session
from models.enums import Role
from web.console.base import CONSOLE, page, principal_required, routes
from web.endpoints import guarded
from web.keys import ENGINE, SETTINGS
from web.security import audit_scopes_of


@routes.get(CONSOLE + "system")
@guarded(Permission.VIEW_BOTS)
async def accounts(request: web.Request) -> web.StreamResponse:
    """Each bot account: state, since when, groups, and its configured send limits."""
    settings = request.app[SETTINGS]
    report = await run_in_session(request.app[ENGINE], accounts_report)
    limits = {a.id: (a.rate_per_s, a.burst) for a in settings.account_settings()}
    return await page(
        request,
        "system.html",
        {"title": "系统 · 机器人账号", "report": report, "limits": limits},
    )


@routes.get(CONSOLE + "system/tokens")
@guarded(Permission.ADMIN)
async def tokens(request: web.Request) -> web.StreamResponse:
    rows = await run_in_session(
        request.app[ENGINE],
        lambda s: list(s.exec(select(ApiToken).order_by(col(ApiToken.id).desc()))),
    )
    settings = request.app[SETTINGS]
    return await page(
        request,
        "tokens.html",
        {
            "title": "系统 · 接口令牌",
            "tokens": rows,
            "roles": [("admin", "系统管理员")] + [(r.value, r.label) for r in Role],
            "departments": [d.name for d in settings.departments],
        },
    )


@routes.get(CONSOLE + "system/audit")
@guarded(Permission.VIEW_AUDIT)
async def audit_trail(request: web.Request) -> web.StreamResponse:
    """The audit trail, newest first, within the person's scope (as ``GET /api/audit``)."""
    principal_required(request)
    scopes = await audit_scopes_of(request)
    action = request.query.get("action", "")[:60] or None
    before = request.query.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 12 else None

    def read(session: Session) -> list[Any]:
        return entries(session, scopes=scopes, limit=100, before_id=before_id, action=action)

    rows = await run_in_session(request.app[ENGINE], read)
    return await page(
        request,
        "audit.html",
        {"title": "系统 · 操作记录", "rows": rows, "action": action or ""},
    )
