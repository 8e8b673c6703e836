"""CAP warnings received (预警): what came in, and which notices it became."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["CapMessage"]


class CapMessage(SQLModel, table=True):
    """One CAP message (Alert, Update, Cancel ...) read from the API or the watched
    directory. ``(sender, identifier)`` is its identity; Updates and Cancels find the
    notices of the alerts they reference here."""

    __tablename__ = "cap_message"
    __table_args__ = (UniqueConstraint("sender", "identifier"),)

    id: int | None = Field(default=None, primary_key=True)
    identifier: str
    sender: str
    sent: str
    """As written in the message (``2026-07-30T08:00:00+08:00``)."""
    msg_type: str
    status: str
    event: str = ""
    severity: str = ""
    via: str
    """``api`` or ``watch``."""
    outcome: str
    """``drafted`` (waiting for #确认), ``sent``, ``corrected``, ``recalled``, ``ignored``."""
    notice_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
