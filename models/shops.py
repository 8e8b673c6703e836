"""双单元长: what a shop unit's owner must act on, and which of its two leaders did.

A shop (沿街商铺) has its owner as unit leader (法人单元长, ``Role.UNIT_LEADER``) and a
second unit leader (``Role.SECOND_UNIT_LEADER``) who supervises. A ticket from the shop
or a task checklist item for it goes to the owner first; when the owner stays silent,
the second unit leader is reminded to follow up with the owner by name.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, enum_type


class ShopSubject(enum.StrEnum):
    """What the owner must act on."""

    TICKET = "ticket"
    """A ticket from the shop (``subject_id`` is ``ticket.id``)."""
    TASK_ITEM = "task_item"
    """A task checklist item for the shop (``subject_id`` is ``task_checklist_item.id``)."""


class ShopFollowUp(SQLModel, table=True):
    """One thing a shop's owner must act on: when they were told, when the second unit
    leader is (or was) reminded, and who acted."""

    __tablename__ = "shop_follow_up"
    __table_args__ = (UniqueConstraint("subject", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    subject: ShopSubject = Field(sa_type=enum_type(ShopSubject))
    subject_id: int
    org_unit_id: int = Field(foreign_key="org_unit.id")
    owner_contact_id: str | None = None
    owner_name: str = ""
    second_contact_id: str | None = None
    second_name: str = ""
    notified_at: datetime = Field(sa_type=UTCDateTime)
    """When the owner was told."""
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """When the second unit leader is to be reminded; ``None`` once reminded, once
    someone acted, or when the shop has no second unit leader."""
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acted_by: str = ""
    """The name of who acted first."""
    acted_role: str | None = Field(default=None, max_length=32)
    """``unit_leader`` (the owner) or ``second_unit_leader``."""
