"""What the web asks of the bots: plan, send, stop, correct and chase a notice, send a
private message. The same questions whichever process the web runs in.

* :class:`LocalDesk`: in the process that holds the bots (``gridcast run``), the
  broadcaster, the chaser and the hub directly.
* :class:`RemoteDesk`: in a web process without bots (``gridcast web``, PostgreSQL), each
  question is a request to the bot process (:mod:`cluster.requests`), answered as JSON and
  turned back into the same results and exceptions. If no bot process takes it in time
  it is abandoned, never done later, and :class:`DeskUnavailable` says so.

:func:`desk_handlers` are the bot process's side: the verbs a :class:`RequestServer`
runs with a :class:`LocalDesk`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from broadcast import actions
from broadcast.chasing import Chaser
from broadcast.compose import NoticeInvalid
from broadcast.engine import Broadcaster, NoticeRequest, Prepared
from broadcast.service import NoticeNotFound
from cluster.requests import ANSWERED, Handler, submit, wait_for_answer
from core.clock import utcnow
from core.messaging import Reply
from models.broadcast import NoticeKind, NoticePriority
from models.db import run_in_session
from orgtree.service import OrgPathNotFound

__all__ = [
    "Desk",
    "DeskUnavailable",
    "LocalDesk",
    "RecallOutcome",
    "RemoteDesk",
    "desk_handlers",
]

REMOTE_TIMEOUT_S = 15.0
"""How long a web process waits for the bot process to take and answer a request."""


class DeskUnavailable(RuntimeError):
    """No bot process answered: what was asked was not done (or not known to be done)."""


@dataclass(frozen=True, slots=True)
class RecallOutcome:
    summary_zh: str
    retraction_code: str | None


class Desk(Protocol):
    async def prepare(self, request: NoticeRequest, *, confirm: bool = False) -> Prepared: ...
    async def confirm(self, code: str) -> None: ...
    async def cancel(self, code: str) -> None: ...
    async def recall(
        self,
        code: str,
        *,
        issuer_name: str,
        issuer_person_id: int | None,
        channel: str,
        reason: str,
    ) -> RecallOutcome: ...
    async def correct(
        self,
        code: str,
        body: str,
        *,
        issuer_name: str,
        issuer_person_id: int | None,
        channel: str,
    ) -> Prepared: ...
    async def chase(self, code: str) -> int: ...
    async def send(self, reply: Reply) -> None: ...


class LocalDesk:
    def __init__(self, broadcaster: Broadcaster, chaser: Chaser | None, send: Any) -> None:
        self.broadcaster = broadcaster
        self._chaser = chaser
        self._send = send

    async def prepare(self, request: NoticeRequest, *, confirm: bool = False) -> Prepared:
        prepared = await self.broadcaster.prepare(request)
        if confirm:
            await self.broadcaster.confirm(prepared.code)
        return prepared

    async def confirm(self, code: str) -> None:
        await self.broadcaster.confirm(code)

    async def cancel(self, code: str) -> None:
        await self.broadcaster.cancel(code)

    async def recall(
        self,
        code: str,
        *,
        issuer_name: str,
        issuer_person_id: int | None,
        channel: str,
        reason: str,
    ) -> RecallOutcome:
        recalled = await actions.recall(
            self.broadcaster,
            code,
            issuer_name=issuer_name,
            issuer_person_id=issuer_person_id,
            channel=channel,
            reason=reason,
        )
        child = recalled.retraction
        return RecallOutcome(recalled.summary_zh(), child.code if child else None)

    async def correct(
        self,
        code: str,
        body: str,
        *,
        issuer_name: str,
        issuer_person_id: int | None,
        channel: str,
    ) -> Prepared:
        return await actions.correct(
            self.broadcaster,
            code,
            body,
            issuer_name=issuer_name,
            issuer_person_id=issuer_person_id,
            channel=channel,
        )

    async def chase(self, code: str) -> int:
        if self._chaser is None:
            raise NoticeInvalid("本进程没有催办")
        return await self._chaser.chase_now(code)

    async def send(self, reply: Reply) -> None:
        await self._send(reply)


# --- across processes -------------------------------------------------------------------


def _request_json(request: NoticeRequest) -> dict[str, Any]:
    data = dataclasses.asdict(request)
    data["levels"] = list(request.levels)
    data["priority"] = request.priority.value
    data["kind"] = request.kind.value
    return data


def _request_from(data: Mapping[str, Any]) -> NoticeRequest:
    fields = dict(data)
    fields["levels"] = tuple(fields.get("levels", ()))
    fields["priority"] = NoticePriority(fields.get("priority", NoticePriority.NORMAL.value))
    fields["kind"] = NoticeKind(fields.get("kind", NoticeKind.NOTICE.value))
    return NoticeRequest(**fields)


def _prepared_json(prepared: Prepared) -> dict[str, Any]:
    data = dataclasses.asdict(prepared)
    data["lost_accounts"] = list(prepared.lost_accounts)
    return data


def _prepared_from(data: Mapping[str, Any]) -> Prepared:
    fields = dict(data)
    fields["lost_accounts"] = tuple(fields.get("lost_accounts", ()))
    return Prepared(**fields)


def _reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "room_id": reply.room_id,
        "contact_id": reply.contact_id,
        "mention_ids": list(reply.mention_ids),
    }


def desk_handlers(desk: LocalDesk) -> dict[str, Handler]:
    """The verbs the bot process answers, each turning the desk's exceptions into JSON."""

    def guarded(fn: Any) -> Handler:
        async def run(payload: Mapping[str, Any]) -> dict[str, Any]:
            try:
                return dict(await fn(payload))
            except NoticeInvalid as exc:
                return {"error": "invalid", "message": str(exc)}
            except NoticeNotFound as exc:
                return {"error": "not_found", "message": str(exc), "code": exc.code}
            except OrgPathNotFound as exc:
                return {
                    "error": "path",
                    "path": exc.path,
                    "suggestions": list(exc.suggestions),
                }

        return run

    async def prepare(p: Mapping[str, Any]) -> dict[str, Any]:
        prepared = await desk.prepare(_request_from(p["request"]), confirm=bool(p["confirm"]))
        return {"prepared": _prepared_json(prepared)}

    async def confirm(p: Mapping[str, Any]) -> dict[str, Any]:
        await desk.confirm(str(p["code"]))
        return {}

    async def cancel(p: Mapping[str, Any]) -> dict[str, Any]:
        await desk.cancel(str(p["code"]))
        return {}

    async def recall(p: Mapping[str, Any]) -> dict[str, Any]:
        outcome = await desk.recall(
            str(p["code"]),
            issuer_name=str(p["issuer_name"]),
            issuer_person_id=p.get("issuer_person_id"),
            channel=str(p["channel"]),
            reason=str(p.get("reason", "")),
        )
        return {"summary": outcome.summary_zh, "retraction": outcome.retraction_code}

    async def correct(p: Mapping[str, Any]) -> dict[str, Any]:
        prepared = await desk.correct(
            str(p["code"]),
            str(p["body"]),
            issuer_name=str(p["issuer_name"]),
            issuer_person_id=p.get("issuer_person_id"),
            channel=str(p["channel"]),
        )
        return {"prepared": _prepared_json(prepared)}

    async def chase(p: Mapping[str, Any]) -> dict[str, Any]:
        return {"reminded": await desk.chase(str(p["code"]))}

    async def send(p: Mapping[str, Any]) -> dict[str, Any]:
        reply = Reply(
            text=str(p["text"]),
            room_id=p.get("room_id"),
            contact_id=p.get("contact_id"),
            mention_ids=tuple(p.get("mention_ids") or ()),
        )
        try:
            await desk.send(reply)
        except Exception as exc:  # the web audits it as not sent
            return {"error": "send", "message": str(exc) or type(exc).__name__}
        return {}

    verbs = {
        "notice.prepare": prepare,
        "notice.confirm": confirm,
        "notice.cancel": cancel,
        "notice.recall": recall,
        "notice.correct": correct,
        "notice.chase": chase,
        "send": send,
    }
    return {verb: guarded(fn) for verb, fn in verbs.items()}


class RemoteDesk:
    """The desk of a web process with no bots: every question goes to the bot process."""

    def __init__(self, engine: AsyncEngine, *, timeout_s: float = REMOTE_TIMEOUT_S) -> None:
        self._engine = engine
        self._timeout_s = timeout_s

    async def _ask(self, verb: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        now = utcnow()
        request_id = await run_in_session(self._engine, lambda s: submit(s, verb, payload, now=now))
        outcome = await wait_for_answer(self._engine, request_id, timeout_s=self._timeout_s)
        if outcome.state != ANSWERED:
            if outcome.state == "abandoned":
                raise DeskUnavailable("发送进程（gridcast run）没有响应，未执行，请稍后再试")
            raise DeskUnavailable("发送进程仍在处理，请稍后在通知列表查看结果")
        result = outcome.result or {}
        match result.get("error"):
            case None:
                return result
            case "invalid":
                raise NoticeInvalid(str(result.get("message", "")))
            case "not_found":
                raise NoticeNotFound(str(result.get("code", "")))
            case "path":
                raise OrgPathNotFound(
                    str(result.get("path", "")), list(result.get("suggestions") or [])
                )
            case "send":
                raise RuntimeError(str(result.get("message", "")))
            case _:
                raise DeskUnavailable(str(result.get("message", "发送进程处理失败")))

    async def prepare(self, request: NoticeRequest, *, confirm: bool = False) -> Prepared:
        result = await self._ask(
            "notice.prepare", {"request": _request_json(request), "confirm": confirm}
        )
        return _prepared_from(result["prepared"])

    async def confirm(self, code: str) -> None:
        await self._ask("notice.confirm", {"code": code})

    async def cancel(self, code: str) -> None:
        await self._ask("notice.cancel", {"code": code})

    async def recall(
        self,
        code: str,
        *,
        issuer_name: str,
        issuer_person_id: int | None,
        channel: str,
        reason: str,
    ) -> RecallOutcome:
        result = await self._ask(
            "notice.recall",
            {
                "code": code,
                "issuer_name": issuer_name,
                "issuer_person_id": issuer_person_id,
                "channel": channel,
                "reason": reason,
            },
        )
        retraction = result.get("retraction")
        return RecallOutcome(str(result["summary"]), str(retraction) if retraction else None)

    async def correct(
        self,
        code: str,
        body: str,
        *,
        issuer_name: str,
        issuer_person_id: int | None,
        channel: str,
    ) -> Prepared:
        result = await self._ask(
            "notice.correct",
            {
                "code": code,
                "body": body,
                "issuer_name": issuer_name,
                "issuer_person_id": issuer_person_id,
                "channel": channel,
            },
        )
        return _prepared_from(result["prepared"])

    async def chase(self, code: str) -> int:
        return int((await self._ask("notice.chase", {"code": code}))["reminded"])

    async def send(self, reply: Reply) -> None:
        if reply.attachment is not None:  # files go from the bot process's own jobs only
            raise ValueError("web processes send text messages only")
        await self._ask("send", _reply_json(reply))
