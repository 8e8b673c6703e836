"""组织: the tree (town → village → grid → unit) with leaders, groups and bot accounts;
roster import by upload with a dry run that lists every error by its Excel row before
anything is written; the roster export."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from core.clock import utcnow
from core.policy import Permission, decide
from core.privacy import viewer_of
from models.auth import AuditOutcome
from models.chat import UnboundRoom
from models.db import run_in_session
from models.enums import Level
from models.org import OrgUnit
from orgtree.browse import NodeRow, browse
from orgtree.roster import RosterInvalid, read_roster, write_roster
from orgtree.service import ImportReport, OrgPathNotFound, apply_roster, export_roster, resolve_path
from web.console.base import CONSOLE, page, principal_required, routes, widest_scope
from web.endpoints import ApiError, guarded
from web.keys import ENGINE, SETTINGS
from web.security import audit, authorize

ROSTER_SUFFIXES = (".csv", ".xlsx")


def _any_masked(node: NodeRow) -> bool:
    """Does the page show a masked phone (:func:`core.privacy.mask_phone` writes ``*``)?"""
    return any("*" in h.phone for h in node.holders) or any(map(_any_masked, node.children))


@routes.get(CONSOLE + "org")
@guarded(Permission.VIEW_ORG)
async def org(request: web.Request) -> web.StreamResponse:
    """One node of the tree and its children, leaders' phones as :mod:`core.privacy` lets
    the person see them (as ``/api/org/show``); out of the person's scope is refused."""
    principal = principal_required(request)
    settings = request.app[SETTINGS]
    town = settings.town.name
    path = request.query.get("path", "")[:200]
    if not path:
        home = widest_scope(principal, Permission.VIEW_ORG)
        if home is None:
            await authorize(request, Permission.VIEW_ORG, scope=())
        path = "/".join(home or ())
    try:
        unit = await run_in_session(
            request.app[ENGINE], lambda s: resolve_path(s, path or town, town=town)
        )
    except OrgPathNotFound as exc:
        raise ApiError(404, str(exc), suggestions=list(exc.suggestions)) from None
    scope = unit.town_path
    await authorize(request, Permission.VIEW_ORG, scope=scope, target=path)
    show_unbound = bool(decide(principal, Permission.VIEW_BOTS))
    viewer = viewer_of(principal)

    def read(session: Session) -> dict[str, Any]:
        node = browse(session, unit.path, town=town, viewer=viewer)
        unbound = (
            list(session.exec(select(UnboundRoom).order_by(col(UnboundRoom.topic)).limit(200)))
            if show_unbound and not scope
            else []
        )
        return {"node": node, "unbound": unbound}

    data = await run_in_session(request.app[ENGINE], read)
    crumbs = [("/".join(scope[:i]), (town, *scope)[i]) for i in range(len(scope) + 1)]
    return await page(
        request,
        "org.html",
        {
            "title": "组织",
            "node": data["node"],
            "unbound": data["unbound"],
            "show_unbound": show_unbound,
            "crumbs": crumbs,
            "phones_masked": _any_masked(data["node"]),
            "can_import": bool(decide(principal, Permission.ADMIN)),
        },
    )


@routes.get(CONSOLE + "org/roster")
@guarded(Permission.ADMIN)
async def roster_page(request: web.Request) -> web.StreamResponse:
    return await page(request, "roster.html", {"title": "导入花名册"})


def _dry_run(connection: Connection, roster: Any, *, write: bool) -> ImportReport:
    """Apply the roster inside a transaction, and roll it back unless ``write``."""
    with Session(bind=connection, expire_on_commit=False) as session:
        report = apply_roster(session=session, roster=roster)
        session.flush()
        if not write:
            session.rollback()
        return report


@routes.post(CONSOLE + "org/roster")
@guarded(Permission.ADMIN)
async def roster_upload(request: web.Request) -> web.StreamResponse:
    """Validate an uploaded roster: every problem by row; with ``apply=1`` and no
    problem, import it (one transaction). Without ``apply`` nothing is written."""
    await authorize(request, Permission.ADMIN)
    settings = request.app[SETTINGS]
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise ApiError(400, "请选择花名册文件（.xlsx 或 .csv）")
    name = Path(upload.filename or "roster.xlsx").name
    suffix = Path(name).suffix.lower()
    if suffix not in ROSTER_SUFFIXES:
        raise ApiError(400, f"只能导入 .xlsx 或 .csv 文件，收到「{name}」")
    data = upload.file.read()
    write = form.get("apply") == "1"

    def villages(session: Session) -> set[str]:
        return set(session.exec(select(OrgUnit.name).where(OrgUnit.level == Level.VILLAGE)))

    known = await run_in_session(request.app[ENGINE], villages)

    def parse() -> Any:
        with tempfile.TemporaryDirectory() as folder:
            file = Path(folder) / f"upload{suffix}"
            file.write_bytes(data)
            return read_roster(
                file,
                town=settings.town.name,
                known_villages=known or None,
                departments=settings.departments,
            )

    try:
        roster = await asyncio.to_thread(parse)
    except RosterInvalid as exc:
        await audit(
            request,
            "roster.import",
            outcome=AuditOutcome.REFUSED,
            target=name,
            message=f"花名册有 {len(exc.problems)} 处问题，未导入",
        )
        return await page(
            request,
            "roster_result.html",
            {"problems": exc.problems, "name": name, "report": None, "written": False},
        )
    async with request.app[ENGINE].begin() as connection:
        report = await connection.run_sync(lambda c: _dry_run(c, roster, write=write))
    if write:
        await audit(request, "roster.import", target=name, message=f"导入花名册 {name}：{report}")
    return await page(
        request,
        "roster_result.html",
        {
            "problems": [],
            "name": name,
            "report": report,
            "written": write,
            "units": len(roster.rows),
            "lists_posts": roster.lists_posts,
        },
    )


@routes.get(CONSOLE + "org/export.xlsx")
@guarded(Permission.ADMIN)
async def roster_export(request: web.Request) -> web.StreamResponse:
    """The whole roster in the import format (units and people sheets)."""
    town = request.app[SETTINGS].town.name
    roster = await run_in_session(request.app[ENGINE], lambda s: export_roster(s, town=town))

    def build() -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            return write_roster(roster, Path(folder) / "roster.xlsx").read_bytes()

    body = await asyncio.to_thread(build)
    await audit(request, "roster.export", message=f"导出花名册 {len(roster.rows)} 个单元")
    stamp = utcnow().strftime("%Y%m%d")
    return web.Response(
        body=body,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="roster-{stamp}.xlsx"'},
    )
