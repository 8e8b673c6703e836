"""Households in the database: a unit leader's ``已通知 12/14户`` and the household
report of a notice. Synchronous data functions over a Session; the rules are the pure
functions of :mod:`broadcast.households`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from broadcast.households import (
    Claim,
    ClaimRefused,
    UnitHouseholds,
    household_coverage,
    judge_claim,
    tally_json,
)
from broadcast.receipts import acknowledges_group, cancel_reminders
from models.broadcast import Delivery, DeliveryState, Notice, NoticeStatus
from models.chat import ChatGroup
from models.enums import Level, Role
from models.households import HouseholdConfirmation
from models.org import PATH_SEP, OrgUnit, RoleAssignment, town_relative

__all__ = [
    "CONFIRMING_ROLES",
    "ClaimAnswer",
    "household_report",
    "latest_confirmations",
    "record_claim",
]

CONFIRMING_ROLES = (Role.UNIT_LEADER, Role.SECOND_UNIT_LEADER)
"""Who may confirm households on behalf of a unit (a shop's owner or its second leader)."""
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class ClaimAnswer:
    """The Chinese answer to the leader; ``recorded`` when a count was stored."""

    text: str
    recorded: bool = False
    notice_code: str | None = None
    unit_name: str = ""


def _led_units(session: Session, person_id: int) -> list[tuple[OrgUnit, Role]]:
    rows = session.exec(
        select(OrgUnit, RoleAssignment.role)
        .join(RoleAssignment, col(RoleAssignment.org_unit_id) == col(OrgUnit.id))
        .where(
            RoleAssignment.person_id == person_id,
            col(RoleAssignment.role).in_(CONFIRMING_ROLES),
            OrgUnit.level == Level.UNIT,
        )
        .order_by(col(OrgUnit.path))
    ).all()
    led: dict[int, tuple[OrgUnit, Role]] = {}
    for unit, role in rows:
        assert unit.id is not None
        held = Role(role)
        if unit.id not in led or held is Role.UNIT_LEADER:
            led[unit.id] = (unit, held)
    return list(led.values())


def _latest_notice(
    session: Session, unit_id: int, *, now: datetime, window: timedelta
) -> Notice | None:
    """The latest notice needing acknowledgement that reached the unit's group within
    ``window``."""
    return session.exec(
        select(Notice)
        .join(Delivery, col(Delivery.notice_id) == col(Notice.id))
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .where(
            ChatGroup.org_unit_id == unit_id,
            col(Notice.ack_required).is_(True),
            col(Notice.status).in_([NoticeStatus.SENDING, NoticeStatus.DONE]),
            Delivery.state == DeliveryState.SENT,
            col(Delivery.sent_at) >= now - window,
        )
        .order_by(col(Delivery.sent_at).desc(), col(Notice.id).desc())
    ).first()


_DIGITS = re.compile(r"\d+")


def _matches(hint: str, unit: OrgUnit) -> bool:
    """``3栋`` names ``国欢花园3号楼``; ``1号楼2单元`` names ``霞林苑1号楼2单元``."""
    if hint in unit.name or unit.name in hint:
        return True
    numbers = _DIGITS.findall(hint)
    return bool(numbers) and numbers == _DIGITS.findall(unit.name)


def _acknowledge_unit(
    session: Session, notice: Notice, unit: OrgUnit, role: Role, *, name: str, now: datetime
) -> None:
    """A leader who reports households has read the notice: the unit group counts as
    acknowledged, as after their 收到 (:func:`broadcast.receipts.acknowledges_group`: a
    shop's by its owner), and its reminders still waiting are cancelled."""
    via = acknowledges_group(Level.UNIT, unit.kind, role)
    if via is None:
        return
    row = session.exec(
        select(Delivery)
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .where(
            Delivery.notice_id == notice.id,
            ChatGroup.org_unit_id == unit.id,
            col(Delivery.acked_at).is_(None),
        )
    ).first()
    if row is None:
        return
    row.acked_at, row.acked_by, row.acked_via = now, name, via
    assert notice.id is not None
    cancel_reminders(session, notice_id=notice.id, chat_group_id=row.chat_group_id)


def record_claim(
    session: Session,
    claim: Claim,
    *,
    person_id: int | None,
    contact_id: str,
    name: str,
    text: str,
    now: datetime,
    window: timedelta,
    group_unit_id: int | None = None,
) -> ClaimAnswer | None:
    """Record a unit leader's ``已通知 k/n户`` for the latest notice of their unit.

    ``group_unit_id``: the org unit of the group it was written in (``None``: privately
    to a bot). ``None`` comes back when the writer leads no unit (in a group: not this
    unit), so the message goes on to the other handlers."""
    if person_id is None:
        return None
    led = _led_units(session, person_id)
    if group_unit_id is not None:
        led = [(u, r) for u, r in led if u.id == group_unit_id]
        if not led:
            return None
    if not led:
        return None
    channel = "group" if group_unit_id is not None else "private"
    candidates = led
    if group_unit_id is None and claim.unit:
        candidates = [(u, r) for u, r in led if _matches(claim.unit, u)]
        if not candidates:
            names = "、".join(u.name for u, _ in led[:10])
            return ClaimAnswer(f"没有找到您负责的单元「{claim.unit}」。您负责的单元：{names}。")
    pending: list[tuple[OrgUnit, Role, Notice]] = []
    for unit, role in candidates:
        assert unit.id is not None
        notice = _latest_notice(session, unit.id, now=now, window=window)
        if notice is not None:
            pending.append((unit, role, notice))
    if not pending:
        where = candidates[0][0].name if len(candidates) == 1 else "您负责的单元"
        return ClaimAnswer(f"{where}近期没有需要确认的通知，户数没有记录。")
    if len(pending) > 1:
        names = "、".join(u.name for u, _, _ in pending[:10])
        return ClaimAnswer(
            f"您负责多个单元（{names}），请写明是哪个单元，例如：{pending[0][0].name} 已通知 12/14户。"
        )
    unit, role, notice = pending[0]
    assert unit.id is not None and notice.id is not None
    verdict = judge_claim(claim, unit.households)
    if isinstance(verdict, ClaimRefused):
        return ClaimAnswer(f"{unit.name}：{verdict.reason}", notice_code=notice.code)
    session.add(
        HouseholdConfirmation(
            notice_id=notice.id,
            org_unit_id=unit.id,
            person_id=person_id,
            contact_id=contact_id,
            name=name,
            role=role.value,
            reached=verdict.reached,
            stated_total=claim.stated_total,
            all_reached=claim.all_reached,
            channel=channel,
            text=text[:MAX_TEXT],
            at=now,
        )
    )
    _acknowledge_unit(session, notice, unit, role, name=name, now=now)
    what = (
        f"已全部通知（{verdict.households}户）"
        if claim.all_reached
        else f"已通知 {verdict.reached}/{verdict.households}户"
    )
    reply = f"已记录：{unit.name} 通知 {notice.code}「{notice.title}」{what}。"
    if verdict.note:
        reply += verdict.note
    elif verdict.reached < verdict.households:
        reply += f"还有 {verdict.households - verdict.reached} 户，通知到后请再报一次。"
    return ClaimAnswer(reply, recorded=True, notice_code=notice.code, unit_name=unit.name)


def latest_confirmations(session: Session, notice_id: int) -> dict[int, HouseholdConfirmation]:
    """The latest confirmation of each unit for a notice (unit id -> row)."""
    latest: dict[int, HouseholdConfirmation] = {}
    for row in session.exec(
        select(HouseholdConfirmation)
        .where(HouseholdConfirmation.notice_id == notice_id)
        .order_by(col(HouseholdConfirmation.at), col(HouseholdConfirmation.id))
    ):
        latest[row.org_unit_id] = row
    return latest


def _unit_rows(
    session: Session, notice_id: int
) -> Sequence[tuple[DeliveryState, int, str, int | None]]:
    """(delivery state, unit id, unit path, households) of the notice's unit groups: plain
    columns, not ORM objects (a town notice has some 4,600 of them)."""
    rows = session.execute(
        sa_select(col(Delivery.state), col(OrgUnit.id), col(OrgUnit.path), col(OrgUnit.households))
        .join(ChatGroup, col(ChatGroup.id) == col(Delivery.chat_group_id))
        .join(OrgUnit, col(OrgUnit.id) == col(ChatGroup.org_unit_id))
        .where(col(Delivery.notice_id) == notice_id, col(Delivery.level) == Level.UNIT.value)
        .order_by(col(OrgUnit.path))
    ).all()
    return [(state, int(unit_id), path, households) for state, unit_id, path, households in rows]


def household_report(session: Session, notice: Notice) -> dict[str, object]:
    """Households targeted, reached (their unit group got the notice) and confirmed (the
    unit leader's latest ``已通知 k/n户``), in total, per village, grid and unit."""
    assert notice.id is not None
    confirmations = latest_confirmations(session, notice.id)
    units: list[UnitHouseholds] = []
    unit_rows: list[dict[str, object]] = []
    for state, unit_id, full_path, households in _unit_rows(session, notice.id):
        path = town_relative(full_path)
        if len(path) != 3:
            continue
        village, grid, name = path
        reached = DeliveryState(state) is DeliveryState.SENT
        confirmation = confirmations.get(unit_id)
        confirmed = None
        if confirmation is not None:
            confirmed = (
                households
                if confirmation.all_reached and households is not None
                else confirmation.reached
            )
        entry = UnitHouseholds(village, grid, name, households, reached, confirmed)
        units.append(entry)
        unit_rows.append(
            {
                "path": PATH_SEP.join(path),
                "households": households,
                "reached": reached,
                "confirmed": entry.households_confirmed if confirmed is not None else None,
                "confirmed_by": confirmation.name if confirmation is not None else None,
                "confirmed_at": confirmation.at.isoformat() if confirmation is not None else None,
            }
        )
    coverage = household_coverage(units)
    return {
        **tally_json(coverage.total),
        "villages": [{"village": v, **tally_json(t)} for v, t in coverage.villages.items()],
        "grids": [
            {"village": v, "grid": g, **tally_json(t)} for (v, g), t in coverage.grids.items()
        ],
        "units": unit_rows,
    }
