"""The rhythm's chat commands: 会商 T… 结论 … (consultation outcomes), 已解决 / 未解决
(call-back answers, 回访) and a grid leader's 领取 / 进度 / 完成 / 退回 on tasks.

Include it before the ticket router: it answers only its own grammar, and only from
people it concerns (a call-back answer from someone who was asked; a task verb from a
grid leader with a task or naming a task code), so every other message goes on to intake.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from bot.audit import chat_principal, record_chat
from bot.dispatcher import Context, Router, reply_in_place
from core.clock import local_day
from core.config import Settings
from core.messaging import Reply
from core.policy import Permission, decide
from models.auth import AuditOutcome
from models.db import run_in_session
from models.org import OrgUnit
from rhythm.commands import (
    CallBackAnswer,
    ConsultCommand,
    RhythmError,
    TaskCommand,
    parse_rhythm_command,
)
from rhythm.consultation import answer_call_back, pending_call_backs, record_consultation
from rhythm.tasks import TaskError, handle_task_command, has_open_task
from tickets.errors import TicketError
from tickets.lifecycle import TransitionRefused
from tickets.rows import load_ticket

__all__ = ["rhythm_router"]

log = logging.getLogger(__name__)


class _Refused(Exception):
    def __init__(self, message: str, action: str, target: str) -> None:
        super().__init__(message)
        self.message, self.action, self.target = message, action, target


def rhythm_router(engine: AsyncEngine, settings: Settings) -> Router:
    router = Router("rhythm")

    @router.message("rhythm")
    async def handle(context: Context) -> Sequence[Reply] | None:
        if context.message.room_id is not None and context.group is None:
            return None
        command = parse_rhythm_command(context.text, today=local_day(context.now))
        if command is None:
            return None

        def work(session: Session) -> list[Reply] | None:
            return _handle(session, settings, context, command)

        try:
            return await run_in_session(engine, work)
        except _Refused as error:
            refused = error

            def audit(session: Session) -> None:
                record_chat(
                    session,
                    context,
                    refused.action,
                    outcome=AuditOutcome.REFUSED,
                    target=refused.target,
                    message=refused.message,
                )

            await run_in_session(engine, audit)
            return [reply_in_place(context.message, refused.message)]

    return router


def _handle(
    session: Session,
    settings: Settings,
    context: Context,
    command: ConsultCommand | CallBackAnswer | TaskCommand | RhythmError,
) -> list[Reply] | None:
    message = context.message
    sender, name, now = message.sender_id, message.sender_name, context.now
    match command:
        case RhythmError():
            if context.sender.person_id is None:
                return None  # a resident's words that look like a command: not ours
            return [reply_in_place(message, command.message)]
        case ConsultCommand():
            try:
                ticket = load_ticket(session, command.code)
            except TicketError as error:
                raise _Refused(error.message, "ticket.consult", command.code) from None
            scope = _scope(session, ticket.village_id)
            decision = decide(chat_principal(context), Permission.ACT_ON_TICKET, scope=scope)
            if not decision:
                raise _Refused(decision.reason, "ticket.consult", command.code)
            try:
                recorded = record_consultation(
                    session, settings, command, contact_id=sender, name=name, now=now
                )
            except TransitionRefused as refused:
                raise _Refused(refused.reason, "ticket.consult", command.code) from None
            record_chat(
                session,
                context,
                "ticket.consult",
                target=command.code,
                message=command.conclusion[:200],
            )
            return [reply_in_place(message, recorded.reply), *recorded.replies]
        case CallBackAnswer():
            pending = pending_call_backs(session, sender)
            if not pending or not message.is_private:
                return None
            try:
                recorded = answer_call_back(
                    session,
                    settings,
                    command,
                    contact_id=sender,
                    name=name,
                    now=now,
                    pending=pending,
                )
            except TransitionRefused as refused:
                raise _Refused(refused.reason, "ticket.call_back", command.code or "") from None
            record_chat(
                session,
                context,
                "ticket.call_back",
                target=command.code or "",
                message=recorded.reply[:200],
            )
            return [reply_in_place(message, recorded.reply), *recorded.replies]
        case TaskCommand():
            if command.code is None and not has_open_task(session, sender):
                return None
            try:
                reply, others = handle_task_command(
                    session, settings, command, contact_id=sender, name=name, now=now
                )
            except TaskError as error:
                raise _Refused(error.message, f"task.{command.verb}", command.code or "") from None
            record_chat(
                session,
                context,
                f"task.{command.verb}",
                target=command.code or "",
                message=reply[:200],
            )
            return [reply_in_place(message, reply), *others]
    return None


def _scope(session: Session, village_id: int | None) -> tuple[str, ...]:
    village = session.get(OrgUnit, village_id) if village_id is not None else None
    return village.town_path if village is not None else ()
