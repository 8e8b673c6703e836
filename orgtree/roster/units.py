"""The unit sheet (单元花名册): one row per unit with its kind, households and leaders.

:func:`read_units` checks every row, then what must agree across rows: one town per
file, no unit twice in a grid, two leaders for a shop unit (双单元长), one grid leader
per grid and one station chief per village.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from models.enums import UnitKind
from orgtree.records import PersonRecord
from orgtree.roster.cells import bad_households, header_key, household_count, normalize_grid_name
from orgtree.roster.layout import PERSON_ROLES, UNIT_KINDS, UNITS
from orgtree.roster.sheet import Sheet

__all__ = ["UnitDraft", "read_units"]


@dataclass(slots=True)
class UnitDraft:
    """A unit row's values after per-cell checks; None where the cell was bad or empty."""

    row: int
    village: str | None
    grid: str | None
    unit: str | None
    kind: UnitKind | None
    households: int | None = None
    people: dict[str, PersonRecord | None] = field(default_factory=dict)


def read_units(
    sheet: Sheet, *, town: str | None, known_villages: frozenset[str] | None
) -> tuple[list[UnitDraft], str | None]:
    """The rows of the unit sheet (its header already read) and the town they are in,
    recording every problem on ``sheet``. ``town`` names the town when the sheet has no
    镇 column; with ``known_villages`` a row naming any other village is a problem."""
    return _UnitSheet(sheet, town=town, known_villages=known_villages).read()


class _UnitSheet:
    def __init__(
        self, sheet: Sheet, *, town: str | None, known_villages: frozenset[str] | None
    ) -> None:
        self._sheet = sheet
        self._town = town.strip() if town is not None else None
        self._known = known_villages

    def read(self) -> tuple[list[UnitDraft], str | None]:
        sheet = self._sheet
        self._check_header()
        drafts: list[UnitDraft] = []
        towns: dict[str, int] = {}
        for row, cells in sheet.data_rows():
            draft = self._draft(row, cells)
            drafts.append(draft)
            cell_town = sheet.cell(cells, "town")
            if cell_town:
                towns.setdefault(cell_town, draft.row)
        if not drafts and sheet.columns:
            sheet.problem(None, None, "文件中没有数据行")
        town = self._check_town(towns) if drafts else None
        self._check_rows(drafts)
        return drafts, town

    # -- header

    def _check_header(self) -> None:
        columns = self._sheet.columns
        missing = [
            column.header
            for column in UNITS.columns
            if column.required and column.key not in columns
        ]
        for key, zh, _, _ in PERSON_ROLES:  # a name column without its phone column
            if key in columns and f"{key}_phone" not in columns:
                missing.append(f"{zh}电话")
        self._sheet.missing_columns(missing)

    # -- per row

    def _required_text(self, row: int, cells: list[str], key: str) -> str | None:
        if key not in self._sheet.columns:
            return None
        text = self._sheet.cell(cells, key)
        if not text:
            self._sheet.problem(row, key, "不能为空")
            return None
        return text

    def _draft(self, row: int, cells: list[str]) -> UnitDraft:
        sheet = self._sheet
        village = self._required_text(row, cells, "village")
        grid = self._required_text(row, cells, "grid")
        unit = self._required_text(row, cells, "unit")
        kind_text = self._required_text(row, cells, "unit_kind")
        kind = None
        if kind_text is not None:
            kind = UNIT_KINDS.get(header_key(kind_text))
            if kind is None:
                sheet.problem(
                    row,
                    "unit_kind",
                    f"「{kind_text}」不是有效的单元类型（可填：住宅、配套场所、沿街商铺）",
                )
        draft = UnitDraft(row, village, normalize_grid_name(grid) if grid else None, unit, kind)
        draft.households = self._households(row, cells, kind)
        if village is not None and self._known is not None and village not in self._known:
            sheet.problem(row, "village", self._unknown_village(village))
        for key, _, _, required in PERSON_ROLES:
            draft.people[key] = sheet.person(
                row,
                cells,
                (key, f"{key}_phone", f"{key}_wechat"),
                required=required,
            )
        return draft

    def _households(self, row: int, cells: list[str], kind: UnitKind | None) -> int | None:
        sheet = self._sheet
        if "households" not in sheet.columns:
            return None
        text = sheet.cell(cells, "households")
        if not text:
            if kind is UnitKind.RESIDENTIAL:
                sheet.problem(row, "households", "住宅单元必须填写户数")
                return None
            return 1  # a shop or a facility is one household unless the file says more
        households = household_count(text)
        if households is None:
            sheet.problem(row, "households", bad_households(text))
        return households

    def _unknown_village(self, village: str) -> str:
        assert self._known is not None
        known = sorted(self._known)
        hint = ""
        for candidate in (village + "村", village.removesuffix("村")):
            if candidate in self._known:
                hint = f"，是否指「{candidate}」？"
        listed = "、".join(known) if known else "（无）"
        return f"「{village}」不是本镇已有的村{hint}（已有：{listed}）"

    # -- across rows

    def _check_town(self, towns: dict[str, int]) -> str | None:
        sheet = self._sheet
        if len(towns) > 1:
            first, *others = towns.items()
            for town, row in others:
                sheet.problem(
                    row,
                    "town",
                    f"「{town}」与第{first[1]}行的「{first[0]}」不同：一个文件只能是一个镇",
                )
        file_town = next(iter(towns), None)
        if file_town is not None and self._town is not None and file_town != self._town:
            sheet.problem(
                towns[file_town], "town", f"文件中的镇「{file_town}」不是「{self._town}」"
            )
        result = file_town or self._town
        if result is None:
            sheet.problem(
                None, None, "不知道是哪个镇：请在文件中加一列「镇」并填写镇名，或导入时指定镇名"
            )
        return result

    def _check_rows(self, drafts: list[UnitDraft]) -> None:
        sheet = self._sheet
        units: dict[tuple[str, str, str], int] = {}
        for draft in drafts:
            if draft.village and draft.grid and draft.unit:
                place = (draft.village, draft.grid, draft.unit)
                if place in units:
                    sheet.problem(
                        draft.row,
                        "unit",
                        f"「{draft.village}{draft.grid}{draft.unit}」与第{units[place]}行重复（同一网格内单元名不能重复）",
                    )
                else:
                    units[place] = draft.row
            self._check_dual_leaders(draft)
        if "second_unit_leader" not in sheet.columns and any(
            d.kind is UnitKind.SHOP for d in drafts
        ):
            sheet.problem(
                None, "second_unit_leader", "缺少列：沿街商铺单元必须填写第二单元长（双单元长制度）"
            )
        self._check_same_leader(drafts, "grid_leader", lambda d: (d.village, d.grid), "网格")
        self._check_same_leader(drafts, "station_chief", lambda d: (d.village,), "村")

    def _check_dual_leaders(self, draft: UnitDraft) -> None:
        sheet = self._sheet
        if "second_unit_leader" not in sheet.columns:
            return  # reported once, not per row
        second = draft.people.get("second_unit_leader")
        leader = draft.people.get("unit_leader")
        if draft.kind is UnitKind.SHOP and second is None and not self._row_has_second(draft.row):
            sheet.problem(
                draft.row, "second_unit_leader", "沿街商铺单元必须有第二单元长（双单元长制度）"
            )
        if second is not None and leader is not None and second.phone == leader.phone:
            sheet.problem(draft.row, "second_unit_leader_phone", "第二单元长不能与单元长是同一人")

    def _row_has_second(self, row: int) -> bool:
        """Whether the row mentions a second leader at all (a bad one is reported already)."""
        cells = self._sheet.table[row - 1]
        return any(
            self._sheet.cell(cells, f"second_unit_leader{s}") for s in ("", "_phone", "_wechat")
        )

    def _check_same_leader(
        self,
        drafts: list[UnitDraft],
        key: str,
        place_of: Callable[[UnitDraft], tuple[str | None, ...]],
        level: str,
    ) -> None:
        label = UNITS.by_key[key].header
        first_seen: dict[tuple[str | None, ...], tuple[int, PersonRecord]] = {}
        for draft in drafts:
            place = place_of(draft)
            person = draft.people.get(key)
            if person is None or None in place:
                continue
            first_row, first = first_seen.setdefault(place, (draft.row, person))
            if first.phone != person.phone:
                self._sheet.problem(
                    draft.row,
                    f"{key}_phone",
                    f"{''.join(p for p in place if p)}的{label}在第{first_row}行是{first.name}（{first.phone}），"
                    f"这里是{person.name}（{person.phone}）：一个{level}只能有一位{label}",
                )
