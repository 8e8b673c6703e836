"""The same problem reported twice: how alike two reports are, and the open ticket a new
report duplicates (merged into it as another reporter rather than filed again)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, col, select

from core.config import TicketSettings
from models.enums import Urgency
from models.tickets import Ticket
from tickets.lifecycle import OPEN_STATES

__all__ = ["find_duplicate", "locations_conflict", "similarity"]

_FILLER = frozenset("了的吗呢啊吧呀哦嘛啦哈都又还很太也就是在有我你他她们这那个")


def _bigrams(text: str) -> set[str]:
    chars = "".join(c for c in re.sub(r"[\W_]", "", text.casefold()) if c not in _FILLER)
    if len(chars) < 2:
        return {chars} if chars else set()
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def similarity(a: str, b: str) -> float:
    """How alike two reports are, 0-1: the overlap coefficient of their character bigrams
    (shared bigrams / bigrams of the shorter text), ignoring punctuation and particles.

    The overlap coefficient rather than Jaccard, because a second report of the same
    problem is usually much shorter than the first ("3栋下水道又堵了").
    """
    grams_a, grams_b = _bigrams(a), _bigrams(b)
    if not grams_a or not grams_b:
        return 0.0
    return len(grams_a & grams_b) / min(len(grams_a), len(grams_b))


def locations_conflict(a: str | None, b: str | None) -> bool:
    """Two known locations that are not the same place (3栋 vs 5栋)."""
    if not a or not b:
        return False
    return a not in b and b not in a


def find_duplicate(
    session: Session,
    settings: TicketSettings,
    *,
    grid_id: int | None,
    village_id: int | None,
    unit_id: int,
    category: str,
    text: str,
    location: str | None,
    now: datetime,
    urgency: Urgency | None = None,
) -> Ticket | None:
    """The open ticket of the same area and category, filed within the duplicate window,
    whose text is most alike (at least ``tickets.duplicate_similarity``).

    An urgent report duplicates only an urgent ticket: joined to one that is not, it
    would wait on the normal deadlines, and nobody would be alerted."""
    statement = select(Ticket).where(
        Ticket.category == category,
        col(Ticket.state).in_(list(OPEN_STATES)),
        col(Ticket.created_at) >= now - settings.duplicate_window,
    )
    if urgency is Urgency.URGENT:
        statement = statement.where(Ticket.urgency == Urgency.URGENT)
    if grid_id is not None:
        statement = statement.where(Ticket.grid_id == grid_id)
    elif village_id is not None:
        statement = statement.where(Ticket.village_id == village_id, col(Ticket.grid_id).is_(None))
    else:
        statement = statement.where(Ticket.unit_id == unit_id)
    best: tuple[float, Ticket] | None = None
    for candidate in session.exec(statement.order_by(col(Ticket.id))):
        if locations_conflict(location, candidate.location):
            continue
        score = similarity(text, candidate.text)
        if location and candidate.location:
            score += 0.2  # the same place named in both
        if score >= settings.duplicate_similarity and (best is None or score > best[0]):
            best = (score, candidate)
    return best[1] if best is not None else None
