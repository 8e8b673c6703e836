"""Chat handler for 每家每户: a unit leader's ``已通知 12/14户`` (or ``已全部通知``) in the
unit group or privately to a bot, recorded for the latest notice of their unit.

Include it before the ticket router: such a message is a count, not a complaint. It
answers only unit leaders (in a group: of that unit); anyone else's message goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from bot.audit import record_chat
from bot.dispatcher import Context, Router, reply_in_place
from broadcast.household_reach import ClaimAnswer, record_claim
from broadcast.households import malformed_claim, parse_claim
from core.messaging import Reply
from models.auth import AuditOutcome
from models.db import run_in_session
from models.enums import Level

__all__ = ["households_router"]


def households_router(engine: AsyncEngine, *, window: timedelta) -> Router:
    """``window``: a count belongs to the latest notice that reached the unit group
    within it (``broadcast.ack_window``)."""
    router = Router("households")

    @router.message("households")
    async def confirm(context: Context) -> Sequence[Reply] | None:
        message = context.message
        if context.sender.person_id is None:
            return None
        group = context.group
        if message.room_id is not None and (group is None or group.level != Level.UNIT.value):
            return None
        claim = parse_claim(context.text)
        if claim is None:
            # 已通知 -3/48户: written as a count, but not one; say so rather than stay silent.
            problem = malformed_claim(context.text)
            if problem is None:
                return None

            def refuse(session: Session) -> None:
                record_chat(
                    session,
                    context,
                    "notice.households",
                    outcome=AuditOutcome.REFUSED,
                    message=problem[:200],
                )

            await run_in_session(engine, refuse)
            return [reply_in_place(message, problem)]

        def work(session: Session) -> ClaimAnswer | None:
            answer = record_claim(
                session,
                claim,
                person_id=context.sender.person_id,
                contact_id=message.sender_id,
                name=context.sender.name,
                text=context.text,
                now=context.now,
                window=window,
                group_unit_id=group.org_unit_id if group is not None else None,
            )
            if answer is not None:
                record_chat(
                    session,
                    context,
                    "notice.households",
                    outcome=AuditOutcome.OK if answer.recorded else AuditOutcome.REFUSED,
                    target=answer.notice_code or "",
                    message=answer.text[:200],
                )
            return answer

        answer = await run_in_session(engine, work)
        if answer is None:
            return None
        return [reply_in_place(message, answer.text)]

    return router
