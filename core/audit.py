"""The audit trail: one append-only row per thing someone did or tried to do.

Every channel records through :func:`record` with the principal that acted, the
channel and where the request came from. Nothing here updates or deletes a row (the
database refuses that too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from core.policy import Principal
from models.auth import AuditChannel, AuditEntry, AuditOutcome
from models.org import OrgPath

__all__ = ["ANONYMOUS", "entries", "record"]

ANONYMOUS = ("anonymous", "-", "未登录")


def record(
    session: Session,
    *,
    principal: Principal | None,
    channel: AuditChannel,
    action: str,
    outcome: AuditOutcome = AuditOutcome.OK,
    now: datetime,
    source: str = "",
    target: str = "",
    scope: OrgPath = (),
    detail: dict[str, Any] | None = None,
    message: str = "",
    actor_name: str | None = None,
) -> AuditEntry:
    """Add one entry to the trail (in the caller's transaction)."""
    if principal is not None:
        kind, actor_id, name = principal.kind, principal.id, principal.audit_name()
    else:
        kind, actor_id, name = ANONYMOUS
        if actor_name:
            name = f"{actor_name}（未登录）"
    entry = AuditEntry(
        at=now,
        actor=name,
        actor_kind=kind,
        actor_id=actor_id,
        channel=channel,
        source=source[:200],
        action=action,
        target=target[:200],
        scope="/".join(scope),
        outcome=outcome,
        detail=detail or {},
        message=message[:1000],
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    scopes: list[OrgPath] | None,
    limit: int = 100,
    before_id: int | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The newest entries first. ``scopes=None`` is everything (admins); otherwise the
    entries whose scope lies within one of ``scopes`` (a town-wide scope ``()`` included)."""
    statement = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        statement = statement.where(col(AuditEntry.id) < before_id)
    if action is not None:
        statement = statement.where(col(AuditEntry.action).startswith(action))
    if scopes is not None and () not in scopes:
        if not scopes:
            return []
        prefixes = ["/".join(scope) for scope in scopes]
        statement = statement.where(
            or_(
                *(col(AuditEntry.scope) == prefix for prefix in prefixes),
                *(col(AuditEntry.scope).startswith(prefix + "/") for prefix in prefixes),
            )
        )
    return list(session.exec(statement))
