"""Spreadsheet cells: free text is never a formula, and never breaks an XLSX."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from core.spreadsheet import clean_text, csv_cell, csv_row, uncsv_cell, xlsx_row


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        (
            '=HYPERLINK("http://evil.example","x") 楼下',
            '\'=HYPERLINK("http://evil.example","x") 楼下',
        ),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3 下水道堵塞了", "'-2+3 下水道堵塞了"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("电梯坏了\x01三天没人修\x0b", "电梯坏了三天没人修"),
        ("3栋楼道的灯坏了", "3栋楼道的灯坏了"),
        ("", ""),
    ],
)
def test_csv_cells_are_neutralised_and_read_back(text: str, cell: str) -> None:
    assert csv_cell(text) == cell
    assert uncsv_cell(cell) == clean_text(text)


def test_numbers_and_empty_cells_stay() -> None:
    assert csv_row([-5, 0, None, 2.5]) == [-5, 0, None, 2.5]
    assert uncsv_cell("'普通的引号") == "'普通的引号"


@pytest.mark.parametrize("write_only", [True, False])
def test_xlsx_strings_are_text_cells_without_illegal_characters(write_only: bool) -> None:
    book = Workbook(write_only=write_only)
    sheet = book.create_sheet("t")
    sheet.append(xlsx_row(sheet, ['=HYPERLINK("http://evil.example","x")', "电梯\x01坏了", -2, ""]))
    out = io.BytesIO()
    book.save(out)  # IllegalCharacterError before the fix
    loaded = load_workbook(io.BytesIO(out.getvalue()))["t"]
    first, second, number, _ = next(loaded.iter_rows())
    assert first.data_type == "s" and first.value == '=HYPERLINK("http://evil.example","x")'
    assert second.value == "电梯坏了" and number.value == -2


def test_a_csv_written_with_csv_row_opens_as_text() -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(csv_row(["=1+1", "ok"]))
    assert buffer.getvalue().startswith("'=1+1,ok")


def test_invitation_lists_keep_group_names_as_text(tmp_path: object) -> None:
    """A group's name is set by whoever is in the group: it goes to the admin's list as text."""
    from pathlib import Path

    from broadcast.membership import Invitation, Inviter
    from gridcast.cli.plan import write_invitations

    who = Inviter(name="林耀雄", phone="13800001301", role="单元长")
    todo = [(who, [Invitation(group="room-1", account_id="gridbot01", inviter=who)])]
    topics = {"room-1": '=HYPERLINK("http://evil.example","群")\x01'}
    folder = Path(str(tmp_path))
    write_invitations(folder / "i.csv", todo, topics=topics, account_names={})
    text = (folder / "i.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "\x01" not in text and "13800001301" in text
    write_invitations(folder / "i.xlsx", todo, topics=topics, account_names={})
    sheet = load_workbook(folder / "i.xlsx").active
    assert sheet is not None
    cell = sheet["D2"]
    assert cell.data_type == "s" and str(cell.value).startswith("=HYPERLINK")


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rab收"), max_size=8))
def test_uncsv_gives_back_what_csv_cell_was_given(text: str) -> None:
    # (found by the roster's round-trip property: a unit named '= came back as =)
    assert uncsv_cell(str(csv_cell(text))) == text
