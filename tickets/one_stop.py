"""One-stop intake (一站受理): a phone call, a walk-in or a web form, filed through the
same pipeline as a group message."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime

from sqlmodel import Session, select

from core.config import Settings
from models.enums import Urgency
from models.org import Person
from models.tickets import TicketCreate
from orgtree.directory import contact_id_of
from orgtree.service import OrgPathNotFound, resolve_path
from tickets.chat_intake import log_message
from tickets.configured import configured_parser
from tickets.errors import TicketError, UnitNotFound
from tickets.filing import IntakeOutcome, ProblemReport, Reporter, file_report

__all__ = ["create_ticket", "reporter_phone"]

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{9,11}")
"""An area code (0594) and a 7- or 8-digit number."""


def reporter_phone(text: str | None) -> str | None:
    """A caller's phone as digits: a mobile (+86 allowed) or a landline with its area code
    (0594-2345678); ``None`` when none was given. Anything else raises :class:`TicketError`
    rather than keep whatever digits it holds (``<script>alert(1)</script>`` was "1"). Pure."""
    written = unicodedata.normalize("NFKC", text or "").strip()
    if not written:
        return None
    digits = re.sub(r"[\s\-()]", "", written)
    digits = re.sub(r"^(?:\+?86)(?=1\d{10}$)", "", digits)
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    shown = written if len(written) <= 20 else written[:20] + "…"
    raise TicketError(f"电话「{shown}」不是有效的手机号或带区号的固定电话")


def create_ticket(
    *, session: Session, settings: Settings, ticket_in: TicketCreate, now: datetime
) -> IntakeOutcome:
    """一站受理: a phone call or walk-in, through the same pipeline as a group message
    (parse, duplicate merge, code, routing). Returns the receipt to read to the caller
    and the private messages for the staff; queue those with :func:`tickets.outbox.queue_replies` when
    not in the bot process. Raises :class:`UnitNotFound`, :class:`TicketError`."""
    try:
        unit = resolve_path(session, ticket_in.unit_path, town=settings.town.name)
    except OrgPathNotFound as exc:
        raise UnitNotFound(str(exc)) from None
    assert unit.id is not None
    text = ticket_in.text.strip()
    parsed = configured_parser(settings).parse(text)
    category = ticket_in.category or parsed.category or "other"
    if category not in {c.code for c in settings.tickets.categories}:
        known = "、".join(f"{c.code}（{c.name}）" for c in settings.tickets.categories)
        raise TicketError(f"未知的类别「{category}」。可选：{known}")
    urgency = ticket_in.urgency or Urgency(parsed.urgency or Urgency.NORMAL)
    phone = reporter_phone(ticket_in.reporter_phone)
    person = session.exec(select(Person).where(Person.phone == phone)).first() if phone else None
    if person is not None:
        contact_id = contact_id_of(person)
    elif phone:
        contact_id = f"tel-{phone}"
    else:
        contact_id = f"offline-{uuid.uuid4().hex[:12]}"
    reporter = Reporter(
        contact_id=contact_id,
        name=ticket_in.reporter_name.strip(),
        person_id=person.id if person is not None else None,
        phone=phone,
        channel=ticket_in.channel,
    )
    report = ProblemReport(
        reporter=reporter,
        text=text,
        category=category,
        urgency=urgency,
        location=parsed.location,
        org_unit_id=unit.id,
    )
    filed = file_report(session=session, settings=settings, report=report, now=now)
    log_message(
        session=session,
        kind=filed.kind,
        text=text,
        sender_contact_id=contact_id,
        sender_name=reporter.name,
        now=now,
        org_unit_id=unit.id,
        parsed=parsed,
        ticket_id=filed.ticket_id,
        channel=ticket_in.channel,
    )
    return IntakeOutcome(filed.kind, filed.replies, filed.code, filed.receipt)
