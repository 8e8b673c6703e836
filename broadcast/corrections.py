"""A correction (更正) that asks for receipts stands in for the notice it corrects.

Once such a correction is out, a leader's ``收到`` in a group lands on it (the latest
notice of the group, :mod:`broadcast.receipts`), not on the original. So, in one place
for every reader (chasing, the contact party members' visits, the 旬查, the 月结):

- a delivery of a notice counts as acknowledged when it, or the delivery of one of its
  corrections to the same group, is acknowledged (:func:`acknowledged`; a correction of
  a correction counts too);
- a notice superseded by a correction that asks for receipts and is being sent (or was)
  is not chased, nor visited, on its own: its correction is (:func:`superseded`).

Both are SQL expressions over the entities given, correlated with the enclosing query.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import CTE, ColumnElement, and_, exists, or_
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import col

from models.broadcast import Delivery, Notice, NoticeKind, NoticeStatus

__all__ = ["acknowledged", "awaiting_receipt", "superseded"]

LIVE = (NoticeStatus.SENDING, NoticeStatus.DONE)
"""A correction in these states has taken over its original's receipts."""


@cache
def _lineage() -> CTE:
    """(ancestor, descendant) notice ids along chains of corrections. One object, so a
    statement that uses it twice renders it once."""
    child = aliased(Notice)
    lineage = (
        sa_select(col(Notice.parent_id).label("ancestor"), col(Notice.id).label("descendant"))
        .where(col(Notice.kind) == NoticeKind.CORRECTION, col(Notice.parent_id).is_not(None))
        .cte("correction_lineage", recursive=True)
    )
    return lineage.union_all(
        sa_select(lineage.c.ancestor, col(child.id)).where(
            col(child.parent_id) == lineage.c.descendant,
            col(child.kind) == NoticeKind.CORRECTION,
        )
    )


def acknowledged(delivery: Any = Delivery) -> ColumnElement[bool]:
    """The delivery (``Delivery`` or an alias of it) counts as acknowledged: its own
    receipt, or one to a correction of its notice in the same group."""
    later = aliased(Delivery)
    lineage = _lineage()
    via_correction = exists(
        sa_select(1)
        .select_from(later)
        .join(lineage, lineage.c.descendant == col(later.notice_id))
        .where(
            lineage.c.ancestor == delivery.notice_id,
            col(later.chat_group_id) == delivery.chat_group_id,
            col(later.acked_at).is_not(None),
        )
    )
    return or_(col(delivery.acked_at).is_not(None), via_correction)


def superseded(notice: Any = Notice) -> ColumnElement[bool]:
    """The notice (``Notice`` or an alias of it) has a correction that asks for receipts
    and is being sent or was: that correction is chased and visited instead."""
    correction = aliased(Notice)
    return exists().where(
        col(correction.parent_id) == notice.id,
        col(correction.kind) == NoticeKind.CORRECTION,
        col(correction.ack_required).is_(True),
        col(correction.status).in_(LIVE),
    )


def awaiting_receipt(delivery: Any = Delivery, notice: Any = Notice) -> ColumnElement[bool]:
    """The delivery's group still owes a receipt for this very notice: not acknowledged
    (:func:`acknowledged`) and its notice not superseded (:func:`superseded`)."""
    return and_(~acknowledged(delivery), ~superseded(notice))
