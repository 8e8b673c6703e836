"""Messages in bound groups: every one is stored, and a reported problem is filed.

Acknowledgements (收到) and chat come back as ``NOT_TICKET`` / ``ACKNOWLEDGEMENT`` with
no replies, for the next router; a resident over the hourly limit gets one notice and
their messages are kept without tickets.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from models.enums import Urgency
from models.org import OrgUnit
from models.tickets import IntakeKind, IntakeMessage, TicketChannel
from orgtree import directory
from tickets.configured import configured_parser
from tickets.filing import (
    Filed,
    IntakeOutcome,
    ProblemReport,
    Reporter,
    add_follow_up,
    file_report,
    follow_up_target,
)
from tickets.intake import ParsedMessage
from tickets.rows import storable

__all__ = ["FLOOD_PERIOD", "intake", "log_message", "message_seen"]

FLOOD_PERIOD = timedelta(hours=1)


def log_message(
    *,
    session: Session,
    kind: IntakeKind,
    text: str,
    sender_contact_id: str,
    sender_name: str,
    now: datetime,
    message_id: str | None = None,
    room_id: str | None = None,
    org_unit_id: int | None = None,
    parsed: ParsedMessage | None = None,
    ticket_id: int | None = None,
    channel: TicketChannel = TicketChannel.CHAT,
) -> IntakeMessage:
    """Store one message read by the ticket router (every message is kept)."""
    sender = directory.person_by_contact(session, sender_contact_id)
    row = IntakeMessage(
        message_id=message_id,
        channel=channel,
        room_id=room_id,
        org_unit_id=org_unit_id,
        sender_contact_id=sender_contact_id,
        sender_person_id=sender.id if sender is not None else None,
        sender_name=storable(sender_name[:64]),
        text=storable(text),
        kind=kind,
        is_ticket=parsed.is_ticket if parsed is not None else False,
        category=parsed.category if parsed is not None else None,
        urgency=Urgency(parsed.urgency) if parsed is not None and parsed.urgency else None,
        location=storable(parsed.location) if parsed and parsed.location else None,
        parse_reason=parsed.reason if parsed is not None else None,
        ticket_id=ticket_id,
        received_at=now,
    )
    session.add(row)
    session.flush()
    return row


def message_seen(session: Session, message_id: str) -> bool:
    """Was this WeChat message already handled (another account, or a redelivery)?"""
    found = session.exec(
        select(IntakeMessage.id).where(IntakeMessage.message_id == message_id)
    ).first()
    return found is not None


def intake(
    *,
    session: Session,
    settings: Settings,
    text: str,
    sender_contact_id: str,
    sender_name: str,
    room_id: str | None,
    org_unit_id: int,
    now: datetime,
    message_id: str | None = None,
    parsed: ParsedMessage | None = None,
    raw_text: str | None = None,
) -> IntakeOutcome:
    """A message in a bound group (or, with ``room_id=None``, a private message filed
    under ``org_unit_id``): store it, and open a ticket, join an open one, or
    answer the flood notice. Acknowledgements and chat come back as ``NOT_TICKET`` /
    ``ACKNOWLEDGEMENT`` with no replies, for the next router.

    ``text`` is what intake reads (the dispatcher's text, @mentions removed); ``raw_text``
    is what is stored in the message log (the message as sent), ``text`` by default."""
    parsed = parsed or configured_parser(settings).parse(text)
    log = log_message(
        session=session,
        kind=IntakeKind.NOT_TICKET,
        text=text if raw_text is None else raw_text,
        sender_contact_id=sender_contact_id,
        sender_name=sender_name,
        now=now,
        message_id=message_id,
        room_id=room_id,
        org_unit_id=org_unit_id,
        parsed=parsed,
    )
    if parsed.is_acknowledgement:
        log.kind = IntakeKind.ACKNOWLEDGEMENT
        return IntakeOutcome(IntakeKind.ACKNOWLEDGEMENT)
    person = directory.person_by_contact(session, sender_contact_id)
    reporter = Reporter(
        contact_id=sender_contact_id,
        name=person.name if person is not None else sender_name,
        person_id=person.id if person is not None else None,
        room_id=room_id,
    )
    if not parsed.is_ticket or parsed.category is None:
        # A reply to a ticket's code (补充 T20261130-0012 ...) adds to it, ticket words or not.
        added = _follow_up_by_code(session, settings, text, reporter, org_unit_id, now)
        if added is None:
            return IntakeOutcome(IntakeKind.NOT_TICKET)
        log.kind = added.kind
        log.ticket_id = added.ticket_id
        reply = Reply(added.receipt, room_id=room_id, mention_ids=(sender_contact_id,))
        return IntakeOutcome(added.kind, (reply, *added.replies), added.code, added.receipt)
    urgency = Urgency(parsed.urgency or Urgency.NORMAL)
    if urgency is not Urgency.URGENT:
        flood = _flood_notice(session, settings, reporter, org_unit_id, now)
        if flood is not None:
            log.kind = IntakeKind.FLOODED
            replies = (_answer(flood, room_id, sender_contact_id),)
            return IntakeOutcome(IntakeKind.FLOODED, replies if flood else (), receipt=flood)
    report = ProblemReport(
        reporter=reporter,
        text=text,
        category=parsed.category,
        urgency=urgency,
        location=parsed.location,
        org_unit_id=org_unit_id,
        title=parsed.title,
        secondary_categories=parsed.secondary_categories,
        category_confident=parsed.category_confident,
    )
    outcome = file_report(session=session, settings=settings, report=report, now=now)
    log.kind = outcome.kind
    log.ticket_id = outcome.ticket_id
    group_reply = _answer(outcome.receipt, room_id, sender_contact_id)
    return IntakeOutcome(
        outcome.kind, (group_reply, *outcome.replies), outcome.code, outcome.receipt
    )


def _follow_up_by_code(
    session: Session,
    settings: Settings,
    text: str,
    reporter: Reporter,
    org_unit_id: int,
    now: datetime,
) -> Filed | None:
    """A message naming an open ticket's code, added to that ticket; None otherwise."""
    if not _CODE_IN_TEXT.search(text):
        return None
    target = follow_up_target(
        session,
        settings,
        text=text,
        contact_id=reporter.contact_id,
        unit_id=org_unit_id,
        category=None,
        now=now,
    )
    if target is None or not _CODE_IN_TEXT.search(text):
        return None
    if target.code.upper() not in text.upper():
        return None  # the same resident's latest ticket, but the message names another code
    return add_follow_up(session, settings, target, text, reporter=reporter, now=now)


_CODE_IN_TEXT = re.compile(r"T\d{8}-\d{4}", re.IGNORECASE)


def _answer(text: str, room_id: str | None, sender_contact_id: str) -> Reply:
    """In the group @-mentioning the reporter, or privately for a private message."""
    if room_id is None:
        return Reply(text, contact_id=sender_contact_id)
    return Reply(text, room_id=room_id, mention_ids=(sender_contact_id,))


def _flood_notice(
    session: Session, settings: Settings, reporter: Reporter, org_unit_id: int, now: datetime
) -> str | None:
    """``None`` when under the limit; the notice text the first time over it in the
    hour; ``""`` when the notice was already given (stay quiet)."""
    since = now - FLOOD_PERIOD
    kinds = session.exec(
        select(IntakeMessage.kind).where(
            IntakeMessage.sender_contact_id == reporter.contact_id,
            col(IntakeMessage.received_at) > since,
            col(IntakeMessage.kind).in_(
                [IntakeKind.TICKET, IntakeKind.DUPLICATE, IntakeKind.FLOODED]
            ),
        )
    ).all()
    filed = sum(1 for kind in kinds if kind is not IntakeKind.FLOODED)
    if filed < settings.tickets.flood_limit_per_hour:
        return None
    if IntakeKind.FLOODED in kinds:
        return ""
    unit = session.get(OrgUnit, org_unit_id)
    grid = directory.grid_of(session, unit) if unit is not None else None
    leaders = (
        directory.grid_leaders(session, grid_id=grid.id) if grid is not None and grid.id else []
    )
    contact = f"网格长{leaders[0].name}" if leaders else "村网格站"
    return (
        f"您一小时内已反映了{filed}个问题，我们都已登记，工作人员会统一查看处理。"
        f"接下来一小时内的留言会保存下来，但不再逐条登记工单；"
        f"如情况紧急，请直接联系{contact}，或拨打110、119。"
    )
