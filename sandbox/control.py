"""The sandbox's control plane: a JSON API and one web page, as an aiohttp sub-application.

Mount it with ``app.add_subapp("/sandbox", create_control_app(sandbox))``; the page is
then at ``/sandbox/`` and the API under ``/sandbox/api/``. Handlers only parse, call a
:class:`~sandbox.sandbox.Sandbox` method and render; sandbox refusals become JSON
``{"error": "<Chinese message>"}`` with a 4xx/5xx status.

Endpoints (``{room}`` is a room id or exact topic, ``{contact}`` an id or unique name):

* ``GET  api/rooms?q=&members=1&limit=&offset=`` -> ``{"total", "rooms": [...]}``
* ``GET  api/rooms/{room}`` -> room with ``members`` (id, name, alias, is_bot)
* ``GET  api/rooms/{room}/transcript?since=SEQ`` -> ``{"room", "messages": [...]}``
* ``POST api/rooms/{room}/messages`` ``{"sender", "text", "kind"?, "mention"?: [...]}``
* ``POST api/rooms/{room}/topic`` ``{"topic"}``; ``POST api/rooms/{room}/dissolve``;
  ``POST api/rooms/{room}/remove`` ``{"member"}`` (a person or a bot account)
* ``GET  api/accounts``; ``GET api/accounts/{account}``
* ``GET|POST api/accounts/{account}/private/{contact}`` transcript | ``{"text", "kind"?}``
* ``POST api/accounts/{account}/logout`` ``{"reason"?}``, ``.../login``,
  ``.../drop-stream``, ``.../unfreeze``, ``.../limits`` ``{"rate_per_s", "burst"}``
* ``GET  api/accounts/{account}/friends`` -> ``{"modelled", "friends", "requests"}``
* ``POST api/accounts/{account}/friend-requests`` ``{"contact", "hello"?, "name"?, "phone"?,
  "weixin"?}``: a person asks the account to be friends (``name`` creates a person
  WeChat does not know yet); ``POST api/friend-requests/{id}/accept``: a pending
  request is accepted outside the bot (the person accepts the account's request, or
  the account's operator a person's request, by hand); ``POST api/accounts/{account}/friends/{contact}/remove``:
  the person deletes the account
* ``GET|POST api/risk`` current :class:`SandboxRiskSettings` | partial update
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.errors import (
    InvalidRequest,
    LoggedOut,
    NotAFriend,
    NotAMember,
    NotFound,
    SandboxError,
    Throttled,
    TransientFailure,
)
from sandbox.sandbox import Sandbox
from sandbox.world import MemberSpec

SANDBOX_KEY = web.AppKey("sandbox", Sandbox)
BodyT = TypeVar("BodyT", bound=BaseModel)

HTTP_STATUS: dict[type[SandboxError], int] = {
    InvalidRequest: 400,
    NotFound: 404,
    NotAMember: 409,
    NotAFriend: 409,
    LoggedOut: 409,
    Throttled: 429,
    TransientFailure: 503,
}


# --- request bodies ------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class PostMessageIn(_Body):
    sender: str = Field(min_length=1)
    text: str = ""
    kind: str = "text"
    mention: list[str] = Field(default_factory=list)


class PostPrivateIn(_Body):
    text: str = ""
    kind: str = "text"


class TopicIn(_Body):
    topic: str = Field(min_length=1)


class MemberIn(_Body):
    member: str = Field(min_length=1)


class AddMemberIn(_Body):
    contact_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    room_alias: str = ""


class FriendRequestIn(_Body):
    contact: str = Field(min_length=1)
    """A contact id or unique name."""
    hello: str = Field(default="", max_length=200)
    name: str | None = Field(default=None, min_length=1)
    """Set to create a person WeChat does not know yet, with this contact id."""
    phone: str = ""
    weixin: str = ""


class LogoutIn(_Body):
    reason: str = "账号在其他设备登录，已被迫下线"


class LimitsIn(_Body):
    rate_per_s: float | None = Field(default=None, ge=0)
    burst: int | None = Field(default=None, ge=1)


def _loads(raw: str) -> object:
    """The body as JSON, or :class:`InvalidRequest` (malformed, or nested too deep)."""
    try:
        return json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("请求体不是有效的 JSON") from None
    except RecursionError:
        raise InvalidRequest("请求体的 JSON 嵌套太深") from None


async def _parse(request: web.Request, model: type[BodyT]) -> BodyT:
    data = _loads(await request.text())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "；".join(
            f"{'.'.join(str(part) for part in error['loc']) or '请求体'}：{error['msg']}"
            for error in exc.errors()
        )
        raise InvalidRequest(f"请求内容有误：{problems}") from None


# --- rendering -----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _json(value: Any, *, status: int = 200) -> web.Response:
    return web.json_response(
        _plain(value), status=status, dumps=lambda data: json.dumps(data, ensure_ascii=False)
    )


def _int_query(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"参数 {name} 必须是整数") from None
    if value < 0:
        raise InvalidRequest(f"参数 {name} 不能为负数")
    return value


def _flag(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off", "")


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except SandboxError as error:
        return _json({"error": error.message}, status=HTTP_STATUS.get(type(error), 400))


# --- handlers ------------------------------------------------------------------------


async def _page(request: web.Request) -> web.Response:
    html = resources.files("sandbox").joinpath("page.html").read_text(encoding="utf-8")
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def _list_rooms(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    rooms = sandbox.rooms(request.query.get("q", ""), with_members=_flag(request, "members", True))
    offset = _int_query(request, "offset", 0) or 0
    limit = _int_query(request, "limit", None)
    page = rooms[offset:] if limit is None else rooms[offset : offset + limit]
    return _json({"total": len(rooms), "rooms": page})


async def _get_room(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    room = request.match_info["room"]
    return _json(
        {**_plain(sandbox.room(room)), "members": sandbox.room_members(room)},
    )


async def _room_transcript(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    room = request.match_info["room"]
    since = _int_query(request, "since", 0) or 0
    view = sandbox.room(room, with_members=False)
    return _json({"room": view, "messages": sandbox.transcript(room, since_seq=since)})


async def _post_room_message(request: web.Request) -> web.Response:
    body = await _parse(request, PostMessageIn)
    message = request.app[SANDBOX_KEY].post_message(
        request.match_info["room"], body.sender, body.text, kind=body.kind, mention=body.mention
    )
    return _json(message, status=201)


async def _message_file(request: web.Request) -> web.Response:
    """The bytes of a file or image message (the page shows images inline)."""
    message = request.app[SANDBOX_KEY].message_file(request.match_info["message"])
    assert message.file_data is not None
    return web.Response(
        body=message.file_data,
        content_type=message.media_type or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def _set_topic(request: web.Request) -> web.Response:
    body = await _parse(request, TopicIn)
    sandbox = request.app[SANDBOX_KEY]
    room = sandbox.room(request.match_info["room"])
    sandbox.set_topic(room.room_id, body.topic)
    return _json(sandbox.room(room.room_id, with_members=False))


async def _dissolve(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX_KEY].dissolve_room(request.match_info["room"]))


async def _remove_member(request: web.Request) -> web.Response:
    body = await _parse(request, MemberIn)
    sandbox = request.app[SANDBOX_KEY]
    sandbox.remove_from_room(request.match_info["room"], body.member)
    return _json(sandbox.room(request.match_info["room"], with_members=False))


async def _add_member(request: web.Request) -> web.Response:
    body = await _parse(request, AddMemberIn)
    sandbox = request.app[SANDBOX_KEY]
    sandbox.add_to_room(
        request.match_info["room"], MemberSpec(body.contact_id, body.name, body.room_alias)
    )
    return _json(sandbox.room(request.match_info["room"], with_members=False), status=201)


async def _list_accounts(request: web.Request) -> web.Response:
    return _json({"accounts": request.app[SANDBOX_KEY].accounts()})


async def _get_account(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX_KEY].account(request.match_info["account"]))


async def _private_transcript(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    messages = sandbox.private_transcript(
        request.match_info["account"], request.match_info["contact"]
    )
    return _json({"messages": messages})


async def _post_private(request: web.Request) -> web.Response:
    body = await _parse(request, PostPrivateIn)
    message = request.app[SANDBOX_KEY].post_private(
        request.match_info["account"], request.match_info["contact"], body.text, kind=body.kind
    )
    return _json(message, status=201)


async def _friends(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX_KEY].friends(request.match_info["account"]))


async def _request_friend(request: web.Request) -> web.Response:
    body = await _parse(request, FriendRequestIn)
    view = request.app[SANDBOX_KEY].request_friend(
        request.match_info["account"],
        body.contact,
        body.hello,
        name=body.name,
        phone=body.phone,
        weixin=body.weixin,
    )
    return _json(view, status=201)


async def _accept_friend_request(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX_KEY].accept_friend_request(request.match_info["id"]))


async def _remove_friend(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    sandbox.remove_friend(request.match_info["account"], request.match_info["contact"])
    return _json(sandbox.friends(request.match_info["account"]))


async def _logout(request: web.Request) -> web.Response:
    body = await _parse(request, LogoutIn)
    sandbox = request.app[SANDBOX_KEY]
    sandbox.logout(request.match_info["account"], reason=body.reason)
    return _json(sandbox.account(request.match_info["account"]))


async def _login(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    sandbox.login(request.match_info["account"])
    return _json(sandbox.account(request.match_info["account"]))


async def _drop_stream(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    ended = sandbox.drop_event_stream(request.match_info["account"])
    return _json(
        {"ended_streams": ended, "account": sandbox.account(request.match_info["account"])}
    )


async def _unfreeze(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    sandbox.unfreeze(request.match_info["account"])
    return _json(sandbox.account(request.match_info["account"]))


async def _limits(request: web.Request) -> web.Response:
    body = await _parse(request, LimitsIn)
    sandbox = request.app[SANDBOX_KEY]
    account_id = request.match_info["account"]
    sandbox.set_account_limits(account_id, rate_per_s=body.rate_per_s, burst=body.burst)
    return _json(sandbox.account(account_id))


async def _get_risk(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX_KEY].risk_settings.model_dump())


async def _set_risk(request: web.Request) -> web.Response:
    changes = _loads(await request.text())
    if not isinstance(changes, dict):
        raise InvalidRequest("请求体必须是 JSON 对象")
    settings = request.app[SANDBOX_KEY].set_risk(**changes)
    return _json(settings.model_dump())


def create_control_app(sandbox: Sandbox) -> web.Application:
    """The control plane of ``sandbox`` as an aiohttp (sub-)application."""
    app = web.Application(middlewares=[_errors])
    app[SANDBOX_KEY] = sandbox
    add = app.router
    add.add_get("/", _page)
    add.add_get("/api/rooms", _list_rooms)
    add.add_get("/api/rooms/{room}", _get_room)
    add.add_get("/api/rooms/{room}/transcript", _room_transcript)
    add.add_post("/api/rooms/{room}/messages", _post_room_message)
    add.add_post("/api/rooms/{room}/topic", _set_topic)
    add.add_post("/api/rooms/{room}/dissolve", _dissolve)
    add.add_post("/api/rooms/{room}/remove", _remove_member)
    add.add_post("/api/rooms/{room}/members", _add_member)
    add.add_get("/api/messages/{message}/file", _message_file)
    add.add_get("/api/accounts", _list_accounts)
    add.add_get("/api/accounts/{account}", _get_account)
    add.add_get("/api/accounts/{account}/private/{contact}", _private_transcript)
    add.add_post("/api/accounts/{account}/private/{contact}", _post_private)
    add.add_get("/api/accounts/{account}/friends", _friends)
    add.add_post("/api/accounts/{account}/friend-requests", _request_friend)
    add.add_post("/api/accounts/{account}/friends/{contact}/remove", _remove_friend)
    add.add_post("/api/friend-requests/{id}/accept", _accept_friend_request)
    add.add_post("/api/accounts/{account}/logout", _logout)
    add.add_post("/api/accounts/{account}/login", _login)
    add.add_post("/api/accounts/{account}/drop-stream", _drop_stream)
    add.add_post("/api/accounts/{account}/unfreeze", _unfreeze)
    add.add_post("/api/accounts/{account}/limits", _limits)
    add.add_get("/api/risk", _get_risk)
    add.add_post("/api/risk", _set_risk)
    add.add_patch("/api/risk", _set_risk)
    return app
