"""The ticket outbox: replies produced outside the bot process (``gridcast tickets
create``, the web) wait here until the bot's timer job takes and sends them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from core.messaging import Reply
from models.tickets import TicketOutbox

__all__ = ["queue_replies", "take_outbox"]


def queue_replies(
    *, session: Session, replies: Iterable[Reply], now: datetime, ticket_id: int | None = None
) -> int:
    """Keep replies for the bot process to send (from the CLI or the web)."""
    count = 0
    for reply in replies:
        session.add(
            TicketOutbox(
                ticket_id=ticket_id,
                room_id=reply.room_id,
                contact_id=reply.contact_id,
                mention_ids=list(reply.mention_ids),
                text=reply.text,
                created_at=now,
            )
        )
        count += 1
    return count


def take_outbox(*, session: Session, now: datetime, limit: int = 200) -> list[Reply]:
    """Queued replies, marked as taken (each is handed out once)."""
    rows = session.exec(
        select(TicketOutbox)
        .where(col(TicketOutbox.taken_at).is_(None))
        .order_by(col(TicketOutbox.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    replies = []
    for row in rows:
        row.taken_at = now
        replies.append(
            Reply(
                row.text,
                room_id=row.room_id,
                contact_id=row.contact_id,
                mention_ids=tuple(row.mention_ids),
            )
        )
    return replies
