"""The registry of worker processes: a heartbeat row each, live while it is recent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cluster.backend import dialect_name
from models.cluster import ClusterWorker

__all__ = ["heartbeat", "leave", "live_workers", "prune"]


def heartbeat(session: Session, *, worker_id: str, now: datetime) -> None:
    """Record that ``worker_id`` is alive at ``now`` (registers it on its first beat)."""
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    statement = insert(ClusterWorker).values(worker_id=worker_id, heartbeat_at=now, started_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["worker_id"], set_={"heartbeat_at": statement.excluded.heartbeat_at}
        )
    )


def live_workers(session: Session, *, ttl: timedelta, now: datetime) -> list[str]:
    """The workers whose last heartbeat is younger than ``ttl``, by id."""
    rows = session.execute(
        select(col(ClusterWorker.worker_id))
        .where(col(ClusterWorker.heartbeat_at) > now - ttl)
        .order_by(col(ClusterWorker.worker_id))
    )
    return list(rows.scalars())


def leave(session: Session, *, worker_id: str) -> None:
    """A clean shutdown: the others stop counting this worker at once."""
    session.execute(delete(ClusterWorker).where(col(ClusterWorker.worker_id) == worker_id))


def prune(session: Session, *, older_than: timedelta, now: datetime) -> int:
    """Forget workers silent for longer than ``older_than``; how many were forgotten."""
    result = session.execute(
        delete(ClusterWorker).where(col(ClusterWorker.heartbeat_at) <= now - older_than)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
