"""Acknowledgements (收到 / 已阅 / 1 / 好的) and the three escalation steps.

A reply in a group that got a notice needing acknowledgement counts as a receipt
for the latest such notice in that group within the window. The group counts as
acknowledged once one of its leaders has answered (for a unit group: its unit
leader; for a shop, its owner, or its second unit leader's 已督促: see
:func:`acknowledges_group`). Who made the group count is recorded on the delivery.
Silent groups are chased by :mod:`broadcast.chasing`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, update
from sqlmodel import Session, col, select

from core.acknowledgement import acknowledgement_detector
from core.ids import normalize_code_text
from models.base import UTCDateTime
from models.broadcast import (
    AckVia,
    Delivery,
    DeliveryState,
    Notice,
    NoticeKind,
    NoticeStatus,
    Receipt,
)
from models.chat import ChatGroup
from models.enums import Level, Role, UnitKind
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


_URGED = re.compile(
    r"^(?:已经?|都已)督促(?:过|了|好了)?|^督促(?:过了|了|好了)|^已(?:经)?(?:提醒|通知|告知)(?:过)?(?:了)?店主"
)
MAX_URGED_CHARS = 20
_NOTICE_CODE = re.compile(r"N\d{4,6}")


def is_urged_confirmation(text: str) -> bool:
    """已督促 (已督促店主, 已经督促过了, 已提醒店主): a shop's second unit leader says they
    reached the owner. Pure."""
    content = re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text))
    return 0 < len(content) <= MAX_URGED_CHARS and _URGED.search(content) is not None


def acknowledges_group(
    level: Level, unit_kind: UnitKind | None, role: Role | None, *, urged: bool = False
) -> AckVia | None:
    """Whether a receipt makes its group count as acknowledged, and how. Pure.

    A group counts once one of its leaders answered. A shop (沿街商铺) has two unit
    leaders (双单元长): the owner, who must read the notice, and a second unit leader
    who supervises. The second leader's own 收到 no longer counts for the owner; their
    已督促 does, saying they reached the owner.
    """
    if role is None or role not in GROUP_LEADER_ROLES[level]:
        return None
    if level is Level.UNIT and unit_kind is UnitKind.SHOP:
        if role is Role.UNIT_LEADER:
            return AckVia.OWNER
        return AckVia.SECOND_LEADER_URGED if urged else None
    return AckVia.LEADER


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    notice_code: str
    new: bool
    marks_group: bool
    role: Role | None = None
    """The post the receipt was given in (``None`` for a member)."""
    shop_second_leader: bool = False
    """A shop's second unit leader said 收到: recorded, the owner still has to answer."""


def _role_in_group(session: Session, person_id: int | None, unit: OrgUnit | None) -> Role | None:
    """The post the person holds in this group (a leader role of its unit), if any."""
    if person_id is None or unit is None:
        return None
    held = session.exec(
        select(RoleAssignment.role).where(
            RoleAssignment.person_id == person_id,
            col(RoleAssignment.role).in_(GROUP_LEADER_ROLES[unit.level]),
            RoleAssignment.org_unit_id == unit.id,
        )
    ).all()
    roles = [Role(r) for r in held]
    return next((r for r in GROUP_LEADER_ROLES[unit.level] if r in roles), None)


def cancel_reminders(session: Session, *, notice_id: int, chat_group_id: int) -> int:
    """The group acknowledged: its reminders (催办) still in the outbox are not sent."""
    reminders = select(Notice.id).where(
        Notice.parent_id == notice_id, Notice.kind == NoticeKind.REMINDER
    )
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.notice_id).in_(reminders),
            col(Delivery.chat_group_id) == chat_group_id,
            col(Delivery.state) == DeliveryState.PLANNED,
        )
        .values(state=DeliveryState.CANCELLED, error="已确认")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def record_receipt(
    session: Session,
    *,
    room_id: str,
    contact_id: str,
    name: str,
    text: str,
    now: datetime,
    window: timedelta,
    urged: bool = False,
) -> ReceiptOutcome | None:
    """Store a receipt for a notice needing acknowledgement in the room, if any: the one
    the message names (``收到 N0004``, ``已督促 N0004``), else the latest the group has not
    acknowledged yet, else the latest.

    ``urged``: the message is 已督促 (:func:`is_urged_confirmation`), which counts only
    from a shop's second unit leader (:func:`acknowledges_group`)."""
    named = sorted(set(_NOTICE_CODE.findall(normalize_code_text(text))))
    # A delivery still ``sending`` is the newest in its room: its message can be on the
    # screen before the outbox has recorded it sent, and a quick 收到 answers it.
    posted_at = case(
        (col(Delivery.state) == DeliveryState.SENDING, literal(now, UTCDateTime())),
        else_=func.coalesce(col(Delivery.sent_at), col(Notice.started_at)),
    )

    def latest(codes: list[str]) -> tuple[Delivery, Notice, ChatGroup] | None:
        return session.exec(
            select(Delivery, Notice, ChatGroup)
            .join(Notice, col(Notice.id) == col(Delivery.notice_id))
            .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
            .where(
                ChatGroup.room_id == room_id,
                col(Notice.ack_required).is_(True),
                col(Notice.status).in_([NoticeStatus.SENDING, NoticeStatus.DONE]),
                col(Delivery.state).in_(
                    [DeliveryState.SENT, DeliveryState.SENDING, DeliveryState.UNCERTAIN]
                ),
                posted_at >= now - window,
                *([col(Notice.code).in_(codes)] if codes else []),
            )
            .order_by(
                col(Delivery.acked_at).is_not(None),  # awaiting this group's receipt first
                posted_at.desc(),
                col(Delivery.id).desc(),
            )
        ).first()

    # A code that names no notice of this group is a slip: the receipt still counts.
    row = (latest(named) if named else None) or latest([])
    if row is None:
        return None
    delivery, notice, group = row
    assert notice.id is not None and group.id is not None
    unit = session.get(OrgUnit, group.org_unit_id)
    person = directory.person_by_contact(session, contact_id)
    role = _role_in_group(session, person.id if person else None, unit)
    via = acknowledges_group(unit.level, unit.kind, role, urged=urged) if unit is not None else None
    is_leader = via is not None
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
                role=role.value if role is not None else None,
                text=text[:200],
                received_at=now,
            )
        )
    elif is_leader and not existing.is_unit_leader:
        # 收到 first, 已督促 later: the receipt now counts (and says so).
        existing.is_unit_leader, existing.text = True, text[:200]
    marks = is_leader and delivery.acked_at is None
    if marks:
        delivery.acked_at, delivery.acked_by, delivery.acked_via = now, name, via
        cancel_reminders(session, notice_id=notice.id, chat_group_id=group.id)
    shop_second = (
        unit is not None
        and unit.kind is UnitKind.SHOP
        and role is Role.SECOND_UNIT_LEADER
        and not is_leader
    )
    return ReceiptOutcome(notice.code, existing is None, marks, role, shop_second)
