"""The audit trail for what people do in chat: the sender as a principal, the channel
``chat``, the WeChat contact as the source."""

from __future__ import annotations

from sqlmodel import Session

from bot.dispatcher import Context
from core.audit import record
from core.policy import Post, Principal
from models.auth import AuditChannel, AuditOutcome
from models.org import OrgPath

__all__ = ["chat_principal", "record_chat"]


def chat_principal(context: Context) -> Principal | None:
    """The roster person who wrote, or None for someone not in the roster."""
    sender = context.sender
    if sender.person_id is None:
        return None
    return Principal(
        kind="person",
        id=str(sender.person_id),
        name=sender.name,
        posts=tuple(Post(role, path) for role, path in sender.roles),
        person_id=sender.person_id,
    )


def record_chat(
    session: Session,
    context: Context,
    action: str,
    *,
    outcome: AuditOutcome = AuditOutcome.OK,
    target: str = "",
    scope: OrgPath = (),
    message: str = "",
) -> None:
    record(
        session,
        principal=chat_principal(context),
        channel=AuditChannel.CHAT,
        action=action,
        outcome=outcome,
        now=context.now,
        source=context.message.sender_id,
        target=target,
        scope=scope or (context.group.path if context.group else ()),
        message=message,
        actor_name=context.message.sender_name,
    )
