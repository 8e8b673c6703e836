"""The small contract between gridcast and a WeChat account.

Everything outside :mod:`bot.wechaty_transport` talks to WeChat through
:class:`ChatTransport` and receives frozen dataclasses; only that one module
imports ``wechaty``. Tests use :class:`tests.fakes.RecordingTransport`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.enums import AccountStatus, MessageKind


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message as one bot account saw it.

    The same resident message seen by several accounts has the same
    ``message_id``; the dispatcher handles it once.
    """

    message_id: str
    account_id: str
    sender_id: str
    sender_name: str
    kind: MessageKind
    text: str
    sent_at: datetime
    room_id: str | None = None
    room_topic: str | None = None
    mention_ids: tuple[str, ...] = ()

    @property
    def is_private(self) -> bool:
        return self.room_id is None


@dataclass(frozen=True, slots=True)
class RoomMember:
    contact_id: str
    name: str
    room_alias: str = ""


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room_id: str
    topic: str
    member_count: int


MessageHandler = Callable[[IncomingMessage], Awaitable[None]]
StateHandler = Callable[[str, AccountStatus, str], Awaitable[None]]
"""Called with (account_id, new state, human-readable detail)."""


class ChatTransport(Protocol):
    """One WeChat account."""

    @property
    def account_id(self) -> str: ...

    @property
    def state(self) -> AccountStatus: ...

    async def start(self, on_message: MessageHandler, on_state: StateHandler) -> None:
        """Connect, log in and begin delivering messages; returns once online or failed."""

    async def stop(self) -> None: ...

    async def say(self, room_id: str, text: str, mention_ids: Sequence[str] = ()) -> str:
        """Post ``text`` in a room, @-mentioning ``mention_ids``; returns the message id.

        Raises the send errors of :mod:`core.messaging`.
        """

    async def say_private(self, contact_id: str, text: str) -> str:
        """Send a private message to one contact; returns the message id."""

    async def room_members(self, room_id: str) -> list[RoomMember]: ...

    async def rooms(self) -> list[RoomInfo]:
        """The rooms the account is in, as far as the puppet reports them (may be incomplete)."""
