"""A roster's files read into tables of text: CSV in the encodings Excel writes in China,
each worksheet of an .xlsx; where a CSV roster keeps its people sheet; which row of a
table is its header."""

from __future__ import annotations

import codecs
import csv
import io
import os
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from core.spreadsheet import uncsv_cell
from orgtree.roster.cells import cell_text, header_key
from orgtree.roster.layout import PEOPLE, Layout
from orgtree.roster.problems import RosterInvalid, file_problem

__all__ = ["Table", "find_header", "is_people_sheet", "people_file_for", "read_tables"]

Table = list[list[str]]
"""One sheet's cells, row by row, as text."""
_HEADER_SEARCH_ROWS: Final = 10


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


def _xlsx_tables(data: bytes) -> list[tuple[str, Table]]:
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
            raise file_problem(
                "无法打开 Excel 文件：文件已损坏、已加密或并非 .xlsx 格式。"
                "请在 Excel 中取消密码并「另存为」.xlsx 后重新导入"
            ) from error
        try:
            tables: list[tuple[str, Table]] = []
            for sheet in workbook.worksheets:
                sheet.reset_dimensions()  # some writers record wrong dimensions
                table = [
                    [cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)
                ]
                tables.append((sheet.title, table))
            return tables
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
