"""The simulated WeChat's state: accounts, contacts, rooms and messages.

Plain synchronous code without I/O; time comes in as ``now_ms``. A world is built
from the plain spec dataclasses below (:class:`WorldSpec`), so a caller can derive it
from the org tree without knowing anything else about the sandbox.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sandbox.errors import InvalidRequest, LoggedOut, NotAFriend, NotAMember, NotFound

ROOM_MEMBER_CAP = 500
"""WeChat caps a group at 500 members (bot accounts included)."""


class MessageKind(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    EMOTICON = "emoticon"
    MINI_PROGRAM = "mini_program"
    URL = "url"
    RECALLED = "recalled"


def parse_kind(value: str) -> MessageKind:
    """``"mini-program"`` and ``"mini_program"`` are the same kind."""
    try:
        return MessageKind(value.strip().lower().replace("-", "_"))
    except ValueError:
        names = "、".join(kind.value for kind in MessageKind)
        raise InvalidRequest(f"不支持的消息类型：{value}（可用：{names}）") from None


# --- input: how a caller describes a world -------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """A person (resident, leader, cadre) as a room member or a private contact."""

    contact_id: str
    name: str
    room_alias: str = ""
    """The member's nickname in this room (群昵称); empty when none."""
    phone: str = ""
    """The mobile number the contact registered with (found by a phone search); may be empty."""
    weixin: str = ""
    """The contact's chosen WeChat id (微信号, found by a weixin search); may be empty."""


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """A bot account: a WeChat contact the bot logs in as."""

    account_id: str
    """Also the account's contact id in rooms and messages."""
    name: str
    rate_per_s: float | None = None
    """Send budget refill rate; ``None`` takes :class:`SandboxRiskSettings`' default, 0 = no limit."""
    burst: int | None = None
    """Send budget size; ``None`` takes the default."""
    token: str | None = None
    """Puppet service token; ``None`` derives ``sandbox_<account_id>``."""


@dataclass(frozen=True, slots=True)
class RoomSpec:
    """A WeChat group: its people and the bot accounts that sit in it."""

    topic: str
    members: Sequence[MemberSpec]
    bot_account_ids: Sequence[str]
    room_id: str | None = None
    """``None`` derives ``<n>@chatroom`` from the room's position in the spec."""
    org_unit: str = ""
    """An opaque label shown by the control plane only; WeChat knows nothing of it."""


@dataclass(frozen=True, slots=True)
class WorldSpec:
    accounts: Sequence[AccountSpec]
    rooms: Sequence[RoomSpec]
    contacts: Sequence[MemberSpec] = ()
    """People in no room who may still chat with a bot privately."""
    friends: Mapping[str, Collection[str]] | None = None
    """Each bot account's friends (好友), by contact id. ``None`` does not model friendship:
    everyone is every account's friend. With a mapping, an account writes privately only
    to its friends, as on real WeChat (accounts missing from it have none)."""


class FriendshipKind(enum.StrEnum):
    """Who asked: a contact asking a bot account (``incoming``), or the account asking a contact."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class FriendshipStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"


@dataclass(slots=True)
class FriendRequest:
    """One friend request (好友申请) between a bot account and a contact."""

    friendship_id: str
    account_id: str
    contact_id: str
    kind: FriendshipKind
    hello: str
    """The verification message (验证消息)."""
    scene: str
    """How the asker found the other: ``room`` (a shared group), ``phone``, ``weixin``."""
    created_ms: int
    status: FriendshipStatus = FriendshipStatus.PENDING


# --- state ---------------------------------------------------------------------------


@dataclass(slots=True)
class Contact:
    contact_id: str
    name: str
    is_bot: bool = False
    phone: str = ""
    weixin: str = ""


@dataclass(slots=True)
class Account:
    account_id: str
    name: str
    token: str
    rate_per_s: float | None
    burst: int | None
    logged_in: bool = True
    room_ids: dict[str, None] = field(default_factory=dict)
    """The rooms the account sits in, in join order (a dict used as an ordered set)."""


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    seq: int
    """Sandbox-wide order of messages; transcripts page with it."""
    kind: MessageKind
    text: str
    sender_id: str
    timestamp_ms: int
    room_id: str | None = None
    to_id: str | None = None
    """The receiving contact of a private message."""
    mention_ids: tuple[str, ...] = ()
    file_name: str = ""
    """The name of the file of a file or image message."""
    file_data: bytes | None = None
    media_type: str = ""


@dataclass(slots=True)
class Room:
    room_id: str
    topic: str
    org_unit: str
    owner_id: str
    aliases: dict[str, str]
    """Member contact id -> room alias, in join order; bot accounts included."""
    bot_ids: set[str]
    dissolved: bool = False
    messages: list[Message] = field(default_factory=list)


def _private_key(account_id: str, contact_id: str) -> tuple[str, str]:
    return (account_id, contact_id)


class World:
    """Everything the simulated WeChat knows, with the checks WeChat would make."""

    def __init__(self, spec: WorldSpec, *, message_id_prefix: str = "msg-") -> None:
        self.accounts: dict[str, Account] = {}
        self.contacts: dict[str, Contact] = {}
        self.rooms: dict[str, Room] = {}
        self.messages: dict[str, Message] = {}
        self.private: dict[tuple[str, str], list[Message]] = {}
        self._names: dict[str, list[str]] = {}
        self._topics: dict[str, list[str]] = {}
        self.friends: dict[str, set[str]] | None = None
        """Account id -> its friends' contact ids; ``None`` when friendship is not modelled."""
        self.friend_requests: dict[str, FriendRequest] = {}
        self._message_id_prefix = message_id_prefix
        self._seq = 0
        self._friendship_seq = 0
        for account_spec in spec.accounts:
            self._add_account(account_spec)
        for contact_spec in spec.contacts:
            self.add_contact(contact_spec)
        for index, room_spec in enumerate(spec.rooms, start=1):
            self._add_room(room_spec, index)
        if spec.friends is not None:
            self.friends = {account_id: set() for account_id in self.accounts}
            for account_id, contact_ids in spec.friends.items():
                if account_id not in self.accounts:
                    raise ValueError(f"friends: unknown bot account {account_id!r}")
                for contact_id in contact_ids:
                    if contact_id not in self.contacts or contact_id == account_id:
                        raise ValueError(
                            f"friends of {account_id!r}: unknown contact {contact_id!r}"
                        )
                    self.friends[account_id].add(contact_id)

    # --- building --------------------------------------------------------------------

    def _add_account(self, spec: AccountSpec) -> None:
        if spec.account_id in self.accounts:
            raise ValueError(f"accounts: duplicate account_id {spec.account_id!r}")
        self.accounts[spec.account_id] = Account(
            account_id=spec.account_id,
            name=spec.name,
            token=spec.token or f"sandbox_{spec.account_id}",
            rate_per_s=spec.rate_per_s,
            burst=spec.burst,
        )
        self._add_contact(spec.account_id, spec.name, is_bot=True)

    def add_contact(self, spec: MemberSpec) -> Contact:
        contact = self._add_contact(spec.contact_id, spec.name)
        contact.phone = contact.phone or spec.phone
        contact.weixin = contact.weixin or spec.weixin
        return contact

    def _add_contact(self, contact_id: str, name: str, *, is_bot: bool = False) -> Contact:
        known = self.contacts.get(contact_id)
        if known is not None:
            if known.name != name:
                raise ValueError(
                    f"contact {contact_id!r} has two names: {known.name!r} and {name!r}"
                )
            return known
        if not contact_id or not name:
            raise ValueError("a contact needs a non-empty contact_id and name")
        contact = Contact(contact_id=contact_id, name=name, is_bot=is_bot)
        self.contacts[contact_id] = contact
        self._names.setdefault(name, []).append(contact_id)
        return contact

    def _add_room(self, spec: RoomSpec, index: int) -> None:
        room_id = spec.room_id or f"{index}@chatroom"
        if room_id in self.rooms:
            raise ValueError(f"rooms: duplicate room_id {room_id!r}")
        aliases: dict[str, str] = {}
        for member in spec.members:
            self.add_contact(member)
            aliases[member.contact_id] = member.room_alias
        for account_id in spec.bot_account_ids:
            if account_id not in self.accounts:
                raise ValueError(f"room {spec.topic!r}: unknown bot account {account_id!r}")
            aliases.setdefault(account_id, "")
        if len(aliases) > ROOM_MEMBER_CAP:
            raise ValueError(
                f"room {spec.topic!r}: {len(aliases)} members, WeChat allows {ROOM_MEMBER_CAP}"
            )
        if not aliases:
            raise ValueError(f"room {spec.topic!r}: no members")
        room = Room(
            room_id=room_id,
            topic=spec.topic,
            org_unit=spec.org_unit,
            owner_id=next(iter(aliases)),
            aliases=aliases,
            bot_ids=set(spec.bot_account_ids),
        )
        self.rooms[room_id] = room
        self._topics.setdefault(spec.topic, []).append(room_id)
        for account_id in room.bot_ids:
            self.accounts[account_id].room_ids[room_id] = None

    # --- lookups ---------------------------------------------------------------------

    def account(self, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise NotFound(f"账号不存在：{account_id}")
        return account

    def contact(self, contact_id: str) -> Contact:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise NotFound(f"联系人不存在：{contact_id}")
        return contact

    def room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            raise NotFound(f"群聊不存在：{room_id}")
        return room

    def find_room(self, ref: str) -> Room:
        """A room by id, else by its exact topic."""
        room = self.rooms.get(ref)
        if room is not None:
            return room
        room_ids = self._topics.get(ref, [])
        if len(room_ids) == 1:
            return self.rooms[room_ids[0]]
        if room_ids:
            raise InvalidRequest(f"有 {len(room_ids)} 个群聊名为「{ref}」，请用群 ID")
        raise NotFound(f"找不到群聊：{ref}")

    def find_member(self, room: Room, ref: str) -> str:
        """A room member's contact id, given the id, the name or the room alias."""
        if ref in room.aliases:
            return ref
        matches = [
            contact_id
            for contact_id, alias in room.aliases.items()
            if alias == ref or self.contacts[contact_id].name == ref
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise InvalidRequest(f"群里有 {len(matches)} 位成员叫「{ref}」，请用联系人 ID")
        raise NotAMember(f"「{ref}」不在群聊「{room.topic}」中")

    def find_contact(self, ref: str) -> Contact:
        """A contact by id, else by its unique name."""
        contact = self.contacts.get(ref)
        if contact is not None:
            return contact
        contact_ids = self._names.get(ref, [])
        if len(contact_ids) == 1:
            return self.contacts[contact_ids[0]]
        if contact_ids:
            raise InvalidRequest(f"有 {len(contact_ids)} 位联系人叫「{ref}」，请用联系人 ID")
        raise NotFound(f"找不到联系人：{ref}")

    def display_name(self, contact_id: str, room: Room | None = None) -> str:
        """What WeChat shows: the room alias when set, else the contact's name."""
        if room is not None:
            alias = room.aliases.get(contact_id)
            if alias:
                return alias
        contact = self.contacts.get(contact_id)
        return contact.name if contact is not None else contact_id

    def search_rooms(self, query: str = "") -> list[Room]:
        """Rooms whose topic, id or org unit contains ``query`` (all when empty)."""
        needle = query.strip()
        if not needle:
            return list(self.rooms.values())
        return [
            room
            for room in self.rooms.values()
            if needle in room.topic or needle in room.room_id or needle in room.org_unit
        ]

    # --- what an account may see ------------------------------------------------------

    def require_logged_in(self, account_id: str) -> Account:
        account = self.account(account_id)
        if not account.logged_in:
            raise LoggedOut("账号已退出登录，请重新扫码登录")
        return account

    def visible_room(self, account_id: str, room_id: str) -> Room:
        room = self.room(room_id)
        if room.dissolved:
            raise NotFound(f"该群聊已解散：{room.topic}")
        if account_id not in room.bot_ids:
            raise NotAMember(f"你已不在群聊「{room.topic}」中")
        return room

    def visible_message(self, account_id: str, message_id: str) -> Message:
        message = self.messages.get(message_id)
        if message is None:
            raise NotFound(f"消息不存在：{message_id}")
        if message.room_id is not None:
            room = self.rooms[message.room_id]
            if account_id in room.bot_ids:
                return message
        elif account_id in (message.sender_id, message.to_id):
            return message
        raise NotFound(f"消息不存在：{message_id}")

    def room_ids_of(self, account_id: str) -> list[str]:
        account = self.account(account_id)
        return [room_id for room_id in account.room_ids if not self.rooms[room_id].dissolved]

    def contact_ids_of(self, account_id: str) -> list[str]:
        """Everyone the account shares a room or a private conversation with."""
        account = self.account(account_id)
        seen: dict[str, None] = {}
        for room_id in account.room_ids:
            for contact_id in self.rooms[room_id].aliases:
                seen.setdefault(contact_id)
        for owner_id, peer_id in self.private:
            if owner_id == account_id:
                seen.setdefault(peer_id)
        seen.pop(account_id, None)
        return list(seen)

    def room_recipients(self, room: Room) -> list[str]:
        """Logged-in bot accounts in the room: who receives its message events."""
        return [account_id for account_id in room.bot_ids if self.accounts[account_id].logged_in]

    # --- messages --------------------------------------------------------------------

    def _record(
        self,
        *,
        kind: MessageKind,
        text: str,
        sender_id: str,
        now_ms: int,
        room: Room | None = None,
        to_id: str | None = None,
        mention_ids: Iterable[str] = (),
        file: tuple[str, bytes, str] | None = None,
    ) -> Message:
        if kind is MessageKind.TEXT and not text.strip():
            raise InvalidRequest("不能发送空白消息")
        self._seq += 1
        message = Message(
            message_id=f"{self._message_id_prefix}{self._seq}",
            seq=self._seq,
            kind=kind,
            text=text,
            sender_id=sender_id,
            timestamp_ms=now_ms,
            room_id=room.room_id if room is not None else None,
            to_id=to_id,
            mention_ids=tuple(mention_ids),
            file_name=file[0] if file else "",
            file_data=file[1] if file else None,
            media_type=file[2] if file else "",
        )
        self.messages[message.message_id] = message
        if room is not None:
            room.messages.append(message)
        return message

    def post_room_message(
        self,
        room_id: str,
        sender_id: str,
        *,
        kind: MessageKind,
        text: str,
        now_ms: int,
        mention_ids: Sequence[str] = (),
    ) -> Message:
        """A member (resident or leader) writes in a room."""
        room = self.room(room_id)
        if room.dissolved:
            raise NotFound(f"该群聊已解散：{room.topic}")
        if sender_id not in room.aliases:
            raise NotAMember(f"{self.display_name(sender_id)} 不在群聊「{room.topic}」中")
        for contact_id in mention_ids:
            if contact_id not in room.aliases:
                raise NotAMember(f"被@的 {contact_id} 不在群聊「{room.topic}」中")
        return self._record(
            kind=kind,
            text=text,
            sender_id=sender_id,
            now_ms=now_ms,
            room=room,
            mention_ids=mention_ids,
        )

    def post_private_message(
        self,
        account_id: str,
        contact_id: str,
        *,
        from_account: bool,
        kind: MessageKind,
        text: str,
        now_ms: int,
        file: tuple[str, bytes, str] | None = None,
    ) -> Message:
        """A private (1:1) message between a bot account and a contact, either way."""
        self.account(account_id)
        self.contact(contact_id)
        if contact_id == account_id:
            raise InvalidRequest("不能给自己发消息")
        sender_id, to_id = (account_id, contact_id) if from_account else (contact_id, account_id)
        message = self._record(
            kind=kind, text=text, sender_id=sender_id, now_ms=now_ms, to_id=to_id, file=file
        )
        self.private.setdefault(_private_key(account_id, contact_id), []).append(message)
        return message

    def check_send_target(self, account_id: str, conversation_id: str) -> Room | Contact:
        """Where a bot account's send goes; raises what WeChat would answer."""
        if conversation_id in self.rooms:
            return self.visible_room(account_id, conversation_id)
        contact = self.contacts.get(conversation_id)
        if contact is None:
            raise NotFound(f"会话不存在：{conversation_id}")
        if contact.contact_id == account_id:
            raise InvalidRequest("不能给自己发消息")
        if not self.is_friend(account_id, contact.contact_id):
            raise NotAFriend(
                f"{contact.name}开启了朋友验证，你还不是他（她）朋友。"
                "请先发送朋友验证请求，对方验证通过后，才能聊天。"
            )
        return contact

    def record_bot_text(
        self,
        account_id: str,
        conversation_id: str,
        text: str,
        *,
        now_ms: int,
        mention_ids: Sequence[str] = (),
    ) -> Message:
        """A bot account's text send, after the risk checks have passed."""
        target = self.check_send_target(account_id, conversation_id)
        if isinstance(target, Room):
            return self._record(
                kind=MessageKind.TEXT,
                text=text,
                sender_id=account_id,
                now_ms=now_ms,
                room=target,
                mention_ids=mention_ids,
            )
        return self.post_private_message(
            account_id,
            target.contact_id,
            from_account=True,
            kind=MessageKind.TEXT,
            text=text,
            now_ms=now_ms,
        )

    def record_bot_file(
        self,
        account_id: str,
        conversation_id: str,
        *,
        name: str,
        data: bytes,
        media_type: str,
        now_ms: int,
    ) -> Message:
        """A bot account's file send (MessageSendFile): an image for ``image/*``."""
        target = self.check_send_target(account_id, conversation_id)
        kind = MessageKind.IMAGE if media_type.startswith("image/") else MessageKind.FILE
        file = (name, data, media_type)
        if isinstance(target, Room):
            return self._record(
                kind=kind, text=name, sender_id=account_id, now_ms=now_ms, room=target, file=file
            )
        return self.post_private_message(
            account_id,
            target.contact_id,
            from_account=True,
            kind=kind,
            text=name,
            now_ms=now_ms,
            file=file,
        )

    def room_transcript(self, room: Room, *, since_seq: int = 0) -> list[Message]:
        if since_seq <= 0:
            return list(room.messages)
        # Messages are appended in seq order: skip the old ones from the end.
        start = len(room.messages)
        while start > 0 and room.messages[start - 1].seq > since_seq:
            start -= 1
        return room.messages[start:]

    def private_transcript(self, account_id: str, contact_id: str) -> list[Message]:
        return list(self.private.get(_private_key(account_id, contact_id), []))

    # --- room changes ----------------------------------------------------------------

    def add_member(self, room_id: str, member: MemberSpec) -> Room:
        room = self.room(room_id)
        if room.dissolved:
            raise NotFound(f"该群聊已解散：{room.topic}")
        if member.contact_id in room.aliases:
            raise InvalidRequest(f"{member.name} 已在群聊「{room.topic}」中")
        if len(room.aliases) >= ROOM_MEMBER_CAP:
            raise InvalidRequest(f"群聊「{room.topic}」已满 {ROOM_MEMBER_CAP} 人，无法再加人")
        if member.contact_id in self.accounts:
            member = MemberSpec(member.contact_id, self.accounts[member.contact_id].name)
            room.bot_ids.add(member.contact_id)
            self.accounts[member.contact_id].room_ids[room.room_id] = None
        else:
            try:
                self.add_contact(member)
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
        room.aliases[member.contact_id] = member.room_alias
        return room

    def remove_member(self, room_id: str, contact_id: str) -> Room:
        room = self.room(room_id)
        if contact_id not in room.aliases:
            raise NotAMember(f"{self.display_name(contact_id)} 不在群聊「{room.topic}」中")
        del room.aliases[contact_id]
        if contact_id in room.bot_ids:
            room.bot_ids.discard(contact_id)
            self.accounts[contact_id].room_ids.pop(room.room_id, None)
        return room

    def set_topic(self, room_id: str, topic: str) -> str:
        """Renames the room; returns the old topic."""
        room = self.room(room_id)
        if room.dissolved:
            raise NotFound(f"该群聊已解散：{room.topic}")
        if not topic.strip():
            raise InvalidRequest("群名称不能为空")
        old = room.topic
        self._topics[old].remove(room.room_id)
        if not self._topics[old]:
            del self._topics[old]
        self._topics.setdefault(topic, []).append(room.room_id)
        room.topic = topic
        return old

    def dissolve(self, room_id: str) -> Room:
        room = self.room(room_id)
        room.dissolved = True
        return room

    # --- friendship ------------------------------------------------------------------

    def is_friend(self, account_id: str, contact_id: str) -> bool:
        if self.friends is None:
            return contact_id in self.contacts and contact_id != account_id
        return contact_id in self.friends.get(account_id, set())

    def friend_ids_of(self, account_id: str) -> list[str]:
        self.account(account_id)
        if self.friends is None:
            return [c for c in self.contacts if c != account_id]
        return sorted(self.friends[account_id])

    def request_friendship(
        self,
        account_id: str,
        contact_id: str,
        *,
        kind: FriendshipKind,
        hello: str,
        scene: str,
        now_ms: int,
    ) -> FriendRequest:
        """A new pending request between an account and a contact (either way)."""
        self.account(account_id)
        contact = self.contact(contact_id)
        if contact.is_bot:
            raise InvalidRequest("机器人账号之间不加好友")
        if self.is_friend(account_id, contact_id):
            raise InvalidRequest(f"{contact.name} 已经是该账号的好友")
        for known in self.friend_requests.values():
            if known.status is FriendshipStatus.PENDING and (
                known.account_id,
                known.contact_id,
                known.kind,
            ) == (account_id, contact_id, kind):
                known.hello, known.created_ms = hello, now_ms  # asking again refreshes it
                return known
        self._friendship_seq += 1
        request = FriendRequest(
            friendship_id=f"{self._message_id_prefix}friendship-{self._friendship_seq}",
            account_id=account_id,
            contact_id=contact_id,
            kind=kind,
            hello=hello,
            scene=scene,
            created_ms=now_ms,
        )
        self.friend_requests[request.friendship_id] = request
        return request

    def friend_request(self, friendship_id: str) -> FriendRequest:
        request = self.friend_requests.get(friendship_id)
        if request is None:
            raise NotFound(f"好友申请不存在：{friendship_id}")
        return request

    def accept_friendship(self, friendship_id: str, *, by_account: bool) -> FriendRequest:
        """The receiving side accepts: the bot accepts an incoming request, the contact an
        outgoing one. Both become friends."""
        request = self.friend_request(friendship_id)
        wanted = FriendshipKind.INCOMING if by_account else FriendshipKind.OUTGOING
        if request.kind is not wanted:
            raise InvalidRequest("只有收到好友申请的一方才能通过它")
        if request.status is FriendshipStatus.ACCEPTED:
            raise InvalidRequest("该好友申请已经通过")
        request.status = FriendshipStatus.ACCEPTED
        self._befriend(request.account_id, request.contact_id)
        return request

    def _befriend(self, account_id: str, contact_id: str) -> None:
        if self.friends is not None:
            self.friends.setdefault(account_id, set()).add(contact_id)

    def remove_friend(self, account_id: str, contact_id: str) -> None:
        """The contact deletes the bot account (删除好友)."""
        self.account(account_id)
        if self.friends is None:
            raise InvalidRequest("这个模拟世界没有模拟好友关系（所有人都是好友）")
        if contact_id not in self.friends[account_id]:
            raise NotFound(f"{self.display_name(contact_id)} 不是该账号的好友")
        self.friends[account_id].discard(contact_id)

    def search_contact(self, *, phone: str = "", weixin: str = "") -> Contact | None:
        """What a phone or weixin search (搜索手机号/微信号) finds."""
        for contact in self.contacts.values():
            if contact.is_bot:
                continue
            if (phone and contact.phone == phone) or (weixin and contact.weixin == weixin):
                return contact
        return None
