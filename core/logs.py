"""Structured logs (structlog): readable on a terminal, one JSON object per line with
``--log-format json``.

Every library logs through the standard ``logging`` module; one handler renders all of
it through structlog's processors, so a line from aiohttp's access log, APScheduler or
our own code looks the same. Context bound with :func:`bind` (the HTTP request id) is on
every line of that request; a notice code (``N0042``) or ticket code
(``T20261130-0012``) in a line's message is also put in its own ``notice`` / ``ticket``
field, so a log search by code finds every line about one. APScheduler's routine "Running
job" / "executed successfully" lines are demoted to DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

__all__ = [
    "DemoteRoutine",
    "LogFormat",
    "bind",
    "clear",
    "configure_logging",
    "escape_controls",
]

LogFormat = Literal["console", "json"]

NOTICE_CODE = re.compile(r"(?<![A-Za-z0-9])N\d{4,6}(?![0-9])")
TICKET_CODE = re.compile(r"(?<![A-Za-z0-9])T\d{8}-\d{4,}(?![0-9])")

_ROUTINE_LOGGERS = ("apscheduler.executors.default", "apscheduler.scheduler")
_ROUTINE_PREFIXES = ("Running job", "Job ", "Added job", "Adding job", "Looking for jobs")


def bind(**values: object) -> None:
    """Put ``values`` on every line logged from this task (and the tasks it starts)."""
    bind_contextvars(**values)


def clear() -> None:
    clear_contextvars()


def _codes(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    text = str(event.get("event", ""))
    if "notice" not in event and (m := NOTICE_CODE.search(text)):
        event["notice"] = m.group(0)
    if "ticket" not in event and (m := TICKET_CODE.search(text)):
        event["ticket"] = m.group(0)
    return event


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What must not reach a log line as-is: C0 and C1 controls but the tab (a newline or
carriage return forges a line, NUL makes the file binary, ESC drives the terminal),
the Unicode line separators and the bidirectional overrides (text that reads mirrored)."""

_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\n``, ``\\x00``):
    a request path or any value from outside then stays on its own log line."""
    return _CONTROL.sub(_escape_char, text)


def _escape_values(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Escape control characters in every text value of a line for the console format
    (JSON escapes them itself). A traceback is rendered after this, from ``exc_info``,
    with its own newlines."""
    for key, value in event.items():
        if isinstance(value, str) and key not in ("exception", "stack"):
            event[key] = escape_controls(value)
    return event


class DemoteRoutine(logging.Filter):
    """APScheduler's per-run INFO lines, and its jobs cancelled by a stop, become DEBUG
    (dropped unless debugging)."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if _cancelled_at_shutdown(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info, record.exc_text = None, None
            return self.threshold <= logging.DEBUG
        if (
            record.name in _ROUTINE_LOGGERS
            and record.levelno == logging.INFO
            and str(record.msg).startswith(_ROUTINE_PREFIXES)
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.threshold <= logging.DEBUG
        return True


def _cancelled_at_shutdown(record: logging.LogRecord) -> bool:
    """A scheduled job cancelled because the process is stopping: not an error."""
    exc = record.exc_info[1] if record.exc_info else None
    return record.name.startswith("apscheduler") and isinstance(exc, asyncio.CancelledError)


def configure_logging(
    *, fmt: LogFormat = "console", level: int = logging.INFO, stream: Any = None
) -> None:
    """Route every ``logging`` record through structlog's renderer, to ``stream``
    (stderr by default). Safe to call again (tests, the CLI)."""
    shared: list[Any] = [
        merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _codes,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=bool(getattr(stream or sys.stderr, "isatty", lambda: False)()),
            exception_formatter=structlog.dev.plain_traceback,  # short, as Python prints them
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([] if fmt == "json" else [_escape_values]),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(DemoteRoutine(level))
    handler.set_name("gridcast")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "gridcast"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _ROUTINE_LOGGERS:
        # the records must reach the handler's filter to be demoted, not be cut earlier
        logging.getLogger(name).setLevel(logging.INFO if level > logging.DEBUG else level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
