"""``gridcast org``: import, export and inspect the town's org tree and roster."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlmodel import select

from core.audit import record
from core.clock import utcnow
from core.config import Settings
from gridcast.cli.tools import cli_principal, echo_json, open_database, with_settings
from models.auth import AuditChannel
from models.db import session_scope
from models.enums import Level, UnitKind
from models.org import OrgUnit
from orgtree.service import (
    NodeView,
    OrgPathNotFound,
    apply_roster,
    export_roster,
    level_counts,
    subtree,
)


@click.group()
def org() -> None:
    """The town's org tree (镇/村/网格/单元) and roster."""


@org.command("import")
@with_settings
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--people",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The people sheet (town officials, liaisons, 三员, contact households) as its own "
    "file. Default: the .xlsx file's other sheet, or FILE.people.csv beside a CSV roster.",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate and report what would change; write nothing."
)
@click.option(
    "--allow-new-villages",
    is_flag=True,
    help="Accept villages the database does not know yet (otherwise they are reported as errors).",
)
def import_(
    settings: Settings, file: Path, people: Path | None, dry_run: bool, allow_new_villages: bool
) -> None:
    """Import a roster: the unit sheet (one row per unit) and the people sheet, CSV or
    XLSX. Any bad row: nothing is imported. Without a people sheet, the posts and contact
    households already in the database are kept."""
    from orgtree.roster import RosterInvalid, people_file_for, read_roster

    with open_database(settings) as engine:
        with session_scope(engine) as session:
            villages = set(session.exec(select(OrgUnit.name).where(OrgUnit.level == Level.VILLAGE)))
            known = None if (allow_new_villages or not villages) else villages
            try:
                roster = read_roster(
                    file,
                    town=settings.town.name,
                    known_villages=known,
                    people=people,
                    departments=settings.departments,
                )
            except RosterInvalid as exc:
                click.echo(
                    f"导入失败：{file} 有 {len(exc.problems)} 处问题，未导入任何数据。", err=True
                )
                for problem in exc.problems:
                    click.echo(f"  - {problem}", err=True)
                raise SystemExit(1) from None
            report = apply_roster(session=session, roster=roster)
            if not roster.lists_posts:
                click.echo(
                    f"注意：没有人员表（{people_file_for(file).name} 或 Excel 的「人员」工作表），"
                    "镇干部、部门联络员、三员和党员联系户保持数据库中的原样。",
                    err=True,
                )
            if dry_run:
                session.rollback()
                click.echo(f"（试运行，未写入）{report}")
                return
            principal = cli_principal()
            record(
                session,
                principal=principal,
                channel=AuditChannel.CLI,
                action="roster.import",
                now=utcnow(),
                source=principal.id,
                target=file.name,
                message=f"导入花名册 {file.name}：{report}",
            )
        click.echo(f"导入完成：{report}")


@org.command("export")
@with_settings
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(settings: Settings, file: Path) -> None:
    """Write the whole roster back in the import format (.csv or .xlsx by the file name):
    an .xlsx gets a second sheet 人员, a CSV a second file FILE.people.csv beside it."""
    from orgtree.roster import people_file_for, write_roster

    with open_database(settings) as engine, session_scope(engine) as session:
        roster = export_roster(session, town=settings.town.name)
    if file.suffix.lower() not in (".csv", ".xlsx"):
        raise click.BadParameter("the file name must end in .csv or .xlsx", param_hint="FILE")
    write_roster(roster, file)
    where = f"{file}（人员表在工作表「人员」）"
    if file.suffix.lower() == ".csv":
        where = f"{file} 和 {people_file_for(file)}"
    click.echo(
        f"已导出 {len(roster.rows)} 个单元、{len(roster.extra_roles)} 个职务、"
        f"{len(roster.contacts)} 条党员联系户到 {where}"
    )


@org.command("stats")
@with_settings
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(settings: Settings, as_json: bool) -> None:
    """Counts per level and per unit kind."""
    with open_database(settings) as engine, engine.connect() as connection:
        counts = level_counts(connection)
    if as_json:
        click.echo(json.dumps(counts, ensure_ascii=False))
        return
    kinds = counts["unit_kinds"]
    assert isinstance(kinds, dict)
    click.echo(
        f"镇 {counts['town']}  村 {counts['village']}  网格 {counts['grid']}  单元 {counts['unit']}"
        f"（住宅 {kinds['residential']}，配套场所 {kinds['facility']}，沿街商铺 {kinds['shop']}）"
    )


def _describe(node: NodeView) -> str:
    label = Level(node.level).label
    kind = f"·{UnitKind(node.kind).label}" if node.kind else ""
    units = f"，{node.unit_count} 个单元" if node.level != Level.UNIT.value else ""
    leaders = "；".join(f"{lv.role} {lv.name} {lv.phone}" for lv in node.leaders)
    return f"{node.name}（{label}{kind}{units}）" + (f"  {leaders}" if leaders else "")


@org.command("show")
@with_settings
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(settings: Settings, path: str, as_json: bool) -> None:
    """One subtree with its leaders, e.g. ``gridcast org show 黄霞村/第16网格`` (phones masked)."""
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            node = subtree(session, path, town=settings.town.name)
        except OrgPathNotFound as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(node.to_json())
        return
    click.echo(node.path)
    click.echo(_describe(node))
    for child in node.children:
        click.echo(f"  ├ {_describe(child)}")
