"""Who may sign in and who did what: sign-in codes, passwords, confirmed chat
identities, API tokens and the append-only audit trail."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, enum_type, utcnow

__all__ = [
    "ApiToken",
    "AuditChannel",
    "AuditEntry",
    "AuditOutcome",
    "ChatBinding",
    "Credential",
    "SignInCode",
]


class SignInCode(SQLModel, table=True):
    """A one-time 6-digit code the bot sent privately on WeChat (stored hashed)."""

    __tablename__ = "sign_in_code"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    contact_id: str
    """Where the code was sent; a successful sign-in confirms this chat identity."""
    code_hash: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    tries: int = 0
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    client: str = Field(default="", index=True)
    """The address that asked for the code (rate limits per client)."""


class RevokedSession(SQLModel, table=True):
    """A signed-in session that was ended (sign-out): its cookie is refused from then on,
    although it could still be decrypted. Kept until the cookie would have expired anyway."""

    __tablename__ = "revoked_session"

    session_id: str = Field(primary_key=True, max_length=64)
    """The random id the session cookie carries (``sid``)."""
    revoked_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    """When the cookie expires by itself (``web.session_max_age``): the row may go then."""


class Credential(SQLModel, table=True):
    """A password a roster person set for themselves (argon2 hash)."""

    __tablename__ = "credential"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    password_hash: str
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChatBinding(SQLModel, table=True):
    """A WeChat contact a roster person confirmed as theirs (besides the WeChat id the
    roster records). Chat identity comes only from these two."""

    __tablename__ = "chat_binding"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: str = Field(unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    confirmed_via: str
    """``sign_in_code``: the person typed a code the bot sent to this contact."""
    confirmed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for an integration or script, with one post of its own.

    Only a SHA-256 hash is stored; the token is shown once when it is created.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    token_hash: str = Field(unique=True)
    prefix: str
    """The first characters of the token, to recognise it in a list."""
    role: str
    """A roster role code or ``admin``."""
    scope: str = ""
    """Org path below the town (``黄霞村/第16网格``); empty for the whole town."""
    department: str | None = None
    """For a department liaison's token: the department code."""
    signature: str | None = Field(default=None, max_length=50)
    """The signature (落款) residents read under the token's notices, fixed at creation;
    None: the token's name. A request cannot change it (:func:`core.policy.signature_refusal`)."""
    created_by: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditChannel(enum.StrEnum):
    CHAT = "chat"
    CONSOLE = "console"
    API = "api"
    CLI = "cli"
    SYSTEM = "system"

    @property
    def label(self) -> str:
        return _CHANNEL_LABELS[self]


_CHANNEL_LABELS = {
    AuditChannel.CHAT: "微信",
    AuditChannel.CONSOLE: "控制台",
    AuditChannel.API: "接口",
    AuditChannel.CLI: "命令行",
    AuditChannel.SYSTEM: "系统",
}


class AuditOutcome(enum.StrEnum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


class AuditEntry(SQLModel, table=True):
    """One thing someone did, or tried to do. Rows are only ever added: the database
    refuses updates and deletes (triggers in migration 0006)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_scope_at", "scope", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str
    """Who, as people read it: ``林文荣（person:12）``, ``12345热线（token:3）``."""
    actor_kind: str
    """``person``, ``token``, ``local`` (the server's own admin token) or ``anonymous``."""
    actor_id: str
    channel: AuditChannel = Field(sa_type=enum_type(AuditChannel))
    source: str = ""
    """From where: the client address, or the WeChat contact id."""
    action: str = Field(index=True)
    """``notice.create``, ``notice.confirm``, ``ticket.accept``, ``roster.import``,
    ``token.create``, ``signin.code``, ``signin`` …"""
    target: str = ""
    """What it acted on: a notice or ticket code, a token id, a phone (masked)."""
    scope: str = ""
    """The org path below the town the action concerned (empty: the whole town)."""
    outcome: AuditOutcome = Field(sa_type=enum_type(AuditOutcome))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """What changed, or why it was refused."""
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    """The Chinese summary shown in the audit list."""
