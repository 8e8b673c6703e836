"""Chasing the groups that have not acknowledged a notice (催办).

A unit or grid group counts as acknowledged once its leader answered
(:mod:`broadcast.receipts`). A silent group is chased in steps, each taken once, at the
times of the notice's :class:`~core.config.ReminderIntervals` after the group got it:

1. a reminder in the group, @-mentioning its leaders (a shop: its owner);
2. the leaders one level up are told privately which groups are silent (a unit's grid
   leader, a grid's station chief), and a shop's second unit leader is asked to urge
   the owner, by name (双单元长);
3. for a unit, the village's station chief is told.

Step-1 reminders are many (an urgent town notice can leave 2,000 units silent), so they
are sent like a notice: a *reminder* notice (kind ``reminder``, code ``C…``) whose rows
are rows of the same outbox, planned over every account at a share of its rate that
leaves room for residents' replies (``broadcast.reminder_rate_share``). Creating those
rows and moving the groups to step 1 is one transaction: a stop at any moment loses
nothing, the next start resumes the reminder notice from the outbox like any notice.
A group that answers before its reminder went out is not reminded. The step after a
reminder waits until the reminder was sent (or found no way into the group).

Steps 2 and 3 are private messages to a few people; each is recorded only once it was
handed to WeChat (a stop before that sends it at the next start).

A notice with a correction that asks for receipts is no longer chased: its correction is
(:mod:`broadcast.corrections`).
A recalled notice is not chased, and its reminders still to be sent are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from broadcast import compose, corrections, service
from core.config import ReminderIntervals
from core.messaging import Reply, SendFailed
from models.broadcast import (
    Delivery,
    DeliveryState,
    Notice,
    NoticeKind,
    NoticePriority,
    NoticeStatus,
)
from models.chat import ChatGroup
from models.db import run_in_session
from models.enums import Level, Role, UnitKind
from models.org import OrgUnit
from orgtree import directory
from orgtree.directory import PostHolder

if TYPE_CHECKING:
    from broadcast.engine import Broadcaster

log = logging.getLogger(__name__)

CHASED_LEVELS = (Level.UNIT, Level.GRID)
"""Groups whose leader must answer: a unit's unit leader, a grid's grid leader."""
STEPS = {Level.UNIT: 3, Level.GRID: 2}
"""How many steps each level's chase has (a grid's second step already tells the village)."""
MENTIONED = {Level.UNIT: (Role.UNIT_LEADER,), Level.GRID: (Role.GRID_LEADER,)}
"""Who a group's reminder @-mentions: a unit's leader (a shop's owner: the second unit
leader is asked privately at step 2, by the owner's name), a grid's leader."""
LEADER_WORD = {Level.UNIT: "单元长", Level.GRID: "网格长"}
MAX_NOTE_ATTEMPTS = 3
"""A private step that failed this many rounds is recorded as taken (it is logged)."""


@dataclass(frozen=True, slots=True)
class SilentGroup:
    """A group that got an acknowledgement-needing notice and has not acknowledged it."""

    delivery_id: int
    notice_id: int
    chat_group_id: int
    room_id: str
    level: Level
    unit: OrgUnit
    sent_at: datetime
    step: int
    """Steps already taken."""


@dataclass(frozen=True, slots=True)
class PrivateNote:
    """A step-2/3 message to one person, and the groups whose step it takes."""

    reply: Reply
    delivery_ids: tuple[int, ...]
    step: int

    @property
    def key(self) -> tuple[str, tuple[int, ...], int]:
        return (self.reply.contact_id or "", self.delivery_ids, self.step)


@dataclass(slots=True)
class Round:
    """What one chasing round set in motion."""

    reminder_notice_ids: list[int] = field(default_factory=list)
    reminded_groups: int = 0
    notes: list[PrivateNote] = field(default_factory=list)


def due_step(sent_at: datetime, intervals: ReminderIntervals, level: Level, now: datetime) -> int:
    """The step a silent group should have reached at ``now``. Pure."""
    gaps = [intervals.remind_group, intervals.tell_grid_leader, intervals.tell_village]
    return sum(1 for gap in gaps[: STEPS[level]] if sent_at + gap <= now)


def _intervals(
    notice: Notice, normal: ReminderIntervals, urgent: ReminderIntervals
) -> ReminderIntervals:
    return urgent if notice.priority is NoticePriority.URGENT else normal


def silent_groups(
    session: Session, *, notice_id: int | None = None, any_step: bool = False
) -> list[tuple[SilentGroup, Notice]]:
    """Every silent unit or grid group of the notices still chased (of one notice), with
    a step left to take (``any_step``: also those chased to the end)."""
    statement = (
        select(Delivery, Notice, OrgUnit)
        .join(Notice, col(Notice.id) == col(Delivery.notice_id))
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
        .where(
            col(Notice.ack_required).is_(True),
            col(Notice.kind).in_([NoticeKind.NOTICE, NoticeKind.CORRECTION]),
            col(Notice.status).in_([NoticeStatus.SENDING, NoticeStatus.DONE]),
            col(Delivery.level).in_([level.value for level in CHASED_LEVELS]),
            Delivery.state == DeliveryState.SENT,
            corrections.awaiting_receipt(Delivery, Notice),
        )
        .order_by(col(Delivery.id))
    )
    if notice_id is not None:
        statement = statement.where(col(Notice.id) == notice_id)
    if not any_step:
        statement = statement.where(
            or_(
                *(
                    (col(Delivery.level) == level.value) & (col(Delivery.escalation_step) < steps)
                    for level, steps in STEPS.items()
                )
            )
        )
    out = []
    for delivery, notice, unit in session.exec(statement):
        assert delivery.id is not None and notice.id is not None and delivery.sent_at
        level = Level(delivery.level)
        out.append(
            (
                SilentGroup(
                    delivery.id,
                    notice.id,
                    delivery.chat_group_id,
                    delivery.room_id,
                    level,
                    unit,
                    delivery.sent_at,
                    delivery.escalation_step,
                ),
                notice,
            )
        )
    return out


def pending_reminders(session: Session, notice_ids: Iterable[int]) -> set[tuple[int, int]]:
    """(notice id, group id) pairs whose in-group reminder is still to be sent."""
    ids = list(set(notice_ids))
    if not ids:
        return set()
    rows = session.exec(
        select(Notice.parent_id, Delivery.chat_group_id)
        .join(Delivery, col(Delivery.notice_id) == col(Notice.id))
        .where(
            col(Notice.kind) == NoticeKind.REMINDER,
            col(Notice.parent_id).in_(ids),
            col(Delivery.state).in_([DeliveryState.PLANNED, DeliveryState.SENDING]),
        )
    ).all()
    return {(int(p), int(g)) for p, g in rows if p is not None}


PlanReminders = Callable[[Session, Notice, Sequence[SilentGroup], datetime], Notice]
"""Store a reminder notice (kind ``reminder``, status ``sending``) with one outbox row
per group: :meth:`broadcast.engine.Broadcaster.store_reminders`."""


def take_round(
    session: Session,
    *,
    now: datetime,
    normal: ReminderIntervals,
    urgent: ReminderIntervals,
    store_reminders: PlanReminders,
    notice_id: int | None = None,
    remind_all: bool = False,
) -> Round:
    """Take every step that is due (of one notice with ``notice_id``).

    Step-1 reminders are stored in the outbox and their groups moved to step 1 in this
    transaction; the private notes of steps 2 and 3 are returned to be sent, and recorded
    with :func:`record_notes` once they were. ``remind_all`` (催办 now): every silent
    group of the notice gets a reminder now, whatever its step."""
    found = silent_groups(session, notice_id=notice_id, any_step=remind_all)
    notices = {notice.id: notice for _, notice in found if notice.id is not None}
    pending = pending_reminders(session, notices)
    result = Round()
    remind: dict[int, list[SilentGroup]] = defaultdict(list)
    later: list[tuple[SilentGroup, int]] = []
    for group, notice in found:
        if (group.notice_id, group.chat_group_id) in pending:
            continue  # its reminder is on its way: the next step waits for it
        due = due_step(group.sent_at, _intervals(notice, normal, urgent), group.level, now)
        if remind_all or (group.step < 1 <= due):
            remind[group.notice_id].append(group)
        elif group.step >= 1 and due > group.step:
            later.append((group, due))
    for notice_id_, groups in remind.items():
        reminder = store_reminders(session, notices[notice_id_], groups, now)
        assert reminder.id is not None
        result.reminder_notice_ids.append(reminder.id)
        result.reminded_groups += len(groups)
        session.execute(
            update(Delivery)
            .where(
                col(Delivery.id).in_([g.delivery_id for g in groups]),
                col(Delivery.escalation_step) < 1,
            )
            .values(escalation_step=1)
        )
    result.notes = private_notes(session, later, notices)
    return result


def private_notes(
    session: Session, due: Sequence[tuple[SilentGroup, int]], notices: dict[int, Notice]
) -> list[PrivateNote]:
    """The step-2/3 messages for groups whose next step is due (one per person and
    notice, naming their silent groups)."""
    if not due:
        return []
    units = {
        u.id: u
        for u in session.exec(
            select(OrgUnit).where(col(OrgUnit.id).in_(_ancestor_ids(session, due)))
        )
    }
    # (notice, step, the unit whose leaders are told) -> silent groups
    told: dict[tuple[int, int, int], list[SilentGroup]] = defaultdict(list)
    shops: list[SilentGroup] = []
    for group, step in due:
        parent = units.get(group.unit.parent_id or -1)
        if group.level is Level.UNIT:
            if group.step < 2 <= step and parent is not None:
                told[(group.notice_id, 2, parent.id or -1)].append(group)
                if group.unit.kind is UnitKind.SHOP:
                    shops.append(group)
            if group.step < 3 <= step and parent is not None and parent.parent_id is not None:
                told[(group.notice_id, 3, parent.parent_id)].append(group)
        elif group.step < 2 <= step and parent is not None:  # a grid: its village
            told[(group.notice_id, 2, parent.id or -1)].append(group)
    holders = directory.holders_by_unit(
        session,
        unit_ids={unit_id for _, _, unit_id in told} | {g.unit.id or -1 for g in shops},
        roles=(Role.GRID_LEADER, Role.STATION_CHIEF, Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER),
    )
    notes: list[PrivateNote] = []
    for (notice_id, step, unit_id), groups in told.items():
        unit = units.get(unit_id)
        if unit is None:
            continue
        role = Role.GRID_LEADER if unit.level is Level.GRID else Role.STATION_CHIEF
        text_for = _grid_note if unit.level is Level.GRID else _village_note
        for holder in [h for h in holders.get(unit_id, []) if h.role is role]:
            notes.append(
                PrivateNote(
                    Reply(
                        text_for(holder, notices[notice_id], groups),
                        contact_id=holder.contact_id,
                    ),
                    tuple(g.delivery_id for g in groups),
                    step,
                )
            )
    for group in shops:
        owners = [h for h in holders.get(group.unit.id or -1, []) if h.role is Role.UNIT_LEADER]
        for second in holders.get(group.unit.id or -1, []):
            if second.role is Role.SECOND_UNIT_LEADER:
                notes.append(
                    PrivateNote(
                        Reply(
                            _shop_note(second, owners, notices[group.notice_id], group),
                            contact_id=second.contact_id,
                        ),
                        (group.delivery_id,),
                        2,
                    )
                )
    return notes


def _ancestor_ids(session: Session, due: Sequence[tuple[SilentGroup, int]]) -> set[int]:
    parents = {g.unit.parent_id for g, _ in due if g.unit.parent_id is not None}
    grandparents = session.exec(select(OrgUnit.parent_id).where(col(OrgUnit.id).in_(parents))).all()
    return parents | {g for g in grandparents if g is not None}


def _names(groups: Sequence[SilentGroup], limit: int = 20) -> str:
    names = "、".join(g.unit.name for g in groups[:limit])
    return names + (f"等{len(groups)}个" if len(groups) > limit else "")


def _grid_note(holder: PostHolder, notice: Notice, groups: Sequence[SilentGroup]) -> str:
    return (
        f"{holder.name}您好：通知 {notice.code}「{notice.title}」在您网格内以下单元还没有确认："
        f"{_names(groups)}。请督促单元长回复“收到”。"
    )


def _village_note(holder: PostHolder, notice: Notice, groups: Sequence[SilentGroup]) -> str:
    units = [g for g in groups if g.level is Level.UNIT]
    grids = [g for g in groups if g.level is Level.GRID]
    parts = []
    if units:
        touched = sorted({g.unit.town_path[1] for g in units if len(g.unit.town_path) > 1})
        parts.append(f"全村仍有 {len(units)} 个单元未确认，涉及 {'、'.join(touched)}")
    if grids:
        parts.append(f"以下网格的网格长还没有在网格群确认：{_names(grids)}")
    return (
        f"{holder.name}您好：通知 {notice.code}「{notice.title}」{'；'.join(parts)}。请网格站督办。"
    )


def _shop_note(
    second: PostHolder, owners: Sequence[PostHolder], notice: Notice, group: SilentGroup
) -> str:
    owner = "、".join(o.name for o in owners) or "店主"
    return (
        f"{second.name}您好：沿街商铺「{group.unit.name}」的店主{owner}还没有确认通知 "
        f"{notice.code}「{notice.title}」。请您电话或当面督促{owner}，并在商铺群回复“已督促”。"
    )


def record_notes(session: Session, notes: Iterable[PrivateNote]) -> int:
    """The notes were handed to WeChat: their groups reached their step."""
    count = 0
    for note in notes:
        result = session.execute(
            update(Delivery)
            .where(
                col(Delivery.id).in_(list(note.delivery_ids)),
                col(Delivery.escalation_step) < note.step,
            )
            .values(escalation_step=note.step)
        )
        count += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return count


def reminder_replies(
    session: Session, reminder: Notice, group_ids: Iterable[int]
) -> dict[int, Reply]:
    """The reminder posted in each group of a reminder notice: its leaders @-mentioned,
    then the line (:func:`broadcast.compose.render_reminder`)."""
    parent = session.get(Notice, reminder.parent_id)
    assert parent is not None
    groups = {
        g.id: (g, u)
        for g, u in session.exec(
            select(ChatGroup, OrgUnit)
            .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
            .where(col(ChatGroup.id).in_(list(group_ids)))
        )
    }
    leaders = directory.holders_by_unit(
        session,
        unit_ids=[u.id for _, u in groups.values() if u.id is not None],
        roles=(Role.UNIT_LEADER, Role.GRID_LEADER),
    )
    out: dict[int, Reply] = {}
    for group_id, (group, unit) in groups.items():
        assert group_id is not None
        level = unit.level if unit.level in MENTIONED else Level.UNIT
        mentioned = [h for h in leaders.get(unit.id or -1, []) if h.role in MENTIONED[level]]
        line = compose.render_reminder(
            code=parent.code, title=parent.title, leader=LEADER_WORD[level]
        )
        out[group_id] = Reply(
            text=line,  # the @names are the mentions' (the transport writes them, once)
            room_id=group.room_id,
            mention_ids=tuple(h.contact_id for h in mentioned),
        )
    return out


@dataclass(frozen=True, slots=True)
class RoundReport:
    reminded_groups: int
    notes_sent: int
    notes_failed: int


class Chaser:
    """Takes the due steps every ``interval_s``, one round at a time (a round that takes
    long delays the next; rounds never overlap)."""

    def __init__(
        self,
        broadcaster: Broadcaster,
        *,
        send: Callable[[Reply], Awaitable[str]],
        normal: ReminderIntervals,
        urgent: ReminderIntervals,
        clock: Callable[[], datetime],
        interval_s: float = 30.0,
        concurrency: int = 8,
        ready: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """``send``: a private message (the bot hub's send); ``ready``: waited for once
        before the first round (every account's rooms known)."""
        self._broadcaster = broadcaster
        self._send = send
        self._normal = normal
        self._urgent = urgent
        self._clock = clock
        self._interval_s = interval_s
        self._concurrency = concurrency
        self._ready = ready
        self._lock = asyncio.Lock()
        self._failures: dict[tuple[str, tuple[int, ...], int], int] = defaultdict(int)

    async def run(self) -> None:
        """Forever (cancel to stop): a round now (steps due while the process was down
        are taken at once), then one every ``interval_s``."""
        if self._ready is not None and not await self._ready():
            log.warning("chasing before every account's rooms are known")
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad round must not end the chasing
                log.exception("chasing round failed")
            await asyncio.sleep(self._interval_s)

    async def run_once(self, *, code: str | None = None) -> RoundReport:
        """One round (of one notice, ``code``, reminding every silent group now)."""
        async with self._lock:
            now = self._clock()

            def take(session: Session) -> Round:
                notice_id = None
                if code is not None:
                    notice_id = service.notice_by_code(session, code).id
                return take_round(
                    session,
                    now=now,
                    normal=self._normal,
                    urgent=self._urgent,
                    store_reminders=self._broadcaster.store_reminders,
                    notice_id=notice_id,
                    remind_all=code is not None,
                )

            taken = await run_in_session(self._broadcaster.engine, take)
            for reminder_id in taken.reminder_notice_ids:
                self._broadcaster.start(reminder_id)
            sent, failed = await self._send_notes(taken.notes)
            if sent:
                await run_in_session(self._broadcaster.engine, lambda s: record_notes(s, sent))
            return RoundReport(taken.reminded_groups, len(sent), failed)

    async def chase_now(self, code: str) -> int:
        """催办: every silent group of the notice is reminded now; returns how many."""
        report = await self.run_once(code=code)
        return report.reminded_groups

    async def _send_notes(self, notes: Sequence[PrivateNote]) -> tuple[list[PrivateNote], int]:
        gate = asyncio.Semaphore(self._concurrency)
        done: list[PrivateNote] = []
        failed = 0

        async def one(note: PrivateNote) -> None:
            nonlocal failed
            async with gate:
                try:
                    await self._send(note.reply)
                except Exception as exc:  # one failed note must not stop the others
                    failed += 1
                    self._failures[note.key] += 1
                    log.warning("chasing note to %s not sent: %s", note.reply.contact_id, exc)
                    permanent = isinstance(exc, SendFailed) and exc.permanent
                    if not permanent and self._failures[note.key] < MAX_NOTE_ATTEMPTS:
                        return  # the next round tries again
                self._failures.pop(note.key, None)
                done.append(note)

        tasks = [asyncio.create_task(one(note)) for note in notes]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                if done:  # what was handed to WeChat before the stop stays recorded
                    await asyncio.shield(
                        run_in_session(self._broadcaster.engine, lambda s: record_notes(s, done))
                    )
            raise
        return done, failed
