"""Reach to every household (3分钟通知到每家每户): what unit leaders confirm, and the
party members asked to visit.

A unit's households (户数) are on :class:`models.org.OrgUnit`; its party members'
contact households (党员联系户) are :class:`models.org.HouseholdContact`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class HouseholdConfirmation(SQLModel, table=True):
    """已通知 12/14户: a unit leader's count of the unit's households they reached for a
    notice (by phone, by knocking on doors). The latest one of a (notice, unit) counts;
    the earlier ones stay as its history."""

    __tablename__ = "household_confirmation"
    __table_args__ = (Index("ix_household_confirmation_notice_unit", "notice_id", "org_unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id")
    org_unit_id: int = Field(foreign_key="org_unit.id")
    """The unit (level ``unit``) whose households were reached."""
    person_id: int | None = Field(default=None, foreign_key="person.id")
    contact_id: str
    name: str
    role: str = Field(max_length=32)
    """The post they confirmed in (``unit_leader`` or ``second_unit_leader``)."""
    reached: int
    """Households reached, as counted (at most the unit's households)."""
    stated_total: int | None = None
    """The ``14`` of ``12/14户`` as written (the roster's number is what counts)."""
    all_reached: bool = False
    """``已全部通知``: every household of the unit."""
    channel: str = Field(max_length=16)
    """``group`` (the unit group) or ``private`` (to a bot)."""
    text: str
    """The message, cut to 200 characters."""
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HouseholdVisitRequest(SQLModel, table=True):
    """A contact party member (联系党员) asked privately to visit the households they
    contact in a unit still silent on a notice. One row per (notice, unit, person): the
    ask is sent once, also across restarts."""

    __tablename__ = "household_visit_request"
    __table_args__ = (UniqueConstraint("notice_id", "org_unit_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    org_unit_id: int = Field(foreign_key="org_unit.id")
    person_id: int = Field(foreign_key="person.id")
    contact_id: str
    households: int
    """How many of the unit's households the person contacts."""
    asked_at: datetime = Field(sa_type=UTCDateTime)
