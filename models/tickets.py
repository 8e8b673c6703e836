"""Tickets (工单): the ticket, its reporters and history, the daily code counter, the
log of every message read in a bound group, and the outbox of ticket messages that
were produced outside the bot process.

The lifecycle rules work on ``tickets.lifecycle.TicketView``; a :class:`Ticket`
row holds every field of it (``tickets.rows`` converts both ways), plus what the
rules do not read: category, location, text, channel and the timer schedule.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Column, Date, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, enum_type, utcnow
from models.enums import ActorRole, Rating, TicketLevel, TicketState, Urgency

__all__ = [
    "IntakeKind",
    "IntakeMessage",
    "Ticket",
    "TicketBase",
    "TicketChannel",
    "TicketCodeSequence",
    "TicketCreate",
    "TicketEvent",
    "TicketEventBase",
    "TicketEventCreate",
    "TicketOutbox",
    "TicketPublic",
    "TicketReporter",
]


class TicketChannel(enum.StrEnum):
    """Where a ticket came in (一站受理: every channel ends in the same pipeline)."""

    CHAT = "chat"  # a WeChat group
    PHONE = "phone"  # 电话
    WALK_IN = "walk_in"  # 来访
    WEB = "web"


class IntakeKind(enum.StrEnum):
    """What became of one message read in a bound group (or written to the bot privately)."""

    TICKET = "ticket"  # opened a new ticket
    DUPLICATE = "duplicate"  # joined an open ticket as another reporter
    FLOODED = "flooded"  # over the hourly limit: stored, no ticket
    NOT_TICKET = "not_ticket"
    ACKNOWLEDGEMENT = "acknowledgement"  # 收到: a receipt for a notice
    COMMAND = "command"  # 接单, 查询, 我的工单 ...
    RATING = "rating"  # 满意 / 基本满意 / 不满意
    ERROR = "error"  # handling failed; the message is kept
    AWAITING_UNIT = "awaiting_unit"  # a private report waiting for the writer to name their unit


class TicketBase(SQLModel):
    """What a ticket shows: the fields of ``gridcast tickets list/show`` and the API."""

    code: str = Field(unique=True)
    """``T20261130-0012`` (see :mod:`core.ids`)."""
    state: TicketState = Field(
        default=TicketState.RECEIVED, sa_type=enum_type(TicketState), index=True
    )
    level: TicketLevel = Field(default=TicketLevel.GRID, sa_type=enum_type(TicketLevel))
    category: str
    """A category code of ``tickets.categories`` (TAXONOMY.md)."""
    urgency: Urgency = Field(default=Urgency.NORMAL, sa_type=enum_type(Urgency))
    location: str | None = None
    """Where the problem is, as the text says it (3栋, 国欢大道)."""
    channel: TicketChannel = Field(default=TicketChannel.CHAT, sa_type=enum_type(TicketChannel))
    assignee_name: str = ""
    department_name: str = ""
    resolved_level: TicketLevel | None = Field(default=None, sa_type=enum_type(TicketLevel))
    rating: Rating | None = Field(default=None, sa_type=enum_type(Rating))
    """Overall rating on close (the worst one given); ``None`` is "no rating"."""
    extension_count: int = 0
    reopen_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Ticket(TicketBase, table=True):
    """One resident's problem, from 受理 to 关闭."""

    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_grid_category_state", "grid_id", "category", "state"),
        # A village's figures (the console's overview of a station chief) read its
        # tickets of the last year: without it, the whole table.
        Index("ix_ticket_village_created", "village_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    """The full text as reported, then any follow-ups (补充) the resident added."""
    title: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """What heads the ticket: the post's own title, or a one-line summary (intake)."""
    secondary_categories: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    """Other categories a letter with several requests also asks about (one ticket, not several)."""
    follow_up_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Messages added to this ticket by a reply to its code or a resident's follow-up."""
    """The original message (or what the one-stop intake wrote down)."""
    unit_id: int = Field(foreign_key="org_unit.id")
    """The origin org unit: the unit (or grid, village, town) whose group it came from."""
    grid_id: int | None = Field(default=None, foreign_key="org_unit.id")
    village_id: int | None = Field(default=None, foreign_key="org_unit.id")
    origin_room_id: str | None = None
    """The WeChat room the first report came from."""
    assignee_person_id: int | None = Field(default=None, foreign_key="person.id")
    assignee_contact_id: str | None = Field(default=None, index=True)
    """The assignee's id in the lifecycle (their WeChat contact id)."""
    assignee_role: ActorRole | None = Field(default=None, sa_type=enum_type(ActorRole))
    department_code: str | None = None
    whistled_from: TicketLevel | None = Field(default=None, sa_type=enum_type(TicketLevel))
    sla_window: int = 1
    """SLA window number: each hand-over to a new holder opens one."""
    window_started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    first_accept_due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """When the first 签收 was due (for the response rate)."""
    first_accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """The first 签收 or 报到 (``accepted_at`` is reset by every hand-over)."""
    extended_days: int = 0
    round_ratings: list[list[str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    """This round's ratings as ``[reporter id, rating]`` pairs (reset by 重办)."""
    fired_timers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Keys of the SLA timers that fired (:func:`tickets.lifecycle.timer_key`)."""
    next_timer_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """When the next SLA reminder, expiry or rating timeout is due; ``None`` when none is."""
    version: int = 0
    """Bumped by every change; the bump is also the row lock (see ``tickets.rows``)."""
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketCreate(SQLModel):
    """One-stop intake (一站受理): a phone call, a walk-in or a web form."""

    unit_path: str = Field(min_length=1)
    """The org unit the problem belongs to: ``黄霞村/第16网格/国湄领涵3号楼``."""
    text: str = Field(min_length=1, max_length=4000)
    reporter_name: str = Field(min_length=1, max_length=64)
    reporter_phone: str | None = None
    channel: TicketChannel = TicketChannel.PHONE
    category: str | None = None
    """Override the parser's category."""
    urgency: Urgency | None = None
    """Override the parser's urgency."""


class TicketPublic(TicketBase):
    """A ticket as the CLI and the API show it (no reporter details)."""

    id: int
    unit_path: str = ""
    category_name: str = ""
    reporter_count: int = 0


class TicketReporter(SQLModel, table=True):
    """Someone who reported the problem (the first one, and every merged duplicate)."""

    __tablename__ = "ticket_reporter"
    __table_args__ = (UniqueConstraint("ticket_id", "contact_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    contact_id: str = Field(index=True)
    """The reporter's id in the lifecycle: WeChat contact id, ``tel-<phone>`` for a phone
    caller, ``offline-…`` for a walk-in without a phone."""
    person_id: int | None = Field(default=None, foreign_key="person.id")
    name: str = ""
    phone: str | None = None
    """Only from one-stop intake; never shown in a group."""
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    room_id: str | None = None
    """The room the report came from."""
    channel: TicketChannel = Field(default=TicketChannel.CHAT, sa_type=enum_type(TicketChannel))
    reported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketEventBase(SQLModel):
    """One transition of a ticket: what was done, by whom, when, and what changed."""

    kind: str
    """``create`` or a lifecycle action kind (``accept``, ``whistle``, ``sla_expired`` ...)."""
    actor_id: str
    actor_role: ActorRole = Field(sa_type=enum_type(ActorRole))
    at: datetime = Field(sa_type=UTCDateTime)
    from_state: TicketState | None = Field(default=None, sa_type=enum_type(TicketState))
    to_state: TicketState = Field(sa_type=enum_type(TicketState))
    from_level: TicketLevel | None = Field(default=None, sa_type=enum_type(TicketLevel))
    to_level: TicketLevel = Field(sa_type=enum_type(TicketLevel))
    note: str = Field(default="", sa_type=Text)


class TicketEventCreate(TicketEventBase):
    """An event as :func:`tickets.lifecycle.apply` decides it; storing it adds the
    ticket and the actor's name and person id."""


class TicketEvent(TicketEventBase, table=True):
    """One stored transition of a ticket (its history, 流转记录)."""

    __tablename__ = "ticket_event"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    actor_person_id: int | None = Field(default=None, foreign_key="person.id")
    actor_name: str = ""


class TicketCodeSequence(SQLModel, table=True):
    """The last sequence number handed out on a local day (``T20261130-0012`` -> 12).

    Incremented with ``UPDATE … SET last = last + 1`` inside the ticket's transaction,
    so concurrent intakes on either database wait for each other and never share a code.
    """

    __tablename__ = "ticket_code_sequence"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    last: int = 0


class IntakeMessage(SQLModel, table=True):
    """Every message the ticket router read, and what became of it: nothing is lost."""

    __tablename__ = "intake_message"
    __table_args__ = (Index("ix_intake_message_sender_time", "sender_contact_id", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str | None = Field(default=None, unique=True)
    """WeChat's message id (the same message seen by two bot accounts is stored once)."""
    channel: TicketChannel = Field(default=TicketChannel.CHAT, sa_type=enum_type(TicketChannel))
    room_id: str | None = None
    """``None`` for a private message."""
    org_unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    sender_contact_id: str
    sender_person_id: int | None = Field(default=None, foreign_key="person.id")
    sender_name: str = ""
    text: str = Field(sa_column=Column(Text, nullable=False))
    kind: IntakeKind = Field(sa_type=enum_type(IntakeKind))
    is_ticket: bool = False
    category: str | None = None
    urgency: Urgency | None = Field(default=None, sa_type=enum_type(Urgency))
    location: str | None = None
    parse_reason: str | None = None
    """Why the parser said it is not a ticket (empty, acknowledgement, advert, ...)."""
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketOutbox(SQLModel, table=True):
    """Ticket messages produced outside the bot process (``gridcast tickets create``):
    the timer job hands them to the bot."""

    __tablename__ = "ticket_outbox"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    room_id: str | None = None
    contact_id: str | None = None
    mention_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    taken_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """When the bot process took it for sending."""
