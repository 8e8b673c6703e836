"""双单元长 on tickets (and the follow-up record tasks share): the owner first, then the
second unit leader.

A shop (沿街商铺) unit has two leaders: its owner (法人单元长, ``Role.UNIT_LEADER``) and a
second unit leader (``Role.SECOND_UNIT_LEADER``, a village cadre, property staff or party
member) who 督促引导 the owner. What needs the shop's unit leader goes to the owner first:
a ticket from the shop is copied to the owner, who answers ``收到 T…``. When the owner
has not answered after ``tickets.shop_owner_silence``, the second unit leader is reminded
privately to follow up with the owner by name, and answers ``已督促 T…``. Each step, and
which of the two acted, is in the ticket's timeline (:class:`models.tickets.TicketEvent`)
and on its :class:`models.shops.ShopFollowUp`.

The rules (:func:`reminder_due_at`, :func:`acting_role`, :func:`parse_shop_reply`) are
pure; the rest are data functions over a Session, with time as a parameter. The SLA
timer job (:mod:`tickets.timers`) sends the reminders (:func:`remind_shop_tickets`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from core.privacy import mask_phones_in_text
from models.enums import ActorRole, Level, Role, UnitKind
from models.org import OrgUnit
from models.shops import ShopFollowUp, ShopSubject
from models.tickets import Ticket, TicketEventCreate
from orgtree import directory
from orgtree.directory import PostHolder
from tickets.configured import category_name
from tickets.lifecycle import SYSTEM, Actor
from tickets.rows import record_event

__all__ = [
    "SHOP_EVENT_ZH",
    "ShopLeaders",
    "ShopReply",
    "act_on_follow_up",
    "acting_role",
    "due_follow_ups",
    "handle_shop_reply",
    "open_follow_up",
    "parse_shop_reply",
    "remind_shop_tickets",
    "reminder_due_at",
    "shop_leaders",
    "shop_ticket_copies",
]

SHOP_EVENT_ZH = {
    "shop_owner_notified": "告知店主",
    "shop_owner_ack": "店主回复",
    "shop_second_reminded": "提醒第二单元长",
    "shop_second_urged": "第二单元长督促",
}
"""Timeline kinds of the two leaders' steps (besides the lifecycle's ``EVENT_ZH``)."""


# --- the rules ------------------------------------------------------------------------


def reminder_due_at(
    notified_at: datetime, silence: timedelta, *, has_second: bool
) -> datetime | None:
    """When the second unit leader is reminded of a silent owner; ``None`` when the shop
    has no second unit leader (nobody to remind). Pure."""
    return notified_at + silence if has_second else None


def acting_role(
    contact_id: str, *, owner_contact_id: str | None, second_contact_id: str | None
) -> Role | None:
    """Which of the shop's two leaders is writing (the owner when they are both). Pure."""
    if contact_id == owner_contact_id:
        return Role.UNIT_LEADER
    if contact_id == second_contact_id:
        return Role.SECOND_UNIT_LEADER
    return None


@dataclass(frozen=True, slots=True)
class ShopReply:
    """``收到 T…`` from an owner, ``已督促 T…`` from a second unit leader (``code`` may be
    left out when only one ticket waits for them)."""

    verb: Literal["ack", "urged"]
    code: str | None


_CODE = r"[Tt]\s*\d{8}\s*[-－—]\s*\d{4,6}"
_ACK = re.compile(
    rf"^(?:已经?)?(?:收到|知道了|已知晓|知晓)(?:了)?[\s，,:：]*(?P<code>{_CODE})?[\s。.!！]*$"
)
_URGED = re.compile(
    rf"^(?:已经?督促(?:店主)?(?:过|了)?|已提醒店主|督促了)[\s，,:：]*(?P<code>{_CODE})?[\s。.!！]*$"
)


def parse_shop_reply(text: str) -> ShopReply | None:
    """``收到 T20261130-0012`` / ``已督促 T20261130-0012`` (the code optional). Pure."""
    text = unicodedata.normalize("NFKC", text).strip()
    for verb, pattern in (("ack", _ACK), ("urged", _URGED)):
        match = pattern.match(text)
        if match is not None:
            code = match.group("code")
            normalized = re.sub(r"\s|[-－—]", "", code).upper() if code else None
            if normalized is not None:
                normalized = f"{normalized[:9]}-{normalized[9:]}"
            return ShopReply(verb, normalized)  # type: ignore[arg-type]
    return None


# --- the follow-up record ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopLeaders:
    unit: OrgUnit
    owner: PostHolder | None
    second: PostHolder | None


def shop_leaders(session: Session, unit_id: int | None) -> ShopLeaders | None:
    """The two leaders of a shop unit; ``None`` when the unit is not a shop."""
    unit = session.get(OrgUnit, unit_id) if unit_id is not None else None
    if unit is None or unit.level is not Level.UNIT or unit.kind is not UnitKind.SHOP:
        return None
    assert unit.id is not None
    held = directory.holders(
        session, roles=(Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER), unit_ids=[unit.id]
    )
    owner = next((h for h in held if h.role is Role.UNIT_LEADER), None)
    second = next((h for h in held if h.role is Role.SECOND_UNIT_LEADER), None)
    return ShopLeaders(unit, owner, second)


def open_follow_up(
    session: Session,
    *,
    subject: ShopSubject,
    subject_id: int,
    leaders: ShopLeaders,
    now: datetime,
    silence: timedelta,
) -> ShopFollowUp:
    """Record that the owner was told (once per subject)."""
    existing = session.exec(
        select(ShopFollowUp).where(
            ShopFollowUp.subject == subject, ShopFollowUp.subject_id == subject_id
        )
    ).first()
    if existing is not None:
        return existing
    assert leaders.unit.id is not None
    owner, second = leaders.owner, leaders.second
    follow_up = ShopFollowUp(
        subject=subject,
        subject_id=subject_id,
        org_unit_id=leaders.unit.id,
        owner_contact_id=owner.contact_id if owner else None,
        owner_name=owner.name if owner else "",
        second_contact_id=second.contact_id if second else None,
        second_name=second.name if second else "",
        notified_at=now,
        # No owner to tell: the second unit leader is asked at once.
        remind_at=reminder_due_at(
            now, silence if owner else timedelta(0), has_second=second is not None
        ),
    )
    session.add(follow_up)
    session.flush()
    return follow_up


def act_on_follow_up(
    follow_up: ShopFollowUp, *, name: str, role: Role | str, now: datetime
) -> bool:
    """Record who acted; True when this is the first action (nobody is reminded after)."""
    if follow_up.acted_at is not None:
        return False
    follow_up.acted_at, follow_up.acted_by = now, name
    follow_up.acted_role = role.value if isinstance(role, Role) else role
    follow_up.remind_at = None
    return True


def due_follow_ups(session: Session, subject: ShopSubject, now: datetime) -> list[ShopFollowUp]:
    """Follow-ups whose second unit leader is due a reminder at ``now``."""
    return list(
        session.exec(
            select(ShopFollowUp)
            .where(
                ShopFollowUp.subject == subject,
                col(ShopFollowUp.remind_at).is_not(None),
                col(ShopFollowUp.remind_at) <= now,
                col(ShopFollowUp.acted_at).is_(None),
            )
            .order_by(col(ShopFollowUp.id))
            .with_for_update(skip_locked=True)
        )
    )


# --- tickets ----------------------------------------------------------------------------


def _timeline(
    session: Session, row: Ticket, kind: str, *, actor: Actor, now: datetime, note: str
) -> None:
    """A step of the two leaders in the ticket's timeline (its state does not change)."""
    record_event(
        session,
        row,
        TicketEventCreate(
            kind=kind,
            actor_id=actor.person_id,
            actor_role=actor.role,
            at=now,
            from_state=row.state,
            to_state=row.state,
            from_level=row.level,
            to_level=row.level,
            note=note,
        ),
        actor=actor,
    )


def shop_ticket_copies(
    session: Session,
    settings: Settings,
    *,
    row: Ticket,
    holder_label: str,
    skip: set[str],
    now: datetime,
) -> list[Reply] | None:
    """A new ticket from a shop goes to its owner only (the second unit leader hears of it
    when the owner stays silent); ``None`` when the ticket is not from a shop."""
    leaders = shop_leaders(session, row.unit_id)
    if leaders is None or row.id is None:
        return None
    follow_up = open_follow_up(
        session,
        subject=ShopSubject.TICKET,
        subject_id=row.id,
        leaders=leaders,
        now=now,
        silence=settings.tickets.shop_owner_silence,
    )
    owner = leaders.owner
    if owner is None:
        return []  # the timer job asks the second unit leader at once
    _timeline(
        session,
        row,
        "shop_owner_notified",
        actor=SYSTEM,
        now=now,
        note=f"告知{leaders.unit.name}店主（法人单元长）{owner.name}",
    )
    if owner.contact_id in skip:
        act_on_follow_up(follow_up, name=owner.name, role=Role.UNIT_LEADER, now=now)
        return []  # the owner reported it themselves
    text = (
        f"【本店工单】{row.code}（{category_name(settings, row.category)}）："
        f"{mask_phones_in_text(row.text)[:120]}\n"
        f"由{holder_label}负责处理。您是{leaders.unit.name}的单元长，请知悉并配合，"
        f"回复「收到 {row.code}」。查询进度请发送「查询 {row.code}」。"
    )
    return [Reply(text, contact_id=owner.contact_id)]


def remind_shop_tickets(session: Session, settings: Settings, now: datetime) -> list[Reply]:
    """Remind the second unit leader of each shop ticket whose owner stayed silent (once)."""
    replies: list[Reply] = []
    for follow_up in due_follow_ups(session, ShopSubject.TICKET, now):
        row = session.get(Ticket, follow_up.subject_id)
        follow_up.remind_at = None
        if row is None or follow_up.second_contact_id is None:
            continue
        follow_up.reminded_at = now
        unit = session.get(OrgUnit, follow_up.org_unit_id)
        shop = unit.name if unit is not None else "本店"
        owner = follow_up.owner_name or "店主"
        if follow_up.owner_contact_id is None:
            text = (
                f"【督促店主】{shop}反映的工单 {row.code}（{category_name(settings, row.category)}）"
                f"：{mask_phones_in_text(row.text)[:80]}\n本店花名册没有登记店主（法人单元长），"
                f"请您代为跟进，跟进后回复「已督促 {row.code}」。"
            )
        else:
            text = (
                f"【督促店主】{shop}反映的工单 {row.code}（{category_name(settings, row.category)}）"
                f"已告知店主{owner}，但{owner}至今没有回复。请您联系店主{owner}跟进，"
                f"跟进后回复「已督促 {row.code}」。"
            )
        _timeline(
            session,
            row,
            "shop_second_reminded",
            actor=SYSTEM,
            now=now,
            note=f"店主{owner}未回复，提醒第二单元长{follow_up.second_name}督促",
        )
        replies.append(Reply(text, contact_id=follow_up.second_contact_id))
    return replies


def _open_ticket_follow_ups(
    session: Session, contact_id: str, code: str | None
) -> list[tuple[ShopFollowUp, Ticket]]:
    statement = (
        select(ShopFollowUp, Ticket)
        .join(Ticket, col(Ticket.id) == col(ShopFollowUp.subject_id))
        .where(
            ShopFollowUp.subject == ShopSubject.TICKET,
            (col(ShopFollowUp.owner_contact_id) == contact_id)
            | (col(ShopFollowUp.second_contact_id) == contact_id),
        )
        .order_by(col(ShopFollowUp.id))
    )
    if code is not None:
        statement = statement.where(Ticket.code == code)
    else:
        statement = statement.where(col(ShopFollowUp.acted_at).is_(None))
    return [(f, t) for f, t in session.exec(statement)]


def handle_shop_reply(
    session: Session, reply: ShopReply, *, contact_id: str, name: str, now: datetime
) -> str | None:
    """An owner's ``收到 T…`` or a second unit leader's ``已督促 T…``: record who acted,
    in the ticket's timeline. ``None`` when the writer has no shop ticket to answer (the
    message is not for this handler)."""
    found = _open_ticket_follow_ups(session, contact_id, reply.code)
    if not found:
        return None
    if len(found) > 1:
        codes = "、".join(t.code for _, t in found[:5])
        word = "收到" if reply.verb == "ack" else "已督促"
        return f"您有多张本店工单待回复（{codes}），请写明工单编号，例如：{word} {found[0][1].code}"
    follow_up, row = found[0]
    role = acting_role(
        contact_id,
        owner_contact_id=follow_up.owner_contact_id,
        second_contact_id=follow_up.second_contact_id,
    )
    assert role is not None
    if reply.verb == "urged" and role is Role.UNIT_LEADER:
        return f"「已督促」由第二单元长在督促店主后回复；您是店主，请回复「收到 {row.code}」。"
    if reply.verb == "ack" and role is Role.SECOND_UNIT_LEADER:
        owner = follow_up.owner_name or "店主"
        return f"工单 {row.code} 需店主{owner}本人知悉；您联系店主后请回复「已督促 {row.code}」。"
    first = act_on_follow_up(follow_up, name=name, role=role, now=now)
    actor = Actor(contact_id, ActorRole.UNIT_LEADER, name)
    if role is Role.UNIT_LEADER:
        if not first and follow_up.acted_role == Role.UNIT_LEADER.value:
            return f"工单 {row.code} 您已回复过收到。"
        _timeline(session, row, "shop_owner_ack", actor=actor, now=now, note=f"店主{name}回复收到")
        return f"已记录：您已知悉工单 {row.code}。"
    owner = follow_up.owner_name or "店主"
    _timeline(
        session,
        row,
        "shop_second_urged",
        actor=actor,
        now=now,
        note=f"第二单元长{name}已督促店主{owner}",
    )
    return f"已记录：您已督促店主{owner}跟进工单 {row.code}。"
