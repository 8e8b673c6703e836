"""Typed JSON endpoints: every request part and every response is a pydantic model.

An endpoint declares its method, path, the policy permission it needs, and the models
of its path parameters, query, body and response. :class:`Api` validates the request
against them (a malformed request gets 400 and reaches no handler), serialises the
response through its model, and keeps the list that :mod:`web.openapi` turns into the
OpenAPI document, so the description cannot drift from what is served.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.policy import Permission

__all__ = [
    "PERMISSION_ATTR",
    "Api",
    "ApiError",
    "Endpoint",
    "ErrorOut",
    "Strict",
    "guarded",
    "json_response",
    "read_json",
]

log = logging.getLogger(__name__)

PERMISSION_ATTR = "__gridcast_permission__"
"""Set on every handler of the application: the policy permission it needs."""


class ErrorOut(BaseModel):
    """Every refusal: a stable code, a Chinese message, and what was wrong."""

    code: str = Field(description="machine-readable: invalid, unauthenticated, forbidden, ...")
    message: str = Field(description="中文说明")
    problems: list[str] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list)


_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """A refusal the API answers with :class:`ErrorOut`; nothing was changed."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        problems: list[str] | None = None,
        suggestions: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorOut(
            code=code or _CODES.get(status, "error"),
            message=message,
            problems=problems or [],
            suggestions=suggestions or [],
        )
        self.headers = headers or {}

    def response(self) -> web.Response:
        return json_response(
            self.body.model_dump(mode="json"), status=self.status, headers=self.headers
        )


def json_response(
    data: object, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        data,
        status=status,
        headers=headers,
        dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str),
    )


_PROBLEM_TEXTS: dict[str, str] = {
    "missing": "缺少这一项",
    "extra_forbidden": "没有这一项（不认识的字段）",
    "string_too_long": "最多 {max_length} 个字",
    "string_too_short": "至少 {min_length} 个字",
    "string_pattern_mismatch": "格式不对",
    "string_type": "应为文字",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "enum": "应为以下之一：{expected}",
    "literal_error": "应为以下之一：{expected}",
    "datetime_parsing": "应为日期时间，如 2026-12-03T08:00:00+08:00",
    "datetime_type": "应为日期时间",
    "date_parsing": "应为日期，如 2026-12-03",
    "date_from_datetime_parsing": "应为日期，如 2026-12-03",
}
"""Pydantic's English messages, as the people who read the 400 answers (the console shows
``problems``) read them: by error type, with the limits pydantic reports."""


def _problem_text(error: Any) -> str:
    template = _PROBLEM_TEXTS.get(str(error.get("type", "")))
    if template is not None:
        ctx = dict(error.get("ctx") or {})
        if isinstance(ctx.get("expected"), str):  # "'a', 'b' or 'c'"
            ctx["expected"] = ctx["expected"].replace(" or ", "、").replace(", ", "、")
        try:
            return template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            pass
    message = str(error.get("msg", ""))
    return message.removeprefix("Value error, ")  # our own validators speak Chinese


def _problems(exc: ValidationError, where: str) -> list[str]:
    return [
        f"{where}{'.'.join(str(p) for p in e['loc']) or ''}: {_problem_text(e)}".rstrip(": ")
        for e in exc.errors(include_url=False)
    ]


def _depth(value: Any, limit: int) -> bool:
    """Is ``value`` nested no deeper than ``limit`` (iteratively, no recursion)?"""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


async def read_json(request: web.Request, *, max_depth: int) -> Any:
    """The request body as JSON: a JSON content type, valid UTF-8 JSON, not too deep."""
    if request.content_type != "application/json":
        raise ApiError(
            415,
            "请求体必须是 JSON，Content-Type 应为 application/json",
            problems=[f"Content-Type: {request.content_type or '(none)'}"],
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "请求体太大") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "请求体不是有效的 JSON", problems=[str(exc)]) from None
    except RecursionError:
        raise ApiError(400, f"JSON 嵌套太深（最多 {max_depth} 层）") from None
    if not _depth(data, max_depth):
        raise ApiError(400, f"JSON 嵌套太深（最多 {max_depth} 层）")
    return data


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    permission: Permission
    summary: str
    handler: Handler
    params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: Any = None
    """A pydantic model, or a type such as ``list[Model]``."""
    status: int = 200
    errors: tuple[int, ...] = ()
    tag: str = "api"
    raw_body: str | None = None
    """A body the handler reads itself (``application/xml`` for CAP), for the description."""


@dataclass
class Api:
    """The typed endpoints of one part of the application."""

    max_json_depth: int = 32
    routes: web.RouteTableDef = field(default_factory=web.RouteTableDef)
    endpoints: list[Endpoint] = field(default_factory=list)

    def endpoint(
        self,
        method: str,
        path: str,
        *,
        permission: Permission,
        summary: str,
        params: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        tag: str = "api",
        raw_body: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(request, *, params=, query=, body=)`` returning the response
        value (a model, or data the response model validates)."""
        adapter = TypeAdapter(response) if response is not None else None

        def decorate(fn: Handler) -> Handler:
            async def handler(request: web.Request) -> web.StreamResponse:
                kwargs: dict[str, Any] = {}
                try:
                    if params is not None:
                        kwargs["params"] = params.model_validate(dict(request.match_info))
                    if query is not None:
                        kwargs["query"] = query.model_validate(
                            {k: request.query.getone(k) for k in request.query}
                        )
                except ValidationError as exc:
                    raise ApiError(400, "请求参数有误", problems=_problems(exc, "")) from None
                if body is not None:
                    data = await read_json(request, max_depth=self.max_json_depth)
                    try:
                        kwargs["body"] = body.model_validate(data)
                    except ValidationError as exc:
                        raise ApiError(
                            400, "请求参数有误", problems=_problems(exc, "body.")
                        ) from None
                result = await fn(request, **kwargs)
                if isinstance(result, web.StreamResponse):
                    return result
                if adapter is None:
                    return json_response(result, status=status)
                value = adapter.validate_python(
                    result, from_attributes=True
                )  # the real schema, or an error in our code
                return json_response(adapter.dump_python(value, mode="json"), status=status)

            setattr(handler, PERMISSION_ATTR, permission)
            handler.__name__ = fn.__name__
            handler.__doc__ = fn.__doc__
            self.routes.route(method, path)(handler)
            self.endpoints.append(
                Endpoint(
                    method=method.lower(),
                    path=path,
                    permission=permission,
                    summary=summary,
                    handler=fn,
                    params=params,
                    query=query,
                    body=body,
                    response=response,
                    status=status,
                    errors=errors,
                    tag=tag,
                    raw_body=raw_body,
                )
            )
            return fn

        return decorate


def guarded(permission: Permission) -> Callable[[Handler], Handler]:
    """Mark a plain aiohttp handler (a page, /healthz) with the permission it needs."""

    def decorate(fn: Handler) -> Handler:
        setattr(fn, PERMISSION_ATTR, permission)
        return fn

    return decorate


class Strict(BaseModel):
    """A request or response model that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")
