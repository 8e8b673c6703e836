"""What every console page shares: the template environment, the signed-in person and
what their posts open (the menu), the CSRF token, static files from the package, and
refusals shown as pages.

Pages are server-rendered Jinja2 templates; the few state changes are posted by a small
script (``static/console.js``) with the session's CSRF token in ``X-CSRF-Token``, the
same rule as for the JSON API (:mod:`web.security`).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session

from core.clock import TOWN_TZ
from core.policy import ADMIN_ROLE, Decision, Permission, Principal, decide
from models.enums import Role
from models.org import OrgPath
from web.endpoints import guarded
from web.security import principal_of

__all__ = [
    "CONSOLE",
    "JINJA",
    "Menu",
    "console_setup",
    "html_errors",
    "page",
    "principal_required",
    "routes",
    "widest_scope",
]

CONSOLE = "/console/"
JINJA = web.AppKey("console_jinja", jinja2.Environment)
routes = web.RouteTableDef()


def _local(value: datetime | str | None, fmt: str = "%m-%d %H:%M") -> str:
    """A moment in the town's time (a datetime or its ISO text)."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(TOWN_TZ).strftime(fmt)


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def console_setup(app: web.Application) -> jinja2.Environment:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("web.console", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        app_key=JINJA,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["local"] = _local
    env.filters["pct"] = _pct
    env.filters["tojson_attr"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
    _load_static(app)
    return env


# --- who is asking, and what they may open -------------------------------------------


def principal_required(request: web.Request) -> Principal:
    principal = principal_of(request)
    if principal is None:  # the middleware refuses anonymous callers first
        raise web.HTTPFound(f"{CONSOLE}signin")
    return principal


def widest_scope(principal: Principal, permission: Permission) -> OrgPath | None:
    """The widest org scope ``permission`` is allowed on for ``principal`` (``()`` the
    town), or None when it is allowed nowhere."""
    candidates: list[OrgPath] = [()]
    candidates += sorted(
        {post.scope for post in principal.posts if post.role != Role.DEPARTMENT_LIAISON},
        key=len,
    )
    for scope in candidates:
        if decide(principal, permission, scope=scope):
            return scope
    return None


@dataclass(frozen=True, slots=True)
class Menu:
    tickets: bool
    notices: bool
    issue: bool
    rhythm: bool
    org: bool
    system: bool
    bots: bool
    admin: bool
    audit: bool


def menu_of(principal: Principal) -> Menu:
    liaison = any(post.role == Role.DEPARTMENT_LIAISON for post in principal.posts)
    tickets = liaison or widest_scope(principal, Permission.VIEW_TICKETS) is not None
    bots = bool(decide(principal, Permission.VIEW_BOTS))
    admin = bool(decide(principal, Permission.ADMIN))
    audit = widest_scope(principal, Permission.VIEW_AUDIT) is not None
    return Menu(
        tickets=tickets,
        notices=widest_scope(principal, Permission.VIEW_NOTICES) is not None,
        issue=widest_scope(principal, Permission.ISSUE_NOTICE) is not None,
        rhythm=widest_scope(principal, Permission.VIEW_TICKETS) is not None,
        org=widest_scope(principal, Permission.VIEW_ORG) is not None,
        system=bots or admin or audit,
        bots=bots,
        admin=admin,
        audit=audit,
    )


def may(principal: Principal, permission: Permission, scope: OrgPath | None = None) -> Decision:
    return decide(principal, permission, scope=scope)


async def page(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """Render a console page for the signed-in person."""
    principal = principal_of(request)
    session = await get_session(request)
    csrf = session.get("csrf") if principal is not None else None
    base = {
        "me": principal,
        "menu": menu_of(principal) if principal is not None else None,
        "posts": ", ".join(p.label for p in principal.posts) if principal else "",
        "csrf": csrf if isinstance(csrf, str) else "",
        "path": request.path,
        "static": _static_url,
        "is_admin_role": principal is not None and principal.holds(ADMIN_ROLE),
        "title": "",
    }
    response = aiohttp_jinja2.render_template(
        template, request, {**base, **context}, status=status, app_key=JINJA
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'"
    )
    return response


# --- refusals as pages -------------------------------------------------------------------


def _wants_html(request: web.Request) -> bool:
    return request.path.startswith(CONSOLE) and "text/html" in request.headers.get("Accept", "")


@web.middleware
async def html_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A browser that opens a console page it may not see gets a page, not JSON: the
    sign-in page when nobody is signed in, otherwise the refusal in Chinese. Scripts
    and API clients (no ``text/html`` in Accept) keep the JSON answer."""
    response = await handler(request)
    if response.status < 400 or not _wants_html(request):
        return response
    if not isinstance(response, web.Response) or not (response.content_type or "").endswith("json"):
        return response
    try:
        body = json.loads(response.body or b"{}")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return response
    message = body.get("message", "") if isinstance(body, dict) else ""
    if response.status == 401 and request.method == "GET":
        raise web.HTTPFound(f"{CONSOLE}signin?next={request.path_qs}")
    return await page(
        request,
        "error.html",
        {
            "status": response.status,
            "message": message or "请求被拒绝",
            "title": "无权访问" if response.status == 403 else "出错了",
        },
        status=response.status,
    )


# --- static files, from the package ---------------------------------------------------

_STATIC = web.AppKey("console_static", dict)


def _load_static(app: web.Application) -> None:
    files: dict[str, tuple[bytes, str, str]] = {}
    folder = resources.files("web.console") / "static"
    for item in folder.iterdir():
        if item.is_file() and not item.name.startswith("."):
            data = item.read_bytes()
            kind = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
            files[item.name] = (data, kind, hashlib.sha256(data).hexdigest()[:12])
    app[_STATIC] = files
    global _VERSIONS
    _VERSIONS = {name: version for name, (_, _, version) in files.items()}


_VERSIONS: dict[str, str] = {}


def _static_url(name: str) -> str:
    return f"{CONSOLE}static/{name}?v={_VERSIONS.get(name, '0')}"


@routes.get(CONSOLE + "static/{name}")
@guarded(Permission.PUBLIC)
async def static(request: web.Request) -> web.Response:
    """The console's CSS and script, served from the package (nothing from the internet)."""
    found = request.app[_STATIC].get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    data, kind, version = found
    charset = "utf-8" if kind.startswith("text/") or kind.endswith("javascript") else None
    return web.Response(
        body=data,
        content_type=kind,
        charset=charset,
        headers={"Cache-Control": "public, max-age=86400", "ETag": f'"{version}"'},
    )


# --- sign-in --------------------------------------------------------------------------


@routes.get(CONSOLE + "signin")
@guarded(Permission.PUBLIC)
async def signin_page(request: web.Request) -> web.StreamResponse:
    """Phone, then the code the bot sends on WeChat (or a password)."""
    target = request.query.get("next", CONSOLE)
    if not target.startswith(CONSOLE) or target.startswith("//"):
        target = CONSOLE
    if principal_of(request) is not None:
        raise web.HTTPFound(target)
    return await page(request, "signin.html", {"next": target, "title": "登录"})


@routes.get(CONSOLE + "signout")
@guarded(Permission.PUBLIC)
async def signout_page(request: web.Request) -> web.StreamResponse:
    """A page with one button: signing out is a POST with the CSRF token."""
    return await page(request, "signout.html", {"title": "退出登录"})
