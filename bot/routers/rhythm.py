"""The rhythm's chat commands: 会商 T… 结论 … (consultation outcomes), 已解决 / 未解决
(call-back answers, 回访) and a grid leader's 领取 / 进度 / 完成 / 退回 on tasks.

Include it before the ticket router: it answers only its own grammar, and only from
people it concerns (a call-back answer from someone who was asked; a task verb from a
grid leader with a task or naming a task code), so every other message goes on to intake.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, time

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from bot.audit import chat_principal, record_chat
from bot.dispatcher import Context, Router, reply_in_place
from broadcast.service import scope_unit
from core.clock import TOWN_TZ, format_local_time, local_day
from core.config import Settings
from core.messaging import Reply
from core.policy import Permission, decide
from models.auth import AuditOutcome
from models.db import run_in_session
from models.org import town_relative
from rhythm.commands import (
    AssignCommand,
    CallBackAnswer,
    ConsultCommand,
    RhythmError,
    TaskCommand,
    parse_rhythm_command,
)
from rhythm.consultation import (
    CONSULT_RECORDERS,
    answer_call_back,
    consult_scope,
    pending_call_backs,
    record_consultation,
)
from rhythm.tasks import (
    TaskError,
    assign_task,
    handle_task_command,
    has_open_task,
    task_status,
)
from tickets.errors import TicketError
from tickets.lifecycle import TransitionRefused
from tickets.rows import load_ticket

__all__ = ["rhythm_router"]

DEFAULT_DUE_TIME = time(18, 0)
"""A task due on a day is due at the end of its working day."""

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


def _assign(
    session: Session, settings: Settings, context: Context, command: AssignCommand
) -> list[Reply]:
    """#任务: resolve the scopes (a station chief's bare 第2网格 is in their village), check
    each against the policy, assign, and tell the issuer what went to whom."""
    principal = chat_principal(context)
    own = [post.scope for post in principal.posts] if principal is not None else []
    paths = []
    for written in command.scopes:
        try:
            unit = scope_unit(session, written, town=settings.town.name, relative_to=own)
        except LookupError:
            raise _Refused(
                f"找不到范围「{written}」（写法：村、村/网格 或 村/网格/单元）。",
                "task.assign",
                written,
            ) from None
        decision = decide(principal, Permission.ASSIGN_TASK, scope=town_relative(unit.path))
        if not decision:
            raise _Refused(decision.reason, "task.assign", written)
        paths.append(unit.path)
    now = context.now
    if command.within is not None:
        deadline = now + command.within
    else:
        assert command.day is not None
        local = datetime.combine(command.day, command.at or DEFAULT_DUE_TIME, tzinfo=TOWN_TZ)
        deadline = local.astimezone(UTC)
    try:
        task, replies = assign_task(
            session,
            settings,
            title=command.title,
            scope=paths,
            deadline=deadline,
            now=now,
            issuer_name=context.sender.name,
            issuer_contact_id=context.sender.contact_id,
            issuer_person_id=context.sender.person_id,
            body=command.body,
            checklist=command.checklist,
        )
    except TaskError as error:
        raise _Refused(error.message, "task.assign", ",".join(command.scopes)) from None
    record_chat(session, context, "task.assign", target=task.code, message=command.title)
    grids = task_status(session, task.code)[1]
    without = [row.grid for row in grids if not row.leader]
    # The grids' leaders, not the messages: a checklist also writes to shop owners.
    text = (
        f"任务 {task.code}「{task.title}」已下达到 {len(grids) - len(without)} 位网格长，"
        f"期限 {format_local_time(deadline)}。网格长回复“领取 {task.code}”“进度 {task.code} 60%”"
        f"“完成 {task.code}”办理。"
    )
    if without:
        text += f"\n以下网格没有网格长，请另行安排：{'、'.join(without)}。"
    return [reply_in_place(context.message, text), *replies]


def _handle(
    session: Session,
    settings: Settings,
    context: Context,
    command: AssignCommand | ConsultCommand | CallBackAnswer | TaskCommand | RhythmError,
) -> list[Reply] | None:
    message = context.message
    sender, name, now = message.sender_id, message.sender_name, context.now
    match command:
        case AssignCommand():
            if context.sender.person_id is None:
                return None
            return _assign(session, settings, context, command)
        case RhythmError():
            if context.sender.person_id is None:
                return None  # a resident's words that look like a command: not ours
            return [reply_in_place(message, command.message)]
        case ConsultCommand():
            try:
                ticket = load_ticket(session, command.code)
            except TicketError as error:
                raise _Refused(error.message, "ticket.consult", command.code) from None
            principal = chat_principal(context)
            if principal is None:  # a resident: there is nobody to sign in
                raise _Refused(
                    f"会商结论由参加会商的工作人员记录（{CONSULT_RECORDERS}）。"
                    f"您可以发送「查询 {ticket.code}」了解处理进度。",
                    "ticket.consult",
                    command.code,
                )
            scope = consult_scope(session, ticket)
            decision = decide(principal, Permission.ACT_ON_TICKET, scope=scope)
            if not decision:
                raise _Refused(
                    f"只有{CONSULT_RECORDERS}可以记录会商结论：{decision.reason}。",
                    "ticket.consult",
                    command.code,
                )
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
