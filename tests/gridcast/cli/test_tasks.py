"""``gridcast task`` (assign, status, export) against a real database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import TOWN_TZ
from core.config import Settings
from gridcast.cli import main
from models.base import utcnow
from models.db import session_scope
from models.rhythm import Task, TaskAssignment
from models.tickets import TicketOutbox
from rhythm.commands import TaskCommand, parse_rhythm_command
from rhythm.tasks import handle_task_command
from tests.tickets.helpers import Town, contact

Invoke = Callable[..., Result]


@pytest.fixture
def cli(db_url: str, tmp_path: Path, town: Town) -> Invoke:
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {json.dumps(db_url)}\n", encoding="utf-8")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["task", *args, "--config", str(config)])

    return invoke


def _deadline(days: int = 3) -> str:
    return f"{(utcnow() + timedelta(days=days)).astimezone(TOWN_TZ):%Y-%m-%d} 18:00"


def test_assign_status_and_export(
    cli: Invoke, engine: Engine, settings: Settings, town: Town, tmp_path: Path
) -> None:
    result = cli(
        "assign",
        "--title",
        "果树丈量",
        "--scope",
        "国欢村/第1网格",
        "--scope",
        "国欢村/第2网格",
        "--deadline",
        _deadline(),
        "--issuer",
        "镇征迁办",
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "任务 R0001 已下达到 2 位网格长。"
    with Session(engine) as session:
        task = session.exec(select(Task)).one()
        queued = {r.contact_id for r in session.exec(select(TicketOutbox))}
    assert (task.code, task.title, task.issuer_name) == ("R0001", "果树丈量", "镇征迁办")
    assert queued == {contact(town.grid_leader), contact(town.other_grid_leader)}
    # the first grid completes it
    command = parse_rhythm_command("完成 R0001 已丈量32棵", today=utcnow().date())
    assert isinstance(command, TaskCommand)
    with session_scope(engine) as session:
        handle_task_command(
            session,
            settings,
            command,
            contact_id=contact(town.grid_leader),
            name=town.grid_leader.name,
            now=utcnow(),
        )
    status = cli("status", "r0001")  # the code in any case
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0].startswith("R0001 果树丈量（期限 ")
    assert lines[1:3] == ["完成 1/2 个网格", "国欢村：1/2"]
    assert lines[3] == f"  国欢村/第1网格 {town.grid_leader.name} 已完成 100% 已丈量32棵"
    assert lines[4].startswith(f"  国欢村/第2网格 {town.other_grid_leader.name} ")
    for name in ("r.csv", "r.xlsx"):
        out = tmp_path / name
        exported = cli("export", "R0001", "--out", str(out))
        assert exported.exit_code == 0, exported.output
        assert exported.output.strip() == str(out)
    rows = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8-sig"))))
    assert len(rows) == 3 and rows[1][:5] == [
        "国欢村",
        "第1网格",
        town.grid_leader.name,
        "已完成",
        "100",
    ]
    sheet = load_workbook(tmp_path / "r.xlsx")["R0001"]
    assert sheet["A1"].value == "果树丈量" and sheet["A3"].value == "国欢村"
    assert [c.value for c in sheet[3]][:5] == [*rows[1][:4], 100]


def test_bad_input_is_refused_with_a_message_and_changes_nothing(
    cli: Invoke, engine: Engine, town: Town, tmp_path: Path
) -> None:
    def assign(*changes: str) -> Result:
        options = {"--title": "消防检查", "--scope": "国欢村", "--deadline": _deadline()}
        options.update(dict(zip(changes[::2], changes[1::2], strict=True)))
        return cli("assign", *(x for pair in options.items() for x in pair))

    bad_date = assign("--deadline", "下周三")
    assert bad_date.exit_code == 2 and "2026-12-03 18:00" in bad_date.output
    past = assign("--deadline", "2020-01-01")
    assert past.exit_code == 1 and "完成期限必须在现在之后" in past.output
    unknown = assign("--scope", "没有这个村")
    assert unknown.exit_code == 1 and "找不到范围「没有这个村」" in unknown.output
    whole_town = assign("--scope", "国欢镇")
    assert whole_town.exit_code == 1 and "全镇请列出各村" in whole_town.output
    blank = assign("--title", "  ")
    assert blank.exit_code == 1 and "请写明任务名称" in blank.output
    missing = cli("status", "R0042")
    assert missing.exit_code == 1 and "R0042" in missing.output
    nowhere = cli("export", "R0042", "--out", str(tmp_path / "x.csv"))
    assert nowhere.exit_code == 1 and not (tmp_path / "x.csv").exists()
    with Session(engine) as session:
        assert session.exec(select(Task)).all() == []
        assert session.exec(select(TaskAssignment)).all() == []
        assert session.exec(select(TicketOutbox)).all() == []
    assert assign().exit_code == 0
    no_dir = cli("export", "R0001", "--out", str(tmp_path / "no" / "such" / "r.xlsx"))
    assert no_dir.exit_code == 1 and "Traceback" not in no_dir.output
    assert "无法写入" in no_dir.output


def test_regression_assign_counts_grid_leaders_not_messages(db_url: str, tmp_path: Path) -> None:
    """A checklist also writes to shop owners (双单元长): the count was of the messages."""
    from orgtree.roster import write_roster
    from tests.factories import shop_town

    roster = shop_town()
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {json.dumps(db_url)}\n", encoding="utf-8")

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    assert run("db", "upgrade").exit_code == 0
    imported = run("org", "import", str(write_roster(roster, tmp_path / "shops.xlsx")))
    assert imported.exit_code == 0, imported.output
    grid = "/".join(roster.rows[-1].path[:2])
    result = run(
        "task", "assign", "--title", "消防器材检查", "--scope", grid,
        "--deadline", _deadline(), "--checklist",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "任务 R0001 已下达到 1 位网格长。"
