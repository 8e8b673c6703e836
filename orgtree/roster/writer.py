"""Writing a roster back in the format :func:`~orgtree.roster.read_roster` reads: the unit
sheet and the people sheet, as one .xlsx workbook or two CSV files, byte for byte the
same for the same roster."""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from core.spreadsheet import clean_text, csv_row
from models.org import OrgPath
from orgtree.records import TownRoster, UnitRow
from orgtree.roster.layout import CONTACT, HEADERS, PEOPLE_HEADERS, SHEET_POSTS
from orgtree.roster.tables import people_file_for

__all__ = ["write_roster"]


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
        if role.role not in SHEET_POSTS:
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
            CONTACT,
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
        # Names, titles and departments are free text: a formula-like cell gets a "'",
        # which the reader takes off again (orgtree.roster.tables), so that a roster
        # still reads back as it was written.
        writer.writerows(csv_row(row) for row in rows)


def _text_cell(sheet: Any, text: str) -> Any:
    """A cell that stays text: openpyxl would turn "=…" into a formula, and Excel shows
    phone numbers stored as numbers in scientific notation."""
    from openpyxl.cell import WriteOnlyCell

    text = clean_text(text)  # control characters an XLSX cannot hold
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
