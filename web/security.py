"""The HTTP edge of the policy: who is asking, is the request well-formed and from this
site, and may they do it.

Every request passes :func:`security_middleware`:

- on a state-changing request, or one carrying the session cookie, a ``Host`` or an
  ``Origin`` naming another site is refused, so a page open in a browser elsewhere (or
  a rebound DNS name) cannot act on gridcast with someone's session; plain reads with a
  token or none (a monitoring probe of ``/healthz``) are not held to the host name;
- the caller becomes a :class:`core.policy.Principal`: a bearer API token, or the person
  of an encrypted session cookie;
- a state-changing request made with the session cookie must carry the session's CSRF
  token in ``X-CSRF-Token``;
- every handler declares the permission it needs (:data:`web.endpoints.PERMISSION_ATTR`);
  one that does not is refused, so a new route cannot be open by accident. Handlers
  whose decision depends on a scope call :func:`authorize` once they know it;
- the sandbox's control API answers only on loopback unless configured otherwise;
- an error the code did not foresee is logged and answered with a JSON 500 that names
  nothing internal.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session
from cryptography.fernet import Fernet
from sqlmodel import Session, col, delete

from bot.desk import DeskUnavailable
from core.audit import record
from core.clock import utcnow
from core.config import Settings
from core.files import read_or_create_private
from core.messaging import Reply
from core.policy import Decision, Permission, Principal, audit_scopes, decide
from models.auth import AuditChannel, AuditOutcome, RevokedSession
from models.db import run_in_session
from models.org import OrgPath
from orgtree.principals import person_principal, token_principal
from web.endpoints import PERMISSION_ATTR, ApiError
from web.keys import ENGINE, SETTINGS

__all__ = [
    "CSRF_HEADER",
    "PRINCIPAL",
    "SESSION_COOKIE",
    "SESSION_ID",
    "audit",
    "audit_scopes_of",
    "authorize",
    "client_address",
    "new_session_id",
    "principal_of",
    "revoke_session",
    "security_middleware",
    "session_revoked",
    "session_secret",
]

log = logging.getLogger(__name__)

CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE = "GRIDCAST_SESSION"
SESSION_ID = "sid"
"""The key of the session's random id in the cookie: sign-out revokes it on the server."""
PRINCIPAL: web.RequestKey[Principal | None] = web.RequestKey("principal")
"""Request key of the caller's :class:`Principal` (``None`` when anonymous)."""
_VIA: web.RequestKey[str | None] = web.RequestKey("via")
"""How the caller authenticated: ``token``, ``session`` or ``None``."""
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def session_secret(data_dir: Path) -> bytes:
    """The key that encrypts session cookies: created once per deployment in the data
    directory (mode 0600), so sign-ins survive a restart."""
    return read_or_create_private(data_dir / "session.key", Fernet.generate_key())


def client_address(request: web.Request) -> str:
    return request.remote or ""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _allowed_hosts(request: web.Request, settings: Settings) -> set[str]:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if sockname else settings.web.port
    hosts = {f"{settings.web.host}:{port}"}
    if settings.web.public_url:
        parts = urlsplit(settings.web.public_url)
        default = 443 if parts.scheme == "https" else 80
        hosts.add(parts.netloc)
        if parts.port is None:
            hosts.add(f"{parts.hostname}:{default}")
    if settings.web.host in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::"):
        for name in _LOOPBACK_NAMES:
            host = f"[{name}]" if ":" in name else name
            hosts.add(f"{host}:{port}")
    return {h.lower() for h in hosts}


def _same_site(request: web.Request, settings: Settings) -> str | None:
    """Why the request looks cross-site, or None."""
    unsafe = request.method in _UNSAFE
    if not unsafe and SESSION_COOKIE not in request.cookies:
        return None  # a read without the session cookie carries no one's authority
    allowed = _allowed_hosts(request, settings)
    host = (request.host or "").lower()
    if ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:{request.url.port or 80}"
    if host not in allowed:
        return f"Host「{request.host}」不是本系统的地址"
    origin = request.headers.get("Origin")
    if request.method in _UNSAFE and origin is not None:
        netloc = _origin_netloc(origin)
        if netloc is None:
            return f"来源「{origin[:200]}」不是有效的网页地址"
        if netloc not in allowed:
            return f"来源「{origin}」不是本系统的页面"
    return None


def _origin_netloc(origin: str) -> str | None:
    """``host:port`` of an ``Origin`` header (lower case, the scheme's default port filled
    in), or None when it is not a valid origin (a port out of range or not a number)."""
    try:
        parts = urlsplit(origin)
        port = parts.port  # raises ValueError on "99999" or "18080.evil.com"
    except ValueError:
        return None
    netloc = (parts.netloc or "").lower()
    if port is None and parts.hostname:
        netloc = f"{netloc}:{443 if parts.scheme == 'https' else 80}"
    return netloc


async def _resolve(request: web.Request) -> tuple[Principal | None, str | None]:
    settings = request.app[SETTINGS]
    engine = request.app[ENGINE]
    authorization = request.headers.get("Authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Authorization 头应为 Bearer 令牌", code="unauthenticated")
        now = utcnow()
        principal = await run_in_session(
            engine,
            lambda s: token_principal(
                s, token.strip(), now=now, departments=request.app[SETTINGS].departments
            ),
        )
        if principal is None:
            raise ApiError(401, "令牌无效或已被吊销", code="unauthenticated")
        return principal, "token"
    session = await get_session(request)
    person_id = session.get("person_id")
    if isinstance(person_id, int):
        session_id = session.get(SESSION_ID)
        if not isinstance(session_id, str) or not session_id:
            session.invalidate()  # a cookie from before sessions had ids: sign in again
            return None, None

        def load(s: Session) -> Principal | None:
            if session_revoked(s, session_id):
                return None
            return person_principal(
                s, person_id, admins=settings.admins, departments=settings.departments
            )

        principal = await run_in_session(engine, load)
        if principal is None:  # signed out, or the person left the roster: the session ends
            session.invalidate()
            return None, None
        return principal, "session"
    return None, None


def new_session_id() -> str:
    """A fresh random id for a signed-in session (in its cookie as ``sid``)."""
    return secrets.token_urlsafe(24)


def session_revoked(session: Session, session_id: str) -> bool:
    """Was the session with this id ended (signed out)?"""
    return session.get(RevokedSession, session_id) is not None


def revoke_session(
    session: Session, session_id: str, *, now: datetime, expires_at: datetime
) -> None:
    """End a session on the server: its cookie is refused until it would have expired
    anyway (``expires_at``), when its row goes with the other expired ones."""
    session.exec(delete(RevokedSession).where(col(RevokedSession.expires_at) < now))
    if session.get(RevokedSession, session_id) is None:
        session.add(RevokedSession(session_id=session_id, revoked_at=now, expires_at=expires_at))


def principal_of(request: web.Request) -> Principal | None:
    principal = request.get(PRINCIPAL)
    return principal if isinstance(principal, Principal) else None


def _channel(request: web.Request) -> AuditChannel:
    return AuditChannel.CONSOLE if request.get(_VIA) == "session" else AuditChannel.API


async def send_or_audit(
    request: web.Request,
    send: Callable[[Reply], Awaitable[object]],
    replies: Iterable[Reply],
    action: str,
    *,
    target: str,
    scope: OrgPath = (),
) -> None:
    """Send what an action from the web produced (the action already stands): a reply
    that cannot be sent is audited as failed, and the others still go."""
    for reply in replies:
        try:
            await send(reply)
        except Exception as exc:  # the action stands; the reply is logged as not sent
            await audit(
                request,
                action,
                outcome=AuditOutcome.FAILED,
                target=target,
                scope=scope,
                message=f"通知未能发送：{exc}",
            )


async def audit(
    request: web.Request,
    action: str,
    *,
    outcome: AuditOutcome = AuditOutcome.OK,
    target: str = "",
    scope: OrgPath = (),
    detail: dict[str, object] | None = None,
    message: str = "",
    principal: Principal | None = None,
    actor_name: str | None = None,
) -> None:
    """One audit entry for this request (its own transaction)."""
    who = principal if principal is not None else principal_of(request)
    now = utcnow()
    channel = _channel(request) if principal is None else AuditChannel.CONSOLE

    def write(session: Session) -> None:
        record(
            session,
            principal=who,
            channel=channel,
            action=action,
            outcome=outcome,
            now=now,
            source=client_address(request),
            target=target,
            scope=scope,
            detail=detail,
            message=message,
            actor_name=actor_name,
        )

    await run_in_session(request.app[ENGINE], write)


async def authorize(
    request: web.Request,
    permission: Permission,
    *,
    scope: OrgPath | None = None,
    issuer_person_id: int | None = None,
    issuer_token_id: int | None = None,
    department: str | None = None,
    target: str = "",
) -> Principal:
    """The caller, if the policy allows ``permission`` on ``scope``; else 401/403, with
    the refusal in the audit trail."""
    principal = principal_of(request)
    decision = decide(
        principal,
        permission,
        scope=scope,
        issuer_person_id=issuer_person_id,
        issuer_token_id=issuer_token_id,
        department=department,
    )
    if not decision:
        await _refuse(request, permission, decision, target=target, scope=scope or ())
    assert principal is not None or permission is Permission.PUBLIC
    return principal  # type: ignore[return-value]


async def audit_scopes_of(request: web.Request) -> list[OrgPath] | None:
    """The scopes of the audit trail the caller may read (None: all of it), as the policy
    decides (:func:`core.policy.audit_scopes`); 401/403, audited, when none."""
    principal = principal_of(request)
    scopes = audit_scopes(principal) if principal is not None else []
    if scopes is not None and not scopes:
        await authorize(request, Permission.VIEW_AUDIT)  # refused, with the policy's reason
        return []  # pragma: no cover - the policy refuses whoever has no audit scope
    return scopes


async def _refuse(
    request: web.Request,
    permission: Permission,
    decision: Decision,
    *,
    target: str = "",
    scope: OrgPath = (),
) -> None:
    principal = principal_of(request)
    log.warning(
        "refused %s %s for %s: %s",
        request.method,
        request.path,
        principal.audit_name() if principal else "anonymous",
        decision.reason,
    )
    await audit(
        request,
        f"refused.{permission.value}",
        outcome=AuditOutcome.REFUSED,
        target=target or f"{request.method} {request.path}",
        scope=scope,
        message=decision.reason,
    )
    if principal is None:
        raise ApiError(401, decision.reason, code="unauthenticated")
    raise ApiError(403, decision.reason, code="forbidden")


_HTTP_REASONS = {
    400: "请求有误",
    404: "没有这个地址",
    405: "这个地址不接受这种请求方法",
    413: "请求体太大",
    415: "不支持的请求体类型",
}
"""aiohttp's own refusals (an upload too large, an unknown path) in the Chinese every
other answer uses."""


@web.middleware
async def security_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await _guard(request, handler)
    except ApiError as exc:
        return exc.response()
    except DeskUnavailable as exc:  # gridcast web: no bot process answered
        return ApiError(503, str(exc), code="bots_unavailable").response()
    except web.HTTPException as exc:
        if exc.status >= 400 and not exc.content_type.endswith("json"):
            kept = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
            reason = _HTTP_REASONS.get(exc.status, exc.reason or "请求被拒绝")
            return ApiError(exc.status, reason, headers=kept).response()
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return ApiError(500, "服务器内部错误，已记录").response()


async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if request.path.startswith("/sandbox"):
        if settings.sandbox.control_from == "loopback" and not _is_loopback(
            client_address(request)
        ):
            raise ApiError(403, "模拟微信的控制接口只接受本机访问（sandbox.control_from）")
        return await handler(request)
    cross_site = _same_site(request, settings)
    if cross_site is not None:
        raise ApiError(403, cross_site, code="cross_site")
    match_info = request.match_info
    route_handler = getattr(match_info, "handler", None)
    permission = getattr(route_handler, PERMISSION_ATTR, None)
    if match_info.http_exception is not None:
        raise match_info.http_exception
    if permission is None:
        log.error("route %s %s has no policy: refused", request.method, request.path)
        raise ApiError(403, "这个地址没有访问规则，已拒绝", code="forbidden")
    if permission is Permission.PUBLIC:
        try:  # a public route answers whatever credentials come with it
            principal, via = await _resolve(request)
        except ApiError:
            principal, via = None, None
    else:
        principal, via = await _resolve(request)
    request[PRINCIPAL] = principal
    request[_VIA] = via
    if via == "session" and request.method in _UNSAFE:
        session = await get_session(request)
        expected = session.get("csrf")
        given = request.headers.get(CSRF_HEADER, "")
        if not isinstance(expected, str) or not secrets.compare_digest(expected, given):
            raise ApiError(403, f"缺少或错误的 {CSRF_HEADER}（防跨站请求伪造）", code="csrf")
    if permission in (Permission.SIGNED_IN, Permission.ADMIN, Permission.VIEW_BOTS) or (
        permission is not Permission.PUBLIC and principal is None
    ):
        await authorize(request, permission)
    return await handler(request)
