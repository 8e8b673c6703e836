"""``gridcast org import/export`` against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gridcast.cli import main
from orgtree.records import PersonRecord
from orgtree.roster import people_file_for, write_roster
from tests.factories import guohuan, small_town


@pytest.fixture
def cli(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.yaml"
    config.write_text(f"database:\n  url: {json.dumps(db_url)}\n", encoding="utf-8")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


def _stats(cli) -> dict[str, object]:  # type: ignore[no-untyped-def]
    result = cli("org", "stats", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_import_reimport_edit_export(cli, tmp_path: Path, suffix: str) -> None:  # type: ignore[no-untyped-def]
    roster = small_town()
    path = write_roster(roster, tmp_path / f"roster{suffix}")

    first = cli("org", "import", str(path))
    assert first.exit_code == 0, first.output
    assert f"新增 {1 + 2 + 4 + len(roster.rows)}" in first.output
    assert _stats(cli)["unit"] == len(roster.rows)

    again = cli("org", "import", str(path))
    assert again.exit_code == 0, again.output
    assert "组织单元：新增 0，更新 0" in again.output
    assert "职务：新增 0，撤销 0" in again.output

    row = roster.rows[3]
    edited = dataclasses.replace(row, unit_leader=PersonRecord("王改名", "13900001111", None))
    write_roster(
        dataclasses.replace(roster, rows=(*roster.rows[:3], edited, *roster.rows[4:])), path
    )
    update = cli("org", "import", str(path))
    assert update.exit_code == 0, update.output
    assert "人员：新增 1" in update.output and "撤销 1" in update.output
    assert _stats(cli)["unit"] == len(roster.rows)

    out = tmp_path / f"export{suffix}"
    exported = cli("org", "export", str(out))
    assert exported.exit_code == 0, exported.output
    reimport = cli("org", "import", str(out))
    assert (
        "组织单元：新增 0，更新 0" in reimport.output and "人员：新增 0，更新 0" in reimport.output
    )


def test_bad_rows_import_nothing_and_list_every_problem(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = write_roster(small_town(), tmp_path / "good.csv")
    with good.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    header = rows[0]
    rows[2][header.index("单元长电话")] = "1380000"  # too short
    rows[3][header.index("单元长")] = ""  # empty name
    rows[4][header.index("单元类型")] = "仓库"  # unknown kind
    rows.append(list(rows[5]))  # duplicate unit
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8-sig", newline="") as stream:
        csv.writer(stream).writerows(rows)

    result = cli("org", "import", str(bad))
    assert result.exit_code == 1
    assert "未导入任何数据" in result.output
    for line in ("第3行", "第4行", "第5行", f"第{len(rows)}行"):
        assert line in result.output, result.output
    assert _stats(cli)["unit"] == 0


def test_gbk_csv_from_excel_imports(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    utf8 = write_roster(small_town(), tmp_path / "utf8.csv")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(utf8.read_text(encoding="utf-8-sig").encode("gbk"))
    result = cli("org", "import", str(gbk))
    assert result.exit_code == 0, result.output
    assert _stats(cli)["unit"] == len(small_town().rows)


def test_unknown_village_is_refused_once_the_town_exists(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    roster = small_town()
    assert cli("org", "import", str(write_roster(roster, tmp_path / "a.csv"))).exit_code == 0
    renamed = dataclasses.replace(roster.rows[0], village="不存在村")
    one_row = dataclasses.replace(roster, rows=(renamed,), extra_roles=(), contacts=())
    path = write_roster(one_row, tmp_path / "b.csv")
    result = cli("org", "import", str(path))
    assert result.exit_code == 1 and "不存在村" in result.output
    assert cli("org", "import", str(path), "--allow-new-villages").exit_code == 0


def test_dry_run_writes_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("org", "import", str(write_roster(small_town(), tmp_path / "a.csv")), "--dry-run")
    assert result.exit_code == 0 and "试运行" in result.output
    assert _stats(cli)["unit"] == 0


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_guohuan_export_import_export_is_byte_identical(  # type: ignore[no-untyped-def]
    cli, db_url: str, tmp_path: Path, suffix: str
) -> None:
    """The built-in data set, every post, 户数 and contact household: the database gives
    back the very file it was loaded from, and re-importing its export changes nothing."""
    if suffix == ".xlsx" and not db_url.startswith("sqlite"):
        pytest.skip("the .xlsx bytes do not depend on the database; .csv covers PostgreSQL")
    source = write_roster(guohuan(), tmp_path / f"guohuan{suffix}")
    loaded = cli("org", "import", str(source))
    assert loaded.exit_code == 0, loaded.output
    assert "党员联系户：新增 507" in loaded.output

    first = tmp_path / f"first{suffix}"
    exported = cli("org", "export", str(first))
    assert exported.exit_code == 0, exported.output
    assert "4559 个单元" in exported.output and "507 条党员联系户" in exported.output
    again = cli("org", "import", str(first))
    assert again.exit_code == 0, again.output
    assert (
        "新增 0，更新 0，未变 4747；人员：新增 0，更新 0；职务：新增 0，撤销 0，更新 0；党员联系户：新增 0，撤销 0，更新 0"
        in again.output
    )
    second = tmp_path / f"second{suffix}"
    assert cli("org", "export", str(second)).exit_code == 0

    assert second.read_bytes() == first.read_bytes() == source.read_bytes()
    if suffix == ".csv":
        people = people_file_for(second).read_bytes()
        assert people == people_file_for(first).read_bytes() == people_file_for(source).read_bytes()


def test_people_sheet_edits_and_problems(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    roster = small_town()
    path = write_roster(roster, tmp_path / "r.csv")
    assert cli("org", "import", str(path)).exit_code == 0

    # the people file elsewhere, edited: one grid worker fewer, a contact moved
    people = people_file_for(path)
    lines = people.read_text(encoding="utf-8-sig").splitlines()
    worker = next(i for i, line in enumerate(lines) if line.startswith("网格员,"))
    elsewhere = tmp_path / "三员名单.csv"
    elsewhere.write_text("\n".join(lines[:worker] + lines[worker + 1 :]), encoding="gbk")
    people.unlink()
    alone = cli("org", "import", str(path))
    assert alone.exit_code == 0 and "没有人员表" in alone.output
    assert "撤销 0" in alone.output
    edited = cli("org", "import", str(path), "--people", str(elsewhere))
    assert edited.exit_code == 0, edited.output
    assert "职务：新增 0，撤销 1，更新 0" in edited.output

    # problems on both files: every one listed, nothing imported
    units = path.read_text(encoding="utf-8-sig").splitlines()
    header = units[0].split(",")
    cells = units[1].split(",")
    cells[header.index("户数")] = "很多"
    units[1] = ",".join(cells)
    path.write_text("\n".join(units), encoding="utf-8-sig")
    bad_people = [
        *lines,
        "部门联络员,郑海峰,13800009901,,,,,,区教育局,",
        "网格员,黄丽娟,13800009902,,不存在村,第1网格,,,,",
    ]
    elsewhere.write_text("\n".join(bad_people), encoding="gbk")
    result = cli("org", "import", str(path), "--people", str(elsewhere))
    assert result.exit_code == 1
    assert "未导入任何数据" in result.output
    n = len(bad_people)
    assert "第2行 户数: 「很多」不是有效的户数" in result.output
    assert f"三员名单.csv 第{n - 1}行 部门: 「区教育局」不是已配置的部门" in result.output
    assert f"三员名单.csv 第{n}行 村: 「不存在村」不在单元表中" in result.output
    assert "有 3 处问题" in result.output


def test_export_refuses_other_file_types(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("org", "export", str(tmp_path / "roster.xls"))
    assert result.exit_code == 2 and ".csv or .xlsx" in result.output


def test_roster_import_and_tokens_are_in_the_audit_trail(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("org", "import", str(write_roster(small_town(), tmp_path / "a.csv"))).exit_code == 0
    made = cli("token", "create", "--name", "12345热线", "--role", "town_official")
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("gct_")
    listed = cli("token", "list", "--json")
    assert token not in listed.output and "12345热线" in listed.output
    assert cli("token", "revoke", "1").exit_code == 0
    trail = cli("audit", "list", "--json")
    assert trail.exit_code == 0, trail.output
    entries = json.loads(trail.output)
    assert [e["action"] for e in entries] == ["token.revoke", "token.create", "roster.import"]
    assert {e["channel"] for e in entries} == {"cli"}
    assert all(e["actor"].startswith("命令行") for e in entries)


def test_token_create_refuses_a_scope_the_role_cannot_have(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A2: ``gridcast token create --role town_official --scope 黄霞村`` made a token
    labelled 黄霞村镇干部 that acted for the whole town (one check with POST /api/tokens)."""
    roster = small_town()
    assert cli("org", "import", str(write_roster(roster, tmp_path / "a.csv"))).exit_code == 0
    village = roster.rows[0].village
    refused = cli("token", "create", "--name", "x", "--role", "town_official", "--scope", village)
    assert refused.exit_code == 1
    assert f"镇干部的范围应为全镇（不填范围），不能是「{village}」" in refused.output
    chief = cli("token", "create", "--name", "村", "--role", "station_chief", "--scope", village)
    assert chief.exit_code == 0, chief.output
    assert json.loads(cli("token", "list", "--json").output)[-1]["scope"] == village


def test_regression_import_refuses_an_xlsx_with_a_doctype_or_a_zip_bomb(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import zipfile

    good = write_roster(small_town(), tmp_path / "good.xlsx")
    sheet = "xl/worksheets/sheet1.xml"
    for name, change in (
        ("xxe.xlsx", lambda xml: b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + xml),
        ("bomb.xlsx", lambda xml: xml.replace(b"</worksheet>", b" " * 4_000_000 + b"</worksheet>")),
    ):
        hostile = tmp_path / name
        with zipfile.ZipFile(good) as old, zipfile.ZipFile(hostile, "w") as new:
            for info in old.infolist():
                data = old.read(info.filename)
                new.writestr(
                    info.filename,
                    change(data) if info.filename == sheet else data,
                    compress_type=zipfile.ZIP_DEFLATED,
                )
        result = cli("org", "import", str(hostile))
        assert result.exit_code == 1 and "拒绝导入" in result.output, result.output
        assert "Traceback" not in result.output
    assert _stats(cli)["unit"] == 0


def test_regression_a_liaison_token_is_labelled_with_the_departments_name(
    cli, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Probe item F7: 'justice部门联络员' in the CLI's output, /api/auth/me and refusals."""
    from datetime import UTC, datetime

    from core.config import parse_settings
    from core.policy import Permission, decide
    from models.db import make_engine, session_scope
    from orgtree.principals import token_principal

    made = cli(
        "token", "create", "--name", "司法联络", "--role", "department_liaison",
        "--department", "司法局",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "区司法局部门联络员" in made.output and "justice" not in made.output
    token = made.output.strip().splitlines()[-1]
    settings = parse_settings({"data_dir": str(tmp_path), "database": {"url": db_url}})
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            principal = token_principal(
                session, token, now=datetime.now(UTC), departments=settings.departments
            )
    finally:
        engine.dispose()
    assert principal is not None
    assert [p.label for p in principal.posts] == ["区司法局部门联络员"]
    refused = decide(principal, Permission.VIEW_ORG, scope=("国欢村",))
    assert "区司法局部门联络员" in refused.reason and "justice" not in refused.reason
