"""The facts of a ticket that the cadences read, with its deadlines worked out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, or_, select

from core.config import Settings
from core.privacy import mask_phones_in_text
from models.enums import TicketLevel, TicketState
from models.tickets import Ticket
from tickets.configured import sla_policy
from tickets.lifecycle import AWAITING_ACCEPTANCE, OPEN_STATES
from tickets.rows import ticket_view
from tickets.sla import deadlines_for

__all__ = ["CaseFacts", "load_cases"]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    ticket_id: int
    code: str
    state: TicketState
    level: TicketLevel
    category: str
    village_id: int | None
    grid_id: int | None
    unit_id: int
    created_at: datetime
    resolve_by: datetime
    accept_by: datetime
    reopen_count: int = 0
    assignee_name: str = ""
    department_name: str = ""
    text: str = ""

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def unaccepted(self) -> bool:
        return self.state in AWAITING_ACCEPTANCE


def load_cases(
    session: Session, settings: Settings, *, since: datetime | None = None
) -> list[CaseFacts]:
    """Every open ticket, and (with ``since``) every ticket received since then."""
    policy = sla_policy(settings.tickets)
    condition: ColumnElement[bool] = col(Ticket.state).in_(list(OPEN_STATES))
    if since is not None:
        condition = or_(condition, col(Ticket.created_at) >= since)
    out = []
    for row in session.exec(select(Ticket).where(condition).order_by(col(Ticket.id))):
        assert row.id is not None
        deadlines = deadlines_for(ticket_view(row, ()), policy)
        out.append(
            CaseFacts(
                ticket_id=row.id,
                code=row.code,
                state=row.state,
                level=row.level,
                category=row.category,
                village_id=row.village_id,
                grid_id=row.grid_id,
                unit_id=row.unit_id,
                created_at=row.created_at,
                resolve_by=deadlines.resolve_by,
                accept_by=deadlines.accept_by,
                reopen_count=row.reopen_count,
                assignee_name=row.assignee_name,
                department_name=row.department_name,
                # read in groups and by people who do not handle it (周商 agenda)
                text=mask_phones_in_text(row.text),
            )
        )
    return out
