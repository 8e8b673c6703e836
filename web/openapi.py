"""``GET /api/openapi.json``: the OpenAPI description of the JSON API.

Request bodies come from the pydantic models the handlers validate with, so the
description cannot drift from what is accepted; a test checks that every ``/api``
route of the application is described.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.version import VERSION
from web.api import NoticeIn

routes = web.RouteTableDef()

_ERROR = {
    "description": "Refused; nothing changed",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["error"],
            }
        }
    },
}
_JSON = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
_CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^N\\d{4,6}$"},
}


def describe() -> dict[str, Any]:
    notice_in = NoticeIn.model_json_schema(ref_template="#/components/schemas/{model}")
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Version, database and counts",
                "responses": {"200": _JSON, "503": _JSON},
            }
        },
        "/api/org/stats": {
            "get": {"summary": "Counts per level and unit kind", "responses": {"200": _JSON}}
        },
        "/api/org/show": {
            "get": {
                "summary": "One subtree with its leaders (phones masked)",
                "parameters": [
                    {
                        "name": "path",
                        "in": "query",
                        "schema": {"type": "string"},
                        "example": "黄霞村/第16网格",
                    }
                ],
                "responses": {"200": _JSON, "404": _ERROR},
            }
        },
        "/api/notices": {
            "post": {
                "summary": "Plan a notice (and send it with confirm: true)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NoticeIn"}}
                    },
                },
                "responses": {"201": _JSON, "400": _ERROR, "404": _ERROR, "503": _ERROR},
            }
        },
        "/api/notices/{code}": {
            "get": {
                "summary": "Reach report and live progress",
                "parameters": [_CODE],
                "responses": {"200": _JSON, "404": _ERROR},
            }
        },
        "/api/notices/{code}/{action}": {
            "post": {
                "summary": "Send (confirm) or drop (cancel) a pending notice",
                "parameters": [
                    _CODE,
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["confirm", "cancel"]},
                    },
                ],
                "responses": {"200": _JSON, "404": _ERROR, "409": _ERROR, "503": _ERROR},
            }
        },
        "/api/bot/accounts": {
            "get": {"summary": "Bot accounts and their state", "responses": {"200": _JSON}}
        },
        "/api/bot/status": {
            "get": {
                "summary": "Accounts, rooms not placed, groups without an online account",
                "responses": {"200": _JSON},
            }
        },
        "/api/openapi.json": {"get": {"summary": "This description", "responses": {"200": _JSON}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridcast",
            "version": VERSION,
            "description": "网格化治理微信群机器人的 JSON API",
        },
        "paths": paths,
        "components": {"schemas": {"NoticeIn": notice_in}},
    }


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(describe())
