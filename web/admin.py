"""API tokens (for integrations and scripts) and the audit trail."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import Field, field_validator
from sqlmodel import Session, col, select

from core.audit import entries
from core.clock import utcnow
from core.departments import department_name
from core.policy import Permission, Post
from models.auth import ApiToken, AuditChannel, AuditOutcome
from models.db import run_in_session
from models.org import PATH_SEP
from orgtree.principals import TOKEN_ROLES, create_token, token_post
from web.endpoints import Api, ApiError, Strict
from web.keys import ENGINE, SETTINGS
from web.security import audit, audit_scopes_of, authorize

api = Api()


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=60, description="用途，例如 12345热线")
    role: str = Field(description=f"one of: {', '.join(TOKEN_ROLES)}")
    scope: str = Field(
        default="", max_length=200, description="org path below the town; empty: whole town"
    )
    department: str | None = Field(default=None, max_length=60)
    signature: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="落款: the signature residents read under its notices (default: its name)",
    )

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in TOKEN_ROLES:
            raise ValueError(f"未知的岗位，可选：{'、'.join(TOKEN_ROLES)}")
        return value


class TokenOut(Strict):
    id: int
    name: str
    prefix: str
    role: str
    scope: str
    department: str | None
    signature: str | None
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="shown once; only its hash is stored")


class TokenIdIn(Strict):
    id: int = Field(ge=1, le=2**31 - 1)


class AuditQuery(Strict):
    limit: int = Field(default=100, ge=1, le=1000)
    before: int | None = Field(default=None, ge=1, le=2**62)
    action: str | None = Field(default=None, max_length=60)


class AuditOut(Strict):
    id: int
    at: datetime
    actor: str
    actor_kind: str
    channel: AuditChannel
    source: str
    action: str
    target: str
    scope: str
    outcome: AuditOutcome
    message: str
    detail: dict[str, object]


@api.endpoint(
    "GET",
    "/api/tokens",
    permission=Permission.ADMIN,
    summary="API tokens (never the tokens themselves)",
    response=list[TokenOut],
    errors=(401, 403),
    tag="admin",
)
async def list_api_tokens(request: web.Request) -> list[ApiToken]:
    return await run_in_session(
        request.app[ENGINE],
        lambda s: list(s.exec(select(ApiToken).order_by(col(ApiToken.id)))),
    )


@api.endpoint(
    "POST",
    "/api/tokens",
    permission=Permission.ADMIN,
    summary="Create a token with a role and a scope; the token is in this answer only",
    body=TokenIn,
    response=TokenCreatedOut,
    status=201,
    errors=(400, 401, 403),
    tag="admin",
)
async def create_api_token(request: web.Request, *, body: TokenIn) -> TokenCreatedOut:
    principal = await authorize(request, Permission.ADMIN)
    settings = request.app[SETTINGS]
    now = utcnow()

    def write(session: Session) -> tuple[ApiToken, str] | str:
        post = token_post(
            session,
            role=body.role,
            scope=body.scope,
            department=body.department,
            departments=settings.departments,
            town=settings.town.name,
        )
        if isinstance(post, str):
            return post
        row, token = create_token(
            session,
            name=body.name,
            role=post.role,
            scope=post.scope,
            department=post.department,
            signature=body.signature,
            created_by=principal.audit_name(),
            now=now,
        )
        session.refresh(row)
        session.expunge(row)
        return row, token

    created = await run_in_session(request.app[ENGINE], write)
    if isinstance(created, str):
        raise ApiError(400, created)
    row, token = created
    post = Post(
        row.role,
        tuple(p for p in row.scope.split(PATH_SEP) if p),
        row.department,
        department_name=department_name(row.department, settings.departments),
    )
    await audit(
        request,
        "token.create",
        target=f"token:{row.id}",
        scope=post.scope,
        detail={
            "name": row.name,
            "role": row.role,
            "scope": row.scope,
            "department": row.department,
            "signature": row.signature,
        },
        message=f"创建令牌「{row.name}」（{post.label}）",
    )
    return TokenCreatedOut(
        **TokenOut.model_validate(row, from_attributes=True).model_dump(), token=token
    )


@api.endpoint(
    "DELETE",
    "/api/tokens/{id}",
    permission=Permission.ADMIN,
    summary="Revoke a token",
    params=TokenIdIn,
    response=TokenOut,
    errors=(400, 401, 403, 404),
    tag="admin",
)
async def revoke_api_token(request: web.Request, *, params: TokenIdIn) -> ApiToken:
    now = utcnow()

    def write(session: Session) -> ApiToken | None:
        row = session.get(ApiToken, params.id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = now
            session.add(row)
            session.flush()
        session.refresh(row)
        session.expunge(row)
        return row

    row = await run_in_session(request.app[ENGINE], write)
    if row is None:
        raise ApiError(404, f"没有编号为 {params.id} 的令牌")
    await audit(
        request, "token.revoke", target=f"token:{row.id}", message=f"吊销令牌「{row.name}」"
    )
    return row


@api.endpoint(
    "GET",
    "/api/audit",
    permission=Permission.VIEW_AUDIT,
    summary="The audit trail within the caller's scope, newest first",
    query=AuditQuery,
    response=list[AuditOut],
    errors=(400, 401, 403),
    tag="admin",
)
async def audit_list(request: web.Request, *, query: AuditQuery) -> list[object]:
    scopes = await audit_scopes_of(request)
    rows = await run_in_session(
        request.app[ENGINE],
        lambda s: entries(
            s, scopes=scopes, limit=query.limit, before_id=query.before, action=query.action
        ),
    )
    return list(rows)
