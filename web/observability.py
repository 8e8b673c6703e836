"""Request ids and the access log.

Every request gets an id (the caller's ``X-Request-Id`` when it is a sane token, else a
new one), returned in the response header, bound to every log line written while the
request is handled, and written in its access log line.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from core.logs import bind, clear

__all__ = ["REQUEST_ID", "REQUEST_ID_HEADER", "AccessLogger", "request_id_middleware"]

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _SANE.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    clear()  # a kept-alive connection serves the next request in the same task
    bind(request_id=request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


class AccessLogger(AbstractAccessLogger):
    """One structured line per request: method, path, status, bytes, time, request id."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms",
            request.method,
            request.rel_url.path,
            response.status,
            time * 1000,
            extra={
                "request_id": request.get(REQUEST_ID, ""),
                "status": response.status,
                "client": request.remote or "",
                "bytes": response.body_length,
            },
        )


ACCESS_LOG = logging.getLogger("gridcast.access")
__all__ += ["ACCESS_LOG"]
