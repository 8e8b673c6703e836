"""Log lines (core/logs.py): what comes from outside cannot forge a line."""

from __future__ import annotations

import io
import logging

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from core.logs import configure_logging, escape_controls
from web.observability import ACCESS_LOG, AccessLogger


def test_escape_controls() -> None:
    assert (
        escape_controls("a\nb\rc\x00d\x1b[31m\u202ee\tf") == "a\\nb\\rc\\x00d\\x1b[31m\\u202ee\tf"
    )
    assert escape_controls("国欢镇/黄霞村") == "国欢镇/黄霞村"


def test_a_request_path_with_a_newline_or_nul_stays_on_its_line() -> None:
    """Probe item 14: ``GET /x%0a… FORGED admin signin ok`` wrote a forged line into the
    log, ``%00`` a NUL byte."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(fmt="console", stream=stream)
    try:
        forged = "/x%0a2026-12-03T14:00:00.000000Z%20%5Binfo%5D%20FORGED%20admin%20signin%20ok%00"
        request = make_mocked_request("GET", forged)
        assert "\n" in request.rel_url.path and "\x00" in request.rel_url.path
        AccessLogger(ACCESS_LOG, "").log(request, web.Response(status=404), 0.001)
        logging.getLogger("web.security").warning("refused %s %s", "GET", request.path)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    text = stream.getvalue()
    lines = text.splitlines()
    assert len(lines) == 2, text
    assert "\x00" not in text
    assert all(
        "/x\\n2026-12-03T14:00:00.000000Z [info] FORGED admin signin ok\\x00" in line
        for line in lines
    )
