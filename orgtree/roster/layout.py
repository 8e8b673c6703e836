"""The columns of both sheets (the headers towns write for them) and the words their
cells may hold: unit kinds on the unit sheet, posts (职务) on the people sheet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from models.enums import Role, UnitKind

__all__ = [
    "CONTACT",
    "HEADERS",
    "PEOPLE",
    "PEOPLE_HEADERS",
    "PERSON_ROLES",
    "POSTS",
    "SHEET_POSTS",
    "TOWN_POSTS",
    "UNITS",
    "UNIT_KINDS",
    "Column",
    "Layout",
]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a sheet: its key, the header written, the headers read."""

    key: str
    header: str  # what write_roster writes
    aliases: frozenset[str]
    required: bool


class Layout:
    """The columns of one sheet, and the lookups the reader needs."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self.by_key = {column.key: column for column in self.columns}
        self.order = {column.key: index for index, column in enumerate(self.columns)}
        self.by_alias = {alias: column.key for column in self.columns for alias in column.aliases}
        self.headers = tuple(column.header for column in self.columns)


PERSON_ROLES: Final = (
    # key, Chinese header, other Chinese names towns use, required
    ("unit_leader", "单元长", (), True),
    ("second_unit_leader", "第二单元长", (), False),
    ("grid_leader", "网格长", (), True),
    ("station_chief", "网格站站长", ("站长", "网格站长"), True),
)
_NAME_SUFFIXES: Final = ("", "姓名", "名字")
_PHONE_SUFFIXES: Final = ("电话", "手机", "手机号", "手机号码", "联系电话", "电话号码", "联系方式")
_WECHAT_SUFFIXES: Final = ("微信", "微信号", "微信id")

_TOWN_ALIASES: Final = {"镇", "乡镇", "镇街", "镇(街道)", "乡镇(街道)", "town"}
_VILLAGE_ALIASES: Final = {
    "村", "村名", "村居", "村(居)", "村(社区)", "所属村", "行政村", "village",
}  # fmt: skip
_GRID_ALIASES: Final = {"网格", "网格名称", "网格名", "所属网格", "grid", "grid_name"}
_UNIT_ALIASES: Final = {"单元", "单元名称", "单元名", "unit", "unit_name"}


def _build_unit_columns() -> tuple[Column, ...]:
    columns = [
        Column("town", "镇", frozenset(_TOWN_ALIASES), False),
        Column("village", "村", frozenset(_VILLAGE_ALIASES), True),
        Column("grid", "网格", frozenset(_GRID_ALIASES), True),
        Column("unit", "单元", frozenset(_UNIT_ALIASES), True),
        Column(
            "unit_kind",
            "单元类型",
            frozenset({"单元类型", "单元类别", "类型", "unit_kind", "unit_type", "kind"}),
            True,
        ),
        Column(
            "households",
            "户数",
            frozenset({"户数", "住户数", "户数(户)", "家庭户数", "households", "household_count"}),
            True,
        ),
    ]
    for key, zh, other_zh, required in PERSON_ROLES:
        bases = (zh, *other_zh)
        columns.append(
            Column(
                key,
                zh,
                frozenset({b + s for b in bases for s in _NAME_SUFFIXES} | {key, f"{key}_name"}),
                required,
            )
        )
        columns.append(
            Column(
                f"{key}_phone",
                f"{zh}电话",
                frozenset(
                    {b + s for b in bases for s in _PHONE_SUFFIXES}
                    | {f"{key}_{s}" for s in ("phone", "mobile", "tel")}
                ),
                required,
            )
        )
        columns.append(
            Column(
                f"{key}_wechat",
                f"{zh}微信",
                frozenset(
                    {b + s for b in bases for s in _WECHAT_SUFFIXES}
                    | {f"{key}_{s}" for s in ("wechat", "wechat_id", "wxid")}
                ),
                False,
            )
        )
    return tuple(columns)


def _build_people_columns() -> tuple[Column, ...]:
    return (
        Column("role", "职务", frozenset({"职务", "身份", "人员类别", "人员类型", "role"}), True),
        Column("name", "姓名", frozenset({"姓名", "名字", "name"}), True),
        Column(
            "phone",
            "电话",
            frozenset({*_PHONE_SUFFIXES, "phone", "mobile", "tel"}),
            True,
        ),
        Column(
            "wechat", "微信", frozenset({*_WECHAT_SUFFIXES, "wechat", "wechat_id", "wxid"}), False
        ),
        Column("village", "村", frozenset(_VILLAGE_ALIASES), False),
        Column("grid", "网格", frozenset(_GRID_ALIASES), False),
        Column("unit", "单元", frozenset(_UNIT_ALIASES), False),
        Column(
            "title", "职务名称", frozenset({"职务名称", "岗位", "具体职务", "title", "post"}), False
        ),
        Column(
            "department",
            "部门",
            frozenset({"部门", "所属部门", "派出部门", "来源部门", "department"}),
            False,
        ),
        Column(
            "households",
            "联系户数",
            frozenset({"联系户数", "联系户", "contact_households", "households"}),
            False,
        ),
    )


UNITS: Final = Layout(_build_unit_columns())
PEOPLE: Final = Layout(_build_people_columns())

HEADERS: Final[tuple[str, ...]] = UNITS.headers
"""The header row of the unit sheet :func:`write_roster` writes, in order."""
PEOPLE_HEADERS: Final[tuple[str, ...]] = PEOPLE.headers
"""The header row of the people sheet :func:`write_roster` writes, in order."""

UNIT_KINDS: Final = {
    **{
        alias: UnitKind.RESIDENTIAL
        for alias in ("住宅", "住宅单元", "居民", "居民楼", "residential")
    },
    **{
        alias: UnitKind.FACILITY
        for alias in ("配套场所", "配套", "小区配套场所", "配套场所单元", "配套单元", "facility")
    },
    **{
        alias: UnitKind.SHOP
        for alias in ("沿街商铺", "商铺", "沿街商铺单元", "商铺单元", "店铺", "shop")
    },
}

CONTACT: Final = "联系党员"
"""The 职务 of a contact-assignment row on the people sheet (党员联系户)."""

POSTS: Final[dict[str, Role | None]] = {
    **{
        a: Role.TOWN_OFFICIAL
        for a in ("镇干部", "镇领导", "镇机关干部", "town_official", "official")
    },
    **{
        a: Role.DEPARTMENT_LIAISON
        for a in ("部门联络员", "联络员", "department_liaison", "liaison")
    },
    **{a: Role.PARTY_MEMBER for a in ("党员", "party_member")},
    **{a: Role.GRID_WORKER for a in ("网格员", "专职网格员", "grid_worker")},
    **{a: Role.SUNK_CADRE for a in ("下沉人员", "下沉干部", "sunk_cadre")},
    **{a: None for a in (CONTACT, "党员联系户", "联系户", "household_contact", "contact")},
}
"""职务 values of the people sheet; ``None`` is a contact assignment."""

SHEET_POSTS: Final = (
    Role.TOWN_OFFICIAL,
    Role.DEPARTMENT_LIAISON,
    Role.PARTY_MEMBER,
    Role.GRID_WORKER,
    Role.SUNK_CADRE,
)
"""The posts the people sheet holds, in the order an export lists them at one place."""

TOWN_POSTS: Final = frozenset({Role.TOWN_OFFICIAL, Role.DEPARTMENT_LIAISON})
"""The posts of the whole town: their rows leave 村, 网格 and 单元 empty."""
