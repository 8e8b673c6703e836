"""总览: open tickets by state and level with what is overdue or due today, the three
rates and the share resolved within the town, the latest notices, the bot accounts and
the last 30 days — each within what the person may see."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from bot.store import accounts_report
from broadcast.history import NoticeFilter, notice_lines
from core.clock import utcnow
from core.policy import Permission, decide
from models.db import run_in_session
from tickets.board import TicketScope, daily_trend, open_counts, rates, scope_of
from web.console.base import CONSOLE, page, principal_required, routes, widest_scope
from web.console.scopes import notice_scopes
from web.endpoints import guarded
from web.keys import ENGINE, SETTINGS

logger = logging.getLogger(__name__)

FIGURES_TTL_S = 30.0
"""The ticket figures of the overview (rates over a year, the 30-day trend) scan most of
the table; they are kept this long per scope. Open tickets and notices are always read."""


@dataclass
class OverviewFigures:
    """The figures kept per scope, refreshed behind the page once they are older than
    :data:`FIGURES_TTL_S` (the page shows the kept ones meanwhile), so that nobody waits
    for the year's scan but the first viewer of a scope; the whole town's are computed at
    start."""

    kept: dict[TicketScope, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    refreshing: dict[TicketScope, asyncio.Task[None]] = field(default_factory=dict)

    def keep(self, scope: TicketScope, figures: dict[str, Any]) -> None:
        self.kept[scope] = (time.monotonic() + FIGURES_TTL_S, figures)

    def refresh(self, engine: AsyncEngine, scope: TicketScope) -> None:
        """Compute ``scope``'s figures in the background, unless that is under way."""
        if scope in self.refreshing:
            return

        async def refresh() -> None:
            try:
                figures = await run_in_session(
                    engine, lambda session: ticket_figures(session, scope, utcnow())
                )
            except Exception:  # the kept figures stay; the next view tries again
                logger.exception("overview figures could not be refreshed")
            else:
                self.keep(scope, figures)
            finally:
                self.refreshing.pop(scope, None)

        self.refreshing[scope] = asyncio.get_running_loop().create_task(refresh())

    async def wait(self, engine: AsyncEngine, scope: TicketScope, now: datetime) -> dict[str, Any]:
        """``scope``'s figures once the refresh under way ends (computed here if it failed)."""
        task = self.refreshing.get(scope)
        if task is not None:
            await asyncio.shield(task)
        kept = self.kept.get(scope)
        if kept is not None:
            return kept[1]
        return await run_in_session(engine, lambda session: ticket_figures(session, scope, now))

    async def stop(self) -> None:
        tasks = list(self.refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


FIGURES = web.AppKey("console_overview_figures", OverviewFigures)


def ticket_figures(session: Session, scope: TicketScope, now: datetime) -> dict[str, Any]:
    """The overview's slow part: the rates of 30 days and of a year, the 30-day trend."""
    return {
        "rates_30": rates(session=session, scope=scope, now=now, since=now - timedelta(days=30)),
        "rates_year": rates(session=session, scope=scope, now=now, since=now - timedelta(days=365)),
        "trend": trend_svg(daily_trend(session=session, scope=scope, now=now)),
        "figures_at": now,
    }


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
    figures = app[FIGURES] = OverviewFigures()

    async def computed_at_start(app: web.Application) -> AsyncIterator[None]:
        # A cleanup context after the database's: stopped before the engine is disposed.
        figures.refresh(app[ENGINE], TicketScope(everything=True))
        yield
        await figures.stop()

    app.cleanup_ctx.append(computed_at_start)


@routes.get(CONSOLE)
@guarded(Permission.SIGNED_IN)
async def overview(request: web.Request) -> web.StreamResponse:
    principal = principal_required(request)
    settings = request.app[SETTINGS]
    now = utcnow()
    show_bots = bool(decide(principal, Permission.VIEW_BOTS))
    scopes = notice_scopes(principal)

    figures = request.app[FIGURES]
    stale: list[TicketScope] = []
    awaited: list[TicketScope] = []

    def read(session: Session) -> dict[str, Any]:
        scope = scope_of(session, settings, principal)
        data: dict[str, Any] = {"ticket_scope_empty": scope.empty}
        if not scope.empty:
            data["open"] = open_counts(session=session, settings=settings, scope=scope, now=now)
            kept = figures.kept.get(scope)
            if kept is None and scope in figures.refreshing:
                awaited.append(scope)  # being computed (at start): wait for it
            elif kept is None:
                computed = ticket_figures(session, scope, now)
                figures.keep(scope, computed)
                data.update(computed)
            else:
                data.update(kept[1])
                if kept[0] <= time.monotonic():
                    stale.append(scope)
        if scopes is not None and scopes == []:
            data["notices"] = []
        else:
            data["notices"] = notice_lines(
                session, town=settings.town.name, scopes=scopes, wanted=NoticeFilter(limit=8)
            )
        if show_bots:
            data["bots"] = accounts_report(session)
        return data

    engine = request.app[ENGINE]
    data = await run_in_session(engine, read)
    for scope in stale:
        figures.refresh(engine, scope)
    for scope in awaited:
        data.update(await figures.wait(engine, scope, now))
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
