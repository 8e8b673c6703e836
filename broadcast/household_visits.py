"""Reaching a unit's silent households through their contact party members (党员联系户).

When a unit's households are not all confirmed at the step where its grid leader is told
(``ReminderIntervals.tell_grid_leader`` after the send, see :mod:`broadcast.receipts`),
each party member who is the contact of some of the unit's households
(:class:`models.org.HouseholdContact`) is asked privately to visit them. All confirmed
means: the latest ``已通知 k/n户`` of the unit's leaders reaches its households (户数, or
the total they wrote when the roster has none). A leader's ``收到`` says they read the
notice and confirms no household: the ask then says so, and one after a count says how
many households are confirmed. Each ask is recorded
(:class:`models.households.HouseholdVisitRequest`) and sent once, also across restarts,
and recorded as soon as it was sent (a stop before that asks again at the next start).

:func:`ask_contact_members` is the data function (time is a parameter);
:func:`add_household_visit_job` puts it on the one scheduler of ``gridcast run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session, col, select

from broadcast import corrections
from broadcast.households import confirmed_households
from core.config import ReminderIntervals, Settings
from core.messaging import Reply
from models.broadcast import Delivery, DeliveryState, Notice, NoticePriority, NoticeStatus
from models.chat import ChatGroup
from models.db import run_in_session
from models.enums import Level, Role
from models.households import HouseholdConfirmation, HouseholdVisitRequest
from models.org import HouseholdContact, OrgUnit, Person
from orgtree import directory

__all__ = [
    "JOB_ID",
    "add_household_visit_job",
    "ask_contact_members",
    "due_asks",
    "visit_round",
    "visit_text",
]

log = logging.getLogger(__name__)

JOB_ID = "notice-household-visits"


def visit_text(
    *,
    name: str,
    code: str,
    title: str,
    unit: str,
    households: int,
    leaders: str,
    answered: bool = False,
    confirmed: tuple[int, int | None] | None = None,
) -> str:
    """The private ask to a contact party member: how far the unit got (silent, answered
    without a count, ``confirmed`` k of n households), then what to do."""
    tell = f"，并告知单元长{leaders}" if leaders else ""
    if confirmed is not None:
        reached, total = confirmed
        out_of = f"/{total}" if total is not None else ""
        return (
            f"{name}您好：通知 {code}「{title}」{unit}单元已通知 {reached}{out_of} 户，"
            f"其余请上门告知。您是该单元 {households} 户的联系党员，"
            f"请上门或电话把通知告知其中还没有通知到的住户{tell}。"
        )
    status = (
        f"{unit}单元的单元长已回复收到，但还没有报告通知到的户数"
        if answered
        else f"的{unit}单元群至今没有回复"
    )
    return (
        f"{name}您好：通知 {code}「{title}」{status}。"
        f"您是该单元 {households} 户的联系党员，请上门或电话把通知告知这些住户{tell}。"
    )


@dataclass(frozen=True, slots=True)
class VisitAsk:
    reply: Reply
    row: HouseholdVisitRequest
    """Recorded once the ask was handed to WeChat (:func:`record_ask`)."""


def ask_contact_members(
    session: Session,
    *,
    now: datetime,
    normal: ReminderIntervals,
    urgent: ReminderIntervals,
    window: timedelta,
) -> list[Reply]:
    """:func:`due_asks`, recorded as asked at once (tests; the job records each ask
    only once sent)."""
    asks = due_asks(session, now=now, normal=normal, urgent=urgent, window=window)
    record_asks(session, asks)
    return [a.reply for a in asks]


def record_asks(session: Session, asks: Iterable[VisitAsk]) -> None:
    for ask in asks:
        record_ask(session, ask)


def due_asks(
    session: Session,
    *,
    now: datetime,
    normal: ReminderIntervals,
    urgent: ReminderIntervals,
    window: timedelta,
) -> list[VisitAsk]:
    """The asks due to the contact party members of every unit whose households are not
    all confirmed past its notice's ``tell_grid_leader`` step (notices sent within
    ``window``, not superseded by a correction: :mod:`broadcast.corrections`) and not
    asked yet. A leader's ``收到`` confirms no household; a unit is left alone once its
    leader's latest ``已通知 k/n户`` reaches its households. Nothing is written."""
    due = session.exec(
        select(Delivery, Notice, OrgUnit, corrections.acknowledged(Delivery))
        .join(Notice, col(Notice.id) == col(Delivery.notice_id))
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
        .where(
            col(Notice.ack_required).is_(True),
            col(Notice.status).in_([NoticeStatus.SENDING, NoticeStatus.DONE]),
            ~corrections.superseded(Notice),
            Delivery.level == Level.UNIT.value,
            Delivery.state == DeliveryState.SENT,
            col(Delivery.sent_at) >= now - window,
            or_(
                and_(
                    col(Notice.priority) == NoticePriority.URGENT,
                    col(Delivery.sent_at) <= now - urgent.tell_grid_leader,
                ),
                and_(
                    col(Notice.priority) == NoticePriority.NORMAL,
                    col(Delivery.sent_at) <= now - normal.tell_grid_leader,
                ),
            ),
        )
        .order_by(col(Delivery.id))
    ).all()
    if not due:
        return []
    notice_ids = {n.id for _, n, _, _ in due}
    unit_ids = [u.id for _, _, u, _ in due if u.id is not None]
    latest: dict[tuple[int, int], HouseholdConfirmation] = {}
    for claim in session.exec(
        select(HouseholdConfirmation)
        .where(col(HouseholdConfirmation.notice_id).in_(notice_ids))
        .order_by(col(HouseholdConfirmation.at), col(HouseholdConfirmation.id))
    ):
        latest[(claim.notice_id, claim.org_unit_id)] = claim
    asked = set(
        session.exec(
            select(
                HouseholdVisitRequest.notice_id,
                HouseholdVisitRequest.org_unit_id,
                HouseholdVisitRequest.person_id,
            ).where(col(HouseholdVisitRequest.notice_id).in_(notice_ids))
        ).all()
    )
    contacts: dict[int, list[tuple[HouseholdContact, Person]]] = defaultdict(list)
    for contact, person in session.exec(
        select(HouseholdContact, Person)
        .join(Person, col(Person.id) == col(HouseholdContact.person_id))
        .where(col(HouseholdContact.org_unit_id).in_(unit_ids))
        .order_by(col(HouseholdContact.id))
    ):
        contacts[contact.org_unit_id].append((contact, person))
    leaders = directory.holders_by_unit(
        session, unit_ids=[u for u in unit_ids if u in contacts], roles=[Role.UNIT_LEADER]
    )
    replies: list[VisitAsk] = []
    for _delivery, notice, unit, answered in due:
        assert notice.id is not None and unit.id is not None
        confirmed = None
        if (count := latest.get((notice.id, unit.id))) is not None:
            confirmed = confirmed_households(
                unit.households,
                reached=count.reached,
                stated_total=count.stated_total,
                all_reached=count.all_reached,
            )
            reached, total = confirmed
            if total is not None and reached >= total:
                continue  # every household confirmed
        leader_names = "、".join(h.name for h in leaders.get(unit.id, []))
        for contact, person in contacts.get(unit.id, []):
            assert person.id is not None
            key = (notice.id, unit.id, person.id)
            if key in asked:
                continue
            asked.add(key)
            contact_id = directory.contact_id_of(person)
            row = HouseholdVisitRequest(
                notice_id=notice.id,
                org_unit_id=unit.id,
                person_id=person.id,
                contact_id=contact_id,
                households=contact.households,
                asked_at=now,
            )
            reply = Reply(
                visit_text(
                    name=person.name,
                    code=notice.code,
                    title=notice.title,
                    unit="/".join(unit.town_path[1:]),
                    households=contact.households,
                    leaders=leader_names,
                    answered=bool(answered),
                    confirmed=confirmed,
                ),
                contact_id=contact_id,
            )
            replies.append(VisitAsk(reply, row))
    return replies


VISIT_INTERVAL_S = 30
VISIT_CONCURRENCY = 8
"""Asks handed to WeChat at once (as :class:`broadcast.chasing.Chaser` sends its notes):
an urgent town notice can leave hundreds of units to visit, one 30 s tick."""


def record_ask(session: Session, ask: VisitAsk) -> bool:
    """One ask was handed to WeChat: record it, unless it already is; True if it was new."""
    row = ask.row
    known = session.exec(
        select(HouseholdVisitRequest.id).where(
            HouseholdVisitRequest.notice_id == row.notice_id,
            HouseholdVisitRequest.org_unit_id == row.org_unit_id,
            HouseholdVisitRequest.person_id == row.person_id,
        )
    ).first()
    if known is not None:
        return False
    session.add(HouseholdVisitRequest.model_validate(row.model_dump(exclude={"id"})))
    return True


async def visit_round(
    *,
    engine: AsyncEngine,
    settings: Settings,
    send: Callable[[Reply], Awaitable[object]],
    now: datetime,
    concurrency: int = VISIT_CONCURRENCY,
) -> tuple[int, int]:
    """The asks due at ``now``, sent ``concurrency`` at a time, each recorded in its own
    transaction as soon as it was sent: a stop (even a kill) mid-round loses no ask and
    sends again at most those that were in flight. Returns (sent, failed); a failed ask
    is not recorded, so the next round tries it again."""
    asks = await run_in_session(
        engine,
        lambda s: due_asks(
            s,
            now=now,
            normal=settings.broadcast.reminders_normal,
            urgent=settings.broadcast.reminders_urgent,
            window=settings.broadcast.ack_window,
        ),
    )
    gate = asyncio.Semaphore(concurrency)
    sent = failed = 0

    async def one(ask: VisitAsk) -> None:
        nonlocal sent, failed
        async with gate:
            try:
                await send(ask.reply)
            except Exception as exc:  # one failed ask must not stop the others
                failed += 1
                log.warning("visit ask to %s not sent: %s", ask.reply.contact_id, exc)
                return
            # shielded: a stop right after the send still records what went out
            await asyncio.shield(run_in_session(engine, lambda s: record_ask(s, ask)))
            sent += 1

    tasks = [asyncio.create_task(one(ask)) for ask in asks]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return sent, failed


def add_household_visit_job(
    scheduler: Any,
    *,
    engine: AsyncEngine,
    settings: Settings,
    send: Callable[[Reply], Awaitable[object]],
    clock: Callable[[], datetime],
) -> Any:
    """An interval job on the deployment's one APScheduler running :func:`visit_round`;
    an ask that fell due while the process was down runs at start, once (it is recorded)."""

    async def tick() -> None:
        await visit_round(engine=engine, settings=settings, send=send, now=clock())

    return scheduler.add_job(
        tick,
        "interval",
        seconds=VISIT_INTERVAL_S,
        id=JOB_ID,
        name="联系党员上门通知",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=clock(),
    )
