"""The roster spreadsheet towns keep: one row per unit (单元), CSV or XLSX.

Reading validates every row before anything is returned and reports every problem at
once, with the row number the user sees in Excel (the header is row 1, or the row the
header was found on when a title row sits above it). Problems are in Chinese: the
readers are town officials.

Columns (Chinese headers as towns write them; English aliases accepted)::

    镇 town (optional; else the ``town`` argument)
    村 village · 网格 grid · 单元 unit · 单元类型 unit_kind (住宅/配套场所/沿街商铺)
    单元长 / 单元长电话 / 单元长微信
    第二单元长 / 第二单元长电话 / 第二单元长微信 (required for 沿街商铺 units)
    网格长 / 网格长电话 / 网格长微信
    网格站站长 / 网格站站长电话 / 网格站站长微信

A person is identified by the phone: one phone number must carry the same name (and
WeChat id, where given) on every row. WeChat ids are optional.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final

from models.enums import UnitKind
from orgtree.records import PersonRecord, TownRoster, UnitRow

__all__ = [
    "HEADERS",
    "RosterInvalid",
    "RosterProblem",
    "normalize_grid_name",
    "normalize_phone",
    "read_roster",
    "valid_wechat_id",
    "write_roster",
]


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """One thing wrong with a roster file.

    ``row`` is the spreadsheet row number (``None`` for the whole file), ``column`` the
    header as the file spells it, ``message`` the Chinese explanation. ``str()`` gives
    the full line, e.g. ``第12行 单元长电话: 「1380000」不是有效的手机号``.
    """

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (f"第{self.row}行" if self.row is not None else "", self.column)
            if part
        )
        return f"{where}: {self.message}" if where else self.message


class RosterInvalid(Exception):
    """The roster file cannot be imported; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[RosterProblem]) -> None:
        self.problems: tuple[RosterProblem, ...] = tuple(problems)
        lines = "\n".join(str(problem) for problem in self.problems)
        super().__init__(f"花名册有 {len(self.problems)} 处问题，未导入：\n{lines}")


# --- columns -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    key: str
    header: str  # what write_roster writes
    aliases: frozenset[str]
    required: bool


_PERSON_ROLES: Final = (
    # key, Chinese header, other Chinese names towns use, required
    ("unit_leader", "单元长", (), True),
    ("second_unit_leader", "第二单元长", (), False),
    ("grid_leader", "网格长", (), True),
    ("station_chief", "网格站站长", ("站长", "网格站长"), True),
)
_NAME_SUFFIXES: Final = ("", "姓名", "名字")
_PHONE_SUFFIXES: Final = ("电话", "手机", "手机号", "手机号码", "联系电话", "电话号码", "联系方式")
_WECHAT_SUFFIXES: Final = ("微信", "微信号", "微信id")


def _build_columns() -> tuple[_Column, ...]:
    columns = [
        _Column(
            "town", "镇", frozenset({"镇", "乡镇", "镇街", "镇(街道)", "乡镇(街道)", "town"}), False
        ),
        _Column(
            "village",
            "村",
            frozenset({"村", "村名", "村居", "村(居)", "村(社区)", "所属村", "行政村", "village"}),
            True,
        ),
        _Column(
            "grid",
            "网格",
            frozenset({"网格", "网格名称", "网格名", "所属网格", "grid", "grid_name"}),
            True,
        ),
        _Column(
            "unit", "单元", frozenset({"单元", "单元名称", "单元名", "unit", "unit_name"}), True
        ),
        _Column(
            "unit_kind",
            "单元类型",
            frozenset({"单元类型", "单元类别", "类型", "unit_kind", "unit_type", "kind"}),
            True,
        ),
    ]
    for key, zh, other_zh, required in _PERSON_ROLES:
        bases = (zh, *other_zh)
        columns.append(
            _Column(
                key,
                zh,
                frozenset({b + s for b in bases for s in _NAME_SUFFIXES} | {key, f"{key}_name"}),
                required,
            )
        )
        columns.append(
            _Column(
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
            _Column(
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


_COLUMNS: Final = _build_columns()
_BY_KEY: Final = {column.key: column for column in _COLUMNS}
_ORDER: Final = {column.key: index for index, column in enumerate(_COLUMNS)}
_BY_ALIAS: Final = {alias: column.key for column in _COLUMNS for alias in column.aliases}

HEADERS: Final[tuple[str, ...]] = tuple(column.header for column in _COLUMNS)
"""The header row :func:`write_roster` writes, in order."""

_UNIT_KINDS: Final = {
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


def _header_key(text: str) -> str:
    """Normalise a header (or unit kind) cell: full-width forms, case, 必填 marks, blanks.

    "单元长 电话(必填)" -> "单元长电话"; "Unit Leader Phone*" -> "unit_leader_phone".
    """
    key = unicodedata.normalize("NFKC", text).lower()
    key = re.sub(r"\((必填|选填|可选|required|optional)\)|[*:]", "", key).strip()
    if re.search(r"[^\x00-\x7f]", key):
        return re.sub(r"\s+", "", key)
    return re.sub(r"[\s\-]+", "_", key)


# --- cell values ----------------------------------------------------------------------

_MOBILE: Final = re.compile(r"1[3-9]\d{9}")
_WECHAT_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{5,31}")
_SCIENTIFIC: Final = re.compile(r"\d(\.\d+)?e\+?\d+", re.IGNORECASE)


def normalize_phone(text: str) -> str | None:
    """The 11-digit mobile number in ``text`` (spaces, dashes, +86 allowed), else None."""
    digits = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", text))
    digits = re.sub(r"^(\+?86)(?=1\d{10}$)", "", digits)
    digits = re.sub(r"\.0$", "", digits)  # a number that went through a float
    return digits if _MOBILE.fullmatch(digits) else None


def valid_wechat_id(text: str) -> bool:
    """A WeChat id: a letter, then 5-31 letters, digits, '_' or '-' (wxid_… included)."""
    return _WECHAT_ID.fullmatch(text) is not None


_CN_DIGITS: Final = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
                     "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_GRID_NUMBER: Final = re.compile(r"第?([0-9]+|[零〇一二两三四五六七八九十百]+)号?(网格)?")


def _chinese_number(text: str) -> int | None:
    """十六 -> 16, 一百零二 -> 102; None when ``text`` is not a Chinese number below 1000."""
    total, current = 0, 0
    for char in text:
        if char in _CN_DIGITS:
            current = _CN_DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def normalize_grid_name(text: str) -> str:
    """ "16", "16网格", "第016网格" and "第十六网格" all become "第16网格"; other names stay."""
    name = text.strip()
    compact = unicodedata.normalize("NFKC", name)
    match = _GRID_NUMBER.fullmatch(compact)
    if match is None or not (match.group(2) or compact[0] == "第" or match.group(1).isdigit()):
        return name
    number_text = match.group(1)
    number = int(number_text) if number_text.isdigit() else _chinese_number(number_text)
    return f"第{number}网格" if number else name


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


# --- reading --------------------------------------------------------------------------

_Table = list[list[str]]
_HEADER_SEARCH_ROWS: Final = 10


def read_roster(
    path: str | os.PathLike[str],
    *,
    town: str | None = None,
    known_villages: Iterable[str] | None = None,
) -> TownRoster:
    """Read and validate a roster file (.csv or .xlsx).

    ``town`` names the town when the file has no 镇 column (and must agree with it when
    it has one). With ``known_villages`` (re-importing into an existing town) a row
    naming any other village is a problem. Raises :class:`RosterInvalid` listing every
    problem; the result has no ``extra_roles``.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".xls":
        raise _file_problem(
            "不支持旧版 Excel 文件（.xls）：请在 Excel 中「另存为」.xlsx 或「CSV UTF-8（逗号分隔）」后再导入"
        )
    if suffix not in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm"):
        raise _file_problem(
            f"不支持的文件类型「{file.suffix or file.name}」：请使用 .xlsx 或 .csv 文件"
        )
    try:
        data = file.read_bytes()
    except OSError as error:
        raise _file_problem(f"无法读取文件「{file}」：{error.strerror or error}") from error
    table = _xlsx_table(data) if suffix in (".xlsx", ".xlsm") else _csv_table(data)
    known = None if known_villages is None else frozenset(known_villages)
    return _Parser(table, town=town, known_villages=known).parse()


def _file_problem(message: str) -> RosterInvalid:
    return RosterInvalid([RosterProblem(None, None, message)])


def _csv_table(data: bytes) -> _Table:
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        return [
            [cell.strip() for cell in record]
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error as error:
        raise _file_problem(f"CSV 格式错误：{error}") from error


def _decode(data: bytes) -> str:
    """Decode a CSV as Excel writes it in China: UTF-8 (with or without BOM), UTF-16 for
    「Unicode 文本」, or GBK/GB18030 for plain 「CSV（逗号分隔）」."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as error:
                raise _undecodable(data, [(encoding.upper(), error)]) from error
    failures: list[tuple[str, UnicodeDecodeError]] = []
    for encoding, label in (("utf-8", "UTF-8"), ("gb18030", "GBK/GB18030")):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as error:
            failures.append((label, error))
    raise _undecodable(data, failures)


def _undecodable(data: bytes, failures: list[tuple[str, UnicodeDecodeError]]) -> RosterInvalid:
    newline = b"\n"
    tried = "；".join(
        f"按 {label} 读到第{data.count(newline, 0, error.start) + 1}行时失败"
        for label, error in failures
    )
    from charset_normalizer import from_bytes  # only for the hint; imports slowly

    guess = from_bytes(data).best()
    hint = f"（文件看起来像是 {guess.encoding} 编码）" if guess is not None else ""
    return _file_problem(
        f"无法识别文件编码{hint}：{tried}。请在 Excel 中「另存为」→「CSV UTF-8（逗号分隔）」"
        "或 .xlsx 格式后重新导入"
    )


def _xlsx_table(data: bytes) -> _Table:
    import openpyxl  # the import takes a while; CSV-only callers skip it
    from openpyxl.utils.exceptions import InvalidFileException

    # openpyxl warns about features it drops when reading (data validation extensions,
    # missing default styles, unsupported drawings): none of them matter for the values,
    # and under `filterwarnings = error` they would turn a good file into a crash.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as error:
            raise _file_problem(
                "无法打开 Excel 文件：文件已损坏、已加密或并非 .xlsx 格式。"
                "请在 Excel 中取消密码并「另存为」.xlsx 后重新导入"
            ) from error
        try:
            tables: list[_Table] = []
            for sheet in workbook.worksheets:
                sheet.reset_dimensions()  # some writers record wrong dimensions
                table = [
                    [_cell_text(value) for value in row]
                    for row in sheet.iter_rows(values_only=True)
                ]
                if _find_header(table) is not None:
                    return table
                tables.append(table)
            return tables[0] if tables else []
        finally:
            workbook.close()


def _find_header(table: _Table) -> int | None:
    """Index of the header row: the first of the top rows naming 3+ known columns."""
    for index, cells in enumerate(table[:_HEADER_SEARCH_ROWS]):
        if sum(1 for cell in cells if _header_key(cell) in _BY_ALIAS) >= 3:
            return index
    return None


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


@dataclass(slots=True)
class _Draft:
    """A row's values after per-cell checks; None where the cell was bad or empty."""

    row: int
    village: str | None
    grid: str | None
    unit: str | None
    kind: UnitKind | None
    people: dict[str, PersonRecord | None] = field(default_factory=dict)


class _Parser:
    def __init__(
        self, table: _Table, *, town: str | None, known_villages: frozenset[str] | None
    ) -> None:
        self._table = table
        self._town = town.strip() if town is not None else None
        self._known = known_villages
        self._problems: list[tuple[int, int, RosterProblem]] = []
        self._columns: dict[str, int] = {}
        self._headers: dict[str, str] = {}

    def parse(self) -> TownRoster:
        header_index = self._read_header()
        if not self._table or not any(self._table[header_index]):
            raise RosterInvalid([problem for _, _, problem in self._problems])
        drafts: list[_Draft] = []
        towns: dict[str, int] = {}
        for index in range(header_index + 1, len(self._table)):
            cells = self._table[index]
            if not any(self._cell(cells, key) for key in self._columns):
                continue  # blank, or only a pre-filled 序号 of the town's template
            draft = self._draft(index + 1, cells)
            drafts.append(draft)
            cell_town = self._cell(cells, "town")
            if cell_town:
                towns.setdefault(cell_town, draft.row)
        if not drafts and self._columns:
            self._problem(None, None, "文件中没有数据行")
        town = self._check_town(towns) if drafts else None
        self._check_rows(drafts)
        if self._problems:
            self._problems.sort(key=lambda item: (item[0], item[1]))
            raise RosterInvalid([problem for _, _, problem in self._problems])
        assert town is not None
        return TownRoster(town=town, rows=tuple(self._rows(drafts)))

    # -- header

    def _read_header(self) -> int:
        found = _find_header(self._table)
        header_index = 0 if found is None else found
        header = self._table[header_index] if self._table else []
        if not any(header):
            self._problem(
                None, None, "文件是空的：第1行应为表头（村、网格、单元、单元类型、单元长……）"
            )
            return header_index
        for position, cell in enumerate(header):
            key = _BY_ALIAS.get(_header_key(cell))
            if key is None:
                continue  # 序号, 备注 and other columns of the town's own are ignored
            if key in self._columns:
                first = self._columns[key]
                self._problem(
                    None,
                    key,
                    f"列重复：第{_column_letter(first)}列「{self._headers[key]}」和"
                    f"第{_column_letter(position)}列「{cell}」是同一列，请删除其中一列",
                    column=cell,
                )
                continue
            self._columns[key] = position
            self._headers[key] = cell
        missing = [
            column.header
            for column in _COLUMNS
            if column.required and column.key not in self._columns
        ]
        for _, zh, _, _ in _PERSON_ROLES:  # a name column without its phone column
            key = _key_of(zh)
            if key in self._columns and f"{key}_phone" not in self._columns:
                missing.append(f"{zh}电话")
        if missing:
            self._problem(
                header_index + 1,
                None,
                f"缺少必需的列：{'、'.join(dict.fromkeys(missing))}（表头第{header_index + 1}行）",
            )
        return header_index

    # -- per row

    def _cell(self, cells: list[str], key: str) -> str:
        position = self._columns.get(key)
        if position is None or position >= len(cells):
            return ""
        return cells[position].strip()

    def _problem(
        self, row: int | None, key: str | None, message: str, *, column: str | None = None
    ) -> None:
        """Record a problem at ``row`` in the column of ``key`` (as this file spells it)."""
        if column is None and key is not None:
            column = self._headers.get(key, _BY_KEY[key].header)
        order = -1 if key is None else _ORDER[key]
        self._problems.append((row or 0, order, RosterProblem(row, column, message)))

    def _required_text(self, row: int, cells: list[str], key: str) -> str | None:
        if key not in self._columns:
            return None
        text = self._cell(cells, key)
        if not text:
            self._problem(row, key, "不能为空")
            return None
        return text

    def _draft(self, row: int, cells: list[str]) -> _Draft:
        village = self._required_text(row, cells, "village")
        grid = self._required_text(row, cells, "grid")
        unit = self._required_text(row, cells, "unit")
        kind_text = self._required_text(row, cells, "unit_kind")
        kind = None
        if kind_text is not None:
            kind = _UNIT_KINDS.get(_header_key(kind_text))
            if kind is None:
                self._problem(
                    row,
                    "unit_kind",
                    f"「{kind_text}」不是有效的单元类型（可填：住宅、配套场所、沿街商铺）",
                )
        draft = _Draft(row, village, normalize_grid_name(grid) if grid else None, unit, kind)
        if village is not None and self._known is not None and village not in self._known:
            self._problem(row, "village", self._unknown_village(village))
        for key, _, _, required in _PERSON_ROLES:
            draft.people[key] = self._person(row, cells, key, required=required)
        return draft

    def _unknown_village(self, village: str) -> str:
        assert self._known is not None
        known = sorted(self._known)
        hint = ""
        for candidate in (village + "村", village.removesuffix("村")):
            if candidate in self._known:
                hint = f"，是否指「{candidate}」？"
        listed = "、".join(known) if known else "（无）"
        return f"「{village}」不是本镇已有的村{hint}（已有：{listed}）"

    def _person(
        self, row: int, cells: list[str], key: str, *, required: bool
    ) -> PersonRecord | None:
        if key not in self._columns:
            return None
        name = self._cell(cells, key)
        phone_text = self._cell(cells, f"{key}_phone")
        wechat = self._cell(cells, f"{key}_wechat")
        if not required and not (name or phone_text or wechat):
            return None
        ok = True
        if not name:
            self._problem(row, key, "不能为空" if required else "填写了电话或微信，但没有填写姓名")
            ok = False
        elif re.search(r"\d{5,}", name):
            self._problem(row, key, f"「{name}」像是把姓名和电话写在了一起，请分开填写")
            ok = False
        elif re.search(r"[、，,/;；]", name):
            self._problem(row, key, f"「{name}」：一个单元格只能填写一个人")
            ok = False
        phone: str | None = None
        if f"{key}_phone" in self._columns:
            if not phone_text:
                self._problem(row, f"{key}_phone", "不能为空")
            else:
                phone = normalize_phone(phone_text)
                if phone is None:
                    self._problem(row, f"{key}_phone", _bad_phone(phone_text))
        if wechat and not valid_wechat_id(wechat):
            self._problem(row, f"{key}_wechat", _bad_wechat(wechat))
            ok = False
        if not ok or phone is None:
            return None
        return PersonRecord(name=name, phone=phone, wechat_id=wechat or None)

    # -- across rows

    def _check_town(self, towns: dict[str, int]) -> str | None:
        if len(towns) > 1:
            first, *others = towns.items()
            for town, row in others:
                self._problem(
                    row,
                    "town",
                    f"「{town}」与第{first[1]}行的「{first[0]}」不同：一个文件只能是一个镇",
                )
        file_town = next(iter(towns), None)
        if file_town is not None and self._town is not None and file_town != self._town:
            self._problem(
                towns[file_town], "town", f"文件中的镇「{file_town}」不是「{self._town}」"
            )
        result = file_town or self._town
        if result is None:
            self._problem(
                None, None, "不知道是哪个镇：请在文件中加一列「镇」并填写镇名，或导入时指定镇名"
            )
        return result

    def _check_rows(self, drafts: list[_Draft]) -> None:
        units: dict[tuple[str, str, str], int] = {}
        for draft in drafts:
            if draft.village and draft.grid and draft.unit:
                place = (draft.village, draft.grid, draft.unit)
                if place in units:
                    self._problem(
                        draft.row,
                        "unit",
                        f"「{draft.village}{draft.grid}{draft.unit}」与第{units[place]}行重复（同一网格内单元名不能重复）",
                    )
                else:
                    units[place] = draft.row
            self._check_dual_leaders(draft)
        self._check_people(drafts)
        self._check_same_leader(drafts, "grid_leader", lambda d: (d.village, d.grid), "网格")
        self._check_same_leader(drafts, "station_chief", lambda d: (d.village,), "村")

    def _check_dual_leaders(self, draft: _Draft) -> None:
        if "second_unit_leader" not in self._columns:
            return  # reported once below, not per row
        second = draft.people.get("second_unit_leader")
        leader = draft.people.get("unit_leader")
        if draft.kind is UnitKind.SHOP and second is None and not self._row_has_second(draft.row):
            self._problem(
                draft.row, "second_unit_leader", "沿街商铺单元必须有第二单元长（双单元长制度）"
            )
        if second is not None and leader is not None and second.phone == leader.phone:
            self._problem(draft.row, "second_unit_leader_phone", "第二单元长不能与单元长是同一人")

    def _row_has_second(self, row: int) -> bool:
        """Whether the row mentions a second leader at all (a bad one is reported already)."""
        cells = self._table[row - 1]
        return any(self._cell(cells, f"second_unit_leader{s}") for s in ("", "_phone", "_wechat"))

    def _check_people(self, drafts: list[_Draft]) -> None:
        """One phone, one person: the same name and WeChat id wherever it appears."""
        if "second_unit_leader" not in self._columns and any(
            d.kind is UnitKind.SHOP for d in drafts
        ):
            self._problem(
                None, "second_unit_leader", "缺少列：沿街商铺单元必须填写第二单元长（双单元长制度）"
            )
        by_phone: dict[str, tuple[int, PersonRecord]] = {}
        wechat_owner: dict[str, tuple[int, str]] = {}
        for draft in drafts:
            for key, person in draft.people.items():
                if person is None or (
                    key == "second_unit_leader"
                    and person.phone == getattr(draft.people.get("unit_leader"), "phone", None)
                ):
                    continue  # missing, bad, or reported by _check_dual_leaders
                seen = by_phone.setdefault(person.phone, (draft.row, person))
                first_row, first = seen
                if first.name != person.name:
                    self._problem(
                        draft.row,
                        f"{key}_phone",
                        f"手机号 {person.phone} 在第{first_row}行是「{first.name}」，这里是「{person.name}」：同一手机号只能是同一个人",
                    )
                if person.wechat_id is None:
                    continue
                owner = wechat_owner.setdefault(person.wechat_id.lower(), (draft.row, person.phone))
                if owner[1] != person.phone:
                    self._problem(
                        draft.row,
                        f"{key}_wechat",
                        f"微信号「{person.wechat_id}」在第{owner[0]}行属于手机号 {owner[1]}，这里是 {person.phone}",
                    )
                elif first.wechat_id is None:
                    by_phone[person.phone] = (first_row, person)
                elif first.wechat_id != person.wechat_id:
                    self._problem(
                        draft.row,
                        f"{key}_wechat",
                        f"手机号 {person.phone} 在第{first_row}行的微信号是「{first.wechat_id}」，这里是「{person.wechat_id}」",
                    )

    def _check_same_leader(
        self,
        drafts: list[_Draft],
        key: str,
        place_of: Callable[[_Draft], tuple[str | None, ...]],
        level: str,
    ) -> None:
        label = _BY_KEY[key].header
        first_seen: dict[tuple[str | None, ...], tuple[int, PersonRecord]] = {}
        for draft in drafts:
            place = place_of(draft)
            person = draft.people.get(key)
            if person is None or None in place:
                continue
            first_row, first = first_seen.setdefault(place, (draft.row, person))
            if first.phone != person.phone:
                self._problem(
                    draft.row,
                    f"{key}_phone",
                    f"{''.join(p for p in place if p)}的{label}在第{first_row}行是{first.name}（{first.phone}），"
                    f"这里是{person.name}（{person.phone}）：一个{level}只能有一位{label}",
                )

    # -- result

    def _rows(self, drafts: list[_Draft]) -> Iterator[UnitRow]:
        # One record per phone, carrying the WeChat id wherever any row gave it.
        canonical: dict[str, PersonRecord] = {}
        for draft in drafts:
            for person in draft.people.values():
                if person is not None and (
                    person.phone not in canonical or canonical[person.phone].wechat_id is None
                ):
                    canonical[person.phone] = person

        def canonical_of(draft: _Draft, key: str) -> PersonRecord | None:
            found = draft.people.get(key)
            return None if found is None else canonical[found.phone]

        for draft in drafts:
            unit_leader = canonical_of(draft, "unit_leader")
            grid_leader = canonical_of(draft, "grid_leader")
            station_chief = canonical_of(draft, "station_chief")
            assert draft.village and draft.grid and draft.unit and draft.kind
            assert unit_leader and grid_leader and station_chief
            yield UnitRow(
                village=draft.village,
                grid=draft.grid,
                unit=draft.unit,
                unit_kind=draft.kind,
                unit_leader=unit_leader,
                second_unit_leader=canonical_of(draft, "second_unit_leader"),
                grid_leader=grid_leader,
                station_chief=station_chief,
            )


def _key_of(zh: str) -> str:
    return next(key for key, header, _, _ in _PERSON_ROLES if header == zh)


def _bad_phone(text: str) -> str:
    compact = re.sub(r"[\s\-]", "", text)
    if _SCIENTIFIC.fullmatch(compact):
        return (
            f"「{text}」被 Excel 显示成了科学计数法，号码已丢失：请把该列设为「文本」格式并重新填写"
        )
    if compact.startswith("0"):
        return f"「{text}」是座机号码：请填写11位手机号"
    return f"「{text}」不是有效的手机号（应为11位，以13–19开头）"


def _bad_wechat(text: str) -> str:
    if normalize_phone(text) is not None:
        return f"「{text}」是手机号，不是微信号：微信号以字母开头；不知道微信号可以留空"
    return f"「{text}」不是有效的微信号（以字母开头，6–32位字母、数字、下划线或减号）"


# --- writing --------------------------------------------------------------------------


def _row_cells(town: str, row: UnitRow) -> list[str]:
    cells = [town, row.village, row.grid, row.unit, row.unit_kind.label]
    for person in (row.unit_leader, row.second_unit_leader, row.grid_leader, row.station_chief):
        if person is None:
            cells += ["", "", ""]
        else:
            cells += [person.name, person.phone, person.wechat_id or ""]
    return cells


def write_roster(roster: TownRoster, path: str | os.PathLike[str]) -> Path:
    """Write ``roster`` as .csv (UTF-8 with BOM, so Excel opens it) or .xlsx with the
    Chinese headers; returns the path. ``extra_roles`` are not part of the format."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".csv":
        with file.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\r\n")
            writer.writerow(HEADERS)
            writer.writerows(_row_cells(roster.town, row) for row in roster.rows)
    elif suffix == ".xlsx":
        _write_xlsx(roster, file)
    else:
        raise ValueError(f"roster files are .csv or .xlsx, not {file.suffix!r}")
    return file


def _text_cell(sheet: Any, text: str) -> Any:
    """A cell that stays text: openpyxl would turn "=…" into a formula, and Excel shows
    phone numbers stored as numbers in scientific notation."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=text or None)
    if text:
        cell.data_type = "s"
    return cell


def _write_xlsx(roster: TownRoster, file: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("单元花名册")
    widths = {"单元": 28, "网格": 12, "单元类型": 10}
    for index, header in enumerate(HEADERS, start=1):
        width = widths.get(header, 14 if header.endswith(("电话", "微信")) else 10)
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(list(HEADERS))
    for row in roster.rows:
        sheet.append([_text_cell(sheet, text) for text in _row_cells(roster.town, row)])
    workbook.save(file)
