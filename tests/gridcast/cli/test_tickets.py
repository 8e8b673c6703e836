"""``gridcast tickets`` (list, show, stats, create) against a real database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from core.config import Settings
from gridcast.cli.tickets import tickets
from models.base import utcnow
from models.db import session_scope
from tests.tickets.helpers import Town, contact
from tickets.actions import act
from tickets.commands import TicketCommand, parse_command

Invoke = Callable[..., Result]


@pytest.fixture
def cli(db_url: str, tmp_path: Path, town: Town) -> Invoke:
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {json.dumps(db_url)}\n", encoding="utf-8")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(tickets, [*args, "--config", str(config)])

    return invoke


def create(cli: Invoke, text: str, *extra: str) -> dict[str, object]:
    result = cli(
        "create",
        "--unit",
        "国欢村/第1网格/洋中1号片区",
        "--text",
        text,
        "--reporter",
        "王阿姨",
        *extra,
        "--json",
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_create_list_show_stats(
    cli: Invoke, engine: Engine, settings: Settings, town: Town
) -> None:
    first = create(cli, "3栋楼下的下水道堵了好几天了，臭死了", "--phone", "13912345678")
    # The grid leader's brief, and the unit leader's copy (a ticket from their unit).
    assert first["code"] and first["kind"] == "ticket" and first["queued_messages"] == 2
    code = str(first["code"])
    second = create(
        cli, "想问一下新农合医保怎么交", "--channel", "walk_in", "--category", "consult"
    )
    assert second["kind"] == "ticket"

    plain = cli(
        "create", "--unit", "国欢村/第1网格", "--text", "路灯坏了一个星期了", "--reporter", "李四"
    )
    assert plain.exit_code == 0 and "已受理" in plain.output and "已通知负责人" in plain.output

    listed = cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert {r["code"] for r in rows} >= {code, second["code"]} and len(rows) == 3
    assert "13912345678" not in listed.output
    text = cli("list", "--status", "已派单")
    assert text.exit_code == 0 and code in text.output
    assert "没有符合条件的工单" in cli("list", "--status", "closed").output
    bad = cli("list", "--status", "lost")
    assert bad.exit_code != 0 and "未知的状态" in bad.output

    shown = cli("show", code, "--json")
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.output)
    assert detail["reporters"][0]["phone"] == "139****5678"
    assert "13912345678" not in shown.output
    assert [e["kind"] for e in detail["events"]] == ["create", "dispatch"]
    human = cli("show", code.lower())
    assert human.exit_code == 0 and "反映人：王阿姨 139****5678" in human.output

    # The grid leader accepts and resolves one; the figures follow.
    parsed = parse_command(f"接单 {code}")
    assert isinstance(parsed, TicketCommand)
    with session_scope(engine) as session:
        act(
            session=session,
            settings=settings,
            command=parsed,
            actor_contact_id=contact(town.grid_leader),
            actor_name="",
            now=utcnow(),
        )
    stats = cli("stats", "--json")
    assert stats.exit_code == 0, stats.output
    figures = json.loads(stats.output)
    assert figures["total"] == 3 and figures["by_category"]["consult"] == 1
    assert figures["by_state"] == {"dispatched": 2, "accepted": 1}
    assert figures["response_due"] == 1 and figures["response_rate"] == 1.0
    human_stats = cli("stats", "--from", "2020-01-01", "--to", "2099-12-31")
    assert human_stats.exit_code == 0 and "响应率：100.0%" in human_stats.output
    empty = cli("stats", "--from", "2020-01-01", "--to", "2020-01-31", "--json")
    assert json.loads(empty.output)["total"] == 0


def test_bad_input_gets_a_clear_answer(cli: Invoke) -> None:
    missing = cli("show", "T20261130-0099")
    assert missing.exit_code != 0 and "没有找到工单T20261130-0099" in missing.output
    malformed = cli("show", "T2026-1")
    assert malformed.exit_code != 0 and "格式不对" in malformed.output
    unit = cli("create", "--unit", "国欢村/第9网格", "--text", "路灯坏了", "--reporter", "张三")
    assert unit.exit_code != 0 and "找不到" in unit.output
    category = cli(
        "create", "--unit", "国欢村", "--text", "路灯坏了", "--reporter", "张三", "--category", "x"
    )
    assert category.exit_code != 0 and "未知的类别" in category.output
    blank = cli("create", "--unit", "国欢村", "--text", "  ", "--reporter", "张三")
    assert blank.exit_code != 0 and "不能为空" in blank.output
    order = cli("stats", "--from", "2026-12-01", "--to", "2026-11-01")
    assert order.exit_code != 0 and "不能晚于" in order.output


def test_an_old_schema_is_refused(cli: Invoke, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0002'")
    result = cli("list")
    assert result.exit_code != 0 and "gridcast db upgrade" in result.output
