"""One WeChat account over python-wechaty: the only module that imports ``wechaty``.

:class:`WechatyTransport` implements :class:`bot.transport.ChatTransport` with a
``wechaty.Wechaty`` instance whose ``wechaty-puppet-service`` puppet connects over
gRPC (grpclib; plaintext in that client, TLS when given an ``ssl_context``) to ``endpoint`` with ``token`` as the
HTTP/2 ``:authority``. Endpoint and token go into a fresh ``PuppetOptions`` per
instance, never into the process environment, so several accounts share one process.

Where it departs from ``Wechaty.start()`` and why:

* ``Wechaty.start()`` blocks for as long as the event stream lasts, sleeps 60 s and
  restarts on network errors, stops the whole event loop on a puppet error and prints
  and swallows anything else; and when the stream simply ends it does nothing. The
  transport runs the puppet itself: it detects the end of the stream (or heartbeat
  silence) and reconnects with capped, jittered exponential backoff.
* Wechaty's message bridge drops any message id already seen anywhere in the process
  (a process-global set), so a second account in the same room would never see the
  resident's message. The transport listens to its own puppet's events instead and
  converts every message of its account; the dispatcher de-duplicates by message id.
* ``Contact``/``Room`` instances are cached in pools shared by all Wechaty instances;
  each instance gets its own pools so a room object never talks to another account's
  puppet.
* Friendship events are loaded through wechaty's own ``Friendship`` class (and accepted
  with ``Friendship.accept``), then delivered in event order with the messages. A
  private send that WeChat refuses because the contact is not a friend becomes
  :class:`core.messaging.NotAFriend`, so the hub can try an account that is.
* Sends call the puppet's ``message_send_text`` directly: ``Room.say`` would fetch the
  sent message back (one more round trip) and raise after a successful send if that
  fetch failed, which would make a caller send twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib
import logging
import random
import re
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

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
from bot.wechaty_shim import load_wechaty
from core.messaging import (
    AccountUnavailable,
    Attachment,
    NotAFriend,
    SendFailed,
    SendThrottled,
    SendUncertain,
    TransportError,
)
from models.enums import AccountStatus, MessageKind

log = logging.getLogger(__name__)

AT_SEPARATOR = "\u2005"
"""What WeChat puts after an @name; ``Room.say`` joins mentions with it."""

_KINDS: dict[str, MessageKind] = {
    "MESSAGE_TYPE_TEXT": MessageKind.TEXT,
    "MESSAGE_TYPE_IMAGE": MessageKind.IMAGE,
    "MESSAGE_TYPE_AUDIO": MessageKind.VOICE,
    "MESSAGE_TYPE_VIDEO": MessageKind.VIDEO,
    "MESSAGE_TYPE_ATTACHMENT": MessageKind.FILE,
    "MESSAGE_TYPE_EMOTICON": MessageKind.EMOTICON,
    "MESSAGE_TYPE_MINI_PROGRAM": MessageKind.MINI_PROGRAM,
    "MESSAGE_TYPE_URL": MessageKind.URL,
    "MESSAGE_TYPE_RECALLED": MessageKind.RECALLED,
}
"""wechaty_grpc ``MessageType`` names (after python-wechaty's mapping) -> our kinds."""

_PERMANENT = {
    Status.NOT_FOUND,
    Status.FAILED_PRECONDITION,
    Status.PERMISSION_DENIED,
    Status.INVALID_ARGUMENT,
    Status.UNIMPLEMENTED,
    Status.OUT_OF_RANGE,
}
_NOT_A_FRIEND = re.compile(
    r"朋友验证|不是他（她）朋友|不是.{0,4}好友|not (?:a )?friend", re.IGNORECASE
)
"""How puppets word the refusal of a private message to a non-friend."""
_FRIENDSHIP_KINDS = {
    "FRIENDSHIP_TYPE_RECEIVE": FriendshipKind.REQUEST,
    "FRIENDSHIP_TYPE_CONFIRM": FriendshipKind.CONFIRMED,
}
_RETRY_AFTER = re.compile(r"(\d+(?:\.\d+)?)\s*秒")
_SENDABLE = (AccountStatus.ONLINE, AccountStatus.THROTTLED)

PAYLOAD_CALLS_IN_FLIGHT = 32
"""Payload RPCs one account keeps outstanding while listing rooms or members."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Backoff between reconnection attempts: exponential, capped, jittered."""

    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    """Each delay is spread uniformly by +/- this fraction."""


def backoff_delay(attempt: int, policy: ReconnectPolicy, rng: random.Random) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (0 = the first)."""
    base = policy.initial_delay_s * policy.multiplier ** min(attempt, 64)
    base = min(policy.max_delay_s, base)
    spread = base * policy.jitter
    return max(0.0, min(policy.max_delay_s, base + rng.uniform(-spread, spread)))


def message_kind(type_name: str) -> MessageKind:
    """Our kind for a wechaty_grpc ``MessageType`` member name."""
    return _KINDS.get(type_name, MessageKind.OTHER)


def retry_after_from(reason: str) -> float | None:
    """Seconds to wait, when the refusal says (``...请 60.0 秒后再试``)."""
    match = _RETRY_AFTER.search(reason)
    return float(match.group(1)) if match else None


def sent_at_from(timestamp: float) -> datetime:
    """Puppet timestamps come in seconds or milliseconds; WeChat's are milliseconds."""
    seconds = timestamp / 1000 if timestamp > 2145888000 else timestamp
    return datetime.fromtimestamp(seconds, UTC)


def mention_text(text: str, names: Sequence[str]) -> str:
    """``@name1\\u2005@name2 text``, as ``Room.say`` writes mentions."""
    if not names:
        return text
    return AT_SEPARATOR.join(f"@{name}" for name in names) + " " + text


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"endpoint must be host:port, got {endpoint!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class _StateChange:
    state: AccountStatus
    detail: str


@dataclass(frozen=True, slots=True)
class _FriendshipArrived:
    friendship_id: str


class WechatyTransport:
    """A :class:`bot.transport.ChatTransport` for one account of a Wechaty Puppet Service.

    ``on_message`` and ``on_state`` are awaited one at a time, in event order; a
    handler that wants concurrency starts its own tasks. The account's own messages
    (echoed by some puppets) are not delivered.
    """

    def __init__(
        self,
        account_id: str,
        *,
        endpoint: str,
        token: str,
        reconnect: ReconnectPolicy | None = None,
        start_timeout_s: float = 10.0,
        call_timeout_s: float = 30.0,
        heartbeat_timeout_s: float | None = 120.0,
        rng: random.Random | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        """``heartbeat_timeout_s``: reconnect when no event (heartbeats included) came for
        that long; ``None`` trusts the connection. ``call_timeout_s`` bounds every RPC."""
        if not token:
            raise ValueError("a puppet service token is required (it becomes :authority)")
        self._split = _split_endpoint(endpoint)
        self._account_id = account_id
        self._endpoint = endpoint
        self._token = token
        self._reconnect = reconnect or ReconnectPolicy()
        self._start_timeout_s = start_timeout_s
        self._call_timeout_s = call_timeout_s
        self._heartbeat_timeout_s = heartbeat_timeout_s
        self._rng = rng or random.Random()
        self._ssl = ssl_context
        self._tls_server_name = tls_server_name
        self._state = AccountStatus.STOPPED
        self._on_message: MessageHandler | None = None
        self._on_state: StateHandler | None = None
        self._on_friendship: FriendshipHandler | None = None
        self._bot: Any = None
        self._puppet: Any = None
        self._self_id: str | None = None
        self._inbox: asyncio.Queue[str | _StateChange | _FriendshipArrived] = asyncio.Queue()
        self._settled = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._deliverer: asyncio.Task[None] | None = None
        self._throttle_timer: asyncio.TimerHandle | None = None
        self._last_event_at = 0.0
        self._logged_in_since_connect = False
        self._stopping = False

    def _use_tls(self, puppet: Any) -> None:
        """wechaty-puppet-service builds a plaintext grpclib ``Channel`` on every start;
        this puppet builds the same channel with the TLS context instead."""
        from grpclib.client import Channel
        from grpclib.config import Configuration

        plain_init = puppet._init_puppet
        host, port = self._split
        context, server_name, token = self._ssl, self._tls_server_name, self._token

        def init_with_tls() -> None:
            plain_init()  # checks the endpoint, then opens nothing until the first call
            puppet.channel.close()
            config = Configuration(ssl_target_name_override=server_name) if server_name else None
            channel = Channel(host=host, port=port, ssl=context, config=config)
            channel._authority = token  # the puppet service protocol's token
            puppet.channel = channel
            puppet._puppet_stub = type(puppet._puppet_stub)(channel)

        puppet._init_puppet = init_with_tls

    # --- ChatTransport ---------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self._account_id

    @property
    def state(self) -> AccountStatus:
        return self._state

    async def start(
        self,
        on_message: MessageHandler,
        on_state: StateHandler,
        on_friendship: FriendshipHandler | None = None,
    ) -> None:
        """Connect and wait up to ``start_timeout_s`` for login or a logged-out answer.

        Returns in any case; connection problems are reported through ``on_state`` and
        retried in the background until :meth:`stop`.
        """
        if self._runner is not None:
            raise RuntimeError(f"{self._account_id}: transport already started")
        self._on_message, self._on_state = on_message, on_state
        self._on_friendship = on_friendship
        self._stopping = False
        self._inbox = asyncio.Queue()
        self._settled = asyncio.Event()
        wechaty = load_wechaty()
        # A fresh PuppetOptions per instance: WechatyOptions' default one is shared.
        puppet_options = importlib.import_module("wechaty_puppet").PuppetOptions(
            token=self._token, end_point=self._endpoint
        )
        self._bot = wechaty.Wechaty(
            wechaty.WechatyOptions(
                name=f"gridcast-{self._account_id}", puppet_options=puppet_options
            )
        )
        await self._bot.init_puppet()
        # Per-instance caches (the classes' default pools are shared process-wide).
        for user_class in ("Contact", "ContactSelf", "Room", "Tag"):
            getattr(self._bot, user_class)._pool = {}
        self._puppet = self._bot.puppet
        if self._ssl is not None:
            self._use_tls(self._puppet)
        self._set_state(AccountStatus.STARTING, "正在连接 puppet service")
        self._deliverer = asyncio.create_task(
            self._deliver(), name=f"wechaty-deliver-{self._account_id}"
        )
        self._runner = asyncio.create_task(self._run(), name=f"wechaty-run-{self._account_id}")
        try:
            await asyncio.wait_for(self._settled.wait(), self._start_timeout_s)
        except TimeoutError:
            log.warning(
                "%s: not logged in after %.1f s (state %s); still trying",
                self._account_id,
                self._start_timeout_s,
                self._state,
            )

    async def stop(self) -> None:
        self._stopping = True
        if self._throttle_timer is not None:
            self._throttle_timer.cancel()
            self._throttle_timer = None
        current = asyncio.current_task()
        for task in (self._runner, self._deliverer):
            if task is None:
                continue
            task.cancel()
            if task is not current:  # a handler may call stop(); it ends at its next await
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._runner = self._deliverer = None
        if self._puppet is not None:
            await self._close_puppet()
        if self._state is not AccountStatus.STOPPED:
            self._state = AccountStatus.STOPPED
            await self._notify_state(_StateChange(AccountStatus.STOPPED, "已停止"))

    async def say(self, room_id: str, text: str, mention_ids: Sequence[str] = ()) -> str:
        names = [await self._contact_name(contact_id) for contact_id in mention_ids]
        return await self._send(room_id, mention_text(text, names), list(mention_ids))

    async def say_private(self, contact_id: str, text: str) -> str:
        return await self._send(contact_id, text, [], private_to=contact_id)

    async def send_file(
        self, attachment: Attachment, *, room_id: str | None = None, contact_id: str | None = None
    ) -> str:
        """MessageSendFile with a base64 FileBox (python-wechaty's own ``FileBox``)."""
        conversation_id = room_id or contact_id
        if conversation_id is None:
            raise ValueError("a room or a contact is required")
        file_box = importlib.import_module("wechaty_puppet").FileBox.from_base64(
            base64.b64encode(attachment.data), name=attachment.name
        )
        file_box.mediaType = attachment.media_type
        private_to = contact_id if room_id is None else None
        message_id = await self._call(
            lambda p: p.message_send_file(conversation_id=conversation_id, file=file_box),
            sending=True,
            private_to=private_to,
        )
        if not message_id:
            raise SendFailed(self._account_id, "puppet service 未返回消息 ID", permanent=False)
        return str(message_id)

    async def is_friend(self, contact_id: str) -> bool | None:
        # The puppet directly, not wechaty's Contact pool: a cached payload would keep
        # saying "not a friend" after the friendship was accepted.
        try:
            payload = await self._call(lambda p: p.contact_payload(contact_id))
        except SendFailed as error:
            if error.permanent:
                return False  # WeChat does not know the contact
            raise
        return bool(payload.friend)

    async def accept_friendship(self, friendship_id: str) -> None:
        # python-wechaty's Friendship.accept checks the type (RECEIVE) and reloads the contact.
        friendship = self._bot.Friendship.load(friendship_id)
        await self._call(lambda _: friendship.ready())
        try:
            await self._call(lambda _: friendship.accept())
        except AccountUnavailable as error:
            if type(error.__cause__).__name__ == "WechatyOperationError":
                raise SendFailed(self._account_id, str(error.__cause__), permanent=True) from error
            raise

    async def room_members(self, room_id: str) -> list[RoomMember]:
        member_ids: list[str] = list(await self._call(lambda p: p.room_members(room_id)))
        limit = asyncio.Semaphore(PAYLOAD_CALLS_IN_FLIGHT)

        async def member(contact_id: str) -> RoomMember:
            async with limit:
                payload = await self._call(lambda p: p.room_member_payload(room_id, contact_id))
            return RoomMember(
                contact_id=str(payload.id or contact_id),
                name=str(payload.name),
                room_alias=str(payload.room_alias or ""),
            )

        return list(await asyncio.gather(*(member(contact_id) for contact_id in member_ids)))

    async def rooms(self) -> list[RoomInfo]:
        room_ids: list[str] = list(await self._call(lambda p: p.room_list()))
        limit = asyncio.Semaphore(PAYLOAD_CALLS_IN_FLIGHT)

        async def room(room_id: str) -> RoomInfo | None:
            # Through wechaty's Room pool: later messages from the room need no fetch.
            handle = self._bot.Room.load(room_id)
            async with limit:
                try:
                    await self._call(lambda _: handle.ready())
                except SendFailed:
                    self._bot.Room._pool.pop(room_id, None)
                    return None  # left or dissolved since the list was made
            payload = handle.payload
            return RoomInfo(
                room_id=room_id,
                topic=str(payload.topic),
                member_count=len(payload.member_ids),
                member_ids=tuple(str(m) for m in payload.member_ids),
            )

        found = await asyncio.gather(*(room(room_id) for room_id in room_ids))
        return [info for info in found if info is not None]

    # --- sending and calls -----------------------------------------------------------

    async def _send(
        self,
        conversation_id: str,
        text: str,
        mention_ids: list[str],
        *,
        private_to: str | None = None,
    ) -> str:
        message_id = await self._call(
            lambda p: p.message_send_text(
                conversation_id=conversation_id, message=text, mention_ids=mention_ids or None
            ),
            sending=True,
            private_to=private_to,
        )
        if self._state is AccountStatus.THROTTLED:
            self._end_throttle()
        if not message_id:
            raise SendFailed(self._account_id, "puppet service 未返回消息 ID", permanent=False)
        return str(message_id)

    async def _call(
        self,
        call: Callable[[Any], Awaitable[Any]],
        *,
        sending: bool = False,
        private_to: str | None = None,
    ) -> Any:
        """Run one puppet call with a timeout, translating failures into transport errors.

        ``private_to``: the call is a private send to that contact (a refusal may mean
        "not a friend")."""
        if self._state not in _SENDABLE or self._puppet is None:
            raise AccountUnavailable(self._account_id, f"账号当前不可用（{self._state.value}）")
        try:
            return await asyncio.wait_for(call(self._puppet), self._call_timeout_s)
        except GRPCError as error:
            raise self._grpc_error(error, private_to) from error
        except TimeoutError:
            if sending:
                raise SendUncertain(self._account_id, "发送超时，消息可能已经发出") from None
            raise SendFailed(
                self._account_id, "调用 puppet service 超时", permanent=False
            ) from None
        except (StreamTerminatedError, ConnectionError, OSError) as error:
            raise AccountUnavailable(
                self._account_id, f"与 puppet service 的连接中断：{error}"
            ) from error
        except Exception as error:
            # wechaty_puppet errors, e.g. "puppet_stub should not be none" while reconnecting.
            raise AccountUnavailable(
                self._account_id, f"puppet 不可用：{type(error).__name__}: {error}"
            ) from error

    def _grpc_error(self, error: GRPCError, private_to: str | None = None) -> TransportError:
        reason = error.message or error.status.name
        if private_to is not None and (
            error.status is Status.PERMISSION_DENIED or _NOT_A_FRIEND.search(reason)
        ):
            return NotAFriend(self._account_id, reason, contact_id=private_to)
        if error.status is Status.RESOURCE_EXHAUSTED:
            retry_after = retry_after_from(reason)
            self._begin_throttle(reason, retry_after)
            return SendThrottled(self._account_id, reason, retry_after_s=retry_after)
        if error.status is Status.UNAUTHENTICATED:
            self._set_state(AccountStatus.LOGGED_OUT, reason)
            return AccountUnavailable(self._account_id, reason)
        return SendFailed(self._account_id, reason, permanent=error.status in _PERMANENT)

    def _begin_throttle(self, reason: str, retry_after_s: float | None) -> None:
        if self._state is AccountStatus.ONLINE:
            self._set_state(AccountStatus.THROTTLED, reason)
        if self._throttle_timer is not None:
            self._throttle_timer.cancel()
            self._throttle_timer = None
        if retry_after_s is not None:
            loop = asyncio.get_running_loop()
            self._throttle_timer = loop.call_later(retry_after_s, self._end_throttle)

    def _end_throttle(self) -> None:
        self._throttle_timer = None
        if self._state is AccountStatus.THROTTLED:
            self._set_state(AccountStatus.ONLINE, "限流已解除")

    async def _contact_name(self, contact_id: str) -> str:
        contact = self._bot.Contact.load(contact_id)
        await self._call(lambda _: contact.ready())
        return str(contact.name or contact_id)

    # --- state and delivery ----------------------------------------------------------

    def _set_state(self, state: AccountStatus, detail: str) -> None:
        if state is self._state:
            return
        self._state = state
        log.info("%s: %s (%s)", self._account_id, state.value, detail)
        self._inbox.put_nowait(_StateChange(state, detail))

    async def _notify_state(self, change: _StateChange) -> None:
        if self._on_state is None:
            return
        try:
            await self._on_state(self._account_id, change.state, change.detail)
        except Exception:
            log.exception("%s: on_state handler failed", self._account_id)

    async def _deliver(self) -> None:
        """Hand states and converted messages to the handlers, in event order."""
        while True:
            item = await self._inbox.get()
            if isinstance(item, _StateChange):
                await self._notify_state(item)
                continue
            if isinstance(item, _FriendshipArrived):
                await self._deliver_friendship(item.friendship_id)
                continue
            incoming = await self._convert(item)
            if incoming is None or self._on_message is None:
                continue
            try:
                await self._on_message(incoming)
            except Exception:
                log.exception("%s: on_message handler failed for %s", self._account_id, item)

    async def _deliver_friendship(self, friendship_id: str) -> None:
        if self._on_friendship is None:
            return
        event = await self._convert_friendship(friendship_id)
        if event is None:
            return
        try:
            await self._on_friendship(event)
        except Exception:
            log.exception("%s: on_friendship handler failed for %s", self._account_id, event)

    async def _convert_friendship(self, friendship_id: str) -> FriendshipEvent | None:
        friendship = self._bot.Friendship.load(friendship_id)
        try:
            await asyncio.wait_for(friendship.ready(), self._call_timeout_s)
            kind = _FRIENDSHIP_KINDS.get(getattr(friendship.type(), "name", ""))
            if kind is None:
                return None  # VERIFY: our own request still waits for the other side
            contact_id = str(friendship.payload.contact_id)
            contact = await asyncio.wait_for(
                self._puppet.contact_payload(contact_id), self._call_timeout_s
            )
        except Exception as error:
            log.warning("%s: cannot load friendship %s: %r", self._account_id, friendship_id, error)
            return None
        return FriendshipEvent(
            friendship_id=friendship_id,
            account_id=self._account_id,
            contact_id=contact_id,
            name=str(contact.name or contact_id),
            kind=kind,
            hello=friendship.hello(),
            weixin=str(contact.weixin or ""),
            phones=tuple(str(phone) for phone in contact.phone or ()),
        )

    async def _convert(self, message_id: str) -> IncomingMessage | None:
        message = self._bot.Message.load(message_id)
        try:
            await asyncio.wait_for(message.ready(), self._call_timeout_s)
        except Exception as error:
            log.warning("%s: cannot load message %s: %r", self._account_id, message_id, error)
            return None
        payload = message.payload
        sender_id = str(payload.from_id)
        if sender_id and sender_id == self._self_id:
            return None
        room = message.room()
        type_name = getattr(message.type(), "name", "")
        return IncomingMessage(
            message_id=message_id,
            account_id=self._account_id,
            sender_id=sender_id,
            sender_name=str(message.talker().name or sender_id),
            kind=message_kind(type_name),
            text=str(payload.text or ""),
            sent_at=sent_at_from(float(payload.timestamp or 0)),
            room_id=str(room.room_id) if room is not None else None,
            room_topic=str(room.payload.topic) if room is not None else None,
            mention_ids=tuple(str(contact_id) for contact_id in payload.mention_ids or ()),
        )

    # --- connection ------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, wait for the stream to end, back off, reconnect; until stopped."""
        attempt = 0
        while not self._stopping:
            detail = await self._connect_once()
            if self._stopping:
                return
            self._set_state(AccountStatus.DISCONNECTED, detail)
            if self._logged_in_since_connect:
                attempt = 0
            delay = backoff_delay(attempt, self._reconnect, self._rng)
            attempt += 1
            log.info("%s: reconnecting in %.2f s", self._account_id, delay)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> str:
        """One connection: returns why it ended."""
        self._logged_in_since_connect = False
        host, port = self._split
        try:
            # python-wechaty first "pings" the endpoint with a blocking telnetlib connect
            # (up to 3 s per try); probing asynchronously first keeps a dead endpoint
            # from freezing the event loop on every retry.
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        except (OSError, TimeoutError) as error:
            return f"无法连接 {self._endpoint}：{error}"

        puppet = self._puppet
        # Room changes made while disconnected were not seen: forget the cached rooms.
        self._bot.Room._pool.clear()
        self._listen(puppet)
        self._last_event_at = asyncio.get_running_loop().time()
        connection = asyncio.create_task(puppet.start(), name=f"wechaty-{self._account_id}")
        watchdog = asyncio.create_task(self._watch_heartbeat())
        try:
            done, _ = await asyncio.wait(
                {connection, watchdog}, return_when=asyncio.FIRST_COMPLETED
            )
            if connection in done:
                failure = connection.exception()
                return "事件流已结束" if failure is None else f"连接中断：{failure!r}"
            return f"超过 {self._heartbeat_timeout_s} 秒没有收到心跳"
        finally:
            for task in (connection, watchdog):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._close_puppet()

    async def _watch_heartbeat(self) -> None:
        timeout = self._heartbeat_timeout_s
        if timeout is None:
            await asyncio.Event().wait()
            return
        loop = asyncio.get_running_loop()
        while True:
            silent_for = loop.time() - self._last_event_at
            if silent_for >= timeout:
                return
            await asyncio.sleep(timeout - silent_for)

    async def _close_puppet(self) -> None:
        """Stop the puppet (removes its listeners) and close the gRPC channel."""
        puppet = self._puppet
        try:
            await asyncio.wait_for(puppet.stop(), 2)
        except Exception as error:
            log.debug("%s: puppet stop failed: %r", self._account_id, error)
        channel = getattr(puppet, "channel", None)
        if channel is not None:
            channel.close()
            puppet.channel = None
        puppet._puppet_stub = None

    def _listen(self, puppet: Any) -> None:
        """Register this connection's listeners (``puppet.stop()`` removes them)."""
        loop = asyncio.get_running_loop()

        def seen() -> None:
            self._last_event_at = loop.time()

        def on_login(payload: Any) -> None:
            seen()
            self._self_id = str(payload.contact_id)
            self._logged_in_since_connect = True
            self._set_state(AccountStatus.ONLINE, "已登录")
            self._settled.set()

        def on_logout(payload: Any) -> None:
            seen()
            self._set_state(AccountStatus.LOGGED_OUT, str(payload.data or "已退出登录"))

        def on_scan(payload: Any) -> None:
            seen()
            self._set_state(AccountStatus.LOGGED_OUT, "等待扫码登录")
            self._settled.set()

        def on_message(payload: Any) -> None:
            seen()
            self._inbox.put_nowait(str(payload.message_id))

        def on_friendship(payload: Any) -> None:
            seen()
            self._inbox.put_nowait(_FriendshipArrived(str(payload.friendship_id)))

        def on_room_change(payload: Any) -> None:
            seen()
            # Topic and member ids live in the cached room payload: fetch it again.
            self._bot.Room._pool.pop(payload.room_id, None)

        def on_error(payload: Any) -> None:
            seen()
            log.warning("%s: puppet error: %s", self._account_id, getattr(payload, "data", payload))

        def on_other(*_: Any) -> None:
            seen()

        puppet.on("login", on_login)
        puppet.on("logout", on_logout)
        puppet.on("scan", on_scan)
        puppet.on("message", on_message)
        puppet.on("friendship", on_friendship)
        for event in ("room-join", "room-leave", "room-topic"):
            puppet.on(event, on_room_change)
        # pyee raises on an "error" event nobody listens to, which would end the stream.
        puppet.on("error", on_error)
        for event in ("heartbeat", "dong", "ready", "room-invite"):
            puppet.on(event, on_other)
