"""Tables of several worker processes sharing one PostgreSQL database (issue #15).

* :class:`AccountLease`: which worker holds (connects) which bot account, until when,
  and the epoch (fencing token) that grows on every claim;
* :class:`ClusterWorker`: the registry of worker processes and their heartbeats;
* :class:`ClusterJobRun`: one row per scheduled job and period that ran, so a period runs
  once across the cluster, whichever process leads;
* :class:`ClusterRequest`: work a web process hands to the process that holds the bots
  (plan and send a notice, recall it, send a private message), and its answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["AccountLease", "ClusterJobRun", "ClusterRequest", "ClusterWorker"]


class AccountLease(SQLModel, table=True):
    """The lease on one bot account: held by ``worker_id`` until ``lease_until``.

    A row with ``worker_id`` null, or whose ``lease_until`` has passed, is free to claim.
    """

    __tablename__ = "account_lease"

    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("bot_account.id", ondelete="CASCADE"), primary_key=True
        )
    )
    worker_id: str | None = Field(default=None, index=True)
    epoch: int = Field(default=0, sa_type=BigInteger)
    """The fencing token: incremented by every claim, so each holding has its own."""
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    renewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ClusterWorker(SQLModel, table=True):
    """A worker process; live while its heartbeat is younger than the worker ttl."""

    __tablename__ = "cluster_worker"

    worker_id: str = Field(primary_key=True)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime, index=True)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ClusterJobRun(SQLModel, table=True):
    """A scheduled job that ran for the period starting at ``period_start``."""

    __tablename__ = "cluster_job_run"

    job_key: str = Field(primary_key=True)
    period_start: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    worker_id: str = ""
    ran_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ClusterRequest(SQLModel, table=True):
    """One request from a web process to the bot process, and its answer.

    ``state``: ``waiting`` (nobody took it), ``taken`` (a bot process is doing it),
    ``answered``, or ``abandoned`` (its web process stopped waiting before anyone took
    it: it will never be done)."""

    __tablename__ = "cluster_request"

    id: int | None = Field(default=None, primary_key=True)
    verb: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="waiting", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    taken_by: str | None = None
    taken_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
