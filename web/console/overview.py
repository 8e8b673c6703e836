"""总览: open tickets by state and level with what is overdue or due today, the three
rates and the share resolved within the town, the latest notices, the bot accounts and
the last 30 days — each within what the person may see."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlmodel import Session

from bot.store import accounts_report
from broadcast.history import NoticeFilter, notice_lines
from core.clock import utcnow
from core.policy import Permission, decide
from models.db import run_in_session
from tickets.board import daily_trend, open_counts, rates, scope_of
from web.console.base import CONSOLE, page, principal_required, routes, widest_scope
from web.console.scopes import notice_scopes
from web.endpoints import guarded
from web.keys import ENGINE, SETTINGS

FIGURES_TTL_S = 30.0
"""The ticket figures of the overview (rates over a year, the 30-day trend) scan most of
the table; they are kept this long per scope. Open tickets and notices are always read."""
_FIGURES = web.AppKey("console_overview_figures", dict)

ARTICLE_WITHIN_TOWN = 0.965
"""The article's share of disputes resolved at the grassroots (96.5%)."""


def trend_svg(
    days: list[tuple[Any, int, int]], width: int = 600, height: int = 140
) -> dict[str, Any]:
    """Polylines for received and resolved per day (drawn as inline SVG)."""
    top = max([1, *(max(r, s) for _, r, s in days)])
    step = width / max(1, len(days) - 1)

    def line(index: int) -> str:
        return " ".join(
            f"{i * step:.1f},{height - (row[index] / top) * (height - 10):.1f}"
            for i, row in enumerate(days)
        )

    return {
        "width": width,
        "height": height,
        "received": line(1),
        "resolved": line(2),
        "top": top,
        "first": days[0][0] if days else None,
        "last": days[-1][0] if days else None,
    }


def overview_setup(app: web.Application) -> None:
    app[_FIGURES] = {}


@routes.get(CONSOLE)
@guarded(Permission.SIGNED_IN)
async def overview(request: web.Request) -> web.StreamResponse:
    principal = principal_required(request)
    settings = request.app[SETTINGS]
    now = utcnow()
    show_bots = bool(decide(principal, Permission.VIEW_BOTS))
    scopes = notice_scopes(principal)

    cache: dict[Any, tuple[float, dict[str, Any]]] = request.app[_FIGURES]

    def read(session: Session) -> dict[str, Any]:
        scope = scope_of(session, settings, principal)
        data: dict[str, Any] = {"ticket_scope_empty": scope.empty}
        if not scope.empty:
            data["open"] = open_counts(session=session, settings=settings, scope=scope, now=now)
            kept = cache.get(scope)
            if kept is not None and kept[0] > time.monotonic():
                data.update(kept[1])
            else:
                figures = {
                    "rates_30": rates(
                        session=session, scope=scope, now=now, since=now - timedelta(days=30)
                    ),
                    "rates_year": rates(
                        session=session, scope=scope, now=now, since=now - timedelta(days=365)
                    ),
                    "trend": trend_svg(daily_trend(session=session, scope=scope, now=now)),
                    "figures_at": now,
                }
                cache[scope] = (time.monotonic() + FIGURES_TTL_S, figures)
                data.update(figures)
        if scopes is not None and scopes == []:
            data["notices"] = []
        else:
            data["notices"] = notice_lines(
                session, town=settings.town.name, scopes=scopes, wanted=NoticeFilter(limit=8)
            )
        if show_bots:
            data["bots"] = accounts_report(session)
        return data

    data = await run_in_session(request.app[ENGINE], read)
    return await page(
        request,
        "overview.html",
        {
            **data,
            "title": "总览",
            "article_within_town": ARTICLE_WITHIN_TOWN,
            "show_bots": show_bots,
            "notice_scope": widest_scope(principal, Permission.VIEW_NOTICES),
        },
    )
