"""The roster spreadsheet towns keep, CSV or XLSX: a unit sheet and a people sheet.

The **unit sheet** (单元花名册) has one row per unit (单元) with the unit's leaders. The
**people sheet** (人员) has one row per post of someone who is not one of those leaders —
town officials, department liaisons, the 三员 of each grid — and one row per party-member
contact assignment (党员联系户). In an .xlsx file the people sheet is a second worksheet
(found by its header, whatever its name; :func:`write_roster` names it 人员). A CSV roster
keeps it in a second file beside the first, ``花名册.people.csv`` for ``花名册.csv``
(:func:`people_file_for`), or wherever ``people=`` says.

Reading validates every row of both sheets before anything is returned and reports every
problem at once, with the row number the user sees in Excel (the header is row 1, or the
row the header was found on when a title row sits above it); problems on the people sheet
name the sheet. Problems are in Chinese: the readers are town officials.

Unit sheet columns (Chinese headers as towns write them; English aliases accepted)::

    镇 town (optional; else the ``town`` argument)
    村 village · 网格 grid · 单元 unit · 单元类型 unit_kind (住宅/配套场所/沿街商铺)
    户数 households (住宅: required, 1–999; 配套场所/沿街商铺: 1 when empty)
    单元长 / 单元长电话 / 单元长微信
    第二单元长 / 第二单元长电话 / 第二单元长微信 (required for 沿街商铺 units)
    网格长 / 网格长电话 / 网格长微信
    网格站站长 / 网格站站长电话 / 网格站站长微信

People sheet columns::

    职务 role (镇干部 / 部门联络员 / 党员 / 网格员 / 下沉人员 / 联系党员)
    姓名 name · 电话 phone · 微信 wechat
    村 village · 网格 grid · 单元 unit  (where the post is; empty for 镇干部 and 部门联络员)
    职务名称 title (镇长, 综治办主任, 党员楼栋长 …; required for 镇干部)
    部门 department (部门联络员: a configured department; 下沉人员: where they come from)
    联系户数 contact households (联系党员 only: how many households of that unit)

A person is identified by the phone: one phone number must carry the same name (and
WeChat id, where given) on every row of both sheets. WeChat ids are optional.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import os
import re
import unicodedata
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from models.enums import Role, UnitKind
from models.org import OrgPath
from orgtree.records import ContactRecord, PersonRecord, RoleRecord, TownRoster, UnitRow

if TYPE_CHECKING:
    from core.config import Department

__all__ = [
    "HEADERS",
    "PEOPLE_HEADERS",
    "RosterInvalid",
    "RosterProblem",
    "normalize_grid_name",
    "normalize_phone",
    "people_file_for",
    "read_roster",
    "valid_wechat_id",
    "write_roster",
]


@dataclass(frozen=True, slots=True)
class RosterProblem:
    """One thing wrong with a roster file.

    ``row`` is the spreadsheet row number (``None`` for the whole file), ``column`` the
    header as the file spells it, ``message`` the Chinese explanation, ``sheet`` the
    people sheet (its worksheet or file name) when the problem is there. ``str()`` gives
    the full line, e.g. ``第12行 单元长电话: 「1380000」不是有效的手机号`` or
    ``人员 第5行 部门: 「区教育局」不是已配置的部门……``.
    """

    row: int | None
    column: str | None
    message: str
    sheet: str | None = None

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (
                self.sheet,
                f"第{self.row}行" if self.row is not None else "",
                self.column,
            )
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


class _Layout:
    """The columns of one sheet, and the lookups the reader needs."""

    def __init__(self, columns: Sequence[_Column]) -> None:
        self.columns = tuple(columns)
        self.by_key = {column.key: column for column in self.columns}
        self.order = {column.key: index for index, column in enumerate(self.columns)}
        self.by_alias = {alias: column.key for column in self.columns for alias in column.aliases}
        self.headers = tuple(column.header for column in self.columns)


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

_TOWN_ALIASES: Final = {"镇", "乡镇", "镇街", "镇(街道)", "乡镇(街道)", "town"}
_VILLAGE_ALIASES: Final = {
    "村", "村名", "村居", "村(居)", "村(社区)", "所属村", "行政村", "village",
}  # fmt: skip
_GRID_ALIASES: Final = {"网格", "网格名称", "网格名", "所属网格", "grid", "grid_name"}
_UNIT_ALIASES: Final = {"单元", "单元名称", "单元名", "unit", "unit_name"}


def _build_unit_columns() -> tuple[_Column, ...]:
    columns = [
        _Column("town", "镇", frozenset(_TOWN_ALIASES), False),
        _Column("village", "村", frozenset(_VILLAGE_ALIASES), True),
        _Column("grid", "网格", frozenset(_GRID_ALIASES), True),
        _Column("unit", "单元", frozenset(_UNIT_ALIASES), True),
        _Column(
            "unit_kind",
            "单元类型",
            frozenset({"单元类型", "单元类别", "类型", "unit_kind", "unit_type", "kind"}),
            True,
        ),
        _Column(
            "households",
            "户数",
            frozenset({"户数", "住户数", "户数(户)", "家庭户数", "households", "household_count"}),
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


def _build_people_columns() -> tuple[_Column, ...]:
    return (
        _Column("role", "职务", frozenset({"职务", "身份", "人员类别", "人员类型", "role"}), True),
        _Column("name", "姓名", frozenset({"姓名", "名字", "name"}), True),
        _Column(
            "phone",
            "电话",
            frozenset({*_PHONE_SUFFIXES, "phone", "mobile", "tel"}),
            True,
        ),
        _Column(
            "wechat", "微信", frozenset({*_WECHAT_SUFFIXES, "wechat", "wechat_id", "wxid"}), False
        ),
        _Column("village", "村", frozenset(_VILLAGE_ALIASES), False),
        _Column("grid", "网格", frozenset(_GRID_ALIASES), False),
        _Column("unit", "单元", frozenset(_UNIT_ALIASES), False),
        _Column(
            "title", "职务名称", frozenset({"职务名称", "岗位", "具体职务", "title", "post"}), False
        ),
        _Column(
            "department",
            "部门",
            frozenset({"部门", "所属部门", "派出部门", "来源部门", "department"}),
            False,
        ),
        _Column(
            "households",
            "联系户数",
            frozenset({"联系户数", "联系户", "contact_households", "households"}),
            False,
        ),
    )


_UNITS: Final = _Layout(_build_unit_columns())
_PEOPLE: Final = _Layout(_build_people_columns())

HEADERS: Final[tuple[str, ...]] = _UNITS.headers
"""The header row of the unit sheet :func:`write_roster` writes, in order."""
PEOPLE_HEADERS: Final[tuple[str, ...]] = _PEOPLE.headers
"""The header row of the people sheet :func:`write_roster` writes, in order."""

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

_CONTACT: Final = "联系党员"
"""The 职务 of a contact-assignment row on the people sheet (党员联系户)."""

_POSTS: Final[dict[str, Role | None]] = {
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
    **{a: None for a in (_CONTACT, "党员联系户", "联系户", "household_contact", "contact")},
}
"""职务 values of the people sheet; ``None`` is a contact assignment."""

_SHEET_POSTS: Final = (
    Role.TOWN_OFFICIAL,
    Role.DEPARTMENT_LIAISON,
    Role.PARTY_MEMBER,
    Role.GRID_WORKER,
    Role.SUNK_CADRE,
)
"""The posts the people sheet holds, in the order an export lists them at one place."""

_TOWN_POSTS: Final = frozenset({Role.TOWN_OFFICIAL, Role.DEPARTMENT_LIAISON})
_MAX_HOUSEHOLDS: Final = 999


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


def _household_count(text: str) -> int | None:
    """ "24", "24户", "24.0" -> 24; None unless a whole number of households 1–999."""
    compact = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).removesuffix("户")
    compact = re.sub(r"\.0+$", "", compact)
    if not compact.isdecimal():
        return None
    number = int(compact)
    return number if 1 <= number <= _MAX_HOUSEHOLDS else None


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


def people_file_for(path: str | os.PathLike[str]) -> Path:
    """Where a CSV roster keeps its people sheet: ``花名册.people.csv`` for ``花名册.csv``."""
    file = Path(path)
    return file.with_name(f"{file.stem}.people{file.suffix}")


def read_roster(
    path: str | os.PathLike[str],
    *,
    town: str | None = None,
    known_villages: Iterable[str] | None = None,
    people: str | os.PathLike[str] | None = None,
    departments: Iterable[Department] | None = None,
) -> TownRoster:
    """Read and validate a roster file (.csv or .xlsx) with its people sheet.

    ``town`` names the town when the file has no 镇 column (and must agree with it when
    it has one). With ``known_villages`` (re-importing into an existing town) a row
    naming any other village is a problem. The people sheet is ``people`` when given,
    else the .xlsx file's second sheet or the CSV's :func:`people_file_for`; without one
    the result has ``lists_posts=False``. Department liaisons must name one of
    ``departments`` (by name or alias; default: those of a default config). Raises
    :class:`RosterInvalid` listing every problem.
    """
    file = Path(path)
    tables = _read_tables(file)
    people_table = next((t for t in tables if _is_people_sheet(t[1])), None)
    others = [t for t in tables if t is not people_table]
    unit_table = next((t for t in others if _find_header(t[1], _UNITS) is not None), None)
    if unit_table is None:
        if people_table is not None and not others:
            raise _file_problem(
                f"「{file.name}」是人员表（有「职务」列），不是单元花名册：请导入单元花名册；"
                "人员表放在同一个 Excel 文件的另一个工作表，或在 CSV 单元花名册旁边命名为"
                f"「{people_file_for(file.name).name}」"
            )
        unit_table = others[0] if others else (file.name, [])
    if people is not None:
        people_path = Path(people)
        people_tables = _read_tables(people_path)
        found = next((t for t in people_tables if _is_people_sheet(t[1])), None)
        if found is None:
            raise _file_problem(
                f"「{people_path.name}」不是人员表：表头应有 职务、姓名、电话 等列（{'、'.join(PEOPLE_HEADERS)}）"
            )
        people_table = (
            people_path.name if people_path.suffix.lower() != ".xlsx" else found[0],
            found[1],
        )
    elif file.suffix.lower() not in (".xlsx", ".xlsm"):
        sibling = people_file_for(file)
        if sibling.exists():
            [(_, sibling_table)] = _read_tables(sibling)
            people_table = (sibling.name, sibling_table)
    if departments is None:
        from core.config import Settings

        departments = Settings().departments
    known = None if known_villages is None else frozenset(known_villages)
    return _Reader(
        unit_table[1],
        people_table,
        town=town,
        known_villages=known,
        departments=departments,
    ).parse()


def _read_tables(file: Path) -> list[tuple[str, _Table]]:
    """Every sheet of ``file`` as (sheet or file name, cells)."""
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
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_tables(data)
    return [(file.name, _csv_table(data))]


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


def _xlsx_tables(data: bytes) -> list[tuple[str, _Table]]:
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
            tables: list[tuple[str, _Table]] = []
            for sheet in workbook.worksheets:
                sheet.reset_dimensions()  # some writers record wrong dimensions
                table = [
                    [_cell_text(value) for value in row]
                    for row in sheet.iter_rows(values_only=True)
                ]
                tables.append((sheet.title, table))
            return tables
        finally:
            workbook.close()


def _find_header(table: _Table, layout: _Layout, needs: Sequence[str] = ()) -> int | None:
    """Index of the header row: the first of the top rows naming 3+ columns of ``layout``
    (among them every key of ``needs``)."""
    for index, cells in enumerate(table[:_HEADER_SEARCH_ROWS]):
        keys = {layout.by_alias.get(_header_key(cell)) for cell in cells} - {None}
        if len(keys) >= 3 and all(key in keys for key in needs):
            return index
    return None


def _is_people_sheet(table: _Table) -> bool:
    return _find_header(table, _PEOPLE, needs=("role", "phone")) is not None


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


_Problems = list[tuple[int, int, int, RosterProblem]]  # (sheet, row, column order, problem)


class _Sheet:
    """One table being read: where its header is, which column is which, and a way to
    record a problem at a row and column as this file spells it."""

    def __init__(
        self,
        table: _Table,
        layout: _Layout,
        *,
        index: int,
        label: str | None,
        reference: str,
        problems: _Problems,
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
        found = _find_header(self.table, self.layout)
        self.header_index = 0 if found is None else found
        header = self.table[self.header_index] if self.table else []
        if not any(header):
            self.problem(None, None, empty_message)
            return False
        for position, cell in enumerate(header):
            key = self.layout.by_alias.get(_header_key(cell))
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

    def where(self, row: int, other: _Sheet) -> str:
        """How a problem on ``other`` refers to ``row`` of this sheet."""
        return f"第{row}行" if other is self else f"{self.reference}第{row}行"


@dataclass(slots=True)
class _Draft:
    """A unit row's values after per-cell checks; None where the cell was bad or empty."""

    row: int
    village: str | None
    grid: str | None
    unit: str | None
    kind: UnitKind | None
    households: int | None = None
    people: dict[str, PersonRecord | None] = field(default_factory=dict)


@dataclass(slots=True)
class _PostDraft:
    """A people-sheet row after per-cell checks. ``role`` None with ``contact`` set is a
    contact assignment; ``place`` is None where the place cells were bad."""

    row: int
    role: Role | None
    contact: bool
    person: PersonRecord | None
    place: OrgPath | None
    title: str | None = None
    department: str | None = None
    households: int | None = None


@dataclass(frozen=True, slots=True)
class _Sighting:
    """A person as one cell group of one row gave them (for the one-phone-one-person check)."""

    sheet: _Sheet
    row: int
    phone_key: str
    wechat_key: str
    person: PersonRecord


class _Reader:
    def __init__(
        self,
        unit_table: _Table,
        people_table: tuple[str, _Table] | None,
        *,
        town: str | None,
        known_villages: frozenset[str] | None,
        departments: Iterable[Department],
    ) -> None:
        self._problems: _Problems = []
        self._units = _Sheet(
            unit_table, _UNITS, index=0, label=None, reference="单元表", problems=self._problems
        )
        self._people: _Sheet | None = None
        if people_table is not None:
            label, table = people_table
            self._people = _Sheet(
                table, _PEOPLE, index=1, label=label, reference="人员表", problems=self._problems
            )
        self._town = town.strip() if town is not None else None
        self._known = known_villages
        self._departments: dict[str, str] = {}
        self._department_names: list[str] = []
        for department in departments:
            self._department_names.append(department.name)
            for alias in (department.name, *department.aliases):
                self._departments.setdefault(_header_key(alias), department.name)

    def parse(self) -> TownRoster:
        units = self._units
        if not units.read_header("文件是空的：第1行应为表头（村、网格、单元、单元类型、单元长……）"):
            raise self._invalid()
        self._check_unit_header()
        drafts: list[_Draft] = []
        towns: dict[str, int] = {}
        for row, cells in units.data_rows():
            draft = self._draft(row, cells)
            drafts.append(draft)
            cell_town = units.cell(cells, "town")
            if cell_town:
                towns.setdefault(cell_town, draft.row)
        if not drafts and units.columns:
            units.problem(None, None, "文件中没有数据行")
        town = self._check_town(towns) if drafts else None
        self._check_rows(drafts)
        posts = self._read_people()
        self._check_posts(posts, drafts)
        self._check_people(drafts, posts)
        if self._problems:
            raise self._invalid()
        assert town is not None
        rows, roles, contacts = self._result(drafts, posts)
        return TownRoster(
            town=town,
            rows=rows,
            extra_roles=roles,
            contacts=contacts,
            lists_posts=self._people is not None,
        )

    def _invalid(self) -> RosterInvalid:
        self._problems.sort(key=lambda item: item[:3])
        return RosterInvalid([problem for *_, problem in self._problems])

    # -- unit sheet: header

    def _check_unit_header(self) -> None:
        columns = self._units.columns
        missing = [
            column.header
            for column in _UNITS.columns
            if column.required and column.key not in columns
        ]
        for key, zh, _, _ in _PERSON_ROLES:  # a name column without its phone column
            if key in columns and f"{key}_phone" not in columns:
                missing.append(f"{zh}电话")
        self._units.missing_columns(missing)

    # -- unit sheet: per row

    def _required_text(self, row: int, cells: list[str], key: str) -> str | None:
        if key not in self._units.columns:
            return None
        text = self._units.cell(cells, key)
        if not text:
            self._units.problem(row, key, "不能为空")
            return None
        return text

    def _draft(self, row: int, cells: list[str]) -> _Draft:
        sheet = self._units
        village = self._required_text(row, cells, "village")
        grid = self._required_text(row, cells, "grid")
        unit = self._required_text(row, cells, "unit")
        kind_text = self._required_text(row, cells, "unit_kind")
        kind = None
        if kind_text is not None:
            kind = _UNIT_KINDS.get(_header_key(kind_text))
            if kind is None:
                sheet.problem(
                    row,
                    "unit_kind",
                    f"「{kind_text}」不是有效的单元类型（可填：住宅、配套场所、沿街商铺）",
                )
        draft = _Draft(row, village, normalize_grid_name(grid) if grid else None, unit, kind)
        draft.households = self._households(row, cells, kind)
        if village is not None and self._known is not None and village not in self._known:
            sheet.problem(row, "village", self._unknown_village(village))
        for key, _, _, required in _PERSON_ROLES:
            draft.people[key] = self._person(
                sheet,
                row,
                cells,
                (key, f"{key}_phone", f"{key}_wechat"),
                required=required,
            )
        return draft

    def _households(self, row: int, cells: list[str], kind: UnitKind | None) -> int | None:
        sheet = self._units
        if "households" not in sheet.columns:
            return None
        text = sheet.cell(cells, "households")
        if not text:
            if kind is UnitKind.RESIDENTIAL:
                sheet.problem(row, "households", "住宅单元必须填写户数")
                return None
            return 1  # a shop or a facility is one household unless the file says more
        households = _household_count(text)
        if households is None:
            sheet.problem(row, "households", _bad_households(text))
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

    def _person(
        self,
        sheet: _Sheet,
        row: int,
        cells: list[str],
        keys: tuple[str, str, str],
        *,
        required: bool,
    ) -> PersonRecord | None:
        name_key, phone_key, wechat_key = keys
        if name_key not in sheet.columns:
            return None
        name = sheet.cell(cells, name_key)
        phone_text = sheet.cell(cells, phone_key)
        wechat = sheet.cell(cells, wechat_key)
        if not required and not (name or phone_text or wechat):
            return None
        ok = True
        if not name:
            sheet.problem(
                row, name_key, "不能为空" if required else "填写了电话或微信，但没有填写姓名"
            )
            ok = False
        elif re.search(r"\d{5,}", name):
            sheet.problem(row, name_key, f"「{name}」像是把姓名和电话写在了一起，请分开填写")
            ok = False
        elif re.search(r"[、，,/;；]", name):
            more = "，多人请分行填写" if sheet is self._people else ""
            sheet.problem(row, name_key, f"「{name}」：一个单元格只能填写一个人{more}")
            ok = False
        phone: str | None = None
        if phone_key in sheet.columns:
            if not phone_text:
                sheet.problem(row, phone_key, "不能为空")
            else:
                phone = normalize_phone(phone_text)
                if phone is None:
                    sheet.problem(row, phone_key, _bad_phone(phone_text))
        if wechat and not valid_wechat_id(wechat):
            sheet.problem(row, wechat_key, _bad_wechat(wechat))
            ok = False
        if not ok or phone is None:
            return None
        return PersonRecord(name=name, phone=phone, wechat_id=wechat or None)

    # -- unit sheet: across rows

    def _check_town(self, towns: dict[str, int]) -> str | None:
        sheet = self._units
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

    def _check_rows(self, drafts: list[_Draft]) -> None:
        sheet = self._units
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

    def _check_dual_leaders(self, draft: _Draft) -> None:
        sheet = self._units
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
        cells = self._units.table[row - 1]
        return any(
            self._units.cell(cells, f"second_unit_leader{s}") for s in ("", "_phone", "_wechat")
        )

    def _check_same_leader(
        self,
        drafts: list[_Draft],
        key: str,
        place_of: Callable[[_Draft], tuple[str | None, ...]],
        level: str,
    ) -> None:
        label = _UNITS.by_key[key].header
        first_seen: dict[tuple[str | None, ...], tuple[int, PersonRecord]] = {}
        for draft in drafts:
            place = place_of(draft)
            person = draft.people.get(key)
            if person is None or None in place:
                continue
            first_row, first = first_seen.setdefault(place, (draft.row, person))
            if first.phone != person.phone:
                self._units.problem(
                    draft.row,
                    f"{key}_phone",
                    f"{''.join(p for p in place if p)}的{label}在第{first_row}行是{first.name}（{first.phone}），"
                    f"这里是{person.name}（{person.phone}）：一个{level}只能有一位{label}",
                )

    # -- people sheet

    def _read_people(self) -> list[_PostDraft]:
        sheet = self._people
        if sheet is None:
            return []
        if not sheet.read_header("人员表是空的：第1行应为表头（职务、姓名、电话、村、网格……）"):
            return []
        sheet.missing_columns(
            column.header
            for column in _PEOPLE.columns
            if column.required and column.key not in sheet.columns
        )
        return [self._post(row, cells) for row, cells in sheet.data_rows()]

    def _post(self, row: int, cells: list[str]) -> _PostDraft:
        sheet = self._people
        assert sheet is not None
        role_text = sheet.cell(cells, "role")
        role: Role | None = None
        contact = False
        known_role = False
        if not role_text:
            sheet.problem(row, "role", "不能为空")
        elif (post := _header_key(role_text)) in _POSTS:
            role = _POSTS[post]
            contact = role is None
            known_role = True
        else:
            sheet.problem(row, "role", _bad_post(role_text))
        person = self._person(
            sheet,
            row,
            cells,
            ("name", "phone", "wechat"),
            required=True,
        )
        draft = _PostDraft(row, role, contact, person, None)
        if not known_role:
            return draft
        draft.place = self._post_place(row, cells, role)
        title = sheet.cell(cells, "title")
        department = sheet.cell(cells, "department")
        households = sheet.cell(cells, "households")
        if title:
            if contact:
                sheet.problem(
                    row, "title", "联系党员一行不填职务名称（党员的职务名称写在其「党员」一行）"
                )
            draft.title = title
        elif role is Role.TOWN_OFFICIAL:
            sheet.problem(row, "title", "镇干部须填写职务名称（如 镇长、综治办主任、信访办主任）")
        if role is Role.DEPARTMENT_LIAISON:
            if not department:
                sheet.problem(row, "department", "部门联络员须填写部门（如 区司法局）")
            else:
                draft.department = self._department(row, department)
        elif role is Role.SUNK_CADRE:
            draft.department = department or None  # where they come down from; any office
        elif department:
            sheet.problem(row, "department", "只有部门联络员和下沉人员填写部门")
        if contact:
            if not households:
                sheet.problem(row, "households", "联系党员须填写联系户数（联系该单元的几户）")
            elif (count := _household_count(households)) is None:
                sheet.problem(row, "households", _bad_households(households))
            else:
                draft.households = count
        elif households:
            sheet.problem(row, "households", "只有职务为「联系党员」的行填写联系户数")
        return draft

    def _post_place(self, row: int, cells: list[str], role: Role | None) -> OrgPath | None:
        sheet = self._people
        assert sheet is not None
        village = sheet.cell(cells, "village")
        grid_text = sheet.cell(cells, "grid")
        grid = normalize_grid_name(grid_text) if grid_text else ""
        unit = sheet.cell(cells, "unit")
        if role in _TOWN_POSTS:
            assert role is not None
            if village or grid or unit:
                key = "village" if village else "grid" if grid else "unit"
                sheet.problem(row, key, f"{role.label}属于全镇：村、网格、单元应留空")
                return None
            return ()
        needed = ["village", "grid"] + (["unit"] if role is None else [])
        values = {"village": village, "grid": grid, "unit": unit}
        missing = [key for key in needed if not values[key]]
        what = _CONTACT if role is None else role.label
        for key in missing:
            if key not in sheet.columns:
                sheet.problem(
                    row,
                    None,
                    f"{what}须填写{_PEOPLE.by_key[key].header}：人员表缺少「{_PEOPLE.by_key[key].header}」列",
                )
            else:
                sheet.problem(row, key, f"{what}须填写{_PEOPLE.by_key[key].header}")
        if missing:
            return None
        return (village, grid, unit) if unit else (village, grid)

    def _department(self, row: int, text: str) -> str | None:
        found = self._departments.get(_header_key(text))
        if found is None:
            assert self._people is not None
            listed = "、".join(self._department_names) or "（无）"
            self._people.problem(
                row,
                "department",
                f"「{text}」不是已配置的部门（可填：{listed}；部门在 config.yaml 的 departments 中配置）",
            )
        return found

    def _check_posts(self, posts: list[_PostDraft], drafts: list[_Draft]) -> None:
        """Places exist in the unit sheet; no post twice; contacts are party members and
        contact no more households than the unit has."""
        sheet = self._people
        if sheet is None:
            return
        villages = {d.village for d in drafts if d.village}
        grids = {(d.village, d.grid) for d in drafts if d.village and d.grid}
        households: dict[OrgPath, int | None] = {
            (d.village, d.grid, d.unit): d.households
            for d in drafts
            if d.village and d.grid and d.unit
        }
        party_members = {
            p.person.phone for p in posts if p.role is Role.PARTY_MEMBER and p.person is not None
        }
        seen: dict[tuple[object, ...], int] = {}
        contacted: Counter[OrgPath] = Counter()
        for post in posts:
            if post.place is None:
                continue
            place = post.place
            if place and place[0] not in villages:
                sheet.problem(
                    post.row, "village", f"「{place[0]}」不在单元表中（人员表的村须是单元表里的村）"
                )
                continue
            if len(place) >= 2 and place[:2] not in grids:
                sheet.problem(post.row, "grid", f"「{place[0]}{place[1]}」不在单元表中")
                continue
            if len(place) == 3 and place not in households:
                sheet.problem(post.row, "unit", f"「{''.join(place)}」不在单元表中")
                continue
            if post.person is None:
                continue
            what = _CONTACT if post.contact else post.role
            key = (what, place, post.person.phone)
            if key in seen:
                sheet.problem(
                    post.row,
                    "phone",
                    f"与第{seen[key]}行重复（同一人在同一处的同一职务只填一行）",
                )
                continue
            seen[key] = post.row
            if not post.contact:
                continue
            if post.person.phone not in party_members:
                sheet.problem(
                    post.row,
                    "phone",
                    f"{post.person.name}（{post.person.phone}）不是人员表中的党员：联系党员须另有一行职务为「党员」",
                )
            unit_households = households.get(place)
            if post.households is not None and unit_households is not None:
                before = contacted[place]
                contacted[place] += post.households
                if before <= unit_households < contacted[place]:
                    sheet.problem(
                        post.row,
                        "households",
                        f"「{''.join(place)}」共{unit_households}户，联系党员合计联系{contacted[place]}户，超过了单元户数",
                    )

    # -- both sheets

    def _sightings(self, drafts: list[_Draft], posts: list[_PostDraft]) -> Iterator[_Sighting]:
        for draft in drafts:
            for key, person in draft.people.items():
                if person is None or (
                    key == "second_unit_leader"
                    and person.phone == getattr(draft.people.get("unit_leader"), "phone", None)
                ):
                    continue  # missing, bad, or reported by _check_dual_leaders
                yield _Sighting(self._units, draft.row, f"{key}_phone", f"{key}_wechat", person)
        if self._people is not None:
            for post in posts:
                if post.person is not None:
                    yield _Sighting(self._people, post.row, "phone", "wechat", post.person)

    def _check_people(self, drafts: list[_Draft], posts: list[_PostDraft]) -> None:
        """One phone, one person: the same name and WeChat id wherever it appears."""
        by_phone: dict[str, _Sighting] = {}
        wechat_owner: dict[str, _Sighting] = {}
        for seen in self._sightings(drafts, posts):
            person, sheet = seen.person, seen.sheet
            first = by_phone.setdefault(person.phone, seen)
            if first.person.name != person.name:
                sheet.problem(
                    seen.row,
                    seen.phone_key,
                    f"手机号 {person.phone} 在{first.sheet.where(first.row, sheet)}是「{first.person.name}」，这里是「{person.name}」：同一手机号只能是同一个人",
                )
            if person.wechat_id is None:
                continue
            owner = wechat_owner.setdefault(person.wechat_id.lower(), seen)
            if owner.person.phone != person.phone:
                sheet.problem(
                    seen.row,
                    seen.wechat_key,
                    f"微信号「{person.wechat_id}」在{owner.sheet.where(owner.row, sheet)}属于手机号 {owner.person.phone}，这里是 {person.phone}",
                )
            elif first.person.wechat_id is None:
                by_phone[person.phone] = dataclasses.replace(first, person=person)
            elif first.person.wechat_id != person.wechat_id:
                sheet.problem(
                    seen.row,
                    seen.wechat_key,
                    f"手机号 {person.phone} 在{first.sheet.where(first.row, sheet)}的微信号是「{first.person.wechat_id}」，这里是「{person.wechat_id}」",
                )

    # -- result

    def _result(
        self, drafts: list[_Draft], posts: list[_PostDraft]
    ) -> tuple[tuple[UnitRow, ...], tuple[RoleRecord, ...], tuple[ContactRecord, ...]]:
        # One record per phone, carrying the WeChat id wherever any row gave it.
        canonical: dict[str, PersonRecord] = {}
        for seen in self._sightings(drafts, posts):
            person = seen.person
            if person.phone not in canonical or canonical[person.phone].wechat_id is None:
                canonical[person.phone] = person

        def canonical_of(draft: _Draft, key: str) -> PersonRecord | None:
            found = draft.people.get(key)
            return None if found is None else canonical[found.phone]

        rows: list[UnitRow] = []
        for draft in drafts:
            unit_leader = canonical_of(draft, "unit_leader")
            grid_leader = canonical_of(draft, "grid_leader")
            station_chief = canonical_of(draft, "station_chief")
            assert draft.village and draft.grid and draft.unit and draft.kind
            assert unit_leader and grid_leader and station_chief and draft.households
            rows.append(
                UnitRow(
                    village=draft.village,
                    grid=draft.grid,
                    unit=draft.unit,
                    unit_kind=draft.kind,
                    unit_leader=unit_leader,
                    second_unit_leader=canonical_of(draft, "second_unit_leader"),
                    grid_leader=grid_leader,
                    station_chief=station_chief,
                    households=draft.households,
                )
            )
        roles: list[RoleRecord] = []
        contacts: list[ContactRecord] = []
        for post in posts:
            assert post.person is not None and post.place is not None
            person = canonical[post.person.phone]
            if post.contact:
                assert post.households is not None
                contacts.append(ContactRecord(person, post.place, post.households))
            else:
                assert post.role is not None
                roles.append(
                    RoleRecord(
                        person, post.role, post.place, department=post.department, title=post.title
                    )
                )
        return tuple(rows), tuple(roles), tuple(contacts)


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


def _bad_households(text: str) -> str:
    if normalize_phone(text) is not None:
        return f"「{text}」是手机号，不是户数：请检查是否填错了列"
    return f"「{text}」不是有效的户数（应为1–{_MAX_HOUSEHOLDS}的整数，如 24）"


def _bad_post(text: str) -> str:
    if _header_key(text) in {_header_key(zh) for _, zh, _, _ in _PERSON_ROLES} | {
        "站长",
        "网格站长",
    }:
        return f"「{text}」填在单元花名册的「{text}」列，人员表不填"
    choices = "、".join([*(role.label for role in _SHEET_POSTS), _CONTACT])
    return f"「{text}」不是人员表的职务（可填：{choices}）"


# --- writing --------------------------------------------------------------------------


def _row_cells(town: str, row: UnitRow) -> list[str]:
    households = "" if row.households is None else str(row.households)
    cells = [town, row.village, row.grid, row.unit, row.unit_kind.label, households]
    for person in (row.unit_leader, row.second_unit_leader, row.grid_leader, row.station_chief):
        if person is None:
            cells += ["", "", ""]
        else:
            cells += [person.name, person.phone, person.wechat_id or ""]
    return cells


def _place_cells(path: OrgPath) -> list[str]:
    return [*path, *([""] * (3 - len(path)))]


def _people_cells(roster: TownRoster) -> Iterator[list[str]]:
    """The people sheet: the posts, then the contact assignments."""
    for role in roster.extra_roles:
        if role.role not in _SHEET_POSTS:
            raise ValueError(f"{role.role.label} is a unit-sheet column, not a people-sheet post")
        person = role.person
        yield [
            role.role.label,
            person.name,
            person.phone,
            person.wechat_id or "",
            *_place_cells(role.path),
            role.title or "",
            role.department or "",
            "",
        ]
    for contact in roster.contacts:
        person = contact.person
        yield [
            _CONTACT,
            person.name,
            person.phone,
            person.wechat_id or "",
            *_place_cells(contact.path),
            "",
            "",
            str(contact.households),
        ]


def write_roster(roster: TownRoster, path: str | os.PathLike[str]) -> Path:
    """Write ``roster`` with the Chinese headers; returns the path.

    .xlsx: the unit sheet (单元花名册) and the people sheet (人员) in one workbook. .csv
    (UTF-8 with BOM, so Excel opens it): the unit sheet at ``path`` and the people sheet
    at :func:`people_file_for` ``(path)``. The same roster always gives the same bytes.
    A roster without ``lists_posts`` is written without a people sheet (and a people
    file left beside ``path`` by an earlier write is removed: it belongs to that file).
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".csv":
        _write_csv(file, HEADERS, (_row_cells(roster.town, row) for row in roster.rows))
        people = people_file_for(file)
        if roster.lists_posts:
            _write_csv(people, PEOPLE_HEADERS, _people_cells(roster))
        else:
            people.unlink(missing_ok=True)
    elif suffix == ".xlsx":
        _write_xlsx(roster, file)
    else:
        raise ValueError(f"roster files are .csv or .xlsx, not {file.suffix!r}")
    return file


def _write_csv(file: Path, headers: Sequence[str], rows: Iterable[list[str]]) -> None:
    with file.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows(rows)


def _text_cell(sheet: Any, text: str) -> Any:
    """A cell that stays text: openpyxl would turn "=…" into a formula, and Excel shows
    phone numbers stored as numbers in scientific notation."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=text or None)
    if text:
        cell.data_type = "s"
    return cell


def _number_cell(sheet: Any, text: str) -> Any:
    """A count (户数) as a number, so Excel can sum the column."""
    from openpyxl.cell import WriteOnlyCell

    return WriteOnlyCell(sheet, value=int(text) if text else None)


_XLSX_EPOCH: Final = datetime(2000, 1, 1)  # naive: openpyxl writes document dates as UTC
"""The document dates an exported workbook carries: a fixed value, so that the same
roster gives the same bytes (openpyxl stamps the time of saving)."""


def _write_xlsx(roster: TownRoster, file: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    workbook.properties.created = _XLSX_EPOCH
    unit_rows = (_row_cells(roster.town, row) for row in roster.rows)
    sheets: list[tuple[str, Sequence[str], Iterable[list[str]]]] = [
        ("单元花名册", HEADERS, unit_rows)
    ]
    if roster.lists_posts:
        sheets.append(("人员", PEOPLE_HEADERS, _people_cells(roster)))
    widths = {"单元": 28, "网格": 12, "单元类型": 10, "职务名称": 14, "部门": 14}
    for title, headers, rows in sheets:
        sheet = workbook.create_sheet(title)
        for index, header in enumerate(headers, start=1):
            width = widths.get(header, 14 if header.endswith(("电话", "微信")) else 10)
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
        sheet.append(list(headers))
        count_columns = {i for i, h in enumerate(headers) if h.endswith("户数")}
        for cells in rows:
            sheet.append(
                [
                    _number_cell(sheet, text) if i in count_columns else _text_cell(sheet, text)
                    for i, text in enumerate(cells)
                ]
            )
    buffer = io.BytesIO()
    workbook.save(buffer)
    file.write_bytes(_reproducible_zip(buffer.getvalue()))


def _reproducible_zip(data: bytes) -> bytes:
    """The same workbook with fixed member dates and document dates."""
    stamp = _XLSX_EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    content,
                )
            info = zipfile.ZipInfo(member.filename, date_time=_XLSX_EPOCH.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = member.external_attr
            target.writestr(info, content)
    return out.getvalue()
