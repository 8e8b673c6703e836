"""The officials' console (控制台): server-rendered Chinese pages under ``/console/``.

:func:`setup` adds it to the application made by :func:`web.app.create_app`; every
route declares the policy permission it needs (:func:`web.endpoints.guarded`) and the
pages show only what the person's posts allow (:func:`core.policy.decide`).
"""

from __future__ import annotations

from aiohttp import web

from web.console import base, notices, org, overview, rhythm, system, tasks, tickets
from web.console.base import console_setup, html_errors
from web.console.live import live_setup

__all__ = ["html_errors", "setup"]

_MODULES = (
    overview,
    tickets,
    notices,
    tasks,
    rhythm,
    org,
    system,
)  # their routes are on base.routes


def setup(app: web.Application) -> None:
    """Templates, static files, live streams and the routes of the console."""
    assert _MODULES
    console_setup(app)
    live_setup(app)
    overview.overview_setup(app)
    rhythm.month_setup(app)
    app.add_routes(base.routes)
