"""Readable codes: tickets (工单编号 ``T20261130-0012``) and notices (通知编号 ``N0042``).

A ticket code is ``T``, the day the ticket was received in the town's local time
(Asia/Shanghai), ``-`` and a per-day sequence number of at least four digits. A notice
code is ``N`` and a sequence number of at least four digits. Parsing is tolerant of
what people type in chat (lowercase letters, full-width characters, stray dashes) but
only accepts the canonical form once normalised, so one ticket never has two codes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from core.clock import local_day

__all__ = [
    "EXAMPLE_NOTICE_CODE",
    "EXAMPLE_TICKET_CODE",
    "InvalidCode",
    "TicketCode",
    "format_notice_code",
    "format_ticket_code",
    "normalize_code_text",
    "parse_notice_code",
    "parse_ticket_code",
    "ticket_code_prefix",
]


EXAMPLE_TICKET_CODE = "T20261130-0012"
EXAMPLE_NOTICE_CODE = "N0042"

# Dashes people type instead of "-" (NFKC already folds the full-width one).
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−﹣"), "-")
_TICKET_RE = re.compile(r"T(\d{8})-(\d{4,6})")
_NOTICE_RE = re.compile(r"N(\d{4,6})")


class InvalidCode(ValueError):
    """A code that is not well formed; the message is Chinese and says how to write it."""


@dataclass(frozen=True, slots=True)
class TicketCode:
    """A parsed ticket code: the local day and the sequence number within that day."""

    day: date
    seq: int

    def __str__(self) -> str:
        return f"T{self.day:%Y%m%d}-{self.seq:04d}"


def normalize_code_text(text: str) -> str:
    """Fold full-width characters, odd dashes and case, and drop surrounding spaces."""
    return unicodedata.normalize("NFKC", text).translate(_DASHES).strip().upper()


def ticket_code_prefix(day: date) -> str:
    """``T20261130-``: every code of that day starts with it (for allocating sequences)."""
    return f"T{day:%Y%m%d}-"


def format_ticket_code(received_at: datetime, seq: int) -> str:
    """The code of the ``seq``-th ticket received on ``received_at``'s local day.

    Sequences above 9999 widen to five or six digits rather than failing; no town
    files that many tickets in a day, but a ticket must never be lost over a format.
    """
    if not 1 <= seq <= 999_999:
        raise ValueError(f"ticket sequence out of range: {seq}")
    return str(TicketCode(local_day(received_at), seq))


def parse_ticket_code(text: str) -> TicketCode:
    """Parse ``T20261130-0012`` (lowercase or full-width accepted); raise :class:`InvalidCode`."""
    normalized = normalize_code_text(text)
    match = _TICKET_RE.fullmatch(normalized)
    if match is None:
        raise InvalidCode(
            f"工单编号「{text.strip()}」格式不对：应为T+8位日期+“-”+4位序号，"
            f"例如 {EXAMPLE_TICKET_CODE}"
        )
    digits, seq_text = match.groups()
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise InvalidCode(
            f"工单编号「{text.strip()}」中的日期{digits}不存在，请核对，例如 {EXAMPLE_TICKET_CODE}"
        ) from None
    code = TicketCode(day, int(seq_text))
    if code.seq == 0 or str(code) != normalized:
        raise InvalidCode(
            f"工单编号「{text.strip()}」的序号不对：序号为4位数字，例如 {EXAMPLE_TICKET_CODE}"
        )
    return code


def format_notice_code(seq: int) -> str:
    """``N0042`` for the 42nd notice."""
    if not 1 <= seq <= 999_999:
        raise ValueError(f"notice sequence out of range: {seq}")
    return f"N{seq:04d}"


def parse_notice_code(text: str) -> int:
    """The sequence number of a notice code; raise :class:`InvalidCode`."""
    normalized = normalize_code_text(text)
    match = _NOTICE_RE.fullmatch(normalized)
    if match is None or int(match.group(1)) == 0:
        raise InvalidCode(
            f"通知编号「{text.strip()}」格式不对：应为N+4位数字，例如 {EXAMPLE_NOTICE_CODE}"
        )
    seq = int(match.group(1))
    if format_notice_code(seq) != normalized:
        raise InvalidCode(
            f"通知编号「{text.strip()}」格式不对：应为N+4位数字，例如 {EXAMPLE_NOTICE_CODE}"
        )
    return seq
