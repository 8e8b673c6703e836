"""The actions on a ticket (接单, 办结, 上报, 吹哨 ... and the system's own).

Each action is a frozen dataclass with its ``kind`` (stored in the history) and its
Chinese ``verb``; :data:`Action` is their union, which :func:`~tickets.lifecycle.apply`
matches exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from models.enums import ActorRole, Rating
from tickets.lifecycle.states import SlaKind

__all__ = [
    "EVENT_ZH",
    "Accept",
    "Action",
    "AddReporter",
    "CallBack",
    "CloseWithoutRating",
    "Consult",
    "Dispatch",
    "Escalate",
    "Extend",
    "Rate",
    "Reassign",
    "Remark",
    "Report",
    "Resolve",
    "Return",
    "SlaExpired",
    "SlaReminder",
    "Whistle",
]


@dataclass(frozen=True, slots=True)
class Dispatch:
    """派单: routing sends a received ticket to a person (system or town official)."""

    kind: ClassVar[str] = "dispatch"
    verb: ClassVar[str] = "派单"
    to_person_id: str
    to_name: str
    to_role: ActorRole


@dataclass(frozen=True, slots=True)
class Accept:
    """接单 / 签收."""

    kind: ClassVar[str] = "accept"
    verb: ClassVar[str] = "接单"
    note: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """报到: a called department's liaison takes the case."""

    kind: ClassVar[str] = "report"
    verb: ClassVar[str] = "报到"
    note: str = ""


@dataclass(frozen=True, slots=True)
class Resolve:
    """办结, with what was done."""

    kind: ClassVar[str] = "resolve"
    verb: ClassVar[str] = "办结"
    note: str


@dataclass(frozen=True, slots=True)
class Escalate:
    """上报: one level up the ladder (grid -> village -> town)."""

    kind: ClassVar[str] = "escalate"
    verb: ClassVar[str] = "上报"
    reason: str


@dataclass(frozen=True, slots=True)
class Whistle:
    """吹哨: call a district department onto the case."""

    kind: ClassVar[str] = "whistle"
    verb: ClassVar[str] = "吹哨"
    department_code: str
    department_name: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Reassign:
    """改派 to another staff member; the ticket moves to that person's level.

    ``to_grid_id``/``to_village_id`` move the ticket's area when it was routed to the
    wrong grid.
    """

    kind: ClassVar[str] = "reassign"
    verb: ClassVar[str] = "改派"
    to_person_id: str
    to_name: str
    to_role: ActorRole
    to_grid_id: str | None = None
    to_village_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Return:
    """退单: "not ours", before 签收; back to the level that routes it."""

    kind: ClassVar[str] = "return"
    verb: ClassVar[str] = "退单"
    reason: str


@dataclass(frozen=True, slots=True)
class Extend:
    """延期 by ``days`` with a reason (bounded by :class:`Rules`)."""

    kind: ClassVar[str] = "extend"
    verb: ClassVar[str] = "延期"
    days: int
    reason: str


@dataclass(frozen=True, slots=True)
class Remark:
    """备注."""

    kind: ClassVar[str] = "remark"
    verb: ClassVar[str] = "备注"
    note: str


@dataclass(frozen=True, slots=True)
class Rate:
    """A reporter's 满意 / 基本满意 / 不满意."""

    kind: ClassVar[str] = "rate"
    verb: ClassVar[str] = "评价"
    score: Rating
    comment: str = ""


@dataclass(frozen=True, slots=True)
class CloseWithoutRating:
    """The rating window ended: close with the ratings received, if any."""

    kind: ClassVar[str] = "close"
    verb: ClassVar[str] = "关闭"


@dataclass(frozen=True, slots=True)
class SlaReminder:
    """A deadline is near. ``timer_key`` must be :func:`timer_key` of the current window."""

    kind: ClassVar[str] = "sla_reminder"
    verb: ClassVar[str] = "提醒"
    sla: SlaKind
    timer_key: str
    deadline: datetime


@dataclass(frozen=True, slots=True)
class SlaExpired:
    """A deadline passed: escalate one level (grid, village) or 督办 (town, department)."""

    kind: ClassVar[str] = "sla_expired"
    verb: ClassVar[str] = "超时处理"
    sla: SlaKind
    timer_key: str
    deadline: datetime


@dataclass(frozen=True, slots=True)
class AddReporter:
    """The same problem reported again: another reporter joins the ticket."""

    kind: ClassVar[str] = "add_reporter"
    verb: ClassVar[str] = "追加反映人"
    person_id: str


@dataclass(frozen=True, slots=True)
class Consult:
    """会商结论: what a consultation (三员三长会商) decided, with an owner and a due date."""

    kind: ClassVar[str] = "consult"
    verb: ClassVar[str] = "会商"
    conclusion: str
    owner_name: str
    due_on: date
    owner_id: str | None = None
    """The owner's contact id when they are a roster person (they are told)."""


@dataclass(frozen=True, slots=True)
class CallBack:
    """回访: a reporter of a closed ticket says whether the problem is really solved."""

    kind: ClassVar[str] = "call_back"
    verb: ClassVar[str] = "回访"
    solved: bool
    answer: str = ""


Action = (
    Dispatch
    | Accept
    | Report
    | Resolve
    | Escalate
    | Whistle
    | Reassign
    | Return
    | Extend
    | Remark
    | Rate
    | CloseWithoutRating
    | SlaReminder
    | SlaExpired
    | AddReporter
    | Consult
    | CallBack
)


EVENT_ZH: dict[str, str] = {
    action.kind: action.verb
    for action in (
        Dispatch,
        Accept,
        Report,
        Resolve,
        Escalate,
        Whistle,
        Reassign,
        Return,
        Extend,
        Remark,
        Rate,
        CloseWithoutRating,
        SlaReminder,
        SlaExpired,
        AddReporter,
        Consult,
        CallBack,
    )
}
"""Chinese label of each :attr:`TicketEventCreate.kind`, for histories."""
