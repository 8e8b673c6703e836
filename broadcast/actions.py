"""撤回 and 更正 of a notice that went out: what the chat's ``#撤回`` / ``#更正`` and the
console's buttons do, written once so that both channels do the same thing.

A recall (撤回) stops the notice at once (nothing more is sent, its silent units are no
longer chased, its reminders still to be sent are cancelled) and then tells every group
that got it, if any did; a correction (更正) goes to every group that got the original
(of an original still being sent: once it has finished), and asks for its own receipts
when the original did. Both are child notices (``parent_code``).

The caller has already asked the policy (:data:`core.policy.Permission.MANAGE_NOTICE`)
and records the audit entry; these functions only refuse what makes no sense for the
notice's state (a notice never sent, one already recalled), with a Chinese reason, before
anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from broadcast import compose, service
from broadcast.engine import Broadcaster, NoticeRequest, Prepared
from models.broadcast import Notice, NoticeKind, NoticeStatus
from models.db import run_in_session

__all__ = ["RECALL_BODY", "Recalled", "correct", "recall", "refusal"]

RECALL_BODY = "撤回"
"""The body stored on a retraction given no reason (the posted text names the original)."""


def refusal(notice: Notice, verb: str) -> str | None:
    """Why ``notice`` cannot be recalled (``verb="recall"``) or corrected
    (``"correct"``) in its present state, or None. Pure."""
    word = "撤回" if verb == "recall" else "更正"
    if notice.kind is NoticeKind.RETRACTION:
        return f"{notice.code} 本身是一条撤回消息，不能再{word}"
    match notice.status:
        case NoticeStatus.PENDING:
            return f"通知 {notice.code} 还没有发送，请直接取消它，不必{word}"
        case NoticeStatus.CANCELLED:
            return f"通知 {notice.code} 已取消，没有发出，不必{word}"
        case NoticeStatus.RECALLED:
            return f"通知 {notice.code} 已经撤回，不能再{word}"
        case NoticeStatus.SENDING | NoticeStatus.DONE:
            return None


async def _actionable(broadcaster: Broadcaster, code: str, verb: str) -> Notice:
    """The notice, if ``verb`` makes sense for it (else :class:`compose.NoticeInvalid`);
    :class:`service.NoticeNotFound` when there is none."""

    def read(session: Session) -> Notice:
        return service.notice_by_code(session, code)

    notice = await run_in_session(broadcaster.engine, read)
    reason = refusal(notice, verb)
    if reason is not None:
        raise compose.NoticeInvalid(reason)
    return notice


@dataclass(frozen=True, slots=True)
class Recalled:
    stopped: service.Stopped
    retraction: Prepared | None
    """The 【撤回】 line sent to the groups that got the notice (None: none had)."""

    def summary_zh(self) -> str:
        """What was done, for the issuer."""
        code = self.stopped.notice.code
        parts = [f"通知 {code} 已撤回"]
        if self.stopped.cancelled:
            parts.append(f"还没发出的 {self.stopped.cancelled} 个群不再发送")
        parts.append("不再催办")
        if self.retraction is not None:
            parts.append(
                f"撤回说明 {self.retraction.code} 正在发往已收到的 {self.retraction.groups} 个群"
            )
        else:
            parts.append("没有群收到过它，不用发撤回说明")
        return "，".join(parts) + "。"


async def recall(
    broadcaster: Broadcaster,
    code: str,
    *,
    issuer_name: str,
    issuer_person_id: int | None,
    channel: str,
    reason: str,
) -> Recalled:
    """撤回 ``code``: stop it, then send the retraction to every group that got it."""
    notice = await _actionable(broadcaster, code, "recall")
    body = compose.clean_text(reason) or RECALL_BODY
    compose.validate(notice.title, body)  # before anything changes: a bad reason stops here
    stopped = await broadcaster.retract(notice.code)
    if not stopped.reached:
        return Recalled(stopped, None)
    retraction = await broadcaster.send(
        NoticeRequest(
            title=notice.title,
            body=body,
            scope="",
            issuer_name=issuer_name,
            issuer_person_id=issuer_person_id,
            channel=channel,
            kind=NoticeKind.RETRACTION,
            parent_code=notice.code,
            ack_required=False,
            priority=notice.priority,
        )
    )
    return Recalled(stopped, retraction)


async def correct(
    broadcaster: Broadcaster,
    code: str,
    body: str,
    *,
    issuer_name: str,
    issuer_person_id: int | None,
    channel: str,
) -> Prepared:
    """更正 ``code``: send ``body`` as its correction to every group that got it.

    Returns the correction (the child notice) as prepared and started: of an original
    still being sent, it waits for it (see :class:`broadcast.engine.Broadcaster`).
    """
    notice = await _actionable(broadcaster, code, "correct")
    return await broadcaster.send(
        NoticeRequest(
            title=notice.title,
            body=body,
            scope="",
            issuer_name=issuer_name,
            issuer_person_id=issuer_person_id,
            channel=channel,
            kind=NoticeKind.CORRECTION,
            parent_code=notice.code,
            ack_required=notice.ack_required,
            priority=notice.priority,
        )
    )
