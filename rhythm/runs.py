"""Once per period: a cadence claims its period before it produces anything."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.rhythm import CadenceRun
from rhythm.periods import Cadence

__all__ = ["already_ran", "claim_period", "forget_period", "period_run"]


def period_run(session: Session, cadence: Cadence, period: str) -> CadenceRun | None:
    """The run row of the period, if it ran."""
    return session.exec(
        select(CadenceRun).where(CadenceRun.cadence == cadence.value, CadenceRun.period == period)
    ).first()


def already_ran(session: Session, cadence: Cadence, period: str) -> bool:
    return period_run(session, cadence, period) is not None


def claim_period(
    session: Session, cadence: Cadence, period: str, now: datetime
) -> CadenceRun | None:
    """The run row of this period, new; ``None`` when the period already ran (here or in
    a process that raced this one: the unique constraint decides)."""
    if already_ran(session, cadence, period):
        return None
    run = CadenceRun(cadence=cadence.value, period=period, ran_at=now)
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        return None
    return run


def forget_period(session: Session, cadence: Cadence, period: str) -> CadenceRun | None:
    """Let the period run again (``gridcast cadence run --again``): its run row, deleted,
    or ``None`` when it had not run."""
    run = period_run(session, cadence, period)
    if run is not None:
        session.delete(run)
        session.flush()
    return run
