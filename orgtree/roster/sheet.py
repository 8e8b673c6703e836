"""One sheet being read: its header mapped to columns, its data rows, the problems found
on it (at the row and column as the file spells them), and the person cell groups (name,
phone, WeChat) both sheets have."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from orgtree.records import PersonRecord
from orgtree.roster.cells import bad_phone, bad_wechat, header_key, normalize_phone, valid_wechat_id
from orgtree.roster.layout import Layout
from orgtree.roster.problems import RosterProblem
from orgtree.roster.tables import Table, find_header

__all__ = ["Problems", "Sheet"]


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


Problems = list[tuple[int, int, int, RosterProblem]]
"""The problems of a read, each with its sort key: (sheet index, row, column order)."""


class Sheet:
    """One table being read: where its header is, which column is which, and a way to
    record a problem at a row and column as this file spells it."""

    def __init__(
        self,
        table: Table,
        layout: Layout,
        *,
        index: int,
        label: str | None,
        reference: str,
        problems: Problems,
    ) -> None:
        self.table = table
        self.layout = layout
        self.index = index
        self.label = label  # the prefix of its problems (None: the unit sheet)
        self.reference = reference  # how other sheets' problems name it (单元表, 人员表)
        self.columns: dict[str, int] = {}
        self.headers: dict[str, str] = {}
        self._problems = problems
        self.header_index = 0

    def read_header(self, empty_message: str) -> bool:
        """Map the header's columns; False when there is no header at all."""
        found = find_header(self.table, self.layout)
        self.header_index = 0 if found is None else found
        header = self.table[self.header_index] if self.table else []
        if not any(header):
            self.problem(None, None, empty_message)
            return False
        for position, cell in enumerate(header):
            key = self.layout.by_alias.get(header_key(cell))
            if key is None:
                continue  # 序号, 备注 and other columns of the town's own are ignored
            if key in self.columns:
                first = self.columns[key]
                self.problem(
                    None,
                    key,
                    f"列重复：第{_column_letter(first)}列「{self.headers[key]}」和"
                    f"第{_column_letter(position)}列「{cell}」是同一列，请删除其中一列",
                    column=cell,
                )
                continue
            self.columns[key] = position
            self.headers[key] = cell
        return True

    def missing_columns(self, missing: Iterable[str]) -> None:
        """Record the required columns (by header) the sheet lacks, in one problem."""
        names = list(dict.fromkeys(missing))
        if names:
            row = self.header_index + 1
            self.problem(row, None, f"缺少必需的列：{'、'.join(names)}（表头第{row}行）")

    def data_rows(self) -> Iterator[tuple[int, list[str]]]:
        """(Excel row number, cells) of every row below the header that says anything."""
        for index in range(self.header_index + 1, len(self.table)):
            cells = self.table[index]
            if any(self.cell(cells, key) for key in self.columns):
                yield index + 1, cells  # else blank, or only a 序号 of the town's template

    def cell(self, cells: list[str], key: str) -> str:
        """The text of ``key``'s column in ``cells`` ("" when the sheet has no such column)."""
        position = self.columns.get(key)
        if position is None or position >= len(cells):
            return ""
        return cells[position].strip()

    def problem(
        self, row: int | None, key: str | None, message: str, *, column: str | None = None
    ) -> None:
        """Record a problem at ``row`` in the column of ``key`` (as this file spells it)."""
        if column is None and key is not None:
            column = self.headers.get(key, self.layout.by_key[key].header)
        order = -1 if key is None else self.layout.order[key]
        problem = RosterProblem(row, column, message, sheet=self.label)
        self._problems.append((self.index, row or 0, order, problem))

    def where(self, row: int, other: Sheet) -> str:
        """How a problem on ``other`` refers to ``row`` of this sheet."""
        return f"第{row}行" if other is self else f"{self.reference}第{row}行"

    def person(
        self,
        row: int,
        cells: list[str],
        keys: tuple[str, str, str],
        *,
        required: bool,
        one_per_row: bool = False,
    ) -> PersonRecord | None:
        """The person in the name, phone and WeChat cells ``keys`` of ``row``; None when a
        cell is bad (the problem is recorded) or an optional person is absent. On a sheet
        that lists people ``one_per_row``, a cell naming several is told to split them."""
        name_key, phone_key, wechat_key = keys
        if name_key not in self.columns:
            return None
        name = self.cell(cells, name_key)
        phone_text = self.cell(cells, phone_key)
        wechat = self.cell(cells, wechat_key)
        if not required and not (name or phone_text or wechat):
            return None
        ok = True
        if not name:
            self.problem(
                row, name_key, "不能为空" if required else "填写了电话或微信，但没有填写姓名"
            )
            ok = False
        elif re.search(r"\d{5,}", name):
            self.problem(row, name_key, f"「{name}」像是把姓名和电话写在了一起，请分开填写")
            ok = False
        elif re.search(r"[、，,/;；]", name):
            more = "，多人请分行填写" if one_per_row else ""
            self.problem(row, name_key, f"「{name}」：一个单元格只能填写一个人{more}")
            ok = False
        phone: str | None = None
        if phone_key in self.columns:
            if not phone_text:
                self.problem(row, phone_key, "不能为空")
            else:
                phone = normalize_phone(phone_text)
                if phone is None:
                    self.problem(row, phone_key, bad_phone(phone_text))
        if wechat and not valid_wechat_id(wechat):
            self.problem(row, wechat_key, bad_wechat(wechat))
            ok = False
        if not ok or phone is None:
            return None
        return PersonRecord(name=name, phone=phone, wechat_id=wechat or None)
