"""The small contract between gridcast and a WeChat account.

Everything outside :mod:`bot.wechaty_transport` talks to WeChat through
:class:`ChatTransport` and receives frozen dataclasses; only that one module
imports ``wechaty``. Tests use :class:`tests.fakes.RecordingTransport`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.messaging import Attachment
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
    member_ids: tuple[str, ...] = ()
    """Who is in the room, when the puppet's room payload says so (it usually does)."""


class FriendshipKind(enum.StrEnum):
    REQUEST = "request"
    """Someone asks the account to be friends (好友申请); :meth:`ChatTransport.accept_friendship`."""
    CONFIRMED = "confirmed"
    """They are friends now (the other side accepted the account's request)."""


@dataclass(frozen=True, slots=True)
class FriendshipEvent:
    """A friendship event of one account, with what the puppet reports about the person."""

    friendship_id: str
    account_id: str
    contact_id: str
    name: str
    kind: FriendshipKind
    hello: str = ""
    """The verification message the person wrote (验证消息)."""
    weixin: str = ""
    """The person's own WeChat id (微信号), when the puppet reports it."""
    phones: tuple[str, ...] = ()
    """Phone numbers the puppet reports for the person (often none)."""


MessageHandler = Callable[[IncomingMessage], Awaitable[None]]
FriendshipHandler = Callable[[FriendshipEvent], Awaitable[None]]
StateHandler = Callable[[str, AccountStatus, str], Awaitable[None]]
"""Called with (account_id, new state, human-readable detail)."""


class ChatTransport(Protocol):
    """One WeChat account."""

    @property
    def account_id(self) -> str: ...

    @property
    def state(self) -> AccountStatus: ...

    async def start(
        self,
        on_message: MessageHandler,
        on_state: StateHandler,
        on_friendship: FriendshipHandler | None = None,
    ) -> None:
        """Connect, log in and begin delivering messages (and friendship events, when
        ``on_friendship`` is given); returns once online or failed."""

    async def stop(self) -> None: ...

    async def say(self, room_id: str, text: str, mention_ids: Sequence[str] = ()) -> str:
        """Post ``text`` in a room, @-mentioning ``mention_ids``; returns the message id.

        Raises the send errors of :mod:`core.messaging`.
        """

    async def say_private(self, contact_id: str, text: str) -> str:
        """Send a private message to one contact; returns the message id.

        Raises :class:`core.messaging.NotAFriend` when the contact is not the account's friend.
        """

    async def send_file(
        self, attachment: Attachment, *, room_id: str | None = None, contact_id: str | None = None
    ) -> str:
        """Post a file message (an image for ``image/*``) in a room or to a contact;
        returns the message id. Raises the send errors of :mod:`core.messaging`."""

    async def is_friend(self, contact_id: str) -> bool | None:
        """Whether the contact is the account's friend; ``None`` when the puppet cannot tell."""

    async def accept_friendship(self, friendship_id: str) -> None:
        """Accept a :attr:`FriendshipKind.REQUEST`; raises the send errors on failure."""

    async def room_members(self, room_id: str) -> list[RoomMember]: ...

    async def rooms(self) -> list[RoomInfo]:
        """The rooms the account is in, as far as the puppet reports them (may be incomplete)."""
