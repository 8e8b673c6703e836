"""Notices, their deliveries (the persistent outbox), receipts and escalations."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, enum_type, utcnow


class NoticeKind(enum.StrEnum):
    NOTICE = "notice"
    CORRECTION = "correction"  # 更正
    RETRACTION = "retraction"  # 撤回
    REMINDER = "reminder"  # 催办: the in-group reminders of a notice's silent groups


class NoticePriority(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class NoticeStatus(enum.StrEnum):
    PENDING = "pending"
    """Planned, waiting for the issuer's confirmation."""
    SENDING = "sending"
    DONE = "done"
    """Every delivery is final (sent, failed, unreachable or uncertain)."""
    CANCELLED = "cancelled"
    """Dropped before sending (or retracted before any group got it)."""
    RECALLED = "recalled"
    """Retracted (撤回) after it started: nothing more is sent and nobody is chased."""


class DeliveryState(enum.StrEnum):
    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    """Caught in ``sending`` by a crash: it may or may not have reached the group."""
    UNREACHABLE = "unreachable"
    """No usable bot account is in the group."""
    CANCELLED = "cancelled"


FINAL_DELIVERY_STATES = frozenset(
    {DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNREACHABLE, DeliveryState.CANCELLED}
)


class Notice(SQLModel, table=True):
    __tablename__ = "notice"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    """``N0042``: appears in the posted text so people and receipts can refer to it."""
    kind: NoticeKind = Field(default=NoticeKind.NOTICE, sa_type=enum_type(NoticeKind))
    parent_id: int | None = Field(default=None, foreign_key="notice.id")
    """For a correction, retraction or reminder: the notice it is about."""
    title: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    scope_org_unit_id: int = Field(foreign_key="org_unit.id")
    levels: list[str] = Field(sa_column=Column(JSON, nullable=False))
    priority: NoticePriority = Field(
        default=NoticePriority.NORMAL, sa_type=enum_type(NoticePriority)
    )
    deadline_s: float = 180.0
    ack_required: bool = True
    issuer_person_id: int | None = Field(default=None, foreign_key="person.id")
    issuer_token_id: int | None = None
    """The API token that issued it (``api_token.id``), so that token may confirm, cancel,
    recall or correct it as its issuer; None for people and the system."""
    issuer_name: str
    channel: str = "cli"
    """Where it was issued: ``chat``, ``cli`` or ``web``."""
    status: NoticeStatus = Field(default=NoticeStatus.PENDING, sa_type=enum_type(NoticeStatus))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lower_bound_s: float | None = None
    predicted_reach_s: float | None = None
    plan_ms: float | None = None


class AckVia(enum.StrEnum):
    """How a group came to count as acknowledged."""

    LEADER = "leader"
    """The group's leader answered (a residential unit's unit leader, a grid leader …)."""
    OWNER = "owner"
    """A shop's owner (its unit leader) answered."""
    SECOND_LEADER_URGED = "second_leader_urged"
    """A shop's second unit leader confirmed with 已督促 that they reached the owner."""


class Delivery(SQLModel, table=True):
    """One (notice, group) pair of the outbox. A row recorded ``sent`` is never sent again."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("notice_id", "chat_group_id"),
        Index("ix_delivery_notice_state", "notice_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id")
    chat_group_id: int = Field(foreign_key="chat_group.id")
    room_id: str
    level: str
    account_id: str | None = None
    """The bot account planned (then used) to post it."""
    planned_offset_s: float | None = None
    state: DeliveryState = Field(default=DeliveryState.PLANNED, sa_type=enum_type(DeliveryState))
    attempts: int = 0
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_id: str | None = None
    error: str | None = None
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the group counted as acknowledged: for a unit group, its unit leader's
    receipt (a shop's owner, or its second unit leader's 已督促)."""
    acked_by: str | None = None
    """The name of who made the group count as acknowledged."""
    acked_via: str | None = Field(default=None, max_length=32)
    """How: an :class:`AckVia` value."""
    escalation_step: int = 0
    """How far the group was chased (:mod:`broadcast.chasing`): 0 not yet, 1 a reminder
    in the group is in the outbox, 2 the level above told, 3 the village told."""


class Receipt(SQLModel, table=True):
    """收到 / 已阅 / 1 / 好的 from a group member for a notice."""

    __tablename__ = "receipt"
    __table_args__ = (UniqueConstraint("notice_id", "chat_group_id", "contact_id"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    chat_group_id: int = Field(foreign_key="chat_group.id")
    contact_id: str
    person_id: int | None = Field(default=None, foreign_key="person.id")
    name: str
    is_unit_leader: bool = False
    """The receipt made the group count as acknowledged (a leader of the group)."""
    role: str | None = Field(default=None, max_length=32)
    """The post they answered in (a :class:`~models.enums.Role` value: ``unit_leader``
    is a shop's owner, ``second_unit_leader`` its supervisor); ``None`` for a member."""
    text: str
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NoticeAttempt(SQLModel, table=True):
    """Someone tried to issue a notice and was refused (logged, nothing sent)."""

    __tablename__ = "notice_attempt"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: str
    name: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    reason: str
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
