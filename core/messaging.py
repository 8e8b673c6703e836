"""The contract between the domain and the chat side.

The domain (tickets, notices) produces :class:`Reply` values and sends notices through
a :class:`Messenger`; the bot layer implements it over WeChat accounts and raises the
send errors defined here. Nothing here knows about wechaty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from models.enums import AccountStatus

__all__ = [
    "SAFETY_RESERVE",
    "AccountUnavailable",
    "Attachment",
    "Messenger",
    "NotAFriend",
    "Reply",
    "SendFailed",
    "SendThrottled",
    "SendUncertain",
    "SenderState",
    "StateListener",
    "TransportError",
    "usable_burst",
]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to post as a file message; an ``image/*`` one shows as an image (图片)."""

    name: str
    data: bytes
    media_type: str = "application/octet-stream"

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to post: in a room (optionally @-mentioning people) or privately.

    With ``attachment`` the post is a file (or image) message; ``text`` is then what
    logs and fallbacks show, and is not sent."""

    text: str
    room_id: str | None = None
    contact_id: str | None = None
    mention_ids: tuple[str, ...] = ()
    attachment: Attachment | None = None


class TransportError(Exception):
    """Base of the errors a send raises."""

    def __init__(self, account_id: str, reason: str) -> None:
        super().__init__(f"{account_id}: {reason}")
        self.account_id = account_id
        self.reason = reason


class SendThrottled(TransportError):
    """WeChat refused the send because the account posts too fast (发送消息过于频繁)."""

    def __init__(self, account_id: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(account_id, reason)
        self.retry_after_s = retry_after_s


class AccountUnavailable(TransportError):
    """The account is logged out, disconnected or stopped: nothing can be sent now."""


class SendFailed(TransportError):
    """A send failed. ``permanent`` means retrying the same room will not help
    (room dissolved, bot removed from the room)."""

    def __init__(self, account_id: str, reason: str, *, permanent: bool) -> None:
        super().__init__(account_id, reason)
        self.permanent = permanent


class NotAFriend(SendFailed):
    """A private message to someone who is not the account's friend (WeChat refuses it:
    "你还不是他（她）朋友"). Permanent for this account and contact until they become friends;
    another account may still be their friend."""

    def __init__(self, account_id: str, reason: str, *, contact_id: str) -> None:
        super().__init__(account_id, reason, permanent=True)
        self.contact_id = contact_id


class SendUncertain(SendFailed):
    """The send timed out after it was handed to WeChat: it may or may not have arrived."""

    def __init__(self, account_id: str, reason: str) -> None:
        super().__init__(account_id, reason, permanent=False)


SAFETY_RESERVE = 1
"""Tokens of each account's bucket gridcast never spends. A send admitted on time here
can reach WeChat late, and the next one on time: without a reserve the second finds
the bucket empty and freezes the account for a minute. One token absorbs up to
1/rate seconds of such jitter, at the cost of one message of the first burst."""


def usable_burst(burst: int) -> int:
    """The part of an account's burst that gridcast plans with."""
    return max(1, burst - SAFETY_RESERVE)


@dataclass(frozen=True, slots=True)
class SenderState:
    """One bot account as a send plan sees it right now."""

    account_id: str
    status: AccountStatus
    throttled_for_s: float
    """Seconds until a throttled account may post again (0 when it may now)."""
    rate: float
    """Messages per second the account may post on average."""
    burst: int
    """The account's configured bucket size (before :data:`SAFETY_RESERVE`)."""


StateListener = Callable[[str, AccountStatus], None]
"""Told ``(account id, new status)`` as soon as an account's state changes. Called
synchronously on the event loop: it must not block (schedule work instead)."""


class Messenger(Protocol):
    """The accounts that send notices, as the broadcast engine needs them."""

    def sender_states(self) -> list[SenderState]:
        """Every configured account, online or not."""

    async def wait_rooms(self, timeout_s: float = 120.0) -> bool:
        """Until every account's rooms are known (False when that took too long)."""

    async def send_as(self, account_id: str, reply: Reply) -> str:
        """Post through one account within its rate limit; returns the message id.

        Raises :class:`SendThrottled`, :class:`AccountUnavailable` or :class:`SendFailed`.
        """

    def mark_throttled(self, account_id: str, retry_after_s: float | None) -> float:
        """Keep the account out of use for its cool-down; returns seconds until usable."""

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener`` on every change of an account's state (logout, login,
        disconnect, reconnect), before anything else handles it."""
