"""The bot side of the process: every account's transport, bindings, and replies.

One :class:`BotHub` owns the transports of all configured accounts. Each
incoming message goes to the dispatcher once; replies go out through the
account that saw the message, or another online account in the same room when
that one is throttled or gone.

Private messages go through an account that is a friend (好友) of the recipient: on
real WeChat an account writes privately only to its friends. The hub learns each
account's friends from the puppet (asked once per contact) and from the friend
requests it accepts, which it does for people in the roster only. A roster person
whom no account can reach is asked, by an @-mention in the group of the org unit
where they hold their post, to add the bot; what could not be sent is recorded
(:class:`models.chat.UnreachableContact`) and sent once they are a friend.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from bot import store
from bot.dispatcher import Dispatcher, GroupInfo, SenderInfo
from bot.transport import ChatTransport, FriendshipEvent, FriendshipKind, IncomingMessage
from core.messaging import (
    AccountUnavailable,
    NotAFriend,
    Reply,
    SenderState,
    SendFailed,
    SendThrottled,
    StateListener,
    TransportError,
    usable_burst,
)
from core.metrics import ACCOUNT_SENDS, REPLY_LATENCY
from models.db import run_in_session
from models.enums import AccountStatus
from orgtree.binding import Binding, TopicIndex

log = logging.getLogger(__name__)

T = TypeVar("T")


class NoAccountAvailable(Exception):
    """No online bot account can post in that room right now."""


FRIENDSHIP_RECHECK_S = 600.0
"""A "not a friend" answer is asked again after this long: an operator may have added
the person by hand on the phone, which no event reports."""

ASK_TO_BEFRIEND_EVERY = timedelta(hours=12)
"""How often a person nobody can reach privately is @-mentioned in their group at most."""

WELCOME_FRIEND = "您好，已通过您的好友申请。以后工单和通知的提醒会私信发给您。"


def befriend_request_text(name: str, account_name: str, held: int) -> str:
    """The @-mention that replaces a private message to someone who is nobody's friend.

    It says only that messages wait: a private text may name residents or phones and
    must not be posted in a group."""
    return (
        f"{name}您好：机器人有{held}条私信要发给您，但您还不是机器人的微信好友，发不出去。"
        f"请点开本群「{account_name}」的头像，添加到通讯录（验证消息请写您的姓名），"
        "通过后私信会补发给您。"
    )


@dataclass(slots=True)
class AccountRuntime:
    transport: ChatTransport
    rooms: set[str] = field(default_factory=set)
    throttled_until: float = 0.0
    friends: dict[str, bool] = field(default_factory=dict)
    """Contact id -> whether the account is their friend, as far as it is known."""
    not_friend_at: dict[str, float] = field(default_factory=dict)
    """When (monotonic) a contact was last found not to be a friend."""

    def learn_friend(self, contact_id: str, is_friend: bool) -> None:
        self.friends[contact_id] = is_friend
        if is_friend:
            self.not_friend_at.pop(contact_id, None)
        else:
            self.not_friend_at[contact_id] = time.monotonic()


class BotHub:
    """Every bot account of the process; the :class:`core.messaging.Messenger` of the
    broadcast engine."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        town: str,
        transports: Sequence[ChatTransport],
        topic_index: TopicIndex,
        clock: Callable[[], datetime],
        throttle_cooldown: timedelta = timedelta(seconds=60),
        limits: Mapping[str, tuple[float, int]] | None = None,
    ) -> None:
        """``limits``: (rate per second, burst) per account; no send ever goes faster."""
        self._engine = engine
        self._town = town
        self._index = topic_index
        self._clock = clock
        self._cooldown = throttle_cooldown
        self.accounts: dict[str, AccountRuntime] = {
            t.account_id: AccountRuntime(t) for t in transports
        }
        self.limits = dict(limits or {})
        self.limiters = {
            account_id: AsyncLimiter(usable_burst(burst), usable_burst(burst) / rate)
            for account_id, (rate, burst) in self.limits.items()
        }
        self._names: dict[str, str] = {}
        self._member_rooms: dict[str, set[str]] = {}
        """contact id -> the rooms they were seen in (room payloads at discovery, their
        messages since): where a private message's writer lives."""
        self._bind_lock = asyncio.Lock()
        self._discovery: asyncio.Task[None] | None = None
        self._stopping = False
        self._final_states: dict[str, tuple[AccountStatus, str]] = {}
        self.rooms_ready = asyncio.Event()
        self._state_listeners: list[StateListener] = []
        self.dispatcher = Dispatcher(self.resolve, clock=clock)
        self.handled = 0

    # --- database helpers ---------------------------------------------------------------

    async def run_db(self, fn: Callable[[Session], T]) -> T:
        return await run_in_session(self._engine, fn)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, names: Mapping[str, str] | None = None) -> None:
        """Log every account in; their rooms are then discovered in the background
        (see :attr:`rooms_ready`), so a process with thousands of rooms serves at once."""
        names = names or {}
        self._names = dict(names)
        await self.run_db(
            lambda s: store.ensure_accounts(s, [(a, names.get(a, a)) for a in self.accounts])
        )
        await asyncio.gather(*(self._start_one(rt) for rt in self.accounts.values()))
        self._discovery = asyncio.create_task(self._discover_all(), name="room-discovery")

    async def _start_one(self, runtime: AccountRuntime) -> None:
        try:
            await runtime.transport.start(self.on_message, self.on_state, self.on_friendship)
        except Exception as exc:  # one account failing to start must not stop the others
            log.error("account %s did not start: %s", runtime.transport.account_id, exc)
            await self.on_state(
                runtime.transport.account_id, AccountStatus.DISCONNECTED, f"启动失败：{exc}"
            )

    async def _discover_all(self) -> None:
        started = time.perf_counter()
        try:
            await asyncio.gather(*(self.discover_rooms(a) for a in self.accounts))
        finally:
            self.rooms_ready.set()
        log.info(
            "rooms of %d accounts discovered in %.1f s",
            len(self.accounts),
            time.perf_counter() - started,
        )

    async def wait_rooms(self, timeout_s: float = 120.0) -> bool:
        """Until every account's rooms are known (False when that took too long)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.rooms_ready.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop every account; their final states are stored in one transaction."""
        self._stopping = True
        if self._discovery is not None and not self._discovery.done():
            self._discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._discovery
        await asyncio.gather(
            *(rt.transport.stop() for rt in self.accounts.values()), return_exceptions=True
        )
        final, self._final_states = dict(self._final_states), {}
        now = self._clock()

        def write(session: Session) -> None:
            for account_id, (state, detail) in final.items():
                store.record_account_state(
                    session,
                    account_id=account_id,
                    status=AccountStatus(state.value),
                    detail=detail,
                    now=now,
                )

        if final:
            await self.run_db(write)

    async def discover_rooms(self, account_id: str) -> None:
        """Bind the rooms the puppet reports. The list may be incomplete: rooms are also
        bound lazily when their first message arrives."""
        runtime = self.accounts[account_id]
        try:
            rooms = await runtime.transport.rooms()
        except TransportError as exc:
            log.warning("account %s: cannot list rooms: %s", account_id, exc)
            return
        for room in rooms:
            for member in room.member_ids:
                self._member_rooms.setdefault(member, set()).add(room.room_id)
        await self._bind(account_id, [(r.room_id, r.topic) for r in rooms])

    async def _bind(self, account_id: str, rooms: Sequence[tuple[str, str]]) -> None:
        now = self._clock()

        seen = []
        for room_id, topic in rooms:
            result = self._index.bind(room_id, topic)
            if isinstance(result, Binding):
                seen.append(store.RoomSeen(room_id, topic, result.path, result.bound_by, ""))
            else:
                log.warning("account %s: room %s not bound: %s", account_id, room_id, result.reason)
                seen.append(store.RoomSeen(room_id, topic, None, "", result.reason))

        def write(session: Session) -> int:
            return store.record_rooms(
                session, town=self._town, account_id=account_id, rooms=seen, now=now
            )

        async with self._bind_lock:
            await self.run_db(write)
        runtime = self.accounts[account_id]
        runtime.rooms.update(room_id for room_id, _topic in rooms)

    # --- events -------------------------------------------------------------------------

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener(account_id, status)`` on every account state change (the
        broadcast engine re-plans on it)."""
        self._state_listeners.append(listener)

    async def on_state(self, account_id: str, state: AccountStatus, detail: str) -> None:
        log.info("account %s: %s %s", account_id, state.value, detail)
        # Listeners first: a broadcast re-plans within the event, not after a database write.
        for listener in self._state_listeners:
            try:
                listener(account_id, state)
            except Exception:
                log.exception("account %s: state listener failed", account_id)
        if self._stopping:  # stored together by stop(), not one transaction per account
            self._final_states[account_id] = (state, detail)
            return
        runtime = self.accounts.get(account_id)
        until = None
        if state is AccountStatus.THROTTLED and runtime is not None:
            runtime.throttled_until = time.monotonic() + self._cooldown.total_seconds()
            until = self._clock() + self._cooldown
        now = self._clock()
        await self.run_db(
            lambda s: store.record_account_state(
                s,
                account_id=account_id,
                status=AccountStatus(state.value),
                detail=detail,
                now=now,
                throttled_until=until,
            )
        )

    async def on_message(self, message: IncomingMessage) -> None:
        arrived = time.monotonic()
        runtime = self.accounts.get(message.account_id)
        if runtime is not None and message.room_id and message.room_id not in runtime.rooms:
            await self._bind(message.account_id, [(message.room_id, message.room_topic or "")])
        if message.room_id:
            self._member_rooms.setdefault(message.sender_id, set()).add(message.room_id)
        try:
            replies = await self.dispatcher.feed_message(message)
        except Exception:
            log.exception("message %s could not be handled", message.message_id)
            return
        self.handled += 1
        for reply in replies:
            try:
                await self.send(reply, prefer=message.account_id)
            except (NoAccountAvailable, TransportError) as exc:
                log.error("reply to %s not sent: %s", message.message_id, exc)
            else:
                if reply.room_id is not None and reply.room_id == message.room_id:
                    REPLY_LATENCY.observe(time.monotonic() - arrived)

    async def on_friendship(self, event: FriendshipEvent) -> None:
        """Accept friend requests from people in the roster and from residents who wrote
        in a group of the town (the bot read them there); ignore (and log) the others.

        Once friends, the account carries their private messages, and what was held
        for them goes out."""
        runtime = self.accounts.get(event.account_id)
        if runtime is None:
            return
        contact_ids = [event.contact_id]
        if event.kind is FriendshipKind.REQUEST:
            person = await self.run_db(
                lambda s: store.roster_person_asking(
                    s, event.contact_id, weixin=event.weixin, phones=event.phones
                )
            )
            resident = (
                None
                if person is not None
                else await self.run_db(lambda s: store.resident_room(s, event.contact_id))
            )
            if person is None and resident is None:
                log.info(
                    "account %s: friend request from %s (%s, 「%s」) ignored: not in the roster"
                    " and never wrote in a group of the town",
                    event.account_id,
                    event.name,
                    event.contact_id,
                    event.hello,
                )
                return
            try:
                await runtime.transport.accept_friendship(event.friendship_id)
            except TransportError as exc:
                log.warning(
                    "account %s: friend request of %s not accepted: %s",
                    event.account_id,
                    event.contact_id,
                    exc,
                )
                return
            log.info(
                "account %s: accepted the friend request of %s (%s)",
                event.account_id,
                person.name if person is not None else f"resident {event.name}",
                event.contact_id,
            )
            if person is not None and person.contact_id != event.contact_id:
                # Matched by WeChat id or phone: the roster addresses them differently.
                log.warning(
                    "roster person %s is %s on WeChat, but the roster gives %s: fix the roster",
                    person.name,
                    event.contact_id,
                    person.contact_id,
                )
                contact_ids.append(person.contact_id)
        runtime.learn_friend(event.contact_id, True)
        now = self._clock()
        held = await self.run_db(
            lambda s: store.mark_reachable(s, contact_ids=contact_ids, now=now)
        )
        texts = ([WELCOME_FRIEND] if event.kind is FriendshipKind.REQUEST else []) + held
        for text in texts:
            try:
                await self.send_as(event.account_id, Reply(text, contact_id=event.contact_id))
            except TransportError as exc:
                log.error(
                    "account %s: held message to %s not sent: %s",
                    event.account_id,
                    event.contact_id,
                    exc,
                )

    async def resolve(self, message: IncomingMessage) -> tuple[SenderInfo, GroupInfo | None]:
        def read(session: Session) -> tuple[SenderInfo, GroupInfo | None]:
            sender = store.sender_info(
                session, message.sender_id, message.sender_name, town=self._town
            )
            if message.room_id:
                return sender, store.group_info(session, message.room_id, town=self._town)
            homes = store.home_groups(
                session, message.sender_id, room_ids=self._member_rooms.get(message.sender_id, ())
            )
            return dataclasses.replace(sender, home_groups=homes), None

        return await self.run_db(read)

    # --- sending ------------------------------------------------------------------------

    def _usable(self, runtime: AccountRuntime) -> bool:
        return (
            runtime.transport.state is AccountStatus.ONLINE
            and runtime.throttled_until <= time.monotonic()
        )

    def candidates(self, room_id: str | None, prefer: str | None = None) -> list[str]:
        """Online accounts that can post in ``room_id`` (any account for private messages)."""
        ids = [
            a
            for a, rt in self.accounts.items()
            if self._usable(rt) and (room_id is None or room_id in rt.rooms)
        ]
        if prefer in ids:
            ids.remove(prefer)
            ids.insert(0, prefer)
        return ids

    async def send_as(self, account_id: str, reply: Reply) -> str:
        """Post through one account, within its rate limit; errors are the transport's."""
        transport = self.accounts[account_id].transport
        limiter = self.limiters.get(account_id)
        if limiter is not None:
            await limiter.acquire()
        try:
            if reply.attachment is not None:
                message_id = await transport.send_file(
                    reply.attachment, room_id=reply.room_id, contact_id=reply.contact_id
                )
            elif reply.room_id is not None:
                message_id = await transport.say(reply.room_id, reply.text, reply.mention_ids)
            else:
                assert reply.contact_id is not None
                message_id = await transport.say_private(reply.contact_id, reply.text)
        except SendThrottled:
            ACCOUNT_SENDS.labels(account_id, "throttled").inc()
            raise
        except AccountUnavailable:
            ACCOUNT_SENDS.labels(account_id, "unavailable").inc()
            raise
        except Exception:
            ACCOUNT_SENDS.labels(account_id, "failed").inc()
            raise
        ACCOUNT_SENDS.labels(account_id, "sent").inc()
        return message_id

    def mark_throttled(self, account_id: str, retry_after_s: float | None) -> float:
        """Keep the account out of use for its cool-down; returns seconds until usable."""
        wait = retry_after_s or self._cooldown.total_seconds()
        self.accounts[account_id].throttled_until = time.monotonic() + wait
        return wait

    def sender_states(self) -> list[SenderState]:
        """Every account's state, throttling and configured limits, as a plan needs them."""
        mono = time.monotonic()
        out = []
        for account_id, runtime in self.accounts.items():
            rate, burst = self.limits.get(account_id, (1.0, 1))
            out.append(
                SenderState(
                    account_id=account_id,
                    status=runtime.transport.state,
                    throttled_for_s=max(0.0, runtime.throttled_until - mono),
                    rate=rate,
                    burst=burst,
                )
            )
        return out

    def usable(self, account_id: str) -> bool:
        runtime = self.accounts.get(account_id)
        return runtime is not None and self._usable(runtime)

    async def send(self, reply: Reply, *, prefer: str | None = None) -> str:
        """Post a reply, falling back to other accounts in the room; returns the message id.

        A private reply goes through an account that is the recipient's friend; see
        :meth:`send_private`."""
        if reply.room_id is None:
            return await self.send_private(reply, prefer=prefer)
        last_error: TransportError | None = None
        for account_id in self.candidates(reply.room_id, prefer):
            try:
                return await self.send_as(account_id, reply)
            except SendThrottled as exc:
                self.mark_throttled(account_id, exc.retry_after_s)
                last_error = exc
            except (AccountUnavailable, SendFailed) as exc:
                last_error = exc
                if isinstance(exc, SendFailed) and exc.permanent and reply.room_id:
                    self.accounts[account_id].rooms.discard(reply.room_id)
        if last_error is not None:
            raise last_error
        raise NoAccountAvailable(
            f"没有可用的机器人账号能在群 {reply.room_id or reply.contact_id} 发言"
        )

    # --- private messages and friendship ------------------------------------------------

    async def _knows_friend(self, account_id: str, contact_id: str) -> bool | None:
        """Whether the account is the contact's friend: remembered, else asked once."""
        runtime = self.accounts[account_id]
        known = runtime.friends.get(contact_id)
        stale = (
            known is False
            and time.monotonic() - runtime.not_friend_at.get(contact_id, 0.0)
            >= FRIENDSHIP_RECHECK_S
        )
        if known is not None and not stale:
            return known
        try:
            known = await runtime.transport.is_friend(contact_id)
        except TransportError as exc:
            log.debug("account %s: friendship with %s unknown: %s", account_id, contact_id, exc)
            return None
        if known is not None:
            runtime.learn_friend(contact_id, known)
        return known

    async def send_private(self, reply: Reply, *, prefer: str | None = None) -> str:
        """Send privately through an online account that is a friend of the recipient.

        When no account is, a roster person is @-mentioned in their own group and asked
        to add the bot; the text is held until they do (returns the mention's message
        id, or "" while they were asked recently). Raises :class:`NotAFriend` for
        anyone else, :class:`NoAccountAvailable` or the send error when a friend
        account exists but cannot send now."""
        contact_id = reply.contact_id
        assert contact_id is not None
        online = self.candidates(None, prefer)
        # Known friends first, then accounts that have not said; known non-friends never.
        online.sort(
            key=lambda a: {True: 0, None: 1}.get(self.accounts[a].friends.get(contact_id), 2)
        )
        last_error: TransportError | None = None
        for account_id in online:
            if await self._knows_friend(account_id, contact_id) is False:
                continue
            try:
                message_id = await self.send_as(account_id, reply)
            except NotAFriend:
                self.accounts[account_id].learn_friend(contact_id, False)
                continue
            except SendThrottled as exc:
                self.mark_throttled(account_id, exc.retry_after_s)
                last_error = exc
                continue
            except (AccountUnavailable, SendFailed) as exc:
                last_error = exc
                continue
            self.accounts[account_id].learn_friend(contact_id, True)
            return message_id
        if last_error is not None:
            raise last_error  # a friend account exists but could not send now: retry later
        if not online:
            raise NoAccountAvailable(f"没有在线的机器人账号能私信 {contact_id}")
        if any(rt.friends.get(contact_id) for a, rt in self.accounts.items() if a not in online):
            raise NoAccountAvailable(f"{contact_id} 的好友账号现在都不在线")
        return await self._ask_to_befriend(reply)

    async def _ask_to_befriend(self, reply: Reply) -> str:
        contact_id = reply.contact_id
        assert contact_id is not None
        person = await self.run_db(lambda s: store.roster_contact(s, contact_id))
        if person is None:
            # A resident who is nobody's friend: the follow-up of their report goes to the
            # group they wrote in, @-mentioning them, rather than nowhere.
            room = await self.run_db(lambda s: store.resident_room(s, contact_id))
            if room is not None and self.candidates(room):
                log.info("private message to resident %s posted in their group instead", contact_id)
                return await self.send(Reply(reply.text, room_id=room, mention_ids=(contact_id,)))
        room_id = None
        if person is not None:
            room_id = next((r for r in person.post_room_ids if self.candidates(r)), None)
        now = self._clock()
        ask = await self.run_db(
            lambda s: store.record_unreachable(
                s,
                contact_id=contact_id,
                person_id=person.person_id if person else None,
                name=person.name if person else "",
                text=reply.text,
                room_id=room_id,
                now=now,
                ask_every=ASK_TO_BEFRIEND_EVERY,
            )
        )
        if person is None or room_id is None:
            log.warning(
                "private message to %s not sent: no bot account is their friend", contact_id
            )
            raise NotAFriend("所有账号", "没有哪个机器人账号是对方的好友", contact_id=contact_id)
        log.warning(
            "private message to %s (%s) held: no bot account is their friend%s",
            person.name,
            contact_id,
            "; asking them in their group" if ask else "",
        )
        if not ask:
            return ""
        account_id = self.candidates(room_id)[0]
        held = await self.run_db(lambda s: store.held_count(s, contact_id))
        text = befriend_request_text(person.name, self._names.get(account_id, account_id), held)
        return await self.send(
            Reply(text, room_id=room_id, mention_ids=(contact_id,)), prefer=account_id
        )
