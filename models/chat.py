"""WeChat groups, bot accounts and which account sits in which group."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, enum_type, utcnow
from models.enums import AccountStatus


class ChatGroup(SQLModel, table=True):
    """A WeChat group (room) bound to exactly one org unit (四级微信群)."""

    __tablename__ = "chat_group"

    id: int | None = Field(default=None, primary_key=True)
    room_id: str = Field(unique=True)
    topic: str
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    bound_by: str = "topic"
    """How the binding was made: ``topic`` (naming convention) or ``mapping`` (config)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BotAccount(SQLModel, table=True):
    __tablename__ = "bot_account"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(unique=True)
    """The id in config.yaml."""
    name: str = ""
    contact_id: str | None = None
    """The account's WeChat contact id once logged in."""
    status: AccountStatus = Field(default=AccountStatus.STOPPED, sa_type=enum_type(AccountStatus))
    status_detail: str = ""
    status_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    throttled_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class GroupMembership(SQLModel, table=True):
    """Bot account ``bot_account_id`` is a member of group ``chat_group_id``."""

    __tablename__ = "group_membership"
    __table_args__ = (UniqueConstraint("bot_account_id", "chat_group_id"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_account_id: int = Field(foreign_key="bot_account.id", index=True)
    chat_group_id: int = Field(foreign_key="chat_group.id", index=True)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UnboundRoom(SQLModel, table=True):
    """A room a bot is in that gridcast could not place in the org tree (never guessed)."""

    __tablename__ = "unbound_room"
    __table_args__ = (UniqueConstraint("room_id", "account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    room_id: str
    account_id: str
    topic: str
    reason: str
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
