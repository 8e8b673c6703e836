"""``gridcast report``, ``gridcast task`` and ``gridcast cadence``: the town's rhythm.

Messages a command produces (a task to grid leaders, a cadence run by hand) are queued in
the ticket outbox and sent by the timer job of the running ``gridcast run``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click

from core.audit import record
from core.clock import TOWN_TZ, format_local_time
from core.config import Settings
from gridcast.cli.tools import cli_principal, open_database, with_settings
from models.auth import AuditChannel
from models.base import utcnow
from models.db import session_scope

__all__ = ["cadence", "report", "task"]


def _write(path: Path, write: Callable[[Path], object]) -> None:
    """Write an output file; a folder that is missing or read-only is a message, not a
    traceback."""
    try:
        write(path)
    except OSError as error:
        raise click.ClickException(f"无法写入 {path}：{error.strerror or error}") from None


@click.group()
def report() -> None:
    """Reports (月结): the monthly report as XLSX and a chart."""


@report.command("month")
@with_settings
@click.argument("month")
@click.option("--village", help="Only this village (村).")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path))
def report_month(
    settings: Settings,
    month: str,
    village: str | None,
    xlsx_path: Path | None,
    png_path: Path | None,
) -> None:
    """The monthly report of MONTH (YYYY-MM), per town and per village."""
    from rhythm.monthly import monthly_report, render_png, summary_text, write_xlsx

    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            result = monthly_report(session, settings, month, now=utcnow(), village=village)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    click.echo(summary_text(result))
    for figures in result.villages:
        s = figures.tickets
        click.echo(
            f"  {figures.scope}：受理{s.total} 办结{s.resolved} 纠纷{figures.disputes_resolved}"
        )
    if xlsx_path is not None:
        _write(xlsx_path, lambda path: write_xlsx(result, path))
        click.echo(f"XLSX: {xlsx_path}")
    if png_path is not None:
        _write(png_path, lambda path: path.write_bytes(render_png(result)))
        click.echo(f"PNG: {png_path}")


@click.group()
def task() -> None:
    """Tasks to grids (任务下达): assign, completion per village and grid, export."""


def _deadline(text: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            value = value.replace(hour=18)
        return value.replace(tzinfo=TOWN_TZ)
    raise click.BadParameter("写成 2026-12-03 18:00 或 2026-12-03", param_hint="--deadline")


@task.command("assign")
@with_settings
@click.option("--title", required=True)
@click.option(
    "--scope", "scopes", multiple=True, required=True, help="村, 村/网格 or 村/网格/单元; repeat."
)
@click.option("--deadline", required=True, help="Local time: 2026-12-03 18:00.")
@click.option("--body", default="")
@click.option("--checklist/--no-checklist", default=False, help="One item per unit to tick off.")
@click.option("--issuer", default="镇政府")
def task_assign(
    settings: Settings,
    title: str,
    scopes: tuple[str, ...],
    deadline: str,
    body: str,
    checklist: bool,
    issuer: str,
) -> None:
    """Assign a task; grid leaders get it privately (sent by the running system)."""
    from rhythm.tasks import TaskError, assign_task, task_status
    from tickets.outbox import queue_replies

    now = utcnow()
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            created, replies = assign_task(
                session,
                settings,
                title=title,
                scope=scopes,
                deadline=_deadline(deadline),
                now=now,
                issuer_name=issuer,
                body=body,
                checklist=checklist,
            )
        except TaskError as error:
            raise click.ClickException(error.message) from None
        queue_replies(session=session, replies=replies, now=now)
        record(
            session,
            principal=cli_principal(),
            channel=AuditChannel.CLI,
            action="task.assign",
            now=now,
            target=created.code,
            message=title,
        )
        code = created.code
        # The grids' leaders, not the messages: a checklist also writes to shop owners.
        leaders = sum(1 for row in task_status(session, code)[1] if row.leader)
    click.echo(f"任务 {code} 已下达到 {leaders} 位网格长。")


@task.command("status")
@with_settings
@click.argument("code")
def task_status_command(settings: Settings, code: str) -> None:
    """Completion of task CODE per village and grid."""
    from rhythm.tasks import TaskError, task_status

    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            found, rows = task_status(session, code.upper())
        except TaskError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"{found.code} {found.title}（期限 {format_local_time(found.deadline)}）")
    done = sum(1 for r in rows if r.state.value == "done")
    click.echo(f"完成 {done}/{len(rows)} 个网格")
    villages: dict[str, list[int]] = {}
    for row in rows:
        counts = villages.setdefault(row.village, [0, 0])
        counts[1] += 1
        counts[0] += row.state.value == "done"
    for village, (d, total) in villages.items():
        click.echo(f"{village}：{d}/{total}")
    for row in rows:
        units = f" 单元{row.units_done}/{row.units_total}" if row.units_total else ""
        click.echo(
            f"  {row.village}/{row.grid} {row.leader} {row.state.label} {row.progress}%{units} {row.note}"
        )


@task.command("export")
@with_settings
@click.argument("code")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help=".xlsx or .csv",
)
def task_export(settings: Settings, code: str, out_path: Path) -> None:
    """The task's report per grid, as XLSX or CSV."""
    from rhythm.tasks import TaskError, report_file, task_status

    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            found, rows = task_status(session, code.upper())
        except TaskError as error:
            raise click.ClickException(error.message) from None
    kind = "csv" if out_path.suffix.lower() == ".csv" else "xlsx"
    _write(out_path, lambda path: path.write_bytes(report_file(found, rows, kind)))
    click.echo(f"{out_path}")


@click.group()
def cadence() -> None:
    """The cadences (日清、周商、旬查、月结): run one by hand."""


@cadence.command("run")
@with_settings
@click.argument("name", type=click.Choice(["daily", "weekly", "ten_day", "monthly"]))
@click.option(
    "--again",
    is_flag=True,
    help="Run the period even if it already ran (its messages are sent a second time).",
)
def cadence_run(settings: Settings, name: str, again: bool) -> None:
    """Run a cadence now (once per period: a period that ran is not repeated, unless
    --again)."""
    from core.clock import format_local_time
    from rhythm.jobs import RUNNERS
    from rhythm.periods import Cadence, period_key
    from rhythm.runs import forget_period, period_run
    from tickets.outbox import queue_replies

    now = utcnow()
    chosen = Cadence(name)
    period = period_key(chosen, now)
    with open_database(settings) as engine, session_scope(engine) as session:
        earlier = forget_period(session, chosen, period) if again else None
        replies = RUNNERS[chosen](session, settings, now)
        if replies is None:
            ran = period_run(session, chosen, period)
            when = f"已在 {format_local_time(ran.ran_at)} 运行过" if ran else "已经运行过"
            click.echo(f"{chosen.label} {period} {when}；要再运行一次，请加 --again。")
            return
        if earlier is not None:
            click.echo(
                f"{chosen.label} {period} 再运行一次（上次 {format_local_time(earlier.ran_at)}）。"
            )
        queue_replies(
            session=session, replies=[r for r in replies if r.attachment is None], now=now
        )
    click.echo(f"{len(replies)} 条消息已排队，由运行中的系统发送。")
