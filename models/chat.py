"""WeChat groups, bot accounts and which account sits in which group."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
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


class UnreachableContact(SQLModel, table=True):
    """A person the bot could not write to privately: no bot account is their friend (好友).

    On real WeChat an account writes privately only to its friends. A leader who is
    nobody's friend is asked, by an @-mention in their own group, to add the bot;
    what could not be sent waits in ``held`` and goes out once they are friends.
    The row stays, with ``reachable_at`` set, as the history of that contact.
    """

    __tablename__ = "unreachable_contact"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: str = Field(unique=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    name: str = ""
    room_id: str | None = None
    """The group where they were asked to add the bot; ``None`` when there was none."""
    first_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    asked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the last @-mention asking them to add the bot was posted."""
    undelivered: int = 0
    """Private messages that could not be sent since they were last reachable."""
    held: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The latest undelivered texts, sent once they become a friend."""
    reachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    """When they became a friend of a bot account; ``None`` while unreachable."""
