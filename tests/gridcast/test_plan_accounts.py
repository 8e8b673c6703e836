"""``gridcast plan accounts``: the advice and the invitation list on a small town whose
unit groups already hold a fixed pair of bots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from sqlmodel import select

from gridcast.cli import main
from models.chat import BotAccount, ChatGroup, GroupMembership
from models.db import make_engine, session_scope, upgrade
from models.enums import Level
from models.org import OrgUnit
from orgtree.service import apply_roster
from tests.factories import small_town

ROSTER = small_town()  # 1 town, 2 villages, 4 grids, 16 units


def deployment(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'gridcast.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        apply_roster(session=session, roster=ROSTER)
        bots = [BotAccount(account_id=f"gridbot0{i}") for i in (1, 2, 3, 4)]
        session.add_all(bots)
        session.flush()
        for unit in session.exec(select(OrgUnit).where(OrgUnit.level == Level.UNIT)):
            assert unit.id is not None
            group = ChatGroup(room_id=f"{unit.id}@chatroom", topic=unit.name, org_unit_id=unit.id)
            session.add(group)
            session.flush()
            for bot in bots[:2]:  # the old layout: always the same pair
                assert bot.id is not None and group.id is not None
                session.add(GroupMembership(bot_account_id=bot.id, chat_group_id=group.id))
    engine.dispose()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database:\n  url: '{url}'\nbots:\n  sandbox_accounts: 4\n"
        "broadcast:\n  loss_budget: 0.25\n",
        encoding="utf-8",
    )
    return config


def test_advice_keeps_the_memberships_and_lists_the_invitations_by_inviter(
    tmp_path: Path,
) -> None:
    config = deployment(tmp_path)
    runner = CliRunner()
    out_csv, out_xlsx = tmp_path / "invites.csv", tmp_path / "invites.xlsx"
    result = runner.invoke(
        main, ["plan", "accounts", "--config", str(config), "--json", "--invites", str(out_csv)]
    )
    assert result.exit_code == 0, result.output
    advice = json.loads(result.output)
    assert (advice["groups"], advice["accounts"], advice["accounts_lost"]) == (23, 4, 1)
    assert advice["accounts_per_group"] == 2 and advice["meets_deadline_under_loss"]
    assert advice["unreachable_under_loss"] == 0
    assert advice["expected_reach_under_loss_s"] >= advice["expected_reach_s"]
    assert advice["memberships_known"]
    # The 16 unit groups keep their pair; the 7 groups above get two bots each.
    assert advice["invitations"] == 14
    assert sum(p["invitations"] for p in advice["inviters"]) == 14
    assert all("****" in (p["phone"] or "****") for p in advice["inviters"])  # masked

    with out_csv.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 14
    row = ROSTER.rows[0]
    grid_rows = [r for r in rows if r["组织路径"] == f"{row.village}/{row.grid}"]
    assert len(grid_rows) == 2
    assert {r["邀请人"] for r in grid_rows} == {row.grid_leader.name}
    assert {r["职务"] for r in grid_rows} == {"网格长"}
    village_rows = [r for r in rows if r["组织路径"] == row.village]
    assert {r["邀请人"] for r in village_rows} == {row.station_chief.name}
    assert all(r["机器人账号"].startswith("gridbot0") for r in rows)

    text = runner.invoke(
        main,
        ["plan", "accounts", "--config", str(config), "--loss", "0.5", "--invites", str(out_xlsx)],
    )
    assert text.exit_code == 0, text.output
    assert "推荐每个群 3 个机器人账号" in text.output and "邀请清单已写入" in text.output
    sheet = openpyxl.load_workbook(out_xlsx).active
    header, *body = list(sheet.iter_rows(values_only=True))
    assert header[0] == "邀请人" and len(body) == 16 * 1 + 7 * 3


def test_bad_options_are_refused(tmp_path: Path) -> None:
    config = deployment(tmp_path)
    runner = CliRunner()
    for args, text in (
        (["--loss", "1.5"], "--loss"),
        (["--per-group", "9"], "--per-group"),
        (["--invites", str(tmp_path / "x.txt")], "--invites"),
    ):
        result = runner.invoke(main, ["plan", "accounts", "--config", str(config), *args])
        assert result.exit_code == 2 and text in result.output, result.output
