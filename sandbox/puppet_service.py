"""The Wechaty Puppet Service gRPC protocol, served by grpclib for one bot account.

Each account gets its own :class:`PuppetServicer` on its own grpclib ``Server`` and
port, like a real deployment where every WeChat account has its own puppet service:
the port tells the accounts apart. The client puts its token in the HTTP/2
``:authority``, which grpclib does not show to handlers, so tokens are not checked. Messages are the ``wechaty_grpc.wechaty.puppet`` betterproto
classes; event payloads are the JSON that ``wechaty-puppet-service`` parses.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import wechaty_grpc.wechaty.puppet as pb
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from sandbox.errors import (
    InvalidRequest,
    LoggedOut,
    NotAFriend,
    NotAMember,
    NotFound,
    SandboxError,
    Throttled,
    TransientFailure,
)
from sandbox.world import (
    FriendRequest,
    FriendshipKind,
    FriendshipStatus,
    Message,
    MessageKind,
)

if TYPE_CHECKING:
    from sandbox.sandbox import Sandbox

log = logging.getLogger(__name__)

VERSION = "gridcast-sandbox/1"

PUPPET_MESSAGE_TYPE: dict[MessageKind, int] = {
    MessageKind.FILE: 1,
    MessageKind.VOICE: 2,
    MessageKind.EMOTICON: 5,
    MessageKind.IMAGE: 6,
    MessageKind.TEXT: 7,
    MessageKind.MINI_PROGRAM: 9,
    MessageKind.RECALLED: 13,
    MessageKind.URL: 14,
    MessageKind.VIDEO: 15,
}
"""Message types as puppet services put them on the wire: the numbering of the
TypeScript ``wechaty-puppet`` ``MessageType`` (Text = 7), which python-wechaty's
``_map_message_type`` translates into the ``wechaty_grpc`` enum (TEXT = 6)."""

GRPC_STATUS: dict[type[SandboxError], Status] = {
    NotFound: Status.NOT_FOUND,
    NotAMember: Status.FAILED_PRECONDITION,
    NotAFriend: Status.PERMISSION_DENIED,
    LoggedOut: Status.UNAUTHENTICATED,
    Throttled: Status.RESOURCE_EXHAUSTED,
    TransientFailure: Status.UNAVAILABLE,
    InvalidRequest: Status.INVALID_ARGUMENT,
}


def grpc_error(error: SandboxError) -> GRPCError:
    return GRPCError(GRPC_STATUS.get(type(error), Status.UNKNOWN), error.message)


# --- events --------------------------------------------------------------------------


def _event(kind: pb.EventType, payload: dict[str, Any]) -> pb.EventResponse:
    return pb.EventResponse(type=kind, payload=json.dumps(payload, ensure_ascii=False))


def heartbeat_event(data: str = "heartbeat") -> pb.EventResponse:
    return _event(pb.EventType.EVENT_TYPE_HEARTBEAT, {"data": data})


def login_event(contact_id: str) -> pb.EventResponse:
    return _event(pb.EventType.EVENT_TYPE_LOGIN, {"contactId": contact_id})


def logout_event(contact_id: str, reason: str) -> pb.EventResponse:
    return _event(pb.EventType.EVENT_TYPE_LOGOUT, {"contactId": contact_id, "data": reason})


def scan_event(qrcode: str) -> pb.EventResponse:
    """Waiting for a QR-code scan (ScanStatus.Waiting = 2): the account is logged out."""
    return _event(pb.EventType.EVENT_TYPE_SCAN, {"status": 2, "qrcode": qrcode, "data": ""})


def message_event(message_id: str) -> pb.EventResponse:
    return _event(pb.EventType.EVENT_TYPE_MESSAGE, {"messageId": message_id})


def dong_event(data: str) -> pb.EventResponse:
    return _event(pb.EventType.EVENT_TYPE_DONG, {"data": data})


def error_event(text: str) -> pb.EventResponse:
    return _event(pb.EventType.EVENT_TYPE_ERROR, {"data": text})


def room_join_event(
    room_id: str, invitee_ids: list[str], inviter_id: str, timestamp_ms: int
) -> pb.EventResponse:
    return _event(
        pb.EventType.EVENT_TYPE_ROOM_JOIN,
        {
            "roomId": room_id,
            "inviteeIdList": invitee_ids,
            "inviterId": inviter_id,
            "timestamp": timestamp_ms,
        },
    )


def room_leave_event(
    room_id: str, removee_ids: list[str], remover_id: str, timestamp_ms: int
) -> pb.EventResponse:
    return _event(
        pb.EventType.EVENT_TYPE_ROOM_LEAVE,
        {
            "roomId": room_id,
            "removeeIdList": removee_ids,
            "removerId": remover_id,
            "timestamp": timestamp_ms,
        },
    )


def room_topic_event(
    room_id: str, new_topic: str, old_topic: str, changer_id: str, timestamp_ms: int
) -> pb.EventResponse:
    return _event(
        pb.EventType.EVENT_TYPE_ROOM_TOPIC,
        {
            "roomId": room_id,
            "newTopic": new_topic,
            "oldTopic": old_topic,
            "changerId": changer_id,
            "timestamp": timestamp_ms,
        },
    )


def friendship_event(friendship_id: str) -> pb.EventResponse:
    return _event(pb.EventType.EVENT_TYPE_FRIENDSHIP, {"friendshipId": friendship_id})


FRIENDSHIP_SCENE: dict[str, pb.FriendshipSceneType] = {
    "room": pb.FriendshipSceneType.FRIENDSHIP_SCENE_TYPE_ROOM,
    "phone": pb.FriendshipSceneType.FRIENDSHIP_SCENE_TYPE_PHONE,
    "weixin": pb.FriendshipSceneType.FRIENDSHIP_SCENE_TYPE_WEIXIN,
}


def friendship_type(request: FriendRequest) -> pb.FriendshipType:
    """RECEIVE while a contact's request waits for the account; CONFIRM once friends;
    VERIFY while the account's own request waits for the contact."""
    if request.status is FriendshipStatus.ACCEPTED:
        return pb.FriendshipType.FRIENDSHIP_TYPE_CONFIRM
    if request.kind is FriendshipKind.INCOMING:
        return pb.FriendshipType.FRIENDSHIP_TYPE_RECEIVE
    return pb.FriendshipType.FRIENDSHIP_TYPE_VERIFY


def friendship_payload(request: FriendRequest) -> pb.FriendshipPayloadResponse:
    return pb.FriendshipPayloadResponse(
        id=request.friendship_id,
        contact_id=request.contact_id,
        hello=request.hello,
        type=friendship_type(request),
        scene=FRIENDSHIP_SCENE.get(
            request.scene, pb.FriendshipSceneType.FRIENDSHIP_SCENE_TYPE_UNSPECIFIED
        ),
    )


def message_payload(message: Message) -> pb.MessagePayloadResponse:
    return pb.MessagePayloadResponse(
        id=message.message_id,
        text=message.text,
        timestamp=message.timestamp_ms,
        type=PUPPET_MESSAGE_TYPE[message.kind],
        from_id=message.sender_id,
        room_id=message.room_id or "",
        to_id=message.to_id or "",
        mention_ids=list(message.mention_ids),
        filename=message.file_name,
    )


_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}


def parse_file_box(filebox_json: str) -> tuple[str, bytes, str]:
    """(name, bytes, media type) of a serialized FileBox; only base64 boxes carry data."""
    try:
        box = json.loads(filebox_json)
        if not isinstance(box, dict) or box.get("boxType") != FILE_BOX_BASE64:
            raise InvalidRequest("只支持 base64 文件（FileBox boxType 1）")
        name = str(box.get("name") or "file.dat")
        data = base64.b64decode(str(box.get("base64") or ""), validate=False)
    except (json.JSONDecodeError, ValueError, binascii.Error):
        raise InvalidRequest("文件内容无效") from None
    if not data:
        raise InvalidRequest("不能发送空文件")
    media_type = str(box.get("mediaType") or box.get("mimeType") or "")
    if not media_type:
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        media_type = _IMAGE_TYPES.get(suffix, "application/octet-stream")
    return name, data, media_type


def file_box_json(name: str, data: bytes, media_type: str) -> str:
    """A base64 FileBox as puppet services serialize it (MessageFile, MessageImage)."""
    return json.dumps(
        {
            "boxType": FILE_BOX_BASE64,
            "name": name,
            "base64": base64.b64encode(data).decode("ascii"),
            "mediaType": media_type,
            "metadata": {},
        }
    )


FILE_BOX_BASE64 = 1
"""``FileBoxType.Base64`` of the file-box library."""


# --- the servicer --------------------------------------------------------------------

RequestT = TypeVar("RequestT")
ReplyT = TypeVar("ReplyT")
StreamHandler = Callable[[Stream[Any, Any]], Awaitable[None]]


class PuppetServicer:
    """The puppet service of one account: what ``wechaty-puppet-service`` calls."""

    def __init__(self, sandbox: Sandbox, account_id: str) -> None:
        self._sandbox = sandbox
        self._account_id = account_id

    def _unary(self, call: Callable[[RequestT], Awaitable[ReplyT] | ReplyT]) -> StreamHandler:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            if request is None:
                raise GRPCError(Status.INVALID_ARGUMENT, "缺少请求内容")
            try:
                reply = call(request)
                if isinstance(reply, Awaitable):
                    reply = await reply
            except SandboxError as error:
                raise grpc_error(error) from None
            await stream.send_message(reply)

        return handle

    def __mapping__(self) -> dict[str, Handler]:
        unary = Cardinality.UNARY_UNARY
        routes: dict[str, tuple[StreamHandler, Cardinality, type[Any], type[Any]]] = {
            "Start": (self._unary(self._start), unary, pb.StartRequest, pb.StartResponse),
            "Stop": (self._unary(self._stop), unary, pb.StopRequest, pb.StopResponse),
            "Ding": (self._unary(self._ding), unary, pb.DingRequest, pb.DingResponse),
            "Logout": (self._unary(self._logout), unary, pb.LogoutRequest, pb.LogoutResponse),
            "Version": (
                self._unary(self._version),
                unary,
                pb.VersionRequest,
                pb.VersionResponse,
            ),
            "Event": (
                self._event,
                Cardinality.UNARY_STREAM,
                pb.EventRequest,
                pb.EventResponse,
            ),
            "DirtyPayload": (
                self._unary(self._dirty_payload),
                unary,
                pb.DirtyPayloadRequest,
                pb.DirtyPayloadResponse,
            ),
            "ContactPayload": (
                self._unary(self._contact_payload),
                unary,
                pb.ContactPayloadRequest,
                pb.ContactPayloadResponse,
            ),
            "ContactList": (
                self._unary(self._contact_list),
                unary,
                pb.ContactListRequest,
                pb.ContactListResponse,
            ),
            "FriendshipPayload": (
                self._unary(self._friendship_payload),
                unary,
                pb.FriendshipPayloadRequest,
                pb.FriendshipPayloadResponse,
            ),
            "FriendshipAccept": (
                self._unary(self._friendship_accept),
                unary,
                pb.FriendshipAcceptRequest,
                pb.FriendshipAcceptResponse,
            ),
            "FriendshipAdd": (
                self._unary(self._friendship_add),
                unary,
                pb.FriendshipAddRequest,
                pb.FriendshipAddResponse,
            ),
            "FriendshipSearchPhone": (
                self._unary(self._friendship_search_phone),
                unary,
                pb.FriendshipSearchPhoneRequest,
                pb.FriendshipSearchPhoneResponse,
            ),
            "FriendshipSearchWeixin": (
                self._unary(self._friendship_search_weixin),
                unary,
                pb.FriendshipSearchWeixinRequest,
                pb.FriendshipSearchWeixinResponse,
            ),
            "RoomList": (
                self._unary(self._room_list),
                unary,
                pb.RoomListRequest,
                pb.RoomListResponse,
            ),
            "RoomPayload": (
                self._unary(self._room_payload),
                unary,
                pb.RoomPayloadRequest,
                pb.RoomPayloadResponse,
            ),
            "RoomMemberList": (
                self._unary(self._room_member_list),
                unary,
                pb.RoomMemberListRequest,
                pb.RoomMemberListResponse,
            ),
            "RoomMemberPayload": (
                self._unary(self._room_member_payload),
                unary,
                pb.RoomMemberPayloadRequest,
                pb.RoomMemberPayloadResponse,
            ),
            "RoomTopic": (
                self._unary(self._room_topic),
                unary,
                pb.RoomTopicRequest,
                pb.RoomTopicResponse,
            ),
            "MessagePayload": (
                self._unary(self._message_payload),
                unary,
                pb.MessagePayloadRequest,
                pb.MessagePayloadResponse,
            ),
            "MessageSendText": (
                self._unary(self._message_send_text),
                unary,
                pb.MessageSendTextRequest,
                pb.MessageSendTextResponse,
            ),
            "MessageSendFile": (
                self._unary(self._message_send_file),
                unary,
                pb.MessageSendFileRequest,
                pb.MessageSendFileResponse,
            ),
            "MessageFile": (
                self._unary(self._message_file),
                unary,
                pb.MessageFileRequest,
                pb.MessageFileResponse,
            ),
            "MessageImage": (
                self._unary(self._message_image),
                unary,
                pb.MessageImageRequest,
                pb.MessageImageResponse,
            ),
        }
        return {
            f"/wechaty.Puppet/{name}": Handler(func, cardinality, request, reply)
            for name, (func, cardinality, request, reply) in routes.items()
        }

    # --- base ------------------------------------------------------------------------

    def _start(self, request: pb.StartRequest) -> pb.StartResponse:
        return pb.StartResponse()

    def _stop(self, request: pb.StopRequest) -> pb.StopResponse:
        return pb.StopResponse()

    def _ding(self, request: pb.DingRequest) -> pb.DingResponse:
        self._sandbox.publish(self._account_id, dong_event(request.data))
        return pb.DingResponse()

    def _logout(self, request: pb.LogoutRequest) -> pb.LogoutResponse:
        self._sandbox.logout(self._account_id, reason="机器人主动退出登录")
        return pb.LogoutResponse()

    def _version(self, request: pb.VersionRequest) -> pb.VersionResponse:
        return pb.VersionResponse(version=VERSION)

    def _dirty_payload(self, request: pb.DirtyPayloadRequest) -> pb.DirtyPayloadResponse:
        # The sandbox keeps no payload cache, so there is nothing to invalidate.
        return pb.DirtyPayloadResponse()

    async def _event(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        subscription = self._sandbox.subscribe(self._account_id)
        try:
            while True:
                event = await subscription.get()
                if event is None:
                    return
                await stream.send_message(event)
        finally:
            self._sandbox.unsubscribe(self._account_id, subscription)

    # --- contacts --------------------------------------------------------------------

    def _contact_payload(self, request: pb.ContactPayloadRequest) -> pb.ContactPayloadResponse:
        contact = self._sandbox.puppet_contact(self._account_id, request.id)
        return pb.ContactPayloadResponse(
            id=contact.contact_id,
            name=contact.name,
            type=pb.ContactType.CONTACT_TYPE_PERSONAL,
            friend=self._sandbox.world.is_friend(self._account_id, contact.contact_id),
            weixin=contact.weixin,
            phone=[contact.phone] if contact.phone else [],
        )

    def _contact_list(self, request: pb.ContactListRequest) -> pb.ContactListResponse:
        return pb.ContactListResponse(ids=self._sandbox.puppet_contact_ids(self._account_id))

    # --- friendship ------------------------------------------------------------------

    def _friendship_payload(
        self, request: pb.FriendshipPayloadRequest
    ) -> pb.FriendshipPayloadResponse:
        # The client may send a payload to store ("set"); the sandbox only reads.
        return friendship_payload(self._sandbox.puppet_friendship(self._account_id, request.id))

    def _friendship_accept(
        self, request: pb.FriendshipAcceptRequest
    ) -> pb.FriendshipAcceptResponse:
        self._sandbox.puppet_friendship_accept(self._account_id, request.id)
        return pb.FriendshipAcceptResponse()

    def _friendship_add(self, request: pb.FriendshipAddRequest) -> pb.FriendshipAddResponse:
        self._sandbox.puppet_friendship_add(self._account_id, request.contact_id, request.hello)
        return pb.FriendshipAddResponse()

    def _friendship_search_phone(
        self, request: pb.FriendshipSearchPhoneRequest
    ) -> pb.FriendshipSearchPhoneResponse:
        found = self._sandbox.puppet_search(self._account_id, phone=request.phone)
        return pb.FriendshipSearchPhoneResponse(contact_id=found)

    def _friendship_search_weixin(
        self, request: pb.FriendshipSearchWeixinRequest
    ) -> pb.FriendshipSearchWeixinResponse:
        found = self._sandbox.puppet_search(self._account_id, weixin=request.weixin)
        return pb.FriendshipSearchWeixinResponse(contact_id=found)

    # --- rooms -----------------------------------------------------------------------

    def _room_list(self, request: pb.RoomListRequest) -> pb.RoomListResponse:
        return pb.RoomListResponse(ids=self._sandbox.puppet_room_ids(self._account_id))

    def _room_payload(self, request: pb.RoomPayloadRequest) -> pb.RoomPayloadResponse:
        room = self._sandbox.puppet_room(self._account_id, request.id)
        return pb.RoomPayloadResponse(
            id=room.room_id,
            topic=room.topic,
            owner_id=room.owner_id,
            admin_ids=[room.owner_id],
            member_ids=list(room.aliases),
        )

    def _room_member_list(self, request: pb.RoomMemberListRequest) -> pb.RoomMemberListResponse:
        room = self._sandbox.puppet_room(self._account_id, request.id)
        return pb.RoomMemberListResponse(member_ids=list(room.aliases))

    def _room_member_payload(
        self, request: pb.RoomMemberPayloadRequest
    ) -> pb.RoomMemberPayloadResponse:
        room = self._sandbox.puppet_room(self._account_id, request.id)
        if request.member_id not in room.aliases:
            raise NotAMember(f"{request.member_id} 不在群聊「{room.topic}」中")
        contact = self._sandbox.puppet_contact(self._account_id, request.member_id)
        return pb.RoomMemberPayloadResponse(
            id=contact.contact_id,
            name=contact.name,
            room_alias=room.aliases[contact.contact_id],
            inviter_id=room.owner_id,
        )

    def _room_topic(self, request: pb.RoomTopicRequest) -> pb.RoomTopicResponse:
        topic = self._sandbox.puppet_room_topic(self._account_id, request.id, request.topic)
        return pb.RoomTopicResponse(topic=topic)

    # --- messages --------------------------------------------------------------------

    def _message_payload(self, request: pb.MessagePayloadRequest) -> pb.MessagePayloadResponse:
        return message_payload(self._sandbox.puppet_message(self._account_id, request.id))

    async def _message_send_text(
        self, request: pb.MessageSendTextRequest
    ) -> pb.MessageSendTextResponse:
        message = await self._sandbox.puppet_send_text(
            self._account_id,
            request.conversation_id,
            request.text,
            mention_ids=list(request.mentonal_ids),
        )
        return pb.MessageSendTextResponse(id=message.message_id)

    async def _message_send_file(
        self, request: pb.MessageSendFileRequest
    ) -> pb.MessageSendFileResponse:
        message = await self._sandbox.puppet_send_file(
            self._account_id, request.conversation_id, request.filebox
        )
        return pb.MessageSendFileResponse(id=message.message_id)

    def _file_box(self, message_id: str) -> str:
        self._sandbox.puppet_message(self._account_id, message_id)  # visible to this account?
        message = self._sandbox.message_file(message_id)
        assert message.file_data is not None
        return file_box_json(message.file_name, message.file_data, message.media_type)

    def _message_file(self, request: pb.MessageFileRequest) -> pb.MessageFileResponse:
        return pb.MessageFileResponse(filebox=self._file_box(request.id))

    def _message_image(self, request: pb.MessageImageRequest) -> pb.MessageImageResponse:
        # The sandbox keeps one size: thumbnail, HD and artwork are the same picture.
        return pb.MessageImageResponse(filebox=self._file_box(request.id))
