"""API tokens (for integrations and scripts) and the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aiohttp import web
from pydantic import Field, field_validator
from sqlmodel import Session, col, select

from core.audit import entries
from core.clock import utcnow
from core.config import Department
from core.departments import department_code, department_name
from core.policy import ADMIN_ROLE, MONITOR_ROLE, Permission, Post
from models.auth import ApiToken, AuditChannel, AuditOutcome
from models.db import run_in_session
from models.enums import Role
from models.org import PATH_SEP, OrgUnit
from orgtree.principals import create_token
from web.endpoints import Api, ApiError, Strict
from web.keys import ENGINE, SETTINGS
from web.security import audit, authorize, principal_of

api = Api()

TOKEN_ROLES = (ADMIN_ROLE, MONITOR_ROLE, *(r.value for r in Role))


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=60, description="用途，例如 12345热线")
    role: str = Field(description=f"one of: {', '.join(TOKEN_ROLES)}")
    scope: str = Field(
        default="", max_length=200, description="org path below the town; empty: whole town"
    )
    department: str | None = Field(default=None, max_length=60)

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in TOKEN_ROLES:
            raise ValueError(f"unknown role; one of {', '.join(TOKEN_ROLES)}")
        return value


class TokenOut(Strict):
    id: int
    name: str
    prefix: str
    role: str
    scope: str
    department: str | None
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


def check_token_request(
    session: Session, body: TokenIn, departments: Sequence[Department]
) -> str | None:
    """Why a token with this role and scope cannot be made, or None."""
    if body.role == Role.DEPARTMENT_LIAISON and body.department not in {
        d.code for d in departments
    }:
        names = "、".join(d.name for d in departments)
        return f"部门联络员令牌需要有效的部门（可选：{names}）"
    if body.scope:
        town = session.exec(select(OrgUnit.path).where(OrgUnit.parent_id == None)).first()  # noqa: E711
        path = PATH_SEP.join([town or "", body.scope.strip(PATH_SEP)])
        if session.exec(select(OrgUnit.id).where(OrgUnit.path == path)).first() is None:
            return f"组织架构中没有「{body.scope}」"
    return None


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
    department = department_code(body.department, settings.departments) if body.department else None
    request_ = body.model_copy(update={"department": department})

    def write(session: Session) -> tuple[ApiToken, str] | str:
        problem = check_token_request(session, request_, settings.departments)
        if problem is not None:
            return problem
        row, token = create_token(
            session,
            name=body.name,
            role=body.role,
            scope=tuple(p for p in body.scope.split(PATH_SEP) if p),
            department=department,
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
        department,
        department_name=department_name(department, settings.departments),
    )
    await audit(
        request,
        "token.create",
        target=f"token:{row.id}",
        detail={"name": row.name, "role": row.role, "scope": row.scope, "department": department},
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
    principal = principal_of(request)
    assert principal is not None
    if principal.is_admin or principal.holds(Role.TOWN_OFFICIAL):
        scopes = None
    else:
        scopes = [post.scope for post in principal.posts if post.role != Role.DEPARTMENT_LIAISON]
        if not scopes:
            await authorize(request, Permission.VIEW_AUDIT, scope=())
    rows = await run_in_session(
        request.app[ENGINE],
        lambda s: entries(
            s, scopes=scopes, limit=query.limit, before_id=query.before, action=query.action
        ),
    )
    return list(rows)
