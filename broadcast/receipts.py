"""Acknowledgements (收到 / 已阅 / 1 / 好的) and the three escalation steps.

A reply in a group that got a notice needing acknowledgement counts as a receipt
for the latest such notice in that group within the window. The group counts as
acknowledged once one of its leaders has answered (for a unit group: its unit
leader or second unit leader). Silent unit groups are chased in three steps:
a reminder in the group @-mentioning the unit leader, then the grid leader is
told privately which units are silent, then the village station chief.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from broadcast import compose
from core.acknowledgement import acknowledgement_detector
from core.config import ReminderIntervals
from core.messaging import Reply
from models.broadcast import Delivery, DeliveryState, Notice, NoticePriority, NoticeStatus, Receipt
from models.chat import ChatGroup
from models.enums import Level, Role
from models.org import OrgUnit, RoleAssignment
from orgtree import directory

GROUP_LEADER_ROLES = {
    Level.UNIT: (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER),
    Level.GRID: (Role.GRID_LEADER,),
    Level.VILLAGE: (Role.STATION_CHIEF,),
    Level.TOWN: (Role.TOWN_OFFICIAL,),
}


def is_acknowledgement(text: str, ack_words: Iterable[str]) -> bool:
    """A receipt for a notice: ``收到``, ``1``, ``好的👌``, ``3栋收到``, ``👍``
    (:mod:`core.acknowledgement`), and short replies led by an ack word, whatever follows
    (``收到了，谢谢``, ``收到，马上落实``): a notice awaits its receipt here."""
    return acknowledgement_detector(tuple(ack_words), accept_trailing=True).matches(text)


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    notice_code: str
    new: bool
    marks_group: bool


def record_receipt(
    session: Session,
    *,
    room_id: str,
    contact_id: str,
    name: str,
    text: str,
    now: datetime,
    window: timedelta,
) -> ReceiptOutcome | None:
    """Store a receipt for the latest notice needing acknowledgement in the room, if any."""
    row = session.exec(
        select(Delivery, Notice, ChatGroup)
        .join(Notice, col(Notice.id) == col(Delivery.notice_id))
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .where(
            ChatGroup.room_id == room_id,
            col(Notice.ack_required).is_(True),
            col(Notice.status).in_([NoticeStatus.SENDING, NoticeStatus.DONE]),
            Delivery.state == DeliveryState.SENT,
            col(Delivery.sent_at) >= now - window,
        )
        .order_by(col(Delivery.sent_at).desc())
    ).first()
    if row is None:
        return None
    delivery, notice, group = row
    assert notice.id is not None and group.id is not None
    unit = session.get(OrgUnit, group.org_unit_id)
    person = directory.person_by_contact(session, contact_id)
    is_leader = False
    if person is not None and unit is not None:
        leader_roles = GROUP_LEADER_ROLES[unit.level]
        is_leader = (
            session.exec(
                select(RoleAssignment).where(
                    RoleAssignment.person_id == person.id,
                    col(RoleAssignment.role).in_(leader_roles),
                    (RoleAssignment.org_unit_id == unit.id)
                    | (RoleAssignment.role == Role.TOWN_OFFICIAL),
                )
            ).first()
            is not None
        )
    existing = session.exec(
        select(Receipt).where(
            Receipt.notice_id == notice.id,
            Receipt.chat_group_id == group.id,
            Receipt.contact_id == contact_id,
        )
    ).first()
    if existing is None:
        session.add(
            Receipt(
                notice_id=notice.id,
                chat_group_id=group.id,
                contact_id=contact_id,
                person_id=person.id if person else None,
                name=name,
                is_unit_leader=is_leader,
                text=text[:200],
                received_at=now,
            )
        )
    marks = is_leader and delivery.acked_at is None
    if marks:
        delivery.acked_at = now
    return ReceiptOutcome(notice.code, existing is None, marks)


def _intervals(
    notice: Notice, normal: ReminderIntervals, urgent: ReminderIntervals
) -> list[timedelta]:
    chosen = urgent if notice.priority is NoticePriority.URGENT else normal
    return [chosen.remind_group, chosen.tell_grid_leader, chosen.tell_village]


def escalate(
    session: Session,
    *,
    now: datetime,
    normal: ReminderIntervals,
    urgent: ReminderIntervals,
) -> list[Reply]:
    """Take every escalation step that is due; each step is taken once per group."""
    rows = session.exec(
        select(Delivery, Notice, ChatGroup, OrgUnit)
        .join(Notice, col(Notice.id) == col(Delivery.notice_id))
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
        .where(
            col(Notice.ack_required).is_(True),
            col(Notice.status).in_([NoticeStatus.SENDING, NoticeStatus.DONE]),
            Delivery.level == Level.UNIT.value,
            Delivery.state == DeliveryState.SENT,
            col(Delivery.acked_at).is_(None),
            Delivery.escalation_step < 3,
        )
    ).all()
    replies: list[Reply] = []
    step2: dict[tuple[int, int], list[OrgUnit]] = defaultdict(list)
    step3: dict[tuple[int, int], list[OrgUnit]] = defaultdict(list)
    notices: dict[int, Notice] = {}
    unit_ids = [unit.id for _, _, _, unit in rows if unit.id is not None]
    leaders = directory.holders_by_unit(
        session, unit_ids=unit_ids, roles=(Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER)
    )
    for delivery, notice, group, unit in rows:
        assert delivery.sent_at is not None and notice.id is not None and unit.id is not None
        notices[notice.id] = notice
        intervals = _intervals(notice, normal, urgent)
        due = [i for i, gap in enumerate(intervals) if delivery.sent_at + gap <= now]
        if not due:
            continue
        step = max(due) + 1
        if step <= delivery.escalation_step:
            continue
        if delivery.escalation_step < 1 <= step:
            mentions = tuple(h.contact_id for h in leaders.get(unit.id, []))
            names = "、".join(f"@{h.name}" for h in leaders.get(unit.id, []))
            replies.append(
                Reply(
                    text=f"{names} {compose.render_reminder(code=notice.code, title=notice.title)}".strip(),
                    room_id=group.room_id,
                    mention_ids=mentions,
                )
            )
        if delivery.escalation_step < 2 <= step and unit.parent_id is not None:
            step2[(notice.id, unit.parent_id)].append(unit)
        if delivery.escalation_step < 3 <= step and unit.parent_id is not None:
            grid = session.get(OrgUnit, unit.parent_id)
            if grid is not None and grid.parent_id is not None:
                step3[(notice.id, grid.parent_id)].append(unit)
        delivery.escalation_step = step
    grid_leaders = directory.holders_by_unit(
        session, unit_ids=[g for _, g in step2], roles=[Role.GRID_LEADER]
    )
    for (notice_id, grid_id), units in step2.items():
        notice = notices[notice_id]
        names = "、".join(u.name for u in units[:20]) + (
            f"等{len(units)}个单元" if len(units) > 20 else ""
        )
        for leader in grid_leaders.get(grid_id, []):
            replies.append(
                Reply(
                    text=f"{leader.name}您好：通知 {notice.code}「{notice.title}」在您网格内以下单元还没有确认：{names}。请督促单元长回复“收到”。",
                    contact_id=leader.contact_id,
                )
            )
    chiefs = directory.holders_by_unit(
        session, unit_ids=[v for _, v in step3], roles=[Role.STATION_CHIEF]
    )
    for (notice_id, village_id), units in step3.items():
        notice = notices[notice_id]
        grids = sorted({u.town_path[1] for u in units})
        for chief in chiefs.get(village_id, []):
            replies.append(
                Reply(
                    text=(
                        f"{chief.name}您好：通知 {notice.code}「{notice.title}」全村仍有 {len(units)} 个单元未确认，"
                        f"涉及 {'、'.join(grids)}。请网格站督办。"
                    ),
                    contact_id=chief.contact_id,
                )
            )
    return replies
