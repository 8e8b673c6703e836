"""The simulated WeChat as one object: world, risk control and one puppet service per account.

Tests and the control plane call the plain methods of :class:`Sandbox`; the bots
reach it only through gRPC (:mod:`sandbox.puppet_service`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import wechaty_grpc.wechaty.puppet as pb
from grpclib.server import Server

from sandbox import puppet_service
from sandbox.errors import InvalidRequest, NotFound, SandboxError, Throttled
from sandbox.puppet_service import PuppetServicer
from sandbox.risk import RiskControl, SandboxRiskSettings
from sandbox.world import (
    Contact,
    FriendRequest,
    FriendshipKind,
    FriendshipStatus,
    MemberSpec,
    Message,
    MessageKind,
    Room,
    World,
    WorldSpec,
    parse_kind,
)

log = logging.getLogger(__name__)

EventQueue = asyncio.Queue[pb.EventResponse | None]
"""One connected event stream; ``None`` tells the stream to end."""


@dataclass(frozen=True, slots=True)
class RoomView:
    room_id: str
    topic: str
    org_unit: str
    member_count: int
    member_names: tuple[str, ...]
    """Display names (room alias, else name) of the people, bot accounts excluded;
    empty when listed without members."""
    bot_account_ids: tuple[str, ...]
    dissolved: bool


@dataclass(frozen=True, slots=True)
class MemberView:
    contact_id: str
    name: str
    room_alias: str
    is_bot: bool


@dataclass(frozen=True, slots=True)
class MessageView:
    message_id: str
    seq: int
    kind: MessageKind
    text: str
    sender_id: str
    sender_name: str
    sender_is_bot: bool
    sent_at: datetime
    room_id: str | None
    to_id: str | None
    mention_ids: tuple[str, ...]
    mention_names: tuple[str, ...]
    file_name: str = ""
    """For a file or image message: its name (the bytes: ``/api/messages/<id>/file``)."""
    media_type: str = ""


@dataclass(frozen=True, slots=True)
class FriendRequestView:
    friendship_id: str
    account_id: str
    contact_id: str
    contact_name: str
    kind: FriendshipKind
    """``incoming``: the contact asked the account; ``outgoing``: the account asked."""
    status: FriendshipStatus
    hello: str
    scene: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FriendsView:
    account_id: str
    modelled: bool
    """False when the world does not model friendship (everyone is a friend)."""
    friends: tuple[MemberView, ...]
    requests: tuple[FriendRequestView, ...]


@dataclass(frozen=True, slots=True)
class AccountView:
    account_id: str
    name: str
    endpoint: str
    token: str
    logged_in: bool
    event_streams: int
    rate_per_s: float
    burst: int
    cooldown_remaining_s: float
    sent: int
    throttled: int
    failed: int
    events_delivered: int
    events_missed: int
    """Events published while no stream was connected: lost, as with a real gateway."""
    room_count: int


@dataclass(slots=True)
class _AccountStats:
    sent: int = 0
    throttled: int = 0
    failed: int = 0
    events_delivered: int = 0
    events_missed: int = 0


class Sandbox:
    """A simulated WeChat serving every bot account as a Wechaty Puppet Service.

    Each account gets its own grpclib server on ``host`` and an OS-chosen port;
    :meth:`endpoint` and :meth:`token` are what the account's bot connects with.
    """

    def __init__(
        self,
        spec: WorldSpec,
        *,
        risk: SandboxRiskSettings | None = None,
        host: str = "127.0.0.1",
        heartbeat_interval_s: float = 15.0,
        echo_bot_messages: bool = False,
        message_id_prefix: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Message ids are ``message_id_prefix`` + a sequence number; the default prefix
        is random, so the ids of two sandboxes in one process differ.

        ``echo_bot_messages``: also deliver what a bot sends as a message event to the
        bot accounts in that conversation, sender included (real puppets do; off by
        default so a broadcast does not flood the other bots). ``clock`` drives risk
        control, ``wall_clock`` the message timestamps; tests may pass fakes.
        """
        if message_id_prefix is None:
            message_id_prefix = f"{secrets.token_hex(3)}-"
        self.world = World(spec, message_id_prefix=message_id_prefix)
        self._risk = RiskControl(risk)
        self._host = host
        self._heartbeat_interval_s = heartbeat_interval_s
        self._echo_bot_messages = echo_bot_messages
        self._clock = clock
        self._wall_clock = wall_clock
        self._subscribers: dict[str, set[EventQueue]] = {}
        self._stats: dict[str, _AccountStats] = {}
        self._servers: dict[str, Server] = {}
        self._ports: dict[str, int] = {}
        self._heartbeat_task: asyncio.Task[None] | None = None
        now = clock()
        for account in self.world.accounts.values():
            self._subscribers[account.account_id] = set()
            self._stats[account.account_id] = _AccountStats()
            self._risk.add_account(
                account.account_id, rate_per_s=account.rate_per_s, burst=account.burst, now=now
            )

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start one puppet service per account on an OS-chosen port."""
        if self._servers:
            raise RuntimeError("sandbox already started")
        try:
            for account in self.world.accounts.values():
                server = Server([PuppetServicer(self, account.account_id)])
                listener = _listening_socket(self._host)
                try:
                    await server.start(sock=listener)
                except BaseException:
                    listener.close()
                    raise
                self._ports[account.account_id] = listener.getsockname()[1]
                self._servers[account.account_id] = server
        except BaseException:
            await self.stop()
            raise
        if self._heartbeat_interval_s > 0:
            self._heartbeat_task = asyncio.create_task(self._beat(), name="sandbox-heartbeat")

    async def stop(self) -> None:
        """End every event stream and close the servers."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        for account_id in self._subscribers:
            self.drop_event_stream(account_id)
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.close()
        try:  # all at once: one slow server must not make the others wait their turn
            async with asyncio.timeout(5):
                await asyncio.gather(*(server.wait_closed() for server in servers))
        except TimeoutError:
            log.warning("a sandbox puppet service did not close within 5 s")
        self._ports.clear()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval_s)
            for account_id in self._subscribers:
                self.publish(account_id, puppet_service.heartbeat_event(), count=False)

    # --- connection details ----------------------------------------------------------

    @property
    def account_ids(self) -> list[str]:
        return list(self.world.accounts)

    def endpoint(self, account_id: str) -> str:
        """``host:port`` of the account's puppet service (after :meth:`start`)."""
        self.world.account(account_id)
        port = self._ports.get(account_id)
        if port is None:
            raise RuntimeError("sandbox not started")
        return f"{self._host}:{port}"

    def token(self, account_id: str) -> str:
        return self.world.account(account_id).token

    @property
    def risk_settings(self) -> SandboxRiskSettings:
        return self._risk.settings

    # --- event streams ---------------------------------------------------------------

    def subscribe(self, account_id: str) -> EventQueue:
        """A new event stream: heartbeat, then login (or a QR-code wait), then live events."""
        account = self.world.account(account_id)
        queue: EventQueue = asyncio.Queue()
        queue.put_nowait(puppet_service.heartbeat_event())
        if account.logged_in:
            queue.put_nowait(puppet_service.login_event(account_id))
        else:
            queue.put_nowait(puppet_service.scan_event(self._qrcode(account_id)))
        self._subscribers[account_id].add(queue)
        return queue

    def unsubscribe(self, account_id: str, queue: EventQueue) -> None:
        self._subscribers[account_id].discard(queue)

    def publish(self, account_id: str, event: pb.EventResponse, *, count: bool = True) -> None:
        """Deliver an event to the account's connected streams; lost if none is connected."""
        queues = self._subscribers[account_id]
        if count:
            stats = self._stats[account_id]
            if queues:
                stats.events_delivered += 1
            else:
                stats.events_missed += 1
        for queue in queues:
            queue.put_nowait(event)

    def _publish_many(self, account_ids: Iterable[str], event: pb.EventResponse) -> None:
        for account_id in account_ids:
            self.publish(account_id, event)

    def _qrcode(self, account_id: str) -> str:
        return f"https://login.weixin.qq.com/l/sandbox-{account_id}"

    def _now_ms(self) -> int:
        return int(self._wall_clock() * 1000)

    # --- people: what residents and leaders do ---------------------------------------

    def post_message(
        self,
        room: str,
        sender: str,
        text: str = "",
        *,
        kind: str | MessageKind = MessageKind.TEXT,
        mention: Sequence[str] = (),
    ) -> MessageView:
        """A member writes in a room; every logged-in bot account in it gets the same message id.

        ``room`` is a room id or exact topic; ``sender`` and ``mention`` entries are
        contact ids, names or room aliases of members.
        """
        target = self.world.find_room(room)
        sender_id = self.world.find_member(target, sender)
        if sender_id in target.bot_ids:
            raise InvalidRequest("机器人账号的消息请通过 puppet service 发送")
        mention_ids = [self.world.find_member(target, ref) for ref in mention]
        message = self.world.post_room_message(
            target.room_id,
            sender_id,
            kind=_kind(kind),
            text=text,
            now_ms=self._now_ms(),
            mention_ids=mention_ids,
        )
        self._publish_many(
            self.world.room_recipients(target), puppet_service.message_event(message.message_id)
        )
        return self._message_view(message)

    def post_private(
        self,
        account_id: str,
        sender: str,
        text: str = "",
        *,
        kind: str | MessageKind = MessageKind.TEXT,
    ) -> MessageView:
        """A contact (id or unique name) writes to a bot account privately."""
        account = self.world.account(account_id)
        contact = self.world.find_contact(sender)
        if contact.is_bot:
            raise InvalidRequest("机器人账号的消息请通过 puppet service 发送")
        message = self.world.post_private_message(
            account_id,
            contact.contact_id,
            from_account=False,
            kind=_kind(kind),
            text=text,
            now_ms=self._now_ms(),
        )
        if account.logged_in:
            self.publish(account_id, puppet_service.message_event(message.message_id))
        return self._message_view(message)

    # --- friendship: what people do ---------------------------------------------------

    def request_friend(
        self,
        account_id: str,
        contact: str,
        hello: str = "",
        *,
        name: str | None = None,
        phone: str = "",
        weixin: str = "",
    ) -> FriendRequestView:
        """A person asks a bot account to be friends (加好友); the account gets a friendship event.

        ``contact`` is a contact id or unique name. A person WeChat does not know yet
        (not in any room) is created when ``name`` is given, with ``phone``/``weixin``.
        """
        self.world.account(account_id)
        known = self.world.contacts.get(contact)
        if known is None and name is not None:
            try:
                known = self.world.add_contact(
                    MemberSpec(contact, name, phone=phone, weixin=weixin)
                )
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
        target = known or self.world.find_contact(contact)
        if target.is_bot:
            raise InvalidRequest("机器人账号之间不加好友")
        scene = "room" if target.contact_id in self.world.contact_ids_of(account_id) else "phone"
        request = self.world.request_friendship(
            account_id,
            target.contact_id,
            kind=FriendshipKind.INCOMING,
            hello=hello,
            scene=scene,
            now_ms=self._now_ms(),
        )
        if self.world.accounts[account_id].logged_in:
            self.publish(account_id, puppet_service.friendship_event(request.friendship_id))
        return self._friend_request_view(request)

    def accept_friend_request(self, friendship_id: str) -> FriendRequestView:
        """A pending request is accepted outside the bot: the person accepts the account's
        request, or the account's operator accepts a person's request by hand on the phone.
        The account gets a friendship (confirm) event."""
        request = self.world.friend_request(friendship_id)
        self.world.accept_friendship(
            friendship_id, by_account=request.kind is FriendshipKind.INCOMING
        )
        if self.world.accounts[request.account_id].logged_in:
            self.publish(request.account_id, puppet_service.friendship_event(friendship_id))
        return self._friend_request_view(request)

    def remove_friend(self, account_id: str, contact: str) -> None:
        """The person deletes the bot account: its private messages to them fail again."""
        self.world.remove_friend(account_id, self.world.find_contact(contact).contact_id)

    def friends(self, account_id: str) -> FriendsView:
        self.world.account(account_id)
        modelled = self.world.friends is not None
        friend_ids = self.world.friend_ids_of(account_id) if modelled else []
        return FriendsView(
            account_id=account_id,
            modelled=modelled,
            friends=tuple(
                MemberView(c, self.world.contacts[c].name, "", False) for c in friend_ids
            ),
            requests=tuple(
                self._friend_request_view(r)
                for r in self.world.friend_requests.values()
                if r.account_id == account_id
            ),
        )

    def is_friend(self, account_id: str, contact: str) -> bool:
        self.world.account(account_id)
        return self.world.is_friend(account_id, self.world.find_contact(contact).contact_id)

    def _friend_request_view(self, request: FriendRequest) -> FriendRequestView:
        return FriendRequestView(
            friendship_id=request.friendship_id,
            account_id=request.account_id,
            contact_id=request.contact_id,
            contact_name=self.world.display_name(request.contact_id),
            kind=request.kind,
            status=request.status,
            hello=request.hello,
            scene=request.scene,
            created_at=datetime.fromtimestamp(request.created_ms / 1000, UTC),
        )

    # --- views -----------------------------------------------------------------------

    def rooms(self, query: str = "", *, with_members: bool = True) -> list[RoomView]:
        """Rooms whose topic, id or org unit contains ``query``; all when empty."""
        return [self._room_view(room, with_members) for room in self.world.search_rooms(query)]

    def room(self, room: str, *, with_members: bool = True) -> RoomView:
        return self._room_view(self.world.find_room(room), with_members)

    def room_members(self, room: str) -> list[MemberView]:
        target = self.world.find_room(room)
        return [
            MemberView(
                contact_id=contact_id,
                name=self.world.contacts[contact_id].name,
                room_alias=alias,
                is_bot=contact_id in self.world.accounts,
            )
            for contact_id, alias in target.aliases.items()
        ]

    def transcript(self, room: str, *, since_seq: int = 0) -> list[MessageView]:
        """The room's messages (residents' and bots'), after ``since_seq`` when given."""
        target = self.world.find_room(room)
        return [
            self._message_view(message)
            for message in self.world.room_transcript(target, since_seq=since_seq)
        ]

    def private_transcript(self, account_id: str, contact: str) -> list[MessageView]:
        self.world.account(account_id)
        contact_id = self.world.find_contact(contact).contact_id
        return [
            self._message_view(message)
            for message in self.world.private_transcript(account_id, contact_id)
        ]

    def message(self, message_id: str) -> MessageView:
        message = self.world.messages.get(message_id)
        if message is None:
            raise NotFound(f"消息不存在：{message_id}")
        return self._message_view(message)

    def accounts(self) -> list[AccountView]:
        return [self.account(account_id) for account_id in self.world.accounts]

    def account(self, account_id: str) -> AccountView:
        account = self.world.account(account_id)
        stats = self._stats[account_id]
        rate, burst = self._risk.limits(account_id)
        port = self._ports.get(account_id)
        return AccountView(
            account_id=account_id,
            name=account.name,
            endpoint=f"{self._host}:{port}" if port is not None else "",
            token=account.token,
            logged_in=account.logged_in,
            event_streams=len(self._subscribers[account_id]),
            rate_per_s=rate,
            burst=burst,
            cooldown_remaining_s=self._risk.cooldown_remaining(account_id, self._clock()),
            sent=stats.sent,
            throttled=stats.throttled,
            failed=stats.failed,
            events_delivered=stats.events_delivered,
            events_missed=stats.events_missed,
            room_count=len(self.world.room_ids_of(account_id)),
        )

    def _room_view(self, room: Room, with_members: bool) -> RoomView:
        names: tuple[str, ...] = ()
        if with_members:
            names = tuple(
                self.world.display_name(contact_id, room)
                for contact_id in room.aliases
                if contact_id not in room.bot_ids
            )
        return RoomView(
            room_id=room.room_id,
            topic=room.topic,
            org_unit=room.org_unit,
            member_count=len(room.aliases),
            member_names=names,
            bot_account_ids=tuple(room.bot_ids),
            dissolved=room.dissolved,
        )

    def _message_view(self, message: Message) -> MessageView:
        room = self.world.rooms.get(message.room_id) if message.room_id else None
        return MessageView(
            message_id=message.message_id,
            seq=message.seq,
            kind=message.kind,
            text=message.text,
            sender_id=message.sender_id,
            sender_name=self.world.display_name(message.sender_id, room),
            sender_is_bot=message.sender_id in self.world.accounts,
            sent_at=datetime.fromtimestamp(message.timestamp_ms / 1000, UTC),
            room_id=message.room_id,
            to_id=message.to_id,
            mention_ids=message.mention_ids,
            mention_names=tuple(
                self.world.display_name(contact_id, room) for contact_id in message.mention_ids
            ),
            file_name=message.file_name,
            media_type=message.media_type,
        )

    # --- faults and operator actions -------------------------------------------------

    def logout(self, account_id: str, reason: str = "账号在其他设备登录，已被迫下线") -> None:
        """Log the account out: a logout event, then a QR-code wait; its RPCs fail until login."""
        account = self.world.account(account_id)
        if not account.logged_in:
            return
        account.logged_in = False
        self.publish(account_id, puppet_service.logout_event(account_id, reason))
        self.publish(account_id, puppet_service.scan_event(self._qrcode(account_id)), count=False)

    def login(self, account_id: str) -> None:
        """Log the account back in (the QR code was scanned); a login event follows."""
        account = self.world.account(account_id)
        if account.logged_in:
            return
        account.logged_in = True
        self.publish(account_id, puppet_service.login_event(account_id))

    def drop_event_stream(self, account_id: str) -> int:
        """End the account's event streams from the server side; returns how many ended."""
        self.world.account(account_id)
        queues = self._subscribers[account_id]
        ended = len(queues)
        for queue in queues:
            queue.put_nowait(None)
        queues.clear()
        return ended

    def emit_error(self, account_id: str, text: str) -> None:
        """An error event on the account's stream, as puppets report internal trouble."""
        self.world.account(account_id)
        self.publish(account_id, puppet_service.error_event(text), count=False)

    def set_risk(self, **changes: Any) -> SandboxRiskSettings:
        """Change risk settings (validated); raises :class:`InvalidRequest` on a bad value."""
        try:
            return self._risk.update(changes, now=self._clock())
        except ValueError as exc:
            raise InvalidRequest(f"风控参数无效：{exc}") from None

    def set_account_limits(
        self, account_id: str, *, rate_per_s: float | None, burst: int | None
    ) -> None:
        """Override one account's send budget (``None`` = the settings' default)."""
        self.world.account(account_id)
        try:
            self._risk.set_account_limits(
                account_id, rate_per_s=rate_per_s, burst=burst, now=self._clock()
            )
        except ValueError as exc:
            raise InvalidRequest(f"风控参数无效：{exc}") from None

    def unfreeze(self, account_id: str) -> None:
        """End a cool-down and refill the account's budget."""
        self.world.account(account_id)
        self._risk.reset_account(account_id, self._clock())

    def dissolve_room(self, room: str) -> RoomView:
        """The owner dissolves the room: the bots get a room-leave, later sends NOT_FOUND."""
        target = self.world.find_room(room)
        recipients = self.world.room_recipients(target)
        self.world.dissolve(target.room_id)
        event = puppet_service.room_leave_event(
            target.room_id, sorted(target.bot_ids), target.owner_id, self._now_ms()
        )
        self._publish_many(recipients, event)
        return self._room_view(target, False)

    def remove_from_room(self, room: str, member: str, *, remover: str | None = None) -> None:
        """Remove a member (a bot account too); the room's bots, the removed one included,
        get a room-leave event. Later sends of a removed bot fail FAILED_PRECONDITION."""
        target = self.world.find_room(room)
        contact_id = self.world.find_member(target, member)
        remover_id = self.world.find_member(target, remover) if remover else target.owner_id
        recipients = self.world.room_recipients(target)
        self.world.remove_member(target.room_id, contact_id)
        self._publish_many(
            recipients,
            puppet_service.room_leave_event(
                target.room_id, [contact_id], remover_id, self._now_ms()
            ),
        )

    def add_to_room(
        self,
        room: str,
        member: MemberSpec,
        *,
        inviter: str | None = None,
    ) -> None:
        """Add a person or a bot account; the room's bots get a room-join event."""
        target = self.world.find_room(room)
        inviter_id = self.world.find_member(target, inviter) if inviter else target.owner_id
        self.world.add_member(target.room_id, member)
        self._publish_many(
            self.world.room_recipients(target),
            puppet_service.room_join_event(
                target.room_id, [member.contact_id], inviter_id, self._now_ms()
            ),
        )

    def set_topic(self, room: str, topic: str, *, changer: str | None = None) -> None:
        """Rename a room; its bots get a room-topic event."""
        target = self.world.find_room(room)
        changer_id = self.world.find_member(target, changer) if changer else target.owner_id
        old = self.world.set_topic(target.room_id, topic)
        self._publish_many(
            self.world.room_recipients(target),
            puppet_service.room_topic_event(target.room_id, topic, old, changer_id, self._now_ms()),
        )

    # --- the puppet service side (called by PuppetServicer) --------------------------

    def puppet_contact(self, account_id: str, contact_id: str) -> Contact:
        self.world.require_logged_in(account_id)
        return self.world.contact(contact_id)

    def puppet_contact_ids(self, account_id: str) -> list[str]:
        self.world.require_logged_in(account_id)
        return self.world.contact_ids_of(account_id)

    def puppet_friendship(self, account_id: str, friendship_id: str) -> FriendRequest:
        self.world.require_logged_in(account_id)
        request = self.world.friend_request(friendship_id)
        if request.account_id != account_id:
            raise NotFound(f"好友申请不存在：{friendship_id}")
        return request

    def puppet_friendship_accept(self, account_id: str, friendship_id: str) -> None:
        self.puppet_friendship(account_id, friendship_id)
        self.world.accept_friendship(friendship_id, by_account=True)

    def puppet_friendship_add(self, account_id: str, contact_id: str, hello: str) -> None:
        """The bot asks a contact to be friends; the contact accepts on the control plane."""
        self.world.require_logged_in(account_id)
        self.world.request_friendship(
            account_id,
            contact_id,
            kind=FriendshipKind.OUTGOING,
            hello=hello,
            scene="room" if contact_id in self.world.contact_ids_of(account_id) else "phone",
            now_ms=self._now_ms(),
        )

    def puppet_search(self, account_id: str, *, phone: str = "", weixin: str = "") -> str | None:
        self.world.require_logged_in(account_id)
        found = self.world.search_contact(phone=phone, weixin=weixin)
        return found.contact_id if found is not None else None

    def puppet_room_ids(self, account_id: str) -> list[str]:
        self.world.require_logged_in(account_id)
        return self.world.room_ids_of(account_id)

    def puppet_room(self, account_id: str, room_id: str) -> Room:
        self.world.require_logged_in(account_id)
        return self.world.visible_room(account_id, room_id)

    def puppet_room_topic(self, account_id: str, room_id: str, topic: str | None) -> str:
        """Read the topic, or set it when ``topic`` is given (returns the new topic)."""
        room = self.puppet_room(account_id, room_id)
        if topic is not None:
            self.set_topic(room.room_id, topic, changer=account_id)
        return room.topic

    def puppet_message(self, account_id: str, message_id: str) -> Message:
        self.world.require_logged_in(account_id)
        return self.world.visible_message(account_id, message_id)

    async def puppet_send_text(
        self,
        account_id: str,
        conversation_id: str,
        text: str,
        *,
        mention_ids: Sequence[str] = (),
    ) -> Message:
        """A bot's send: login, target, risk control and latency, then the message."""
        stats = self._stats[account_id]
        try:
            self.world.require_logged_in(account_id)
            self.world.check_send_target(account_id, conversation_id)
            self._risk.admit_send(account_id, self._clock())
            latency = self._risk.draw_latency()
            if latency > 0:
                await asyncio.sleep(latency)
                self.world.require_logged_in(account_id)
            message = self.world.record_bot_text(
                account_id,
                conversation_id,
                text,
                now_ms=self._now_ms(),
                mention_ids=mention_ids,
            )
        except Throttled:
            stats.throttled += 1
            raise
        except SandboxError:
            stats.failed += 1
            raise
        stats.sent += 1
        if self._echo_bot_messages:
            self._echo(message)
        return message

    async def puppet_send_file(
        self, account_id: str, conversation_id: str, filebox_json: str
    ) -> Message:
        """A bot's MessageSendFile: the FileBox JSON (base64 boxes only), then the same
        login, target, risk and latency checks as a text."""
        name, data, media_type = puppet_service.parse_file_box(filebox_json)
        stats = self._stats[account_id]
        try:
            self.world.require_logged_in(account_id)
            self.world.check_send_target(account_id, conversation_id)
            self._risk.admit_send(account_id, self._clock())
            latency = self._risk.draw_latency()
            if latency > 0:
                await asyncio.sleep(latency)
                self.world.require_logged_in(account_id)
            message = self.world.record_bot_file(
                account_id,
                conversation_id,
                name=name,
                data=data,
                media_type=media_type,
                now_ms=self._now_ms(),
            )
        except Throttled:
            stats.throttled += 1
            raise
        except SandboxError:
            stats.failed += 1
            raise
        stats.sent += 1
        if self._echo_bot_messages:
            self._echo(message)
        return message

    def message_file(self, message_id: str) -> Message:
        """A file or image message, with its bytes (the page shows it)."""
        message = self.world.messages.get(message_id)
        if message is None or message.file_data is None:
            raise NotFound(f"消息没有文件：{message_id}")
        return message

    def _echo(self, message: Message) -> None:
        event = puppet_service.message_event(message.message_id)
        if message.room_id is not None:
            self._publish_many(self.world.room_recipients(self.world.rooms[message.room_id]), event)
        elif self.world.accounts[message.sender_id].logged_in:
            self.publish(message.sender_id, event)


def _listening_socket(host: str) -> socket.socket:
    """A socket bound to an OS-chosen port, so the port is known before serving.

    The protocol must be IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on
    sockets that say so, and without it every small gRPC reply waits ~40 ms for a
    delayed ACK (Nagle).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
    except OSError:
        listener.close()
        raise
    return listener


def _kind(kind: str | MessageKind) -> MessageKind:
    return kind if isinstance(kind, MessageKind) else parse_kind(kind)
