"""``/metrics``: the Prometheus text format, protected by a token or by the address.

Prometheus scrapes either a second listener (``metrics.listen``, bound to an interface
only it reaches, no token), or the main one with ``Authorization: Bearer`` and a token of
role ``monitor`` (``gridcast token create --name prometheus --role monitor``).
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.metrics import REGISTRY, SNAPSHOT, Snapshot
from core.policy import Permission
from models.broadcast import Delivery, DeliveryState, Notice, NoticeKind, NoticeStatus
from models.chat import BotAccount
from models.db import run_in_session
from models.enums import TicketState
from models.tickets import IntakeMessage, Ticket, TicketEvent
from web.endpoints import ApiError, guarded
from web.keys import ENGINE, SETTINGS
from web.security import authorize

__all__ = ["METRICS_LISTENER", "MetricsListener", "read_snapshot", "routes"]

routes = web.RouteTableDef()


@dataclass
class MetricsListener:
    port: int | None = None
    """The port of the ``metrics.listen`` listener, once it is bound."""


METRICS_LISTENER: web.AppKey[MetricsListener] = web.AppKey("metrics_listener", MetricsListener)

_CLOSED = (TicketState.CLOSED, TicketState.RESOLVED, TicketState.RATING)


def _overdue(window: int, extensions: int, fired: list[str]) -> bool:
    """Did the current SLA window's accept or resolve time pass (a fired expiry timer)?"""
    return f"accept@{window}" in fired or f"resolve@{window}.{extensions}" in fired


def read_snapshot(session: Session) -> Snapshot:
    """Everything ``/metrics`` reads from the database, in one transaction."""
    snap = Snapshot()
    for account_id, status in session.exec(select(BotAccount.account_id, BotAccount.status)):
        snap.account_states[account_id] = _v(status)
    for delivery_account, delivery_state, count in session.exec(
        select(Delivery.account_id, Delivery.state, func.count())
        .where(col(Delivery.account_id).is_not(None))
        .group_by(col(Delivery.account_id), col(Delivery.state))
    ):
        snap.account_deliveries[(str(delivery_account), _v(delivery_state))] = int(count)
    for state, count in session.exec(
        select(Delivery.state, func.count()).group_by(col(Delivery.state))
    ):
        snap.deliveries[_v(state)] = int(count)
    reached = session.exec(
        select(Notice.started_at, func.max(Delivery.sent_at))
        .join(Delivery, col(Delivery.notice_id) == col(Notice.id))
        .where(
            col(Notice.kind) == NoticeKind.NOTICE,
            col(Notice.status) == NoticeStatus.DONE,
            col(Notice.started_at).is_not(None),
            col(Delivery.state) == DeliveryState.SENT,
        )
        .group_by(col(Notice.id), col(Notice.started_at))
    )
    for started, last in reached:
        if isinstance(started, datetime) and isinstance(last, datetime):
            snap.reach_seconds.append(max(0.0, (_aware(last) - _aware(started)).total_seconds()))
    for state, level, count in session.exec(
        select(Ticket.state, Ticket.level, func.count()).group_by(
            col(Ticket.state), col(Ticket.level)
        )
    ):
        snap.tickets[(_v(state), _v(level))] = int(count)
    breaches: Tally[str] = Tally()
    for from_level, count in session.exec(
        select(TicketEvent.from_level, func.count())
        .where(col(TicketEvent.kind) == "sla_expired")
        .group_by(col(TicketEvent.from_level))
    ):
        breaches[_v(from_level) if from_level is not None else "unknown"] += int(count)
    snap.sla_breaches = dict(breaches)
    open_rows = session.exec(
        select(Ticket.sla_window, Ticket.extension_count, Ticket.fired_timers).where(
            col(Ticket.state).not_in(_CLOSED)
        )
    )
    snap.overdue = sum(1 for w, e, fired in open_rows if fired and _overdue(w, e, list(fired)))
    for kind, category, count in session.exec(
        select(IntakeMessage.kind, IntakeMessage.category, func.count()).group_by(
            col(IntakeMessage.kind), col(IntakeMessage.category)
        )
    ):
        snap.intake[(_v(kind), category or "none")] = int(count)
    return snap


def _v(value: object) -> str:
    """An enum's value (the driver may hand back the plain string)."""
    return str(getattr(value, "value", value))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _on_metrics_listener(request: web.Request) -> bool:
    listener = request.app.get(METRICS_LISTENER)
    port = listener.port if listener is not None else None
    if port is None or request.transport is None:
        return False
    sockname = request.transport.get_extra_info("sockname")
    return bool(sockname) and sockname[1] == port


@routes.get("/metrics")
@guarded(Permission.PUBLIC)  # the check is below: the listener, or a token the policy allows
async def metrics(request: web.Request) -> web.Response:
    """The metrics in the Prometheus text format."""
    if not request.app[SETTINGS].metrics.enabled:
        raise ApiError(404, "运行指标未启用（metrics.enabled）")
    if not _on_metrics_listener(request):
        await authorize(request, Permission.VIEW_METRICS)
    SNAPSHOT.snapshot = await run_in_session(request.app[ENGINE], read_snapshot)
    body = generate_latest(REGISTRY)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
