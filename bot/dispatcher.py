"""Routing incoming messages to feature handlers.

``Dispatcher.feed_message(msg) -> replies`` is all the wechaty side calls, and all
the tests need: feature routers (directory, tickets, notices, receipts) are
included explicitly, in order; the first handler that answers ends the search.
The same resident message seen by several bot accounts is handled once.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.transport import IncomingMessage
from core.messaging import Reply
from models.enums import MessageKind

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4000
"""Longer texts are cut before any handler sees them (WeChat allows far more)."""

_LEADING_MENTIONS = re.compile(r"^(?:\s*@[^\s\u2005]{1,32}[\s\u2005]+)+")


@dataclass(frozen=True, slots=True)
class Holder:
    """A person holding a role at an org unit. ``phone`` is the work phone in full:
    handlers show it through :func:`core.privacy.show_phone`."""

    role: str
    name: str
    phone: str
    contact_id: str | None
    post_area: tuple[str, ...] = ()
    """The org path (below the town) of the unit where the post is held."""
    role_code: str = ""


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """The org unit a room is bound to."""

    org_unit_id: int
    path: tuple[str, ...]
    level: str
    name: str


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """Who wrote: a known person with roles, or an unknown resident."""

    contact_id: str
    name: str
    person_id: int | None = None
    roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(role code, org path) pairs."""
    home_groups: tuple[GroupInfo, ...] = ()
    """For a private message: the units and grids the writer belongs to (their posts in
    the roster, the bound groups they are a member of), by path."""

    def has_role(self, *roles: str) -> bool:
        return any(role in roles for role, _ in self.roles)


@dataclass(frozen=True, slots=True)
class Context:
    message: IncomingMessage
    text: str
    """The text with leading @mentions removed and whitespace trimmed."""
    sender: SenderInfo
    group: GroupInfo | None
    now: datetime


Handler = Callable[[Context], Awaitable[Sequence[Reply] | None]]
Resolver = Callable[[IncomingMessage], Awaitable[tuple[SenderInfo, GroupInfo | None]]]


def command_text(text: str) -> str:
    """Strip the @mentions people put before a command (``@网格助手 帮助``)."""
    return _LEADING_MENTIONS.sub("", text.replace("\u2005", " ")).strip()


@dataclass(slots=True)
class Router:
    """A named list of handlers for one feature."""

    name: str
    handlers: list[tuple[str, Handler]] = field(default_factory=list)

    def message(self, name: str | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.handlers.append((name or handler.__name__, handler))
            return handler

        return register


class _SeenIds:
    """The last ``capacity`` message ids, to handle each message once."""

    def __init__(self, capacity: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def add(self, message_id: str) -> bool:
        """Remember ``message_id``; False when it was already there."""
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


class Dispatcher:
    def __init__(
        self, resolve: Resolver, *, clock: Callable[[], datetime], seen_capacity: int = 50_000
    ) -> None:
        self._resolve = resolve
        self._clock = clock
        self._routers: list[Router] = []
        self._seen = _SeenIds(seen_capacity)

    def include_routers(self, *routers: Router) -> None:
        self._routers.extend(routers)

    @property
    def routers(self) -> tuple[Router, ...]:
        return tuple(self._routers)

    async def feed_message(self, message: IncomingMessage) -> list[Reply]:
        """Handle one message; returns what to post. Never raises for a bad message."""
        if not self._seen.add(message.message_id):
            return []
        if message.kind is not MessageKind.TEXT:
            return []  # images, voice, files, recalls: nothing to answer (yet)
        text = command_text(message.text[:MAX_TEXT_CHARS])
        if not text:
            return []
        sender, group = await self._resolve(message)
        context = Context(message=message, text=text, sender=sender, group=group, now=self._clock())
        for router in self._routers:
            for name, handler in router.handlers:
                try:
                    replies = await handler(context)
                except Exception:
                    log.exception(
                        "handler %s.%s failed on message %s", router.name, name, message.message_id
                    )
                    return [
                        reply_in_place(
                            message, "抱歉，系统处理这条消息时出错了，已记录，请稍后再试。"
                        )
                    ]
                if replies is not None:
                    return list(replies)
        return []


def reply_in_place(message: IncomingMessage, text: str, *, mention_sender: bool = True) -> Reply:
    """Answer where the message came from: in the room @-mentioning the sender, or privately."""
    if message.room_id is not None:
        mentions = (message.sender_id,) if mention_sender else ()
        return Reply(text=text, room_id=message.room_id, mention_ids=mentions)
    return Reply(text=text, contact_id=message.sender_id)
