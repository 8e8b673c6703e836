"""The JSON API: org tree, notices, bot accounts. Domain errors become HTTP errors here."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from bot.store import accounts_report
from broadcast import service as notices
from broadcast.compose import ALL_LEVELS, NoticeInvalid
from broadcast.engine import Broadcaster, NoticeRequest
from models.broadcast import NoticePriority
from models.db import run_in_session
from models.enums import Level
from orgtree.service import OrgPathNotFound, level_counts, subtree
from web.keys import BROADCASTER, ENGINE, SETTINGS

routes = web.RouteTableDef()


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str)
    )


def _error(status: int, message: str, **extra: object) -> web.HTTPException:
    body = json.dumps({"error": message, **extra}, ensure_ascii=False)
    cls = {
        400: web.HTTPBadRequest,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        503: web.HTTPServiceUnavailable,
    }[status]
    return cls(text=body, content_type="application/json")


class NoticeIn(BaseModel):
    """POST /api/notices."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=200)
    body: str = Field(max_length=50_000)
    scope: str = Field(min_length=1, max_length=200)
    """An org path (国欢镇, 黄霞村, 黄霞村/第16网格)."""
    levels: list[Level] | None = None
    """Default: all four levels."""
    priority: NoticePriority = NoticePriority.NORMAL
    deadline_s: float | None = Field(default=None, ge=1, le=86_400)
    ack_required: bool = True
    issuer: str = Field(min_length=1, max_length=50)
    confirm: bool = False
    """Send at once instead of waiting for POST /api/notices/{code}/confirm."""


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _error(400, "请求体不是有效的 JSON (body is not valid JSON)") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        ]
        raise _error(400, "请求参数有误", problems=problems) from None


def _broadcaster(request: web.Request) -> Broadcaster:
    broadcaster = request.app.get(BROADCASTER)
    if broadcaster is None:
        raise _error(503, "本进程没有运行机器人，不能发送通知 (no bots in this process)")
    return broadcaster


@routes.get("/api/org/stats")
async def org_stats(request: web.Request) -> web.Response:
    async with request.app[ENGINE].connect() as connection:
        counts = await connection.run_sync(level_counts)
    return _json(counts)


@routes.get("/api/org/show")
async def org_show(request: web.Request) -> web.Response:
    path = request.query.get("path", "")
    town = request.app[SETTINGS].town.name
    try:
        node = await run_in_session(
            request.app[ENGINE], lambda s: subtree(s, path or town, town=town)
        )
    except OrgPathNotFound as exc:
        raise _error(404, str(exc), suggestions=exc.suggestions) from None
    return _json(node.to_json())


@routes.post("/api/notices")
async def create_notice(request: web.Request) -> web.Response:
    body: NoticeIn = await _body(request, NoticeIn)
    settings = request.app[SETTINGS]
    broadcaster = _broadcaster(request)
    notice = NoticeRequest(
        title=body.title,
        body=body.body,
        scope=body.scope,
        levels=tuple(body.levels) if body.levels else ALL_LEVELS,
        priority=body.priority,
        deadline_s=body.deadline_s or settings.broadcast.deadline.total_seconds(),
        ack_required=body.ack_required,
        issuer_name=body.issuer,
        channel="web",
    )
    try:
        prepared = await broadcaster.prepare(notice)
        if body.confirm:
            await broadcaster.confirm(prepared.code)
    except NoticeInvalid as exc:
        raise _error(400, str(exc)) from None
    except OrgPathNotFound as exc:
        raise _error(404, str(exc), suggestions=exc.suggestions) from None
    # The prediction with the loss budget's worst accounts lost sits next to the one
    # without loss (predicted_reach_under_loss_s, lost_accounts, ...).
    return _json(
        {**prepared.as_json(), "status": "sending" if body.confirm else "pending"},
        status=201,
    )


@routes.post(r"/api/notices/{code}/{action:confirm|cancel}")
async def confirm_or_cancel_notice(request: web.Request) -> web.Response:
    """Send a pending notice (confirm) or drop it (cancel)."""
    code, action = request.match_info["code"], request.match_info["action"]
    broadcaster = _broadcaster(request)
    try:
        await (broadcaster.confirm(code) if action == "confirm" else broadcaster.cancel(code))
    except notices.NoticeNotFound as exc:
        raise _error(404, str(exc)) from None
    except NoticeInvalid as exc:
        raise _error(409, str(exc)) from None
    return _json({"code": code, "status": "sending" if action == "confirm" else "cancelled"})


@routes.get("/api/notices/{code}")
async def notice_status(request: web.Request) -> web.Response:
    code = request.match_info["code"]

    def read(session: Session) -> dict[str, object]:
        return notices.reach_report(session, notices.notice_by_code(session, code))

    try:
        report = await run_in_session(request.app[ENGINE], read)
    except notices.NoticeNotFound as exc:
        raise _error(404, str(exc)) from None
    report["live"] = _broadcaster(request).progress(code)
    return _json(report)


@routes.get("/api/bot/accounts")
async def bot_accounts(request: web.Request) -> web.Response:
    report = await run_in_session(request.app[ENGINE], accounts_report)
    return _json(report.accounts)


@routes.get("/api/bot/status")
async def bot_status(request: web.Request) -> web.Response:
    """Accounts, rooms that could not be placed, groups no online account can reach."""
    report = await run_in_session(request.app[ENGINE], accounts_report)
    return _json(dataclasses.asdict(report))
