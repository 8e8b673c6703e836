"""``gridcast notice``: send a notice through a running system, and read its reach report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.routers.notices import status_text
from broadcast import service
from broadcast.curve import write_curve
from core.config import Settings
from gridcast.cli.tools import (
    api_token,
    echo_json,
    http_json,
    open_database,
    system_url,
    with_settings,
    with_token,
)
from models.db import session_scope


@click.group()
def notice() -> None:
    """Notices to the town's groups (通知)."""


async def _follow(url: str, code: str, total: int, token: str | None) -> dict[str, Any]:
    console = Console(stderr=True)
    columns = (TextColumn(f"{code} 送达"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("send", total=total)
        while True:
            report = await http_json("GET", f"{url}/api/notices/{code}", token=token)
            done = report["sent"] + sum(
                lv["failed"] + lv["unreachable"] for lv in report["levels"].values()
            )
            progress.update(task, completed=report["sent"], total=total)
            if report["status"] in ("done", "cancelled") or (
                done >= total and report["live"] is None
            ):
                return report  # type: ignore[no-any-return]
            await asyncio.sleep(0.5)


@notice.command("send")
@with_settings
@click.option(
    "--scope",
    default=None,
    help="Org path, e.g. 国欢镇, 黄霞村, 黄霞村/第16网格 (default: the town).",
)
@click.option("--title", required=True)
@click.option("--body", required=True, help="The text; @FILE reads it from a file.")
@click.option(
    "--levels", default="town,village,grid,unit", show_default=True, help="Comma-separated levels."
)
@click.option("--urgent", is_flag=True, help="Urgent priority (shorter reminder intervals).")
@click.option("--deadline", type=float, default=None, help="Seconds (default broadcast.deadline).")
@click.option("--no-ack", is_flag=True, help="Do not ask for acknowledgements.")
@click.option(
    "--issuer",
    default=None,
    help="The signature (落款); only an admin token may name one (default: the token's own, "
    "镇政府 for the local admin token).",
)
@click.option("--wait", is_flag=True, help="Follow the sending with a progress bar until done.")
@click.option("--url", default=None, help="URL of the running system (default from config).")
@with_token
def send(
    settings: Settings,
    scope: str | None,
    title: str,
    body: str,
    levels: str,
    urgent: bool,
    deadline: float | None,
    no_ack: bool,
    issuer: str | None,
    wait: bool,
    url: str | None,
    token: str | None,
) -> None:
    """Plan and send a notice; prints the predicted reach time first."""
    token = api_token(settings, token)
    if body.startswith("@"):
        body = Path(body[1:]).read_text(encoding="utf-8")
    base = system_url(settings, url)
    payload = {
        "title": title,
        "body": body,
        "scope": scope or settings.town.name,
        "levels": [lv.strip() for lv in levels.split(",") if lv.strip()],
        "priority": "urgent" if urgent else "normal",
        "deadline_s": deadline,
        "ack_required": not no_ack,
        "confirm": True,
    }
    if issuer is not None:
        payload["issuer"] = issuer

    async def go() -> dict[str, Any]:
        created = await http_json("POST", f"{base}/api/notices", payload, token=token)
        click.echo(created["summary"])
        if not wait:
            return created  # type: ignore[no-any-return]
        return await _follow(base, created["code"], created["groups"], token)

    result = asyncio.run(go())
    if wait:
        click.echo(status_text(result))


@notice.command("status")
@with_settings
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--curve",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the reach curve (.png or .svg).",
)
def status(settings: Settings, code: str, as_json: bool, curve: Path | None) -> None:
    """Reach report: per level, time to 50/90/99/100%, acknowledgements, silent units."""
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            notice_row = service.notice_by_code(session, code)
        except service.NoticeNotFound as exc:
            raise click.ClickException(str(exc)) from None
        report = service.reach_report(session, notice_row)
        sent, acks = service.curve_points(session, notice_row)
    if curve is not None:
        try:
            write_curve(
                curve,
                code=code,
                targeted=int(report["targeted"]),  # type: ignore[call-overload]
                sent_s=sent,
                ack_s=acks,
                deadline_s=float(report["deadline_s"]),  # type: ignore[arg-type]
                lower_bound_s=report["lower_bound_s"],  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(report)
        return
    click.echo(status_text(report))
    if curve is not None:
        click.echo(f"送达曲线：{curve}")
