"""The commands that set up and run the system: ``setup``, ``run``, ``db``, ``config``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import click

import gridcast
from core.config import Settings
from gridcast.cli.tools import echo_json, with_settings
from models.db import DatabaseError, make_engine, schema_status, session_scope, upgrade

# --- setup, run, db ---------------------------------------------------------------------


@click.command()
@with_settings
def setup(settings: Settings) -> None:
    """Bring the database to this version's schema and load the town when it is empty."""
    from core.clock import utcnow
    from orgtree.principals import ensure_local_admin_token
    from orgtree.service import ensure_town

    engine = make_engine(settings.database_url)
    try:
        before = upgrade(engine)
        if before.current != before.head:
            click.echo(f"数据库已升级到 {before.head}（原为 {before.current or '空'}）")
        with session_scope(engine) as session:
            report = ensure_town(session=session, settings=settings)
            token_file = ensure_local_admin_token(session, settings.data_dir, now=utcnow())
        click.echo(report)
        click.echo(f"本机管理员令牌：{token_file}（仅本用户可读；命令行操作运行中的系统时使用）")
    finally:
        engine.dispose()


@click.command()
@with_settings
@click.option("--port", type=int, help="Web port (overrides web.port; 0 picks a free one).")
@click.option(
    "--standby",
    is_flag=True,
    help="PostgreSQL: wait while another gridcast run is active, take over when it stops.",
)
def run(settings: Settings, port: int | None, standby: bool) -> None:
    """Start the whole system: web server (and, as configured, sandbox, bots, scheduler)."""
    from cluster.backend import is_postgres_url

    if standby and not is_postgres_url(settings.database_url):
        raise click.ClickException("--standby 需要 PostgreSQL；SQLite 只运行一个进程")

    def announce(urls: list[str], with_sandbox: bool) -> None:
        for url in urls:
            click.echo(f"gridcast {gridcast.__version__} 已启动: {url}  (健康检查 {url}/healthz)")
            if with_sandbox:
                click.echo(f"模拟微信 (sandbox): {url}/sandbox/  —— 在这里以任何群成员身份发言")
        click.echo("按 Ctrl-C 停止。")

    _serve(settings, port, announce, standby=standby)


@click.command()
@with_settings
@click.option("--port", type=int, help="Web port (overrides web.port; 0 picks a free one).")
def web(settings: Settings, port: int | None) -> None:
    """Serve the console and the API only, as one of any number of web processes."""
    from cluster.backend import is_postgres_url

    if not is_postgres_url(settings.database_url):
        raise click.ClickException(
            "gridcast web 需要 PostgreSQL (database.url)；用 SQLite 时 gridcast run 自己提供控制台"
        )

    def announce(urls: list[str], _sandbox: bool) -> None:
        for url in urls:
            click.echo(
                f"gridcast {gridcast.__version__} 控制台与接口: {url}  (健康检查 {url}/healthz)"
            )
        click.echo(
            "发送通知、撤回、催办和私信由运行机器人的 gridcast run 进程执行。按 Ctrl-C 停止。"
        )

    _serve(settings, port, announce, web_only=True)


def _serve(
    settings: Settings,
    port: int | None,
    announce: Callable[[list[str], bool], None],
    *,
    web_only: bool = False,
    standby: bool = False,
) -> None:
    """``gridcast.runtime.serve`` until stopped, on ``port`` if given; its failures as
    messages (a database not ready, a port taken)."""
    from gridcast.runtime import serve

    if port is not None:
        settings = settings.model_copy(
            update={"web": settings.web.model_copy(update={"port": port})}
        )
    try:
        asyncio.run(serve(settings, announce=announce, web_only=web_only, standby=standby))
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"无法启动网络服务 (cannot listen): {exc}") from None


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@with_settings
@click.option("--revision", default="head", show_default=True)
def db_upgrade(settings: Settings, revision: str) -> None:
    """Apply the schema migrations."""
    engine = make_engine(settings.database_url)
    try:
        before = upgrade(engine, revision)
        with engine.connect() as connection:
            after = schema_status(connection)
    finally:
        engine.dispose()
    click.echo(f"schema: {before.current or '(empty)'} -> {after.current}")


@db.command("status")
@with_settings
def db_status(settings: Settings) -> None:
    """Show the schema revision of the database and the one this version needs."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            status = schema_status(connection)
    finally:
        engine.dispose()
    click.echo(f"current: {status.current or '(empty)'}  head: {status.head}")
    if not status.up_to_date:
        click.echo("run: gridcast db upgrade")
        sys.exit(1)


# --- config -----------------------------------------------------------------------------


@click.group("config")
def config_group() -> None:
    """The deployment's configuration."""


@config_group.command("check")
@with_settings
def config_check(settings: Settings) -> None:
    """Validate config.yaml and summarise it."""
    click.echo(
        f"配置有效: 镇={settings.town.name} 数据库={settings.safe_database_url()} "
        f"机器人账号={len(settings.account_settings())} 端口={settings.web.port}"
    )


@config_group.command("show")
@with_settings
def config_show(settings: Settings) -> None:
    """Print the effective configuration (defaults filled in) as JSON."""
    echo_json(settings.model_dump(mode="json"))
