"""Ticket states, levels and posts: the words of the lifecycle and their Chinese labels.

The states follow the usual 12345-hotline flow::

    受理 received -> 派单 dispatched -> 签收 accepted -> 处置 in_progress
        -> 办结 resolved -> 回访/评价 rating -> 关闭 closed

with 退单 returned (back to the level that routes it), 重办 reopened (after an
unsatisfied rating, one level up), and the escalation ladder grid -> village -> town
(小事不出格、大事不出村、难事不出镇). A district department is not climbed to: it is
called in by 吹哨 from any level and takes the case by 报到 (网格吹哨、部门报到).
"""

from __future__ import annotations

import enum

from models.enums import ActorRole, Rating, TicketLevel, TicketState

__all__ = [
    "AWAITING_ACCEPTANCE",
    "AWAITING_RATING",
    "HANDLER_ROLES",
    "HOLDER_LEVEL",
    "LADDER",
    "LEADER_ROLES",
    "LEVEL_ZH",
    "OPEN_STATES",
    "POST_LEVEL",
    "RANK",
    "RATING_ZH",
    "ROLE_ZH",
    "SLA_ZH",
    "STAFF_ROLES",
    "STATE_PHRASE",
    "STATE_ZH",
    "WORKING",
    "SlaKind",
    "level_above",
    "resolved_within_town",
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
STATE_PHRASE: dict[TicketState, str] = {
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
SLA_ZH: dict[SlaKind, str] = {SlaKind.ACCEPT: "接单", SlaKind.RESOLVE: "办结"}

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
WORKING = frozenset({TicketState.ACCEPTED, TicketState.IN_PROGRESS})
AWAITING_RATING = frozenset({TicketState.RESOLVED, TicketState.RATING})

LEADER_ROLES = frozenset({ActorRole.GRID_LEADER, ActorRole.STATION_CHIEF, ActorRole.TOWN_OFFICIAL})
"""网格长及以上: may 上报, 吹哨, 改派 (and everything a handler may do)."""
STAFF_ROLES = LEADER_ROLES | {ActorRole.GRID_WORKER}
"""Who can hold an in-town ticket (the target of 派单/改派)."""
HANDLER_ROLES = STAFF_ROLES | {ActorRole.DEPARTMENT_LIAISON}

LADDER = (TicketLevel.GRID, TicketLevel.VILLAGE, TicketLevel.TOWN)
RANK = {level: rank for rank, level in enumerate(LADDER)}
POST_LEVEL: dict[ActorRole, TicketLevel] = {
    ActorRole.GRID_LEADER: TicketLevel.GRID,
    ActorRole.STATION_CHIEF: TicketLevel.VILLAGE,
    ActorRole.TOWN_OFFICIAL: TicketLevel.TOWN,
}
HOLDER_LEVEL: dict[ActorRole, TicketLevel] = {
    **POST_LEVEL,
    ActorRole.GRID_WORKER: TicketLevel.GRID,
}


def level_above(level: TicketLevel) -> TicketLevel | None:
    """The next rung of the in-town ladder; ``None`` at the top or for a department."""
    if level is TicketLevel.DEPARTMENT:
        return None
    rank = RANK[level] + 1
    return LADDER[rank] if rank < len(LADDER) else None


def resolved_within_town(level: TicketLevel | None) -> bool:
    """Resolved without leaving the town (the article's 96.5%): not by a department."""
    return level is not None and level is not TicketLevel.DEPARTMENT
