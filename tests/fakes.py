"""An in-process fake of one WeChat account for unit tests (end-to-end tests use the sandbox)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.transport import (
    FriendshipEvent,
    FriendshipHandler,
    FriendshipKind,
    IncomingMessage,
    MessageHandler,
    RoomInfo,
    RoomMember,
    StateHandler,
)
from core.messaging import Attachment, NotAFriend, SendFailed, TransportError
from models.enums import AccountStatus, MessageKind

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Sent:
    account_id: str
    text: str
    room_id: str | None = None
    contact_id: str | None = None
    mention_ids: tuple[str, ...] = ()
    attachment: Attachment | None = None


@dataclass
class RecordingTransport:
    """Records what is sent; ``fail_next`` makes the next send raise.

    ``friends``: the contacts it may write to privately (``None``: everyone, as
    before friendship was modelled); a private send to anyone else raises
    :class:`NotAFriend`, as WeChat refuses it.
    """

    account_id: str
    room_topics: dict[str, str] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    state: AccountStatus = AccountStatus.STOPPED
    friends: set[str] | None = None
    accepted: list[str] = field(default_factory=list)
    """Friendship ids accepted through :meth:`accept_friendship`."""
    _failures: list[TransportError] = field(default_factory=list)
    _on_message: MessageHandler | None = None
    _on_state: StateHandler | None = None
    _on_friendship: FriendshipHandler | None = None
    _requests: dict[str, str] = field(default_factory=dict)

    async def start(
        self,
        on_message: MessageHandler,
        on_state: StateHandler,
        on_friendship: FriendshipHandler | None = None,
    ) -> None:
        self._on_message, self._on_state = on_message, on_state
        self._on_friendship = on_friendship
        await self.set_state(AccountStatus.ONLINE)

    async def stop(self) -> None:
        self.state = AccountStatus.STOPPED

    async def set_state(self, state: AccountStatus, detail: str = "") -> None:
        self.state = state
        assert self._on_state is not None
        await self._on_state(self.account_id, state, detail)

    def fail_next(self, error: TransportError) -> None:
        self._failures.append(error)

    async def say(self, room_id: str, text: str, mention_ids: Sequence[str] = ()) -> str:
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(
            Sent(self.account_id, text, room_id=room_id, mention_ids=tuple(mention_ids))
        )
        return f"sent-{next(_ids)}"

    async def say_private(self, contact_id: str, text: str) -> str:
        if self._failures:
            raise self._failures.pop(0)
        if self.friends is not None and contact_id not in self.friends:
            raise NotAFriend(self.account_id, "你还不是他（她）朋友", contact_id=contact_id)
        self.sent.append(Sent(self.account_id, text, contact_id=contact_id))
        return f"sent-{next(_ids)}"

    async def send_file(
        self, attachment: Attachment, *, room_id: str | None = None, contact_id: str | None = None
    ) -> str:
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(
            Sent(
                self.account_id,
                attachment.name,
                room_id=room_id,
                contact_id=contact_id,
                attachment=attachment,
            )
        )
        return f"sent-{next(_ids)}"

    async def is_friend(self, contact_id: str) -> bool | None:
        return True if self.friends is None else contact_id in self.friends

    async def accept_friendship(self, friendship_id: str) -> None:
        contact_id = self._requests.pop(friendship_id, None)
        if contact_id is None:
            raise SendFailed(self.account_id, f"好友申请不存在：{friendship_id}", permanent=True)
        if self.friends is not None:
            self.friends.add(contact_id)
        self.accepted.append(friendship_id)

    async def befriend(
        self,
        contact_id: str,
        *,
        name: str = "",
        hello: str = "",
        weixin: str = "",
        phones: tuple[str, ...] = (),
        confirmed: bool = False,
    ) -> str:
        """Deliver a friendship event: a request (or, ``confirmed``, an accepted one)."""
        assert self._on_friendship is not None
        friendship_id = f"friendship-{next(_ids)}"
        if confirmed:
            if self.friends is not None:
                self.friends.add(contact_id)
        else:
            self._requests[friendship_id] = contact_id
        await self._on_friendship(
            FriendshipEvent(
                friendship_id=friendship_id,
                account_id=self.account_id,
                contact_id=contact_id,
                name=name or contact_id,
                kind=FriendshipKind.CONFIRMED if confirmed else FriendshipKind.REQUEST,
                hello=hello,
                weixin=weixin,
                phones=phones,
            )
        )
        return friendship_id

    async def room_members(self, room_id: str) -> list[RoomMember]:
        return []

    async def rooms(self) -> list[RoomInfo]:
        return [RoomInfo(room_id, topic, 0) for room_id, topic in self.room_topics.items()]

    async def receive(
        self,
        text: str,
        *,
        room_id: str | None,
        sender_id: str,
        sender_name: str = "居民",
        message_id: str | None = None,
        kind: MessageKind = MessageKind.TEXT,
    ) -> None:
        """Deliver a message to the bot as WeChat would."""
        assert self._on_message is not None
        await self._on_message(
            IncomingMessage(
                message_id=message_id or f"in-{next(_ids)}",
                account_id=self.account_id,
                sender_id=sender_id,
                sender_name=sender_name,
                kind=kind,
                text=text,
                sent_at=datetime.now(UTC),
                room_id=room_id,
                room_topic=self.room_topics.get(room_id or ""),
            )
        )
