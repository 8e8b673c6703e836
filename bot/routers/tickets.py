"""The ticket router (工单): chat commands, ratings and intake, for the dispatcher.

Include it after the command routers (directory, notices) and before the notice-receipt
router: it answers commands (接单 T…, 查询 T…, 我的工单, ...) in bound rooms and in private
chats, ratings from reporters, and files every other message of a bound group through
intake. Acknowledgements (收到) and ordinary chat are stored and then passed on
(the handler returns ``None``), so the receipt router still sees them.

Each message is handled in one database transaction. A refused command changes nothing
(its transaction is rolled back) and the message is stored in a second one; so is a
message whose handling failed. Domain errors become Chinese replies here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from bot.audit import record_chat
from bot.dispatcher import Context, Router, reply_in_place
from core.config import Settings
from core.messaging import Reply
from models.auth import AuditOutcome
from models.db import run_in_session
from models.tickets import IntakeKind
from tickets.actions import act, rate
from tickets.chat_intake import intake, log_message, message_seen
from tickets.commands import (
    Command,
    CommandError,
    MyTickets,
    QueryTicket,
    RateCommand,
    ReassignCommand,
    TicketCommand,
    parse_command,
)
from tickets.configured import configured_parser
from tickets.errors import TicketError
from tickets.lifecycle import TransitionRefused
from tickets.private_intake import Home, private_report
from tickets.queries import my_tickets, query, report_status
from tickets.safety import safety_advice
from tickets.status_questions import status_question

__all__ = ["tickets_router"]

log = logging.getLogger(__name__)

_FAILED = "抱歉，系统处理这条消息时出错了。您的留言已保存，工作人员会查看处理。"
_NO_RATING = "您目前没有待评价的工单。如需反映问题，请在所在的单元群或网格群里说明情况。"


def tickets_router(engine: AsyncEngine, settings: Settings) -> Router:
    """The dispatcher router of the ticket system on ``engine``.

    Building it loads the intake parser's dictionaries (about a second, once per
    process), so that the first resident's reply is not late.
    """
    configured_parser(settings).parse("3栋楼道的灯坏了")
    router = Router("tickets")

    @router.message("tickets")
    async def handle(context: Context) -> Sequence[Reply] | None:
        message = context.message
        if message.room_id is not None and context.group is None:
            return None  # a room not bound to the org tree: not ours
        command = parse_command(context.text, departments=settings.departments)

        def work(session: Session) -> list[Reply] | None:
            return _handle(session, settings, context, command)

        try:
            return await run_in_session(engine, work)
        except (TicketError, TransitionRefused) as exc:
            reason = exc.message if isinstance(exc, TicketError) else exc.reason

            def refused(session: Session) -> None:
                _keep(session, context, IntakeKind.COMMAND)
                if isinstance(command, TicketCommand | ReassignCommand):
                    record_chat(
                        session,
                        context,
                        f"ticket.{_verb(command)}",
                        outcome=AuditOutcome.REFUSED,
                        target=command.code,
                        message=reason,
                    )

            await run_in_session(engine, refused)
            return [reply_in_place(message, reason)]
        except Exception:
            log.exception("tickets: message %s could not be handled", message.message_id)
            await run_in_session(engine, lambda s: _keep(s, context, IntakeKind.ERROR))
            return [reply_in_place(message, _FAILED)]

    return router


def _verb(command: TicketCommand | ReassignCommand) -> str:
    """``accept``, ``resolve``, ``whistle`` … (the lifecycle action's name)."""
    if isinstance(command, ReassignCommand):
        return "reassign"
    return type(command.action).__name__.lower()


def _keep(session: Session, context: Context, kind: IntakeKind) -> None:
    """Store a message whose handling was rolled back (never lose one)."""
    message = context.message
    if message_seen(session, message.message_id):
        return
    log_message(
        session=session,
        kind=kind,
        text=message.text,
        sender_contact_id=message.sender_id,
        sender_name=message.sender_name,
        now=context.now,
        message_id=message.message_id,
        room_id=message.room_id,
        org_unit_id=context.group.org_unit_id if context.group else None,
    )


def _handle(
    session: Session,
    settings: Settings,
    context: Context,
    command: Command | CommandError | None,
) -> list[Reply] | None:
    message = context.message
    if message_seen(session, message.message_id):
        return []  # already handled (a redelivery after a restart)
    sender, name, now = message.sender_id, message.sender_name, context.now

    def keep(kind: IntakeKind) -> None:
        _keep(session, context, kind)

    match command:
        case CommandError():
            keep(IntakeKind.COMMAND)
            return [reply_in_place(message, command.message)]
        case TicketCommand() | ReassignCommand():
            outcome = act(
                session=session,
                settings=settings,
                command=command,
                actor_contact_id=sender,
                actor_name=name,
                now=now,
                mention_ids=message.mention_ids,
            )
            keep(IntakeKind.COMMAND)
            record_chat(
                session,
                context,
                f"ticket.{_verb(command)}",
                target=command.code,
                message=outcome.reply[:200],
            )
            return [reply_in_place(message, outcome.reply), *outcome.replies]
        case QueryTicket():
            text = query(
                session=session,
                settings=settings,
                code=command.code,
                contact_id=sender,
                name=name,
                now=now,
                in_group=message.room_id is not None,
            )
            keep(IntakeKind.COMMAND)
            return [reply_in_place(message, text)]
        case MyTickets():
            text = my_tickets(
                session=session, settings=settings, contact_id=sender, name=name, now=now
            )
            keep(IntakeKind.COMMAND)
            return [reply_in_place(message, text)]
        case RateCommand():
            rated = rate(
                session=session,
                settings=settings,
                command=command,
                contact_id=sender,
                name=name,
                now=now,
            )
            if rated is not None:
                keep(IntakeKind.RATING)
                return [reply_in_place(message, rated.reply), *rated.replies]
            if context.group is None:
                return [reply_in_place(message, _NO_RATING)]
            # 满意 with nothing to rate, in a group: an ordinary message.
    if context.text.startswith(("#", "＃")):
        keep(IntakeKind.NOT_TICKET)  # a command for another router (#通知 ...)
        return None
    asked = status_question(context.text)
    if asked is not None:
        # About their own earlier report: answer from their tickets, file nothing new.
        keep(IntakeKind.COMMAND)
        text = report_status(
            session=session, settings=settings, contact_id=sender, topic=asked.topic, now=now
        )
        return [reply_in_place(message, text)]
    if context.group is None:
        return _private(session, settings, context)
    filed = intake(
        session=session,
        settings=settings,
        text=context.text,
        sender_contact_id=sender,
        sender_name=name,
        room_id=message.room_id,
        org_unit_id=context.group.org_unit_id,
        now=now,
        message_id=message.message_id,
        raw_text=message.text,
    )
    if filed.kind in (IntakeKind.NOT_TICKET, IntakeKind.ACKNOWLEDGEMENT):
        advice = safety_advice(context.text) if filed.kind is IntakeKind.NOT_TICKET else None
        return [reply_in_place(message, advice)] if advice else None
    return _with_safety_advice(context.text, list(filed.replies))


def _with_safety_advice(text: str, replies: list[Reply]) -> list[Reply]:
    """A danger report (gas, fire, smoke, someone trapped or collapsed): the advice goes
    in the same reply as the ticket code (:mod:`tickets.safety`)."""
    advice = safety_advice(text)
    if advice and replies:
        first = replies[0]
        replies[0] = Reply(
            text=f"{first.text}\n{advice}",
            room_id=first.room_id,
            contact_id=first.contact_id,
            mention_ids=first.mention_ids,
        )
    return replies


_PRIVATE_HINT = (
    "您好，我是网格助手。有问题请直接说明情况（什么地方、什么问题），我会登记工单并转给负责人；"
    "问负责人可以说“我们的网格长是谁”；查进度请发送“我的工单”。"
)


def _private(session: Session, settings: Settings, context: Context) -> list[Reply] | None:
    """A private message that is no command: intake too, filed under the writer's unit."""
    message = context.message
    homes = [
        Home(org_unit_id=g.org_unit_id, path=g.path, level=g.level)
        for g in context.sender.home_groups
    ]
    outcome = private_report(
        session=session,
        settings=settings,
        text=context.text,
        raw_text=message.text,
        contact_id=message.sender_id,
        name=message.sender_name,
        message_id=message.message_id,
        homes=homes,
        now=context.now,
    )
    if outcome.kind is IntakeKind.NOT_TICKET:
        advice = safety_advice(context.text)
        if advice:
            return [reply_in_place(message, advice)]
        # Staff chat privately with the bot about their work: only residents get the hint.
        return None if context.sender.roles else [reply_in_place(message, _PRIVATE_HINT)]
    return _with_safety_advice(outcome.text, list(outcome.replies))
