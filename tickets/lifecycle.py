"""The ticket lifecycle (工单流转): states, actions, who may do what, and what follows.

Everything here is pure. :func:`apply` takes a :class:`TicketView` (the fields the
rules need, as the service loaded them), an action, the :class:`Actor` and the current
time, and either returns a :class:`Transition` (the new view, the event to store, the
notifications to send and the reply to the actor) or raises :class:`TransitionRefused`
with a Chinese reason. Nothing is persisted or sent here.

The states follow the usual 12345-hotline flow::

    受理 received -> 派单 dispatched -> 签收 accepted -> 处置 in_progress
        -> 办结 resolved -> 回访/评价 rating -> 关闭 closed

with 退单 returned (back to the level that routes it), 重办 reopened (after an
unsatisfied rating, one level up), and the escalation ladder grid -> village -> town
(小事不出格、大事不出村、难事不出镇). A district department is not climbed to: it is
called in by 吹哨 from any level and takes the case by 报到 (网格吹哨、部门报到).

改派 (reassign) and 延期 (extend) are events, not states: after them the ticket is
dispatched to its new holder, or still in progress with a later deadline.

Each (re)dispatch to a new level or person opens a new SLA *window*
(``window``/``window_started_at``); :mod:`tickets.sla` computes deadlines from it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ClassVar, NoReturn, assert_never

from core.clock import format_local_time
from models.enums import ActorRole, Rating, TicketLevel, TicketState, Urgency

__all__ = [
    "AWAITING_ACCEPTANCE",
    "DEFAULT_RULES",
    "EVENT_ZH",
    "LEADER_ROLES",
    "LEVEL_ZH",
    "OPEN_STATES",
    "RATING_ZH",
    "ROLE_ZH",
    "STAFF_ROLES",
    "STATE_ZH",
    "SYSTEM",
    "Accept",
    "Action",
    "Actor",
    "AddReporter",
    "CloseWithoutRating",
    "Dispatch",
    "Escalate",
    "Extend",
    "Notification",
    "Rate",
    "Reassign",
    "Recipient",
    "RecipientKind",
    "Remark",
    "Report",
    "Resolve",
    "Return",
    "Rules",
    "SlaExpired",
    "SlaKind",
    "SlaReminder",
    "TicketEvent",
    "TicketView",
    "Transition",
    "TransitionRefused",
    "Whistle",
    "apply",
    "describe",
    "ensure_can_view",
    "format_local_time",
    "holder_label",
    "holder_recipient",
    "is_handler",
    "is_supervisor",
    "new_ticket",
    "resolved_within_town",
    "timer_key",
]


class SlaKind(enum.StrEnum):
    ACCEPT = "accept"
    RESOLVE = "resolve"


STATE_ZH: dict[TicketState, str] = {
    TicketState.RECEIVED: "已受理",
    TicketState.DISPATCHED: "已派单",
    TicketState.ACCEPTED: "已签收",
    TicketState.IN_PROGRESS: "处置中",
    TicketState.RESOLVED: "已办结",
    TicketState.RATING: "回访评价中",
    TicketState.CLOSED: "已关闭",
    TicketState.RETURNED: "已退单",
    TicketState.REOPENED: "重办中",
}
# How a refusal describes the state: "工单T…{phrase}，不能…".
_STATE_PHRASE: dict[TicketState, str] = {
    TicketState.RECEIVED: "尚未派单",
    TicketState.DISPATCHED: "尚未签收",
    TicketState.ACCEPTED: "已签收",
    TicketState.IN_PROGRESS: "正在处置",
    TicketState.RESOLVED: "已办结",
    TicketState.RATING: "已办结、正在回访",
    TicketState.CLOSED: "已关闭",
    TicketState.RETURNED: "已退单、等待重新派单",
    TicketState.REOPENED: "已转重办、尚未签收",
}
LEVEL_ZH: dict[TicketLevel, str] = {
    TicketLevel.GRID: "网格",
    TicketLevel.VILLAGE: "村",
    TicketLevel.TOWN: "镇",
    TicketLevel.DEPARTMENT: "部门",
}
ROLE_ZH: dict[ActorRole, str] = {
    ActorRole.RESIDENT: "群众",
    ActorRole.UNIT_LEADER: "单元长",
    ActorRole.GRID_WORKER: "网格员",
    ActorRole.GRID_LEADER: "网格长",
    ActorRole.STATION_CHIEF: "网格站站长",
    ActorRole.TOWN_OFFICIAL: "镇综治中心",
    ActorRole.DEPARTMENT_LIAISON: "部门联络员",
    ActorRole.SYSTEM: "系统",
}
RATING_ZH: dict[Rating, str] = {
    Rating.SATISFIED: "满意",
    Rating.BASICALLY_SATISFIED: "基本满意",
    Rating.UNSATISFIED: "不满意",
}
_SLA_ZH: dict[SlaKind, str] = {SlaKind.ACCEPT: "接单", SlaKind.RESOLVE: "办结"}

OPEN_STATES = frozenset(
    {
        TicketState.RECEIVED,
        TicketState.DISPATCHED,
        TicketState.ACCEPTED,
        TicketState.IN_PROGRESS,
        TicketState.RETURNED,
        TicketState.REOPENED,
    }
)
AWAITING_ACCEPTANCE = frozenset(
    {TicketState.RECEIVED, TicketState.DISPATCHED, TicketState.RETURNED, TicketState.REOPENED}
)
_WORKING = frozenset({TicketState.ACCEPTED, TicketState.IN_PROGRESS})
_AWAITING_RATING = frozenset({TicketState.RESOLVED, TicketState.RATING})

LEADER_ROLES = frozenset({ActorRole.GRID_LEADER, ActorRole.STATION_CHIEF, ActorRole.TOWN_OFFICIAL})
"""网格长及以上: may 上报, 吹哨, 改派 (and everything a handler may do)."""
STAFF_ROLES = LEADER_ROLES | {ActorRole.GRID_WORKER}
"""Who can hold an in-town ticket (the target of 派单/改派)."""
_HANDLER_ROLES = STAFF_ROLES | {ActorRole.DEPARTMENT_LIAISON}

_LADDER = (TicketLevel.GRID, TicketLevel.VILLAGE, TicketLevel.TOWN)
_RANK = {level: rank for rank, level in enumerate(_LADDER)}
_POST_LEVEL: dict[ActorRole, TicketLevel] = {
    ActorRole.GRID_LEADER: TicketLevel.GRID,
    ActorRole.STATION_CHIEF: TicketLevel.VILLAGE,
    ActorRole.TOWN_OFFICIAL: TicketLevel.TOWN,
}
_HOLDER_LEVEL: dict[ActorRole, TicketLevel] = {
    **_POST_LEVEL,
    ActorRole.GRID_WORKER: TicketLevel.GRID,
}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class TicketView:
    """The part of a ticket the lifecycle rules read and write.

    Area ids are the origin unit's; ``assignee_id`` is ``None`` when the ticket waits for
    whoever holds the post at ``level`` (the grid leader of ``grid_id``, the station chief
    of ``village_id``, any town official, any liaison of ``department_code``).
    ``department_code``/``whistled_from`` are set exactly when ``level`` is DEPARTMENT.
    ``ratings`` are this round's (reset on 重办); ``rating`` is the overall rating
    on close, ``None`` meaning "no rating".
    """

    code: str
    state: TicketState
    level: TicketLevel
    urgency: Urgency
    unit_id: str
    grid_id: str
    village_id: str
    reporter_ids: tuple[str, ...]
    created_at: datetime
    window_started_at: datetime
    window: int = 1
    assignee_id: str | None = None
    assignee_name: str = ""
    assignee_role: ActorRole | None = None
    department_code: str | None = None
    department_name: str = ""
    whistled_from: TicketLevel | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_level: TicketLevel | None = None
    closed_at: datetime | None = None
    extension_count: int = 0
    extended_days: int = 0
    reopen_count: int = 0
    ratings: tuple[tuple[str, Rating], ...] = ()
    rating: Rating | None = None
    fired_timers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and the posts they hold (filled in by the service from the org tree).

    ``grid_ids`` are the grids a grid leader leads, ``village_ids`` the villages a
    station chief heads, ``unit_ids`` the units a unit leader leads. A town official's
    post covers the whole town.
    """

    person_id: str
    role: ActorRole
    name: str = ""
    grid_ids: frozenset[str] = frozenset()
    village_ids: frozenset[str] = frozenset()
    unit_ids: frozenset[str] = frozenset()
    department_code: str | None = None


SYSTEM = Actor(person_id="system", role=ActorRole.SYSTEM, name="系统")


@dataclass(frozen=True, slots=True)
class Rules:
    """Bounds of the lifecycle (config: ``tickets.extensions``)."""

    max_extensions: int = 2
    """延期 at most this many times per ticket."""
    max_extension_days: int = 7
    """Each 延期 adds at most this many days."""
    max_note_chars: int = 1000
    """Notes, reasons and explanations longer than this are refused."""

    def __post_init__(self) -> None:
        if self.max_extensions < 0:
            raise ValueError("max_extensions must be >= 0")
        if self.max_extension_days < 1:
            raise ValueError("max_extension_days must be >= 1")
        if self.max_note_chars < 1:
            raise ValueError("max_note_chars must be >= 1")


DEFAULT_RULES = Rules()


class RecipientKind(enum.StrEnum):
    PERSON = "person"
    POST = "post"  # whoever holds the post at a level for an area
    DEPARTMENT = "department"  # the liaisons of a department


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who is told: one person, the holder of a post, or a department's liaisons.

    For a POST, ``area_id`` is the grid id (GRID), the village id (VILLAGE) or ``None``
    (TOWN: the town's officials).
    """

    kind: RecipientKind
    person_id: str | None = None
    level: TicketLevel | None = None
    area_id: str | None = None
    department_code: str | None = None

    @classmethod
    def person(cls, person_id: str) -> Recipient:
        return cls(RecipientKind.PERSON, person_id=person_id)

    @classmethod
    def post(cls, level: TicketLevel, area_id: str | None) -> Recipient:
        return cls(RecipientKind.POST, level=level, area_id=area_id)

    @classmethod
    def department(cls, department_code: str) -> Recipient:
        return cls(RecipientKind.DEPARTMENT, department_code=department_code)


@dataclass(frozen=True, slots=True)
class Notification:
    recipient: Recipient
    text: str


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """One row of the ticket's history (every transition is stored as one)."""

    kind: str
    actor_id: str
    actor_role: ActorRole
    at: datetime
    from_state: TicketState
    to_state: TicketState
    from_level: TicketLevel
    to_level: TicketLevel
    note: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    ticket: TicketView
    event: TicketEvent
    notifications: tuple[Notification, ...] = ()
    reply: str = ""
    """What to answer the actor (Chinese); empty for system actions."""


class TransitionRefused(Exception):
    """An action that is not allowed; ``reason`` is Chinese and shown to the actor as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------------ actions


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
    )
}
"""Chinese label of each :attr:`TicketEvent.kind`, for histories."""


# ------------------------------------------------------------------- constructors


def new_ticket(
    *,
    code: str,
    now: datetime,
    urgency: Urgency,
    unit_id: str,
    grid_id: str,
    village_id: str,
    reporter_id: str,
) -> TicketView:
    """A freshly received ticket at grid level, waiting to be dispatched (受理)."""
    _require_aware(now)
    return TicketView(
        code=code,
        state=TicketState.RECEIVED,
        level=TicketLevel.GRID,
        urgency=urgency,
        unit_id=unit_id,
        grid_id=grid_id,
        village_id=village_id,
        reporter_ids=(reporter_id,),
        created_at=now,
        window_started_at=now,
    )


def timer_key(ticket: TicketView, sla: SlaKind, *, reminder: bool) -> str:
    """The identity of one SLA timer of the ticket's current window.

    A resolve timer also depends on the extension count: a 延期 arms a new one.
    """
    prefix = "remind-" if reminder else ""
    if sla is SlaKind.ACCEPT:
        return f"{prefix}accept@{ticket.window}"
    return f"{prefix}resolve@{ticket.window}.{ticket.extension_count}"


def resolved_within_town(level: TicketLevel | None) -> bool:
    """Resolved without leaving the town (the article's 96.5%): not by a department."""
    return level is not None and level is not TicketLevel.DEPARTMENT


def holder_label(ticket: TicketView) -> str:
    """Who works the ticket now, as people read it (网格长张三, 区司法局, 村网格站)."""
    return _holder_zh(ticket)


def holder_recipient(ticket: TicketView) -> Recipient:
    """Whoever works the ticket now, as a :class:`Recipient`."""
    return _holder_recipient(ticket)


# ------------------------------------------------------------------------ scope


def _holds_post(actor: Actor, level: TicketLevel, ticket: TicketView) -> bool:
    """Does the actor hold the post responsible at ``level`` for the ticket's area?"""
    match level:
        case TicketLevel.GRID:
            return actor.role is ActorRole.GRID_LEADER and ticket.grid_id in actor.grid_ids
        case TicketLevel.VILLAGE:
            return actor.role is ActorRole.STATION_CHIEF and ticket.village_id in actor.village_ids
        case TicketLevel.TOWN:
            return actor.role is ActorRole.TOWN_OFFICIAL
        case TicketLevel.DEPARTMENT:
            return (
                actor.role is ActorRole.DEPARTMENT_LIAISON
                and ticket.department_code is not None
                and actor.department_code == ticket.department_code
            )
        case _:
            assert_never(level)


def is_handler(actor: Actor, ticket: TicketView) -> bool:
    """Is the actor the one who works the ticket now (签收, 办结, 退单)?

    A department's liaisons at department level; otherwise the assignee, or while
    nobody is assigned, whoever holds the post at the ticket's level.
    """
    if ticket.level is TicketLevel.DEPARTMENT:
        return _holds_post(actor, TicketLevel.DEPARTMENT, ticket)
    if ticket.assignee_id is not None:
        return actor.person_id == ticket.assignee_id
    return _holds_post(actor, ticket.level, ticket)


def is_supervisor(actor: Actor, ticket: TicketView) -> bool:
    """Does the actor hold a post at or above the ticket's level over its area?

    For a department-level ticket: the town and the posts from the level that blew
    the whistle upwards.
    """
    post = _POST_LEVEL.get(actor.role)
    if post is None or not _holds_post(actor, post, ticket):
        return False
    if ticket.level is TicketLevel.DEPARTMENT:
        floor = ticket.whistled_from or TicketLevel.TOWN
        return _RANK[post] >= _RANK[floor]
    return _RANK[post] >= _RANK[ticket.level]


def ensure_can_view(ticket: TicketView, actor: Actor) -> None:
    """查询: reporters see their tickets; staff see those in their area; else refused."""
    if (
        actor.role is ActorRole.SYSTEM
        or actor.person_id in ticket.reporter_ids
        or is_handler(actor, ticket)
        or is_supervisor(actor, ticket)
        or (actor.role is ActorRole.UNIT_LEADER and ticket.unit_id in actor.unit_ids)
    ):
        return
    if actor.role in (ActorRole.RESIDENT, ActorRole.UNIT_LEADER):
        _refuse(f"抱歉，您只能查询自己反映的工单，工单{ticket.code}不是您反映的。")
    _refuse(f"抱歉，工单{ticket.code}不在您的负责范围内，无法查询。")


def describe(ticket: TicketView, *, deadline: datetime | None = None) -> str:
    """A one-paragraph Chinese status for 查询 (no other resident's details)."""
    parts = [f"工单{ticket.code}：{STATE_ZH[ticket.state]}"]
    if ticket.state in OPEN_STATES:
        parts.append(f"，目前由{_holder_zh(ticket)}负责")
    elif ticket.resolved_level is not None:
        parts.append(f"，由{LEVEL_ZH[ticket.resolved_level]}办结")
    parts.append(f"；受理于{format_local_time(ticket.created_at)}")
    if ticket.extension_count:
        parts.append(f"；已延期{ticket.extension_count}次")
    if deadline is not None and ticket.state in OPEN_STATES:
        parts.append(f"；办理时限{format_local_time(deadline)}")
    if ticket.state is TicketState.CLOSED:
        parts.append(f"；评价：{RATING_ZH[ticket.rating] if ticket.rating else '未评价'}")
    return "".join(parts) + "。"


# ---------------------------------------------------------------------- helpers


def _refuse(reason: str) -> NoReturn:
    raise TransitionRefused(reason)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _holder_zh(ticket: TicketView) -> str:
    if ticket.level is TicketLevel.DEPARTMENT:
        return ticket.department_name or str(ticket.department_code)
    if ticket.assignee_id is not None:
        role = ROLE_ZH[ticket.assignee_role] if ticket.assignee_role else ""
        return f"{role}{ticket.assignee_name or ticket.assignee_id}"
    return {
        TicketLevel.GRID: "本网格网格长",
        TicketLevel.VILLAGE: "村网格站",
        TicketLevel.TOWN: "镇综治中心",
    }[ticket.level]


def _post_area(ticket: TicketView, level: TicketLevel) -> str | None:
    return {TicketLevel.GRID: ticket.grid_id, TicketLevel.VILLAGE: ticket.village_id}.get(level)


def _holder_recipient(ticket: TicketView) -> Recipient:
    """Whoever works the ticket now."""
    if ticket.level is TicketLevel.DEPARTMENT and ticket.department_code is not None:
        return Recipient.department(ticket.department_code)
    if ticket.assignee_id is not None:
        return Recipient.person(ticket.assignee_id)
    return Recipient.post(ticket.level, _post_area(ticket, ticket.level))


def _level_recipient(ticket: TicketView, level: TicketLevel) -> Recipient:
    if level is TicketLevel.DEPARTMENT and ticket.department_code is not None:
        return Recipient.department(ticket.department_code)
    return Recipient.post(level, _post_area(ticket, level))


def _to_reporters(ticket: TicketView, text: str) -> list[Notification]:
    return [Notification(Recipient.person(pid), text) for pid in ticket.reporter_ids]


def _note(text: str, what: str, rules: Rules, *, required: bool = True) -> str:
    note = text.strip()
    if required and not note:
        _refuse(f"请写明{what}。")
    if len(note) > rules.max_note_chars:
        _refuse(f"{what}太长了（{len(note)}字），请控制在{rules.max_note_chars}字以内。")
    return note


def _require_role(actor: Actor, allowed: Iterable[ActorRole], ticket: TicketView, who: str) -> None:
    if actor.role not in frozenset(allowed):
        _refuse(f"抱歉，{who}。您无权处理工单{ticket.code}。")


def _require_state(
    ticket: TicketView, allowed: frozenset[TicketState], verb: str, hint: str = ""
) -> None:
    if ticket.state not in allowed:
        again = (
            "再"
            if ticket.state in (TicketState.RESOLVED, TicketState.RATING, TicketState.CLOSED)
            else ""
        )
        _refuse(f"工单{ticket.code}{_STATE_PHRASE[ticket.state]}，不能{again}{verb}。{hint}")


def _require_scope(ok: bool, ticket: TicketView) -> None:
    if not ok:
        _refuse(f"工单{ticket.code}不在您的负责范围内（目前由{_holder_zh(ticket)}负责）。")


def _new_window(
    ticket: TicketView,
    now: datetime,
    *,
    state: TicketState,
    level: TicketLevel,
    assignee: tuple[str, str, ActorRole] | None = None,
    department: tuple[str, str] | None = None,
    whistled_from: TicketLevel | None = None,
) -> TicketView:
    """Hand the ticket to a new holder: a fresh SLA window, not yet accepted."""
    person_id, name, role = assignee if assignee else (None, "", None)
    dept_code, dept_name = department if department else (None, "")
    return replace(
        ticket,
        state=state,
        level=level,
        assignee_id=person_id,
        assignee_name=name,
        assignee_role=role,
        department_code=dept_code,
        department_name=dept_name,
        whistled_from=whistled_from,
        window=ticket.window + 1,
        window_started_at=now,
        accepted_at=None,
        extended_days=0,
    )


def _up(level: TicketLevel) -> TicketLevel | None:
    """The next rung of the in-town ladder; ``None`` at the top or for a department."""
    if level is TicketLevel.DEPARTMENT:
        return None
    rank = _RANK[level] + 1
    return _LADDER[rank] if rank < len(_LADDER) else None


@dataclass(slots=True)
class _Outcome:
    ticket: TicketView
    note: str = ""
    notifications: list[Notification] = field(default_factory=list)
    reply: str = ""


# ------------------------------------------------------------------------- apply


def apply(
    ticket: TicketView,
    action: Action,
    actor: Actor,
    now: datetime,
    *,
    rules: Rules = DEFAULT_RULES,
) -> Transition:
    """Decide what ``action`` by ``actor`` at ``now`` does to ``ticket``.

    Returns the new view, the event to store, the notifications to send and the reply
    to the actor; raises :class:`TransitionRefused` (Chinese reason) when not allowed.
    Refusals check, in order: the actor's role, the ticket's state, the actor's scope.
    """
    _require_aware(now)
    outcome: _Outcome
    match action:
        case Dispatch():
            outcome = _dispatch(ticket, action, actor, now)
        case Accept():
            outcome = _accept(ticket, action, actor, now, rules)
        case Report():
            outcome = _report(ticket, action, actor, now, rules)
        case Resolve():
            outcome = _resolve(ticket, action, actor, now, rules)
        case Escalate():
            outcome = _escalate(ticket, action, actor, now, rules)
        case Whistle():
            outcome = _whistle(ticket, action, actor, now, rules)
        case Reassign():
            outcome = _reassign(ticket, action, actor, now, rules)
        case Return():
            outcome = _return(ticket, action, actor, now, rules)
        case Extend():
            outcome = _extend(ticket, action, actor, rules)
        case Remark():
            outcome = _remark(ticket, action, actor, rules)
        case Rate():
            outcome = _rate(ticket, action, actor, now, rules)
        case CloseWithoutRating():
            outcome = _close_without_rating(ticket, actor, now)
        case SlaReminder():
            outcome = _sla_reminder(ticket, action, actor)
        case SlaExpired():
            outcome = _sla_expired(ticket, action, actor, now)
        case AddReporter():
            outcome = _add_reporter(ticket, action, actor)
        case _:
            assert_never(action)
    event = TicketEvent(
        kind=action.kind,
        actor_id=actor.person_id,
        actor_role=actor.role,
        at=now,
        from_state=ticket.state,
        to_state=outcome.ticket.state,
        from_level=ticket.level,
        to_level=outcome.ticket.level,
        note=outcome.note,
    )
    return Transition(outcome.ticket, event, tuple(outcome.notifications), outcome.reply)


def _require_system(actor: Actor, ticket: TicketView, verb: str) -> None:
    if actor.role is not ActorRole.SYSTEM:
        _refuse(f"「{verb}」由系统自动执行，不能手动操作工单{ticket.code}。")


def _holder_level(name: str, role: ActorRole) -> TicketLevel:
    """The level a ticket is at when ``role`` holds it; refuse non-staff targets."""
    if role not in STAFF_ROLES:
        _refuse(f"只能派给网格员、网格长、网格站站长或镇综治中心人员，{name}不能承办工单。")
    return _HOLDER_LEVEL[role]


def _dispatch(ticket: TicketView, action: Dispatch, actor: Actor, now: datetime) -> _Outcome:
    if actor.role not in (ActorRole.SYSTEM, ActorRole.TOWN_OFFICIAL):
        _refuse(f"抱歉，只有镇综治中心可以派单。您无权处理工单{ticket.code}。")
    _require_state(ticket, frozenset({TicketState.RECEIVED}), "派单", "如需换人，请用「改派」。")
    level = _holder_level(action.to_name, action.to_role)
    new = _new_window(
        ticket,
        now,
        state=TicketState.DISPATCHED,
        level=level,
        assignee=(action.to_person_id, action.to_name, action.to_role),
    )
    urgent = "【紧急】" if ticket.urgency is Urgency.URGENT else ""
    return _Outcome(
        new,
        note=f"派给{ROLE_ZH[action.to_role]}{action.to_name}",
        notifications=[
            Notification(
                Recipient.person(action.to_person_id),
                f"{urgent}新工单{ticket.code}请您处理，签收请回复「接单 {ticket.code}」。",
            )
        ],
        reply=f"工单{ticket.code}已派给{action.to_name}。",
    )


def _accept(
    ticket: TicketView, action: Accept, actor: Actor, now: datetime, rules: Rules
) -> _Outcome:
    if actor.role is ActorRole.DEPARTMENT_LIAISON:
        _refuse(f"部门接手工单请回复「报到 {ticket.code}」。")
    _require_role(actor, STAFF_ROLES, ticket, "只有负责该工单的网格工作人员可以接单")
    _require_state(ticket, AWAITING_ACCEPTANCE, "接单")
    if ticket.level is TicketLevel.DEPARTMENT:
        _refuse(f"工单{ticket.code}已吹哨呼叫{_holder_zh(ticket)}，等待部门报到，不能接单。")
    if not is_handler(actor, ticket):
        hint = ""
        if is_supervisor(actor, ticket):
            hint = f"如需由您接手，请先「改派 {ticket.code} @您自己」。"
        _refuse(f"工单{ticket.code}目前由{_holder_zh(ticket)}负责，不在您的负责范围内。{hint}")
    note = _note(action.note, "接单说明", rules, required=False)
    new = replace(
        ticket,
        state=TicketState.ACCEPTED,
        assignee_id=actor.person_id,
        assignee_name=actor.name,
        assignee_role=actor.role,
        accepted_at=now,
    )
    who = f"{ROLE_ZH[actor.role]}{actor.name}".strip()
    return _Outcome(
        new,
        note=note,
        notifications=_to_reporters(
            ticket, f"您反映的问题（工单{ticket.code}）已由{who}签收处理。"
        ),
        reply=f"已接单：工单{ticket.code}。处理完成后请回复「办结 {ticket.code} 处理结果」。",
    )


def _report(
    ticket: TicketView, action: Report, actor: Actor, now: datetime, rules: Rules
) -> _Outcome:
    _require_role(actor, {ActorRole.DEPARTMENT_LIAISON}, ticket, "只有被呼叫部门的联络员可以报到")
    if ticket.level is not TicketLevel.DEPARTMENT and ticket.state in OPEN_STATES:
        _refuse(f"工单{ticket.code}没有吹哨呼叫部门，无需报到。")
    _require_state(ticket, frozenset({TicketState.DISPATCHED, TicketState.REOPENED}), "报到")
    if not is_handler(actor, ticket):
        _refuse(f"工单{ticket.code}呼叫的是{_holder_zh(ticket)}，不是贵单位，无需报到。")
    note = _note(action.note, "报到说明", rules, required=False)
    new = replace(
        ticket,
        state=TicketState.IN_PROGRESS,
        assignee_id=actor.person_id,
        assignee_name=actor.name,
        assignee_role=actor.role,
        accepted_at=now,
    )
    dept = _holder_zh(ticket)
    caller = ticket.whistled_from or TicketLevel.TOWN
    return _Outcome(
        new,
        note=note,
        notifications=[
            Notification(
                _level_recipient(ticket, caller),
                f"{dept}已报到，接手工单{ticket.code}（联络员{actor.name}）。",
            ),
            *_to_reporters(ticket, f"您反映的问题（工单{ticket.code}）已由{dept}接手处理。"),
        ],
        reply=f"已报到：{dept}接手工单{ticket.code}。处理完成后请回复「办结 {ticket.code} 处理结果」。",
    )


def _resolve(
    ticket: TicketView, action: Resolve, actor: Actor, now: datetime, rules: Rules
) -> _Outcome:
    _require_role(actor, _HANDLER_ROLES, ticket, "只有工单承办人可以办结")
    _require_state(
        ticket,
        _WORKING,
        "办结",
        f"请先回复「接单 {ticket.code}」。" if ticket.state in AWAITING_ACCEPTANCE else "",
    )
    _require_scope(is_handler(actor, ticket), ticket)
    note = _note(action.note, "处理结果（如：办结 T… 已疏通下水道）", rules)
    new = replace(
        ticket,
        state=TicketState.RESOLVED,
        resolved_at=now,
        resolved_level=ticket.level,
        ratings=(),
    )
    notifications = _to_reporters(
        ticket,
        f"您反映的问题（工单{ticket.code}）已办结：{note}。"
        f"请回复「满意 {ticket.code}」「基本满意 {ticket.code}」或「不满意 {ticket.code}」评价。",
    )
    if ticket.level is TicketLevel.DEPARTMENT:
        caller = ticket.whistled_from or TicketLevel.TOWN
        notifications.append(
            Notification(
                _level_recipient(ticket, caller),
                f"{_holder_zh(ticket)}已办结工单{ticket.code}：{note}",
            )
        )
    return _Outcome(
        new,
        note=note,
        notifications=notifications,
        reply=f"已办结：工单{ticket.code}，已请反映人评价。",
    )


def _escalate(
    ticket: TicketView, action: Escalate, actor: Actor, now: datetime, rules: Rules
) -> _Outcome:
    _require_role(actor, LEADER_ROLES, ticket, "只有网格长及以上人员可以上报工单")
    _require_state(ticket, OPEN_STATES, "上报")
    target = _up(ticket.level)
    if ticket.level is TicketLevel.DEPARTMENT:
        _refuse(f"工单{ticket.code}已由{_holder_zh(ticket)}承办，不能再上报。")
    if target is None:
        _refuse(f"工单{ticket.code}已在镇级处理，不能再上报；如需部门协同，请用「吹哨」。")
    _require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    reason = _note(action.reason, "上报原因（如：上报 T… 涉及多个网格）", rules)
    new = _new_window(ticket, now, state=TicketState.DISPATCHED, level=target)
    return _Outcome(
        new,
        note=reason,
        notifications=_ladder_notices(ticket, new, f"上报原因：{reason}", "上报"),
        reply=f"已上报：工单{ticket.code}转{LEVEL_ZH[target]}级处理。",
    )


def _ladder_notices(old: TicketView, new: TicketView, why: str, how: str) -> list[Notification]:
    """A ticket moved up the ladder: tell both levels and the reporters."""
    to_level = LEVEL_ZH[new.level]
    return [
        Notification(
            _level_recipient(new, new.level),
            f"工单{old.code}由{LEVEL_ZH[old.level]}{how}至{to_level}级（{why}），"
            f"请回复「接单 {old.code}」。",
        ),
        Notification(
            _holder_recipient(old),
            f"工单{old.code}已{how}至{to_level}级（{why}）。",
        ),
        *_to_reporters(old, f"您反映的问题（工单{old.code}）已转{to_level}级处理。"),
    ]


def _whistle(
    ticket: TicketView, action: Whistle, actor: Actor, now: datetime, rules: Rules
) -> _Outcome:
    _require_role(actor, LEADER_ROLES, ticket, "只有网格长及以上人员可以吹哨")
    _require_state(ticket, OPEN_STATES, "吹哨")
    if ticket.level is TicketLevel.DEPARTMENT:
        if ticket.department_code == action.department_code:
            _refuse(f"工单{ticket.code}已呼叫{_holder_zh(ticket)}，无需重复吹哨。")
        _require_scope(is_supervisor(actor, ticket), ticket)
    else:
        _require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    note = _note(action.note, "吹哨说明", rules, required=False)
    caller = ticket.whistled_from if ticket.level is TicketLevel.DEPARTMENT else ticket.level
    new = _new_window(
        ticket,
        now,
        state=TicketState.DISPATCHED,
        level=TicketLevel.DEPARTMENT,
        department=(action.department_code, action.department_name),
        whistled_from=caller,
    )
    why = f"：{note}" if note else ""
    notifications = [
        Notification(
            Recipient.department(action.department_code),
            f"【吹哨】{LEVEL_ZH[caller or TicketLevel.TOWN]}对工单{ticket.code}吹哨，"
            f"呼叫{action.department_name}协同处理{why}。请联络员回复「报到 {ticket.code}」。",
        ),
        *_to_reporters(
            ticket, f"您反映的问题（工单{ticket.code}）已呼叫{action.department_name}协同处理。"
        ),
    ]
    if ticket.level is TicketLevel.DEPARTMENT:
        notifications.append(
            Notification(
                _holder_recipient(ticket),
                f"工单{ticket.code}已改由{action.department_name}承办。",
            )
        )
    return _Outcome(
        new,
        note=f"呼叫{action.department_name}{why}",
        notifications=notifications,
        reply=f"已吹哨：工单{ticket.code}呼叫{action.department_name}，等待部门报到。",
    )


def _reassign(
    ticket: TicketView, action: Reassign, actor: Actor, now: datetime, rules: Rules
) -> _Outcome:
    _require_role(actor, LEADER_ROLES, ticket, "只有网格长及以上人员可以改派工单")
    _require_state(ticket, OPEN_STATES, "改派")
    if ticket.level is TicketLevel.DEPARTMENT:
        _require_scope(is_supervisor(actor, ticket), ticket)
    else:
        _require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    level = _holder_level(action.to_name, action.to_role)
    post = _POST_LEVEL[actor.role]
    if _RANK[level] > _RANK[post]:
        _refuse(
            f"{ROLE_ZH[actor.role]}只能改派给{LEVEL_ZH[post]}级及以下人员；"
            f"如需上级处理，请用「上报 {ticket.code} 原因」。"
        )
    if action.to_person_id == ticket.assignee_id and ticket.level is not TicketLevel.DEPARTMENT:
        _refuse(f"工单{ticket.code}已由{action.to_name}负责，无需改派。")
    note = _note(action.note, "改派说明", rules, required=False)
    moved = replace(
        ticket,
        grid_id=action.to_grid_id or ticket.grid_id,
        village_id=action.to_village_id or ticket.village_id,
    )
    new = _new_window(
        moved,
        now,
        state=TicketState.DISPATCHED,
        level=level,
        assignee=(action.to_person_id, action.to_name, action.to_role),
    )
    notifications = [
        Notification(
            Recipient.person(action.to_person_id),
            f"工单{ticket.code}改派给您处理，签收请回复「接单 {ticket.code}」。",
        )
    ]
    if not is_handler(actor, ticket):
        notifications.append(
            Notification(_holder_recipient(ticket), f"工单{ticket.code}已改派给{action.to_name}。")
        )
    return _Outcome(
        new,
        note=f"改派给{ROLE_ZH[action.to_role]}{action.to_name}" + (f"：{note}" if note else ""),
        notifications=notifications,
        reply=f"已改派：工单{ticket.code}交由{action.to_name}处理。",
    )


def _return(
    ticket: TicketView, action: Return, actor: Actor, now: datetime, rules: Rules
) -> _Outcome:
    _require_role(actor, _HANDLER_ROLES, ticket, "只有工单承办人可以退单")
    _require_state(
        ticket,
        AWAITING_ACCEPTANCE,
        "退单",
        f"已签收的工单如需他人处理，请用「上报 {ticket.code} 原因」或请上级改派。",
    )
    _require_scope(is_handler(actor, ticket), ticket)
    reason = _note(action.reason, "退单原因（如：退单 T… 不属于本网格）", rules)
    # Back to whoever routes the ticket: the level above, the town at the top, or
    # for a department the level that blew the whistle.
    if ticket.level is TicketLevel.DEPARTMENT:
        target = ticket.whistled_from or TicketLevel.TOWN
    else:
        target = _up(ticket.level) or TicketLevel.TOWN
    new = _new_window(ticket, now, state=TicketState.RETURNED, level=target)
    return _Outcome(
        new,
        note=reason,
        notifications=[
            Notification(
                _level_recipient(new, target),
                f"工单{ticket.code}被{_holder_zh(ticket)}退单（{reason}），请重新派单："
                f"「改派 {ticket.code} @某人」，或自行「接单 {ticket.code}」。",
            )
        ],
        reply=f"已退单：工单{ticket.code}退回{LEVEL_ZH[target]}级重新派单。",
    )


def _extend(ticket: TicketView, action: Extend, actor: Actor, rules: Rules) -> _Outcome:
    _require_role(actor, _HANDLER_ROLES, ticket, "只有工单承办人或其上级可以延期")
    _require_state(
        ticket,
        _WORKING,
        "延期",
        f"请先回复「接单 {ticket.code}」。" if ticket.state in AWAITING_ACCEPTANCE else "",
    )
    _require_scope(is_handler(actor, ticket) or is_supervisor(actor, ticket), ticket)
    if not 1 <= action.days <= rules.max_extension_days:
        _refuse(f"每次延期为1到{rules.max_extension_days}天，{action.days}天不行。")
    if ticket.extension_count >= rules.max_extensions:
        _refuse(
            f"工单{ticket.code}已延期{ticket.extension_count}次，最多只能延期"
            f"{rules.max_extensions}次；如确实无法办结，请「上报」或「吹哨」。"
        )
    reason = _note(action.reason, "延期原因（如：延期 T… 3天 等待材料）", rules)
    new = replace(
        ticket,
        state=TicketState.IN_PROGRESS,
        extension_count=ticket.extension_count + 1,
        extended_days=ticket.extended_days + action.days,
    )
    return _Outcome(
        new,
        note=f"延期{action.days}天：{reason}",
        notifications=_to_reporters(
            ticket,
            f"您反映的问题（工单{ticket.code}）办理时限延长{action.days}天，原因：{reason}。",
        ),
        reply=f"已延期：工单{ticket.code}延长{action.days}天"
        f"（第{new.extension_count}次，最多{rules.max_extensions}次）。",
    )


def _remark(ticket: TicketView, action: Remark, actor: Actor, rules: Rules) -> _Outcome:
    _require_role(actor, _HANDLER_ROLES, ticket, "只有工单承办人或其上级可以备注")
    if ticket.state is TicketState.CLOSED:
        _refuse(f"工单{ticket.code}已关闭，不能再备注。")
    handler = is_handler(actor, ticket)
    _require_scope(handler or is_supervisor(actor, ticket), ticket)
    note = _note(action.note, "备注内容", rules)
    state = (
        TicketState.IN_PROGRESS
        if handler and ticket.state is TicketState.ACCEPTED
        else ticket.state
    )
    notifications = []
    if not handler:
        notifications.append(
            Notification(
                _holder_recipient(ticket),
                f"{ROLE_ZH[actor.role]}{actor.name}对工单{ticket.code}备注：{note}",
            )
        )
    return _Outcome(
        replace(ticket, state=state),
        note=note,
        notifications=notifications,
        reply=f"已备注：工单{ticket.code}。",
    )


def _rate(ticket: TicketView, action: Rate, actor: Actor, now: datetime, rules: Rules) -> _Outcome:
    if actor.person_id not in ticket.reporter_ids:
        _refuse(f"抱歉，只有反映人可以评价工单{ticket.code}。")
    if ticket.state not in _AWAITING_RATING:
        if ticket.state is TicketState.CLOSED:
            _refuse(f"工单{ticket.code}已关闭，评价已结束。")
        _refuse(f"工单{ticket.code}还在办理中（{STATE_ZH[ticket.state]}），办结后再请您评价。")
    if any(pid == actor.person_id for pid, _ in ticket.ratings):
        _refuse(f"您已评价过工单{ticket.code}，感谢您的反馈。")
    comment = _note(action.comment, "评价内容", rules, required=False)
    note = RATING_ZH[action.score] + (f"：{comment}" if comment else "")
    if action.score is Rating.UNSATISFIED:
        return _reopen(ticket, actor, now, note)
    ratings = (*ticket.ratings, (actor.person_id, action.score))
    rated = {pid for pid, _ in ratings}
    if rated >= set(ticket.reporter_ids):
        new = replace(
            ticket,
            state=TicketState.CLOSED,
            ratings=ratings,
            rating=_overall(ratings),
            closed_at=now,
        )
    else:
        new = replace(ticket, state=TicketState.RATING, ratings=ratings)
    return _Outcome(new, note=note, reply=f"感谢您的评价（{RATING_ZH[action.score]}）！")


def _overall(ratings: tuple[tuple[str, Rating], ...]) -> Rating | None:
    """The worst rating received; ``None`` when nobody rated."""
    order = (Rating.UNSATISFIED, Rating.BASICALLY_SATISFIED, Rating.SATISFIED)
    scores = {score for _, score in ratings}
    return next((score for score in order if score in scores), None)


def _reopen(ticket: TicketView, actor: Actor, now: datetime, note: str) -> _Outcome:
    """重办 one level up; the top of the ladder and a department keep the ticket."""
    if ticket.level is TicketLevel.DEPARTMENT and ticket.department_code is not None:
        new = _new_window(
            ticket,
            now,
            state=TicketState.REOPENED,
            level=TicketLevel.DEPARTMENT,
            department=(ticket.department_code, ticket.department_name),
            whistled_from=ticket.whistled_from,
        )
    else:
        new = _new_window(
            ticket, now, state=TicketState.REOPENED, level=_up(ticket.level) or ticket.level
        )
    new = replace(
        new,
        resolved_at=None,
        resolved_level=None,
        ratings=(),
        reopen_count=ticket.reopen_count + 1,
    )
    verb = "报到" if new.level is TicketLevel.DEPARTMENT else "接单"
    where = _holder_zh(new)
    notifications = [
        Notification(
            _level_recipient(new, new.level),
            f"【重办】工单{ticket.code}反映人评价不满意，转{where}重办，"
            f"请回复「{verb} {ticket.code}」。",
        ),
        # The rater gets the reply; the other reporters did not say they were unsatisfied.
        *_to_reporters(
            replace(
                ticket, reporter_ids=tuple(p for p in ticket.reporter_ids if p != actor.person_id)
            ),
            f"您反映的问题（工单{ticket.code}）有反映人评价不满意，已转{where}重新办理。",
        ),
    ]
    previous = _holder_recipient(ticket)
    if previous != notifications[0].recipient:
        notifications.append(
            Notification(previous, f"工单{ticket.code}反映人评价不满意，已转{where}重办。")
        )
    return _Outcome(
        new,
        note=note,
        notifications=notifications,
        reply=f"收到您的评价（不满意），工单{ticket.code}已转{where}重新办理。",
    )


def _close_without_rating(ticket: TicketView, actor: Actor, now: datetime) -> _Outcome:
    _require_system(actor, ticket, "超时关闭")
    _require_state(ticket, _AWAITING_RATING, "关闭")
    rating = _overall(ticket.ratings)
    new = replace(ticket, state=TicketState.CLOSED, rating=rating, closed_at=now)
    return _Outcome(
        new,
        note="评价期满，未评价" if rating is None else f"评价期满，评价：{RATING_ZH[rating]}",
    )


def _check_timer(ticket: TicketView, sla: SlaKind, key: str, *, reminder: bool) -> None:
    applicable = AWAITING_ACCEPTANCE if sla is SlaKind.ACCEPT else OPEN_STATES
    if ticket.state not in applicable:
        _refuse(f"工单{ticket.code}{_STATE_PHRASE[ticket.state]}，{_SLA_ZH[sla]}时限已不适用。")
    if key != timer_key(ticket, sla, reminder=reminder):
        _refuse(f"工单{ticket.code}的这个计时已失效（已改派、上报或延期）。")
    if key in ticket.fired_timers:
        _refuse(f"工单{ticket.code}的这个计时已处理过。")


def _sla_verb(ticket: TicketView, sla: SlaKind) -> str:
    if sla is SlaKind.ACCEPT and ticket.level is TicketLevel.DEPARTMENT:
        return "报到"  # a department's 签收 is its 报到
    return _SLA_ZH[sla]


def _sla_reminder(ticket: TicketView, action: SlaReminder, actor: Actor) -> _Outcome:
    _require_system(actor, ticket, "时限提醒")
    _check_timer(ticket, action.sla, action.timer_key, reminder=True)
    verb = _sla_verb(ticket, action.sla)
    new = replace(ticket, fired_timers=ticket.fired_timers | {action.timer_key})
    return _Outcome(
        new,
        note=f"{verb}时限提醒：{format_local_time(action.deadline)}",
        notifications=[
            Notification(
                _holder_recipient(ticket),
                f"⏰ 工单{ticket.code}请在{format_local_time(action.deadline)}前{verb}，"
                "逾期将自动升级。",
            )
        ],
    )


def _sla_expired(ticket: TicketView, action: SlaExpired, actor: Actor, now: datetime) -> _Outcome:
    _require_system(actor, ticket, "超时升级")
    _check_timer(ticket, action.sla, action.timer_key, reminder=False)
    verb = _sla_verb(ticket, action.sla)
    fired = ticket.fired_timers | {action.timer_key}
    why = f"超过{verb}时限{format_local_time(action.deadline)}"
    target = _up(ticket.level)
    if target is not None:
        new = replace(
            _new_window(ticket, now, state=TicketState.DISPATCHED, level=target), fired_timers=fired
        )
        return _Outcome(
            new,
            note=f"{why}，升级至{LEVEL_ZH[target]}级",
            notifications=_ladder_notices(ticket, new, why, "超时升级"),
        )
    # Town and departments have no rung above them: the town supervises (督办).
    notifications = [
        Notification(_holder_recipient(ticket), f"【督办】工单{ticket.code}已{why}，请尽快{verb}。")
    ]
    if ticket.level is TicketLevel.DEPARTMENT:
        notifications.append(
            Notification(
                Recipient.post(TicketLevel.TOWN, None),
                f"【督办】{_holder_zh(ticket)}承办的工单{ticket.code}已{why}。",
            )
        )
    return _Outcome(
        replace(ticket, fired_timers=fired), note=f"{why}，督办", notifications=notifications
    )


def _add_reporter(ticket: TicketView, action: AddReporter, actor: Actor) -> _Outcome:
    _require_system(actor, ticket, "追加反映人")
    _require_state(ticket, OPEN_STATES, "追加反映人", "请新建工单。")
    if action.person_id in ticket.reporter_ids:
        _refuse(f"您已反映过这个问题（工单{ticket.code}），我们正在处理。")
    new = replace(ticket, reporter_ids=(*ticket.reporter_ids, action.person_id))
    return _Outcome(new, note=f"追加反映人{action.person_id}")
