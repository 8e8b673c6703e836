"""Chat handler for 双单元长 on tickets and tasks: a shop owner's ``收到 T…``, a second
unit leader's ``已督促 T…``, and ``完成 R…`` from either for their shop's task item.

Include it before the rhythm and ticket routers: it answers only the two leaders of a
shop with a ticket or task item waiting for them; every other message goes on.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from bot.audit import record_chat
from bot.dispatcher import Context, Router, reply_in_place
from core.clock import local_day
from core.messaging import Reply
from models.db import run_in_session
from rhythm.commands import TaskCommand, parse_rhythm_command
from rhythm.shop_tasks import shop_task_done
from tickets.shops import handle_shop_reply, parse_shop_reply

__all__ = ["shops_router"]


def shops_router(engine: AsyncEngine) -> Router:
    router = Router("shops")

    @router.message("shops")
    async def handle(context: Context) -> Sequence[Reply] | None:
        message = context.message
        if context.sender.person_id is None:
            return None
        reply = parse_shop_reply(context.text)
        task: TaskCommand | None = None
        if reply is None:
            command = parse_rhythm_command(context.text, today=local_day(context.now))
            if not isinstance(command, TaskCommand) or command.verb != "done":
                return None
            task = command
        if reply is not None and reply.code is None and not message.is_private:
            return None  # a bare 收到 in a group is a notice receipt

        def work(session: Session) -> list[Reply] | None:
            if reply is not None:
                text = handle_shop_reply(
                    session,
                    reply,
                    contact_id=message.sender_id,
                    name=context.sender.name,
                    now=context.now,
                )
                if text is None:
                    return None
                action = "ticket.shop_ack" if reply.verb == "ack" else "ticket.shop_urged"
                record_chat(session, context, action, target=reply.code or "", message=text[:200])
                return [reply_in_place(message, text)]
            assert task is not None
            done = shop_task_done(
                session,
                contact_id=message.sender_id,
                name=context.sender.name,
                code=task.code,
                note=task.note,
                now=context.now,
            )
            if done is None:
                return None
            text, others = done
            record_chat(session, context, "task.shop_done", target=task.code or "", message=text)
            return [reply_in_place(message, text), *others]

        return await run_in_session(engine, work)

    return router
