"""Private messages to the bot are intake too (一站受理): a resident who writes to a bot
account privately is answered there, and their report is filed under their unit.

The unit comes from where the writer belongs: their posts in the roster and the bound
groups they are a member of (the caller gives these as ``homes``). One unit: filed
under it. Several, or none known: the bot asks which unit, keeps the report
(:attr:`~models.tickets.IntakeKind.AWAITING_UNIT`) and files it when the answer comes
(a number from the list, or the unit's name) within :data:`PENDING_FOR`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.config import Settings
from core.messaging import Reply
from models.enums import Level
from models.org import OrgUnit
from models.tickets import IntakeKind, IntakeMessage
from tickets.chat_intake import intake, log_message
from tickets.configured import configured_parser
from tickets.filing import IntakeOutcome

__all__ = ["PENDING_FOR", "Home", "choose_home", "private_report"]

PENDING_FOR = timedelta(minutes=30)
"""How long a private report waits for the writer to say which unit it is about."""
MAX_OPTIONS = 9


@dataclass(frozen=True, slots=True)
class Home:
    """A unit or grid the writer belongs to."""

    org_unit_id: int
    path: tuple[str, ...]
    level: str

    @property
    def label(self) -> str:
        return "/".join(self.path)


_DIGITS = str.maketrans("１２３４５６７８９０", "1234567890")
_CHINESE_NUMBERS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CHOICE = re.compile(r"^(?:第|选|选择)?\s*([1-9一二两三四五六七八九])\s*(?:个|号|项)?[。.！!]?$")


def choose_home(text: str, options: Sequence[Home]) -> Home | None:
    """The option the writer picked: its number in the list (``2``, ``第二个``) or its
    name (``国湄领涵1号楼``, ``1号楼那个``). Pure."""
    answer = unicodedata.normalize("NFKC", text).translate(_DIGITS).strip()
    match = _CHOICE.match(answer)
    if match:
        token = match.group(1)
        number = int(token) if token.isdigit() else _CHINESE_NUMBERS[token]
        return options[number - 1] if 1 <= number <= len(options) else None
    named = [o for o in options if o.path and o.path[-1] in answer]
    if len(named) == 1:
        return named[0]
    longest = sorted(named, key=lambda o: len(o.path[-1]), reverse=True)
    if len(longest) > 1 and len(longest[0].path[-1]) > len(longest[1].path[-1]):
        return longest[0]
    return None


def _pending(session: Session, contact_id: str, now: datetime) -> IntakeMessage | None:
    return session.exec(
        select(IntakeMessage)
        .where(
            IntakeMessage.sender_contact_id == contact_id,
            IntakeMessage.kind == IntakeKind.AWAITING_UNIT,
            col(IntakeMessage.received_at) > now - PENDING_FOR,
        )
        .order_by(col(IntakeMessage.received_at).desc())
    ).first()


def _units_named(session: Session, text: str) -> list[Home]:
    """Units whose name the text contains (when the writer's units are not known)."""
    answer = unicodedata.normalize("NFKC", text).translate(_DIGITS)
    found = [
        Home(u.id or 0, u.town_path, u.level.value)
        for u in session.exec(select(OrgUnit).where(OrgUnit.level == Level.UNIT))
        if len(u.name) >= 3 and u.name in answer
    ]
    return found


def _ask(options: Sequence[Home]) -> str:
    if not options:
        return (
            "您好，您反映的情况已收到。请告诉我是哪个单元（小区和楼栋，如“国湄领涵1号楼”），"
            "我会登记工单并转给负责人；也可以在您所在的单元群里直接说明。"
        )
    lines = ["您好，您反映的情况已收到。请问是哪个单元的事情？请回复序号："]
    lines.extend(f"{i}. {o.label}" for i, o in enumerate(options, start=1))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PrivateOutcome:
    """What became of a private message: replies to send, or ``None`` for no ticket."""

    kind: IntakeKind
    replies: tuple[Reply, ...]
    text: str
    """The report text that was filed (for a chosen unit: the earlier message)."""


def private_report(
    *,
    session: Session,
    settings: Settings,
    text: str,
    raw_text: str,
    contact_id: str,
    name: str,
    message_id: str,
    homes: Sequence[Home],
    now: datetime,
) -> PrivateOutcome:
    """A private message that is not a command: file it under the writer's unit, ask
    which unit, or (an answer to that question) file the report that waited for it."""
    options = [h for h in homes if h.level == Level.UNIT.value][:MAX_OPTIONS]
    pending = _pending(session, contact_id, now)
    if pending is not None:
        chosen = choose_home(text, options) if options else None
        if chosen is None and not options:
            named = _units_named(session, text)
            chosen = named[0] if len(named) == 1 else None
        if chosen is not None:
            log_message(
                session=session,
                kind=IntakeKind.COMMAND,
                text=raw_text,
                sender_contact_id=contact_id,
                sender_name=name,
                now=now,
                message_id=message_id,
                org_unit_id=chosen.org_unit_id,
            )
            pending.kind = IntakeKind.NOT_TICKET
            pending.parse_reason = f"filed under {chosen.label}"
            filed = intake(
                session=session,
                settings=settings,
                text=pending.text,
                sender_contact_id=contact_id,
                sender_name=name,
                room_id=None,
                org_unit_id=chosen.org_unit_id,
                now=now,
            )
            return PrivateOutcome(filed.kind, filed.replies, pending.text)
        pending.kind = IntakeKind.NOT_TICKET  # a new message instead of an answer
    parsed = configured_parser(settings).parse(text)
    if parsed.is_acknowledgement or not parsed.is_ticket or parsed.category is None:
        log_message(
            session=session,
            kind=IntakeKind.NOT_TICKET,
            text=raw_text,
            sender_contact_id=contact_id,
            sender_name=name,
            now=now,
            message_id=message_id,
            parsed=parsed,
        )
        return PrivateOutcome(IntakeKind.NOT_TICKET, (), text)
    grids = [h for h in homes if h.level == Level.GRID.value]
    target = (
        options[0] if len(options) == 1 else grids[0] if not options and len(grids) == 1 else None
    )
    if target is None:
        log_message(
            session=session,
            kind=IntakeKind.AWAITING_UNIT,
            text=text,
            sender_contact_id=contact_id,
            sender_name=name,
            now=now,
            message_id=message_id,
            parsed=parsed,
        )
        return PrivateOutcome(
            IntakeKind.AWAITING_UNIT, (Reply(_ask(options), contact_id=contact_id),), text
        )
    outcome: IntakeOutcome = intake(
        session=session,
        settings=settings,
        text=text,
        sender_contact_id=contact_id,
        sender_name=name,
        room_id=None,
        org_unit_id=target.org_unit_id,
        now=now,
        message_id=message_id,
        parsed=parsed,
        raw_text=raw_text,
    )
    return PrivateOutcome(outcome.kind, outcome.replies, text)
