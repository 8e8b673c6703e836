"""The JSON API: org tree, notices, bot accounts. Domain errors become HTTP errors here,
and every route asks the policy (:mod:`core.policy`) first."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from bot.desk import Desk
from bot.store import accounts_report
from broadcast import service as notices
from broadcast.compose import ALL_LEVELS, NoticeInvalid
from broadcast.engine import NoticeRequest
from core.policy import Permission, signature_refusal
from core.privacy import viewer_of
from models.auth import AuditOutcome
from models.broadcast import NoticePriority
from models.db import run_in_session
from models.enums import Level
from models.org import OrgPath
from orgtree.service import OrgPathNotFound, level_counts, resolve_path, subtree
from web.endpoints import Api, ApiError, Strict
from web.keys import BROADCASTER, DESK, ENGINE, SETTINGS
from web.security import audit, authorize, principal_of

api = Api()

# --- models -----------------------------------------------------------------------------

NOTICE_CODE = r"^N\d{4,6}$"


class CountsOut(Strict):
    town: int
    village: int
    grid: int
    unit: int
    unit_kinds: dict[str, int]


class OrgPathQuery(Strict):
    path: str = Field(default="", max_length=200, description="org path, e.g. 黄霞村/第16网格")


class LeaderOut(Strict):
    role: str
    name: str
    phone: str = Field(
        description="in full to staff whose posts cover the leader, else masked (138****1288)"
    )


class OrgNodeOut(Strict):
    path: str
    name: str
    level: str
    kind: str | None
    units: int
    leaders: list[LeaderOut]
    children: list[OrgNodeOut]


class NoticeIn(Strict):
    """POST /api/notices. The issuer is the caller (a signed-in person or a token)."""

    title: str = Field(max_length=200)
    body: str = Field(max_length=50_000)
    scope: str = Field(min_length=1, max_length=200)
    """An org path (国欢镇, 黄霞村, 黄霞村/第16网格)."""
    levels: list[Level] | None = Field(default=None, max_length=4)
    """Default: all four levels."""
    priority: NoticePriority = NoticePriority.NORMAL
    deadline_s: float | None = Field(default=None, ge=1, le=86_400)
    ack_required: bool = True
    confirm: bool = False
    """Send at once instead of waiting for POST /api/notices/{code}/confirm."""
    issuer: str | None = Field(default=None, min_length=1, max_length=50)
    """The signature (落款) residents see. It comes from the credentials: a signed-in
    person's name, a token's signature fixed at its creation. Only an admin token may name
    another here; anyone else gets 403 for a signature not their own."""


class NoticePlanOut(Strict):
    """The plan an official reads before confirming: the prediction without loss and,
    next to it, the prediction when the loss budget's worst accounts are lost."""

    code: str
    groups: int
    unreachable: int
    lower_bound_s: float
    predicted_reach_s: float
    deadline_s: float
    meets_deadline: bool
    loss_budget: float
    lost_accounts: list[str]
    predicted_reach_under_loss_s: float | None
    unreachable_under_loss: int
    meets_deadline_under_loss: bool
    plan_ms: float
    summary: str
    status: str


class NoticeCodeIn(Strict):
    code: str = Field(pattern=NOTICE_CODE)


class NoticeActionIn(Strict):
    code: str = Field(pattern=NOTICE_CODE)
    action: str = Field(pattern=r"^(confirm|cancel)$")


class NoticeStateOut(Strict):
    code: str
    status: str


class LevelReachOut(Strict):
    name: str
    targeted: int
    sent: int
    failed: int
    unreachable: int
    uncertain: int
    pending: int
    acknowledged: int
    ack_coverage: float


class LiveOut(Strict):
    sent: int
    failed: int
    unreachable: int
    pending: int


class HouseholdTallyOut(Strict):
    units_targeted: int
    """Unit groups the notice targeted."""
    households: int
    """户数 of the unit groups targeted."""
    reached: int
    """Households of the unit groups that got the notice."""
    confirmed: int
    """Households their unit leaders confirmed (已通知 k/n户; 已全部通知 counts all)."""
    unknown_units: int
    """Units whose roster has no 户数 (they count 0)."""
    reached_share: float
    confirmed_share: float


class VillageHouseholdsOut(HouseholdTallyOut):
    village: str


class GridHouseholdsOut(HouseholdTallyOut):
    village: str
    grid: str


class UnitHouseholdsOut(Strict):
    path: str
    households: int | None
    reached: bool
    confirmed: int | None
    confirmed_by: str | None
    confirmed_at: datetime | None


class HouseholdsOut(HouseholdTallyOut):
    villages: list[VillageHouseholdsOut]
    grids: list[GridHouseholdsOut]
    units: list[UnitHouseholdsOut]


class NoticeReportOut(Strict):
    model_config = ConfigDict(extra="forbid")

    code: str
    title: str
    kind: str
    status: str
    priority: str
    issuer: str
    deadline_s: float
    lower_bound_s: float | None
    predicted_reach_s: float | None
    started_at: datetime | None
    finished_at: datetime | None
    targeted: int
    sent: int
    final: int
    levels: dict[str, LevelReachOut]
    time_to: dict[str, float | None]
    receipts: int
    silent_units: list[str]
    median_send_s: float | None
    households: HouseholdsOut
    live: LiveOut | None


class AccountOut(Strict):
    account_id: str
    name: str
    status: str
    detail: str
    since: datetime
    groups: int


class UnboundRoomOut(Strict):
    room_id: str
    account_id: str
    topic: str
    reason: str


class UnreachableOut(Strict):
    """Someone no bot account is a friend of: private messages to them are held."""

    contact_id: str
    name: str
    in_roster: bool
    undelivered: int
    since: datetime
    asked_in: str
    asked_at: datetime | None


class BotStatusOut(Strict):
    accounts: list[AccountOut]
    unbound: list[UnboundRoomOut]
    groups_without_online_account: list[str]
    unreachable_privately: list[UnreachableOut]


# --- helpers ----------------------------------------------------------------------------


def _desk(request: web.Request) -> Desk:
    desk = request.app.get(DESK)
    if desk is None:
        raise ApiError(503, "本进程没有运行机器人，不能发送通知 (no bots in this process)")
    return desk


async def _org_scope(request: web.Request, path: str) -> OrgPath:
    """The org path below the town that ``path`` names (404 when there is none)."""
    town = request.app[SETTINGS].town.name
    try:
        unit = await run_in_session(
            request.app[ENGINE], lambda s: resolve_path(s, path or town, town=town)
        )
    except OrgPathNotFound as exc:
        raise ApiError(404, str(exc), suggestions=list(exc.suggestions)) from None
    return unit.town_path


async def _notice_scope(request: web.Request, code: str) -> tuple[OrgPath, int | None, int | None]:
    """The notice's scope, and the person or token that issued it."""

    def read(session: Session) -> tuple[OrgPath, int | None, int | None]:
        from models.org import OrgUnit

        notice = notices.notice_by_code(session, code)
        unit = session.get(OrgUnit, notice.scope_org_unit_id)
        scope = unit.town_path if unit is not None else ()
        return scope, notice.issuer_person_id, notice.issuer_token_id

    try:
        return await run_in_session(request.app[ENGINE], read)
    except notices.NoticeNotFound as exc:
        raise ApiError(404, str(exc)) from None


# --- org --------------------------------------------------------------------------------


@api.endpoint(
    "GET",
    "/api/org/stats",
    permission=Permission.SIGNED_IN,
    summary="Counts per level and unit kind",
    response=CountsOut,
    errors=(401,),
    tag="org",
)
async def org_stats(request: web.Request) -> Any:
    async with request.app[ENGINE].connect() as connection:
        return await connection.run_sync(level_counts)


@api.endpoint(
    "GET",
    "/api/org/show",
    permission=Permission.VIEW_ORG,
    summary="One subtree with its leaders (phones masked)",
    query=OrgPathQuery,
    response=OrgNodeOut,
    errors=(400, 401, 403, 404),
    tag="org",
)
async def org_show(request: web.Request, *, query: OrgPathQuery) -> Any:
    scope = await _org_scope(request, query.path)
    await authorize(request, Permission.VIEW_ORG, scope=scope)
    town = request.app[SETTINGS].town.name
    # core.privacy: leaders' work phones in full to staff whose posts cover them (the
    # console's org page shows the same viewer the same phones).
    viewer = viewer_of(principal_of(request))
    try:
        node = await run_in_session(
            request.app[ENGINE],
            lambda s: subtree(s, query.path or town, town=town, viewer=viewer),
        )
    except OrgPathNotFound as exc:
        raise ApiError(404, str(exc), suggestions=list(exc.suggestions)) from None
    return node.to_json()


# --- notices ----------------------------------------------------------------------------


@api.endpoint(
    "POST",
    "/api/notices",
    permission=Permission.ISSUE_NOTICE,
    summary="Plan a notice (and send it with confirm: true)",
    body=NoticeIn,
    response=NoticePlanOut,
    status=201,
    errors=(400, 401, 403, 404, 503),
    tag="notices",
)
async def create_notice(request: web.Request, *, body: NoticeIn) -> NoticePlanOut:
    scope = await _org_scope(request, body.scope)
    principal = await authorize(request, Permission.ISSUE_NOTICE, scope=scope)
    refusal = signature_refusal(principal, body.issuer)
    if refusal is not None:
        await audit(
            request,
            "refused.notice_signature",
            outcome=AuditOutcome.REFUSED,
            scope=scope,
            detail={"issuer": body.issuer},
            message=refusal,
        )
        raise ApiError(403, refusal, code="forbidden")
    settings = request.app[SETTINGS]
    desk = _desk(request)
    notice = NoticeRequest(
        title=body.title,
        body=body.body,
        scope=body.scope,
        levels=tuple(body.levels) if body.levels else ALL_LEVELS,
        priority=body.priority,
        deadline_s=body.deadline_s or settings.broadcast.deadline.total_seconds(),
        ack_required=body.ack_required,
        issuer_name=body.issuer or principal.signs_as,
        issuer_person_id=principal.person_id,
        issuer_token_id=principal.token_id,
        channel="web",
    )
    try:
        prepared = await desk.prepare(notice, confirm=body.confirm)
    except NoticeInvalid as exc:
        raise ApiError(400, str(exc)) from None
    except OrgPathNotFound as exc:
        raise ApiError(404, str(exc), suggestions=list(exc.suggestions)) from None
    await audit(
        request,
        "notice.create",
        target=prepared.code,
        scope=scope,
        detail={"title": body.title, "groups": prepared.groups, "confirmed": body.confirm},
        message=f"发布通知 {prepared.code}「{body.title}」到 {prepared.groups} 个群"
        + ("并确认发送" if body.confirm else "，待确认"),
    )
    if body.confirm:
        await audit(
            request,
            "notice.confirm",
            target=prepared.code,
            scope=scope,
            message=f"确认发送 {prepared.code}",
        )
    # The prediction with the loss budget's worst accounts lost sits next to the one
    # without loss (predicted_reach_under_loss_s, lost_accounts, ...).
    return NoticePlanOut.model_validate(
        {**prepared.as_json(), "status": "sending" if body.confirm else "pending"}
    )


@api.endpoint(
    "POST",
    "/api/notices/{code}/{action}",
    permission=Permission.MANAGE_NOTICE,
    summary="Send (confirm) or drop (cancel) a pending notice: its issuer or a town official",
    params=NoticeActionIn,
    response=NoticeStateOut,
    errors=(400, 401, 403, 404, 409, 503),
    tag="notices",
)
async def confirm_or_cancel_notice(
    request: web.Request, *, params: NoticeActionIn
) -> NoticeStateOut:
    scope, issuer, issuer_token = await _notice_scope(request, params.code)
    await authorize(
        request,
        Permission.MANAGE_NOTICE,
        scope=scope,
        issuer_person_id=issuer,
        issuer_token_id=issuer_token,
        target=params.code,
    )
    desk = _desk(request)
    try:
        if params.action == "confirm":
            await desk.confirm(params.code)
        else:
            await desk.cancel(params.code)
    except notices.NoticeNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except NoticeInvalid as exc:
        await audit(
            request,
            f"notice.{params.action}",
            outcome=AuditOutcome.REFUSED,
            target=params.code,
            scope=scope,
            message=str(exc),
        )
        raise ApiError(409, str(exc)) from None
    word = "确认发送" if params.action == "confirm" else "取消"
    await audit(
        request,
        f"notice.{params.action}",
        target=params.code,
        scope=scope,
        message=f"{word} {params.code}",
    )
    return NoticeStateOut(
        code=params.code, status="sending" if params.action == "confirm" else "cancelled"
    )


@api.endpoint(
    "GET",
    "/api/notices/{code}",
    permission=Permission.VIEW_NOTICES,
    summary="Reach report and live progress",
    params=NoticeCodeIn,
    response=NoticeReportOut,
    errors=(400, 401, 403, 404),
    tag="notices",
)
async def notice_status(request: web.Request, *, params: NoticeCodeIn) -> Any:
    scope, _issuer, _issuer_token = await _notice_scope(request, params.code)
    await authorize(request, Permission.VIEW_NOTICES, scope=scope, target=params.code)

    def read(session: Session) -> dict[str, object]:
        return notices.reach_report(session, notices.notice_by_code(session, params.code))

    try:
        report = await run_in_session(request.app[ENGINE], read)
    except notices.NoticeNotFound as exc:
        raise ApiError(404, str(exc)) from None
    broadcaster = request.app.get(BROADCASTER)
    report["live"] = broadcaster.progress(params.code) if broadcaster is not None else None
    return report


# --- bots -------------------------------------------------------------------------------


@api.endpoint(
    "GET",
    "/api/bot/accounts",
    permission=Permission.VIEW_BOTS,
    summary="Bot accounts and their state",
    response=list[AccountOut],
    errors=(401, 403),
    tag="bots",
)
async def bot_accounts(request: web.Request) -> Any:
    report = await run_in_session(request.app[ENGINE], accounts_report)
    return report.accounts


@api.endpoint(
    "GET",
    "/api/bot/status",
    permission=Permission.VIEW_BOTS,
    summary="Accounts, rooms that could not be placed, groups no online account can reach",
    response=BotStatusOut,
    errors=(401, 403),
    tag="bots",
)
async def bot_status(request: web.Request) -> Any:
    report = await run_in_session(request.app[ENGINE], accounts_report)
    return dataclasses.asdict(report)


__all__ = ["NoticeIn", "api"]

_ = BaseModel  # re-exported models are defined above
