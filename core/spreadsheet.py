"""Cells of the spreadsheets gridcast writes (CSV and XLSX exports): text stays text.

Residents, grid leaders and group names put free text into exports that officials open
in Excel or WPS. Two things must never follow it there:

- **formulas** (CSV/formula injection, OWASP): a cell starting with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return is a formula to a spreadsheet program. In a CSV such
  a cell gets a leading ``'`` (:func:`csv_cell`); in an XLSX every string is written as a
  string (data type ``s``, :func:`xlsx_row`), which is never evaluated, and keeps its text;
- **characters an XLSX cannot hold** (the C0 controls except tab, newline and carriage
  return): openpyxl refuses them and the whole export would fail, so they are dropped
  in both formats (:func:`clean_text`).

Every CSV and XLSX writer routes its string cells through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["FORMULA_PREFIXES", "clean_text", "csv_cell", "csv_row", "uncsv_cell", "xlsx_row"]

_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")
"""What ``openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE`` refuses (without importing openpyxl)."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""How a cell that a spreadsheet program would read as a formula starts."""


def clean_text(text: str) -> str:
    """``text`` without the control characters an XLSX cannot hold."""
    return _ILLEGAL.sub("", text)


def _quoted(text: str) -> bool:
    """Whether :func:`csv_cell` prefixes ``text``: it starts like a formula, or is such
    a text already prefixed (``'=``), so that :func:`uncsv_cell` gives back exactly what
    was written."""
    while text.startswith("'"):
        text = text[1:]
    return text.startswith(FORMULA_PREFIXES)


def csv_cell(value: object) -> object:
    """A CSV cell: strings cleaned (:func:`clean_text`) and, when they start like a
    formula, prefixed with ``'``; anything else (numbers, ``None``) as it is."""
    if not isinstance(value, str):
        return value
    text = clean_text(value)
    return "'" + text if _quoted(text) else text


def csv_row(values: Iterable[object]) -> list[object]:
    """:func:`csv_cell` on every cell of a row."""
    return [csv_cell(value) for value in values]


def uncsv_cell(text: str) -> str:
    """The text :func:`csv_cell` was given (for an importer reading back an export):
    the ``'`` before a formula-like start is removed."""
    if text.startswith("'") and _quoted(text[1:]):
        return text[1:]
    return text


def xlsx_row(sheet: Any, values: Iterable[object]) -> list[object]:
    """A row for ``sheet.append``: every string a cleaned text cell (data type ``s``,
    never a formula); anything else as it is. Works for normal and write-only sheets."""
    from openpyxl.cell import WriteOnlyCell

    row: list[object] = []
    for value in values:
        if isinstance(value, str) and value:
            cell = WriteOnlyCell(sheet, value=clean_text(value))
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row
