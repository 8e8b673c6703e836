"""``GET /api/openapi.json``: the OpenAPI 3.1 description, generated from the same
pydantic models the endpoints validate requests and serialise responses with
(:mod:`web.endpoints`). A test validates it with openapi-spec-validator and checks that
every route of the application is in it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, get_args

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from core.policy import Permission
from core.version import VERSION
from web.endpoints import Api, Endpoint, ErrorOut, guarded
from web.health import HealthOut

routes = web.RouteTableDef()
APIS: web.AppKey[list[Api]] = web.AppKey("apis")

_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_ERROR_TEXT = {
    400: "Malformed request; nothing changed",
    401: "Not signed in, or the token is unknown or revoked",
    403: "The policy refuses this caller (or a cross-site request)",
    404: "Not found",
    409: "Conflicts with the current state; nothing changed",
    413: "Body too large",
    415: "Body is not JSON",
    429: "Too many attempts",
    503: "The service this needs is not running in this process",
}


def _models(endpoints: Iterable[Endpoint]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"ErrorOut": ErrorOut, "HealthOut": HealthOut}
    for endpoint in endpoints:
        for declared in (endpoint.body, endpoint.response):
            for model in (declared, *get_args(declared)):
                if isinstance(model, type) and issubclass(model, BaseModel):
                    found[model.__name__] = model
    return list(found.values())


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        out.append(parameter)
    return out


def _response_schema(endpoint: Endpoint) -> dict[str, Any]:
    response = endpoint.response
    if response is None:
        return {}
    if isinstance(response, type) and issubclass(response, BaseModel):
        return {"$ref": _REF.format(model=response.__name__)}
    schema = TypeAdapter(response).json_schema(ref_template=_REF)
    schema.pop("$defs", None)
    return schema


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "tags": [endpoint.tag],
        "x-permission": endpoint.permission.value,
    }
    parameters = _parameters(endpoint.params, "path") + _parameters(endpoint.query, "query")
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=endpoint.body.__name__)}}
            },
        }
    elif endpoint.raw_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {endpoint.raw_body: {"schema": {"type": "string"}}},
        }
    responses: dict[str, Any] = {
        str(endpoint.status): {
            "description": "OK",
            "content": {"application/json": {"schema": _response_schema(endpoint)}},
        }
    }
    errors = set(endpoint.errors)
    if endpoint.body is not None:
        errors |= {400, 413, 415}
    if endpoint.permission is not Permission.PUBLIC:
        errors |= {401, 403}
        operation["security"] = [{"bearer": []}, {"session": []}]
    else:
        operation["security"] = [{}]
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _ERROR_TEXT.get(status, "Refused"),
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}},
        }
    operation["responses"] = responses
    return operation


def describe(apis: list[Api]) -> dict[str, Any]:
    endpoints = [e for api in apis for e in api.endpoints]
    _, schemas = models_json_schema(
        [(m, "serialization") for m in _models(endpoints)], ref_template=_REF
    )
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        path = _PARAM.sub(r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method] = _operation(endpoint)
    health = {"$ref": _REF.format(model="HealthOut")}
    paths["/healthz"] = {
        "get": {
            "summary": "Version, database and counts",
            "operationId": "healthz",
            "security": [{}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": health}}},
                "503": {
                    "description": "Degraded",
                    "content": {"application/json": {"schema": health}},
                },
            },
        }
    }
    paths["/api/openapi.json"] = {
        "get": {
            "summary": "This description",
            "operationId": "openapi",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridcast",
            "version": VERSION,
            "description": "网格化治理微信群机器人的 JSON API。错误一律为 JSON：{code, message, problems}。",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API token (gct_...)",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "GRIDCAST_SESSION",
                    "description": "signed-in session; state-changing requests also send X-CSRF-Token",
                },
            },
        },
    }


@routes.get("/api/openapi.json")
@guarded(Permission.PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(describe(request.app[APIS]))
