"""A task's report export: a grid leader's progress note is data, never a formula
(probe D2), and a control character in it does not break the XLSX."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from models.rhythm import Task, TaskState
from rhythm.tasks import AssignmentRow, report_file

NOTE = '=HYPERLINK("http://evil.example","点我")\x07'
TASK = Task(
    code="R0001",
    title="-果树丈量",
    deadline=datetime(2026, 12, 6, tzinfo=UTC),
    issuer_name="林文荣",
)
ROWS = [
    AssignmentRow(
        village="黄霞村",
        grid="第16网格",
        leader="郭燕冰",
        state=TaskState.IN_PROGRESS,
        progress=50,
        units_done=0,
        units_total=73,
        done_at=None,
        note=NOTE,
    )
]


def test_task_report_csv_neutralises_the_progress_note() -> None:
    text = report_file(TASK, ROWS, "csv").decode("utf-8-sig")
    assert "\"'=HYPERLINK(" in text and "\x07" not in text
    assert ",50,0,73," in text  # numbers stay numbers


@pytest.mark.parametrize("kind", ["xlsx"])
def test_task_report_xlsx_writes_the_note_as_text(kind: str) -> None:
    sheet = load_workbook(io.BytesIO(report_file(TASK, ROWS, kind))).active
    assert sheet is not None
    title = sheet["A1"]
    note = sheet["I3"]
    assert title.data_type == "s" and title.value == "-果树丈量"
    assert note.data_type == "s" and note.value == '=HYPERLINK("http://evil.example","点我")'
    assert sheet["E3"].value == 50
