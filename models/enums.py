"""The enumerations of the domain, each defined once.

Every layer above uses these; the tables store them by value (see
:func:`models.base.enum_type`). Chinese labels that users see are properties here
where the label belongs to the idea itself (镇/村/网格/单元, 住宅/配套场所/沿街商铺).
"""

from __future__ import annotations

import enum

__all__ = [
    "AccountStatus",
    "ActorRole",
    "Level",
    "MessageKind",
    "Rating",
    "Role",
    "TicketLevel",
    "TicketState",
    "UnitKind",
    "Urgency",
]


# --- the org tree -----------------------------------------------------------------------


class Level(enum.StrEnum):
    """The four levels of the tree (镇 / 村 / 网格 / 单元), each with one WeChat group."""

    TOWN = "town"
    VILLAGE = "village"
    GRID = "grid"
    UNIT = "unit"

    @property
    def depth(self) -> int:
        """0 for the town ... 3 for a unit; a lower depth is a higher level, sent first."""
        return _LEVEL_DEPTH[self]

    @property
    def label(self) -> str:
        """The Chinese name users see (镇/村/网格/单元)."""
        return _LEVEL_LABEL[self]

    @classmethod
    def at_depth(cls, depth: int) -> Level:
        return _LEVELS_BY_DEPTH[depth]


_LEVEL_DEPTH = {Level.TOWN: 0, Level.VILLAGE: 1, Level.GRID: 2, Level.UNIT: 3}
_LEVEL_LABEL = {Level.TOWN: "镇", Level.VILLAGE: "村", Level.GRID: "网格", Level.UNIT: "单元"}
_LEVELS_BY_DEPTH = tuple(sorted(Level, key=lambda level: _LEVEL_DEPTH[level]))


class UnitKind(enum.StrEnum):
    """Kind of a unit (单元): 住宅 / 配套场所 / 沿街商铺."""

    RESIDENTIAL = "residential"
    FACILITY = "facility"
    SHOP = "shop"

    @property
    def label(self) -> str:
        """The Chinese name towns write in their spreadsheets."""
        return _UNIT_KIND_LABELS[self]


_UNIT_KIND_LABELS: dict[UnitKind, str] = {
    UnitKind.RESIDENTIAL: "住宅",
    UnitKind.FACILITY: "配套场所",
    UnitKind.SHOP: "沿街商铺",
}


class Role(enum.StrEnum):
    """The post a person holds at an org unit. The first four come from the roster file."""

    STATION_CHIEF = "station_chief"
    GRID_LEADER = "grid_leader"
    UNIT_LEADER = "unit_leader"
    SECOND_UNIT_LEADER = "second_unit_leader"
    PARTY_MEMBER = "party_member"
    GRID_WORKER = "grid_worker"
    SUNK_CADRE = "sunk_cadre"
    DEPARTMENT_LIAISON = "department_liaison"
    TOWN_OFFICIAL = "town_official"

    @property
    def label(self) -> str:
        """The Chinese name of the post."""
        return _ROLE_LABELS[self]


_ROLE_LABELS: dict[Role, str] = {
    Role.STATION_CHIEF: "网格站站长",
    Role.GRID_LEADER: "网格长",
    Role.UNIT_LEADER: "单元长",
    Role.SECOND_UNIT_LEADER: "第二单元长",
    Role.PARTY_MEMBER: "党员",
    Role.GRID_WORKER: "网格员",
    Role.SUNK_CADRE: "下沉人员",
    Role.DEPARTMENT_LIAISON: "部门联络员",
    Role.TOWN_OFFICIAL: "镇干部",
}


# --- WeChat -----------------------------------------------------------------------------


class AccountStatus(enum.StrEnum):
    """What a bot account can do now: the transport reports it, the table stores it,
    the planner reads it."""

    STARTING = "starting"
    ONLINE = "online"
    THROTTLED = "throttled"
    LOGGED_OUT = "logged_out"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


class MessageKind(enum.StrEnum):
    """What kind of chat message arrived (only text is read for tickets and receipts)."""

    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    EMOTICON = "emoticon"
    MINI_PROGRAM = "mini_program"
    URL = "url"
    RECALLED = "recalled"
    OTHER = "other"


# --- tickets ----------------------------------------------------------------------------


class TicketState(enum.StrEnum):
    """Where a ticket is in its lifecycle (see :mod:`tickets.lifecycle`)."""

    RECEIVED = "received"  # 受理: filed, not yet routed to a person
    DISPATCHED = "dispatched"  # 派单: sent to a level/person, waiting for 签收 (or 报到)
    ACCEPTED = "accepted"  # 签收
    IN_PROGRESS = "in_progress"  # 处置: work under way (a note, an extension, a department)
    RESOLVED = "resolved"  # 办结: reporters asked to rate
    RATING = "rating"  # 回访/评价: some reporters rated, waiting for the others
    CLOSED = "closed"  # 关闭
    RETURNED = "returned"  # 退单: sent back to the level that routes it
    REOPENED = "reopened"  # 重办: unsatisfied rating, waiting for 签收 one level up


class TicketLevel(enum.StrEnum):
    """Who holds a ticket: the three in-town levels of the escalation ladder, or a district
    department called in by 吹哨. Not an org :class:`Level`: units hold no tickets and a
    department is outside the tree."""

    GRID = "grid"
    VILLAGE = "village"
    TOWN = "town"
    DEPARTMENT = "department"


class ActorRole(enum.StrEnum):
    """In what capacity someone acts on a ticket."""

    RESIDENT = "resident"  # 群众 (a reporter is a resident whose id is on the ticket)
    UNIT_LEADER = "unit_leader"  # 单元长
    GRID_WORKER = "grid_worker"  # 网格员 / 党员 / 下沉人员: can be assigned a ticket by 改派
    GRID_LEADER = "grid_leader"  # 网格长
    STATION_CHIEF = "station_chief"  # 网格站站长 (village)
    TOWN_OFFICIAL = "town_official"  # 镇综治中心
    DEPARTMENT_LIAISON = "department_liaison"  # 部门联络员
    SYSTEM = "system"  # routing, timers


class Urgency(enum.StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class Rating(enum.StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"
