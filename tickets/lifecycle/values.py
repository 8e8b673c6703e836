"""The values the lifecycle works on: the ticket as the rules see it, who acts, who is
told, and what a transition produces (the event is the SQLModel
:class:`~models.tickets.TicketEventCreate`, stored as a :class:`~models.tickets.TicketEvent`).
Plain data; nothing here decides anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from models.enums import ActorRole, Rating, TicketLevel, TicketState, Urgency
from models.tickets import TicketEventCreate

__all__ = [
    "DEFAULT_RULES",
    "SYSTEM",
    "Actor",
    "Notification",
    "Recipient",
    "RecipientKind",
    "Rules",
    "TicketView",
    "Transition",
    "TransitionRefused",
    "new_ticket",
    "refuse",
    "require_aware",
]


@dataclass(frozen=True, slots=True)
class TicketView:
    """The part of a ticket the lifecycle rules read and write.

    Area ids are the origin unit's; ``assignee_id`` is ``None`` when the ticket waits for
    whoever holds the post at ``level`` (the grid leader of ``grid_id``, the station chief
    of ``village_id``, any town official, any liaison of ``department_code``).
    ``department_code``/``whistled_from`` are set exactly when ``level`` is DEPARTMENT.
    ``ratings`` are this round's (reset on 重办); ``rating`` is the overall rating
    on close, ``None`` meaning "no rating".
    """

    code: str
    state: TicketState
    level: TicketLevel
    urgency: Urgency
    unit_id: str
    grid_id: str
    village_id: str
    reporter_ids: tuple[str, ...]
    created_at: datetime
    window_started_at: datetime
    window: int = 1
    assignee_id: str | None = None
    assignee_name: str = ""
    assignee_role: ActorRole | None = None
    department_code: str | None = None
    department_name: str = ""
    whistled_from: TicketLevel | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_level: TicketLevel | None = None
    closed_at: datetime | None = None
    extension_count: int = 0
    extended_days: int = 0
    reopen_count: int = 0
    ratings: tuple[tuple[str, Rating], ...] = ()
    rating: Rating | None = None
    fired_timers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and the posts they hold (filled in by the service from the org tree).

    ``grid_ids`` are the grids a grid leader leads, ``village_ids`` the villages a
    station chief heads, ``unit_ids`` the units a unit leader leads. A town official's
    post covers the whole town.
    """

    person_id: str
    role: ActorRole
    name: str = ""
    grid_ids: frozenset[str] = frozenset()
    village_ids: frozenset[str] = frozenset()
    unit_ids: frozenset[str] = frozenset()
    department_code: str | None = None


SYSTEM = Actor(person_id="system", role=ActorRole.SYSTEM, name="系统")


@dataclass(frozen=True, slots=True)
class Rules:
    """Bounds of the lifecycle (config: ``tickets.extensions``)."""

    max_extensions: int = 2
    """延期 at most this many times per ticket."""
    max_extension_days: int = 7
    """Each 延期 adds at most this many days."""
    max_note_chars: int = 1000
    """Notes, reasons and explanations longer than this are refused."""

    def __post_init__(self) -> None:
        if self.max_extensions < 0:
            raise ValueError("max_extensions must be >= 0")
        if self.max_extension_days < 1:
            raise ValueError("max_extension_days must be >= 1")
        if self.max_note_chars < 1:
            raise ValueError("max_note_chars must be >= 1")


DEFAULT_RULES = Rules()


class RecipientKind(enum.StrEnum):
    PERSON = "person"
    POST = "post"  # whoever holds the post at a level for an area
    DEPARTMENT = "department"  # the liaisons of a department


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who is told: one person, the holder of a post, or a department's liaisons.

    For a POST, ``area_id`` is the grid id (GRID), the village id (VILLAGE) or ``None``
    (TOWN: the town's officials).
    """

    kind: RecipientKind
    person_id: str | None = None
    level: TicketLevel | None = None
    area_id: str | None = None
    department_code: str | None = None

    @classmethod
    def person(cls, person_id: str) -> Recipient:
        return cls(RecipientKind.PERSON, person_id=person_id)

    @classmethod
    def post(cls, level: TicketLevel, area_id: str | None) -> Recipient:
        return cls(RecipientKind.POST, level=level, area_id=area_id)

    @classmethod
    def department(cls, department_code: str) -> Recipient:
        return cls(RecipientKind.DEPARTMENT, department_code=department_code)


@dataclass(frozen=True, slots=True)
class Notification:
    recipient: Recipient
    text: str


@dataclass(frozen=True, slots=True)
class Transition:
    ticket: TicketView
    event: TicketEventCreate
    notifications: tuple[Notification, ...] = ()
    reply: str = ""
    """What to answer the actor (Chinese); empty for system actions."""


class TransitionRefused(Exception):
    """An action that is not allowed; ``reason`` is Chinese and shown to the actor as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refuse(reason: str) -> NoReturn:
    raise TransitionRefused(reason)


def require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def new_ticket(
    *,
    code: str,
    now: datetime,
    urgency: Urgency,
    unit_id: str,
    grid_id: str,
    village_id: str,
    reporter_id: str,
) -> TicketView:
    """A freshly received ticket at grid level, waiting to be dispatched (受理)."""
    require_aware(now)
    return TicketView(
        code=code,
        state=TicketState.RECEIVED,
        level=TicketLevel.GRID,
        urgency=urgency,
        unit_id=unit_id,
        grid_id=grid_id,
        village_id=village_id,
        reporter_ids=(reporter_id,),
        created_at=now,
        window_started_at=now,
    )
