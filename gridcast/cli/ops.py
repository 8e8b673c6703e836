"""Operations: ``backup``, ``restore``, ``person export|erase``, ``cap``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core.config import Settings
from gridcast.cli.tools import cli_principal, echo_json, open_database, with_settings


@click.command()
@with_settings
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="SQLite: restore the copy into a fresh data directory and compare row counts.",
)
def backup(settings: Settings, file: Path, verify: bool) -> None:
    """Back up the database to FILE, also while the system runs."""
    from models import backup as backups

    try:
        manifest = backups.backup(settings.database_url, file)
        click.echo(
            f"已备份到 {file}：{len(manifest.counts)} 张表，{manifest.rows} 行"
            f"（清单 {backups.manifest_path(file)}）"
        )
        if verify and manifest.backend == "sqlite":
            backups.verify(settings.database_url, file)
            click.echo("校验通过：恢复到新的数据目录后各表行数一致。")
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@with_settings
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def restore(settings: Settings, file: Path) -> None:
    """Restore the database from a backup FILE (into an empty database)."""
    from models import backup as backups

    try:
        manifest = backups.restore(settings.database_url, file)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"已恢复 {file}：{len(manifest.counts)} 张表，{manifest.rows} 行，与备份清单一致"
        f"（数据库版本 {manifest.revision}）。"
    )


@click.group()
def person() -> None:
    """A resident's personal data (个人信息): export or erase it."""


def _audit(settings: Settings, action: str, who: str, detail: dict[str, object]) -> None:
    from core.audit import record
    from core.clock import utcnow
    from core.privacy import mask_phone
    from models.auth import AuditChannel
    from models.db import session_scope

    principal = cli_principal()
    with open_database(settings) as engine, session_scope(engine) as session:
        record(
            session,
            principal=principal,
            channel=AuditChannel.CLI,
            action=action,
            now=utcnow(),
            source=principal.id,
            target=mask_phone(who) if who.isdigit() else who[:6] + "…",
            detail=detail,
            message=("导出" if action.endswith("export") else "删除") + "个人信息",
        )


@person.command("export")
@with_settings
@click.argument("who", metavar="PHONE")
def person_export(settings: Settings, who: str) -> None:
    """Print everything held about PHONE (or a WeChat contact id) as JSON."""
    from models.db import session_scope
    from tickets.personal_data import PersonNotFound, export_person

    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            data = export_person(session, who)
        except PersonNotFound as exc:
            raise click.ClickException(str(exc)) from None
    _audit(
        settings,
        "person.export",
        who,
        {"tickets": len(data["tickets"]), "messages": len(data["messages"])},
    )
    echo_json(data)


@person.command("erase")
@with_settings
@click.argument("who", metavar="PHONE")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def person_erase(settings: Settings, who: str, yes: bool) -> None:
    """Replace PHONE's identifying data in tickets and messages (statistics kept)."""
    from models.db import session_scope
    from tickets.personal_data import PersonNotFound, erase_person

    if not yes and sys.stdin.isatty():
        click.confirm(f"删除「{who}」在工单和消息中的个人信息？此操作不可恢复", abort=True)
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            erasure = erase_person(session, who)
        except PersonNotFound as exc:
            raise click.ClickException(str(exc)) from None
    _audit(
        settings,
        "person.erase",
        who,
        {
            "reporters": erasure.reporters,
            "tickets": erasure.ticket_codes,
            "messages": erasure.messages,
        },
    )
    click.echo(
        f"已删除：{erasure.tickets} 个工单中的报告人信息，{erasure.messages} 条消息；"
        "工单及统计保留。"
        + ("此人仍在花名册中，其岗位请通过花名册导入调整。" if erasure.in_roster else "")
    )


@click.command()
@with_settings
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--token", envvar="GRIDCAST_TOKEN", help="API token (default: the local admin token)."
)
@click.option("--url", default=None, help="The running system (default: web.host:web.port).")
def cap(settings: Settings, file: Path, token: str | None, url: str | None) -> None:
    """CAP 1.2 warnings (预警): send a CAP file to the running system's POST /api/cap."""
    import json
    import urllib.error
    import urllib.request

    from gridcast.cli.tools import api_token

    secret = api_token(settings, token)
    base = url or f"http://{settings.web.host}:{settings.web.port}"
    request = urllib.request.Request(
        f"{base}/api/cap",
        data=file.read_bytes(),
        headers={"Content-Type": "application/xml", "Authorization": f"Bearer {secret}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            echo_json(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        raise click.ClickException(exc.read().decode("utf-8", "replace")) from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"无法连接 {base}：{exc.reason}") from None
