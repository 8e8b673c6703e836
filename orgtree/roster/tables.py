"""A roster's files read into tables of text: CSV in the encodings Excel writes in China,
each worksheet of an .xlsx; where a CSV roster keeps its people sheet; which row of a
table is its header."""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final
from xml.etree.ElementTree import ParseError

from core.spreadsheet import uncsv_cell
from orgtree.roster.cells import cell_text, header_key
from orgtree.roster.layout import PEOPLE, Layout
from orgtree.roster.problems import RosterInvalid, file_problem

__all__ = [
    "MAX_XLSX_MEMBERS",
    "MAX_XLSX_RATIO",
    "MAX_XLSX_UNCOMPRESSED",
    "Table",
    "find_header",
    "is_people_sheet",
    "people_file_for",
    "read_tables",
]

Table = list[list[str]]
"""One sheet's cells, row by row, as text."""
_HEADER_SEARCH_ROWS: Final = 10

MAX_XLSX_UNCOMPRESSED: Final = 64 * 1024 * 1024
"""An .xlsx whose parts unpack to more than this is refused before it is opened: the
whole town's roster is a few megabytes; a zip bomb (a 310 KB file holding 300 MB of
spaces) would otherwise be unpacked into the server's memory."""
MAX_XLSX_RATIO: Final = 100
"""A part over :data:`_RATIO_FLOOR` that unpacks to more than this many times its packed
size is refused: real sheets pack 5-20 times, padding made to blow up packs 1000 times."""
_RATIO_FLOOR: Final = 1024 * 1024
MAX_XLSX_MEMBERS: Final = 10_000
"""Parts in an .xlsx (a workbook has a few dozen)."""
_PROLOG_SCAN: Final = 64 * 1024
"""How much of each XML part is read to find its prolog (declaration, comments)."""
_PROLOG: Final = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_MB: Final = 1024 * 1024
_BROKEN_XLSX: Final = (
    "无法打开 Excel 文件：文件已损坏、已加密或并非 .xlsx 格式。"
    "请在 Excel 中取消密码并「另存为」.xlsx 后重新导入"
)


def people_file_for(path: str | os.PathLike[str]) -> Path:
    """Where a CSV roster keeps its people sheet: ``花名册.people.csv`` for ``花名册.csv``."""
    file = Path(path)
    return file.with_name(f"{file.stem}.people{file.suffix}")


def read_tables(file: Path) -> list[tuple[str, Table]]:
    """Every sheet of ``file`` as (sheet or file name, cells)."""
    suffix = file.suffix.lower()
    if suffix == ".xls":
        raise file_problem(
            "不支持旧版 Excel 文件（.xls）：请在 Excel 中「另存为」.xlsx 或「CSV UTF-8（逗号分隔）」后再导入"
        )
    if suffix not in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm"):
        raise file_problem(
            f"不支持的文件类型「{file.suffix or file.name}」：请使用 .xlsx 或 .csv 文件"
        )
    try:
        data = file.read_bytes()
    except OSError as error:
        raise file_problem(f"无法读取文件「{file}」：{error.strerror or error}") from error
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_tables(data)
    return [(file.name, _csv_table(data))]


def _csv_table(data: bytes) -> Table:
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        return [
            [uncsv_cell(cell).strip() for cell in record]
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error as error:
        raise file_problem(f"CSV 格式错误：{error}") from error


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
    return file_problem(
        f"无法识别文件编码{hint}：{tried}。请在 Excel 中「另存为」→「CSV UTF-8（逗号分隔）」"
        "或 .xlsx 格式后重新导入"
    )


def _check_xlsx_archive(data: bytes) -> None:
    """Refuse an .xlsx that would unpack too far (a zip bomb) or whose XML declares a
    DOCTYPE or entities, before openpyxl reads any of it. The declared sizes bound what
    :mod:`zipfile` unpacks (it stops at a part's declared size and checks its CRC)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # openpyxl says it is broken, in the words the other broken files get
    with archive:
        members = archive.infolist()
        if len(members) > MAX_XLSX_MEMBERS:
            raise file_problem(f"Excel 文件里有 {len(members)} 个部件，不像正常的工作簿，拒绝导入")
        total = sum(member.file_size for member in members)
        if total > MAX_XLSX_UNCOMPRESSED:
            raise file_problem(
                f"Excel 文件解压后有 {total / _MB:.0f} MB，超过上限 "
                f"{MAX_XLSX_UNCOMPRESSED // _MB} MB，拒绝导入：请删去无关的工作表和空白内容，"
                "或分成几个文件导入"
            )
        for member in members:
            packed = max(member.compress_size, 1)
            if member.file_size > _RATIO_FLOOR and member.file_size > MAX_XLSX_RATIO * packed:
                raise file_problem(
                    f"Excel 文件的「{member.filename[:60]}」压缩了 {member.file_size // packed} 倍"
                    f"（正常的表格不超过 {MAX_XLSX_RATIO} 倍），疑似压缩炸弹，拒绝导入"
                )
            if member.filename.lower().endswith((".xml", ".rels", ".vml")):
                _check_prolog(archive, member)


def _check_prolog(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """An XML part must start with its root element after the declaration and comments:
    a DOCTYPE (entities, external references) is refused, not handed to a parser."""
    try:
        with archive.open(member) as part:
            head = part.read(_PROLOG_SCAN)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError):
        raise file_problem(_BROKEN_XLSX) from None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    head = head.removeprefix(codecs.BOM_UTF8)
    prolog = _PROLOG.match(head)
    rest = head[prolog.end() if prolog is not None else 0 :]
    if rest[:9].upper() == b"<!DOCTYPE" or b"<!ENTITY" in rest[:_PROLOG_SCAN].upper():
        raise file_problem(
            f"Excel 文件的「{member.filename[:60]}」含有 DOCTYPE 或实体声明，出于安全原因拒绝导入："
            "请在 Excel 中打开并「另存为」.xlsx 后重新导入"
        )
    if not rest and len(head) >= _PROLOG_SCAN:
        raise file_problem(_BROKEN_XLSX)  # 64 KB of prolog: not what Excel writes


def _xlsx_tables(data: bytes) -> list[tuple[str, Table]]:
    _check_xlsx_archive(data)
    import openpyxl  # the import takes a while; CSV-only callers skip it
    from openpyxl.utils.exceptions import InvalidFileException

    # openpyxl warns about features it drops when reading (data validation extensions,
    # missing default styles, unsupported drawings): none of them matter for the values,
    # and under `filterwarnings = error` they would turn a good file into a crash.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (
            zipfile.BadZipFile,
            InvalidFileException,
            KeyError,
            ValueError,
            OSError,
            ParseError,
        ) as error:
            raise file_problem(_BROKEN_XLSX) from error
        try:
            tables: list[tuple[str, Table]] = []
            for sheet in workbook.worksheets:
                sheet.reset_dimensions()  # some writers record wrong dimensions
                table = [
                    [cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)
                ]
                tables.append((sheet.title, table))
            return tables
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, ParseError) as error:
            # A sheet is read only now (read_only=True): its broken XML shows up here.
            raise file_problem(_BROKEN_XLSX) from error
        finally:
            workbook.close()


def find_header(table: Table, layout: Layout, needs: Sequence[str] = ()) -> int | None:
    """Index of the header row: the first of the top rows naming 3+ columns of ``layout``
    (among them every key of ``needs``)."""
    for index, cells in enumerate(table[:_HEADER_SEARCH_ROWS]):
        keys = {layout.by_alias.get(header_key(cell)) for cell in cells} - {None}
        if len(keys) >= 3 and all(key in keys for key in needs):
            return index
    return None


def is_people_sheet(table: Table) -> bool:
    """Whether ``table`` has a people-sheet header (职务 and 电话 among its columns)."""
    return find_header(table, PEOPLE, needs=("role", "phone")) is not None
