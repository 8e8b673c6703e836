"""``gridcast tickets``: list, show, figures and one-stop intake (一站受理) of tickets.

Register with ``main.add_command(tickets)`` in ``gridcast/cli.py``. Every command takes
``--config`` / ``--data-dir`` and works on the database of a running ``gridcast run``;
messages a command produces (the grid leader's notice of a new ticket) are queued in the
ticket outbox and sent by that process's timer job.
"""

from __future__ import annotations

from datetime import date, datetime

import click

from core.audit import record
from core.clock import format_local_time
from core.config import Settings
from gridcast.cli.tools import cli_principal, echo_json, open_database, with_settings
from models.auth import AuditChannel
from models.base import utcnow
from models.db import session_scope
from models.enums import TicketState, Urgency
from models.tickets import TicketChannel, TicketCreate
from tickets.errors import TicketError, TicketNotFound
from tickets.lifecycle import LEVEL_ZH, STATE_ZH
from tickets.one_stop import create_ticket
from tickets.outbox import queue_replies
from tickets.queries import list_tickets, ticket_detail
from tickets.stats import format_stats, local_period, ticket_stats

__all__ = ["tickets"]

_STATE_NAMES = {**{s.value: s for s in TicketState}, **{zh: s for s, zh in STATE_ZH.items()}}


@click.group()
def tickets() -> None:
    """Tickets (工单): list, show, figures, one-stop intake."""


def _states(values: tuple[str, ...]) -> list[TicketState]:
    states = []
    for value in values:
        for part in value.replace("，", ",").split(","):
            name = part.strip()
            if not name:
                continue
            if name not in _STATE_NAMES:
                known = "、".join(f"{s.value}（{zh}）" for s, zh in STATE_ZH.items())
                raise click.BadParameter(
                    f"未知的状态「{name}」。可选：{known}", param_hint="--status"
                )
            states.append(_STATE_NAMES[name])
    return states


@tickets.command("list")
@with_settings
@click.option(
    "--status",
    "statuses",
    multiple=True,
    help="Only tickets in these states (received, dispatched, accepted, in_progress, "
    "resolved, rating, closed, returned, reopened, or the Chinese names); repeatable or "
    "comma-separated.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(settings: Settings, statuses: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Tickets, newest first."""
    states = _states(statuses)
    with open_database(settings) as engine, session_scope(engine) as session:
        rows = list_tickets(session=session, settings=settings, states=states, limit=limit)
    if as_json:
        echo_json([row.model_dump(mode="json") for row in rows])
        return
    if not rows:
        click.echo("没有符合条件的工单。")
        return
    for row in rows:
        holder = row.department_name or row.assignee_name or LEVEL_ZH[row.level]
        click.echo(
            f"{row.code}  {STATE_ZH[row.state]:<5}  {row.category_name:<4}  "
            f"{'紧急' if row.urgency is Urgency.URGENT else '一般'}  "
            f"{format_local_time(row.created_at)}  {holder}  {row.unit_path}"
        )


@tickets.command("show")
@with_settings
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(settings: Settings, code: str, as_json: bool) -> None:
    """One ticket with its reporters (phones masked) and its history."""
    from core.ids import InvalidCode, parse_ticket_code

    try:
        code = str(parse_ticket_code(code))
    except InvalidCode as exc:
        raise click.BadParameter(str(exc), param_hint="CODE") from None
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            detail = ticket_detail(session=session, settings=settings, code=code, now=utcnow())
        except TicketNotFound as exc:
            raise click.ClickException(exc.message) from None
    if as_json:
        echo_json(detail.to_json())
        return
    t = detail.ticket
    click.echo(f"工单 {t.code}  {STATE_ZH[t.state]}  {t.category_name}  {t.unit_path}")
    if detail.holder:
        deadline = f"，时限 {format_local_time(detail.deadline)}" if detail.deadline else ""
        click.echo(f"负责：{detail.holder}{deadline}")
    if t.location:
        click.echo(f"位置：{t.location}")
    click.echo(f"内容：{detail.text}")
    click.echo(
        "反映人：" + "；".join(f"{r['name']} {r['phone']}".strip() for r in detail.reporters)
    )
    click.echo("经过：")
    for event in detail.events:
        when = format_local_time(datetime.fromisoformat(event["at"]))
        note = f"：{event['note']}" if event["note"] else ""
        click.echo(f"  {when}  {event['actor']}  {event['kind']} -> {event['to']}{note}")


@tickets.command("stats")
@with_settings
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (local).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day (local), included.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(settings: Settings, start: datetime | None, end: datetime | None, as_json: bool) -> None:
    """Counts by state and category, resolution levels, the three rates, median times."""
    first: date | None = start.date() if start else None
    last: date | None = end.date() if end else None
    if first and last and first > last:
        raise click.BadParameter("--from 不能晚于 --to", param_hint="--from")
    begin, stop = local_period(first, last)
    with open_database(settings) as engine, session_scope(engine) as session:
        figures = ticket_stats(session=session, now=utcnow(), start=begin, end=stop)
    if as_json:
        echo_json(
            {
                "from": first.isoformat() if first else None,
                "to": last.isoformat() if last else None,
                **figures.to_json(),
            }
        )
        return
    names = {c.code: c.name for c in settings.tickets.categories}
    period = f"{first or '开始'} 至 {last or '今天'}"
    click.echo(f"统计期间：{period}")
    click.echo(format_stats(figures, names))


@tickets.command("create")
@with_settings
@click.option("--unit", "unit_path", required=True, help="Org unit path: 黄霞村/第16网格/3号楼.")
@click.option("--text", required=True, help="The problem, as the resident told it.")
@click.option("--reporter", required=True, help="The resident's name.")
@click.option("--phone", help="The resident's phone (kept private; masked everywhere shown).")
@click.option(
    "--channel",
    type=click.Choice([TicketChannel.PHONE.value, TicketChannel.WALK_IN.value]),
    default=TicketChannel.PHONE.value,
    show_default=True,
)
@click.option("--category", help="Category code (default: what the parser reads).")
@click.option("--urgent", is_flag=True, help="Mark urgent (default: what the parser reads).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def create(
    settings: Settings,
    unit_path: str,
    text: str,
    reporter: str,
    phone: str | None,
    channel: str,
    category: str | None,
    urgent: bool,
    as_json: bool,
) -> None:
    """One-stop intake (一站受理) of a phone call or walk-in: same pipeline as a chat."""
    if not text.strip() or not reporter.strip():
        raise click.BadParameter("内容和反映人不能为空", param_hint="--text/--reporter")
    ticket_in = TicketCreate(
        unit_path=unit_path,
        text=text,
        reporter_name=reporter,
        reporter_phone=phone,
        channel=TicketChannel(channel),
        category=category,
        urgency=Urgency.URGENT if urgent else None,
    )
    now = utcnow()
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            outcome = create_ticket(
                session=session, settings=settings, ticket_in=ticket_in, now=now
            )
        except TicketError as exc:
            raise click.ClickException(exc.message) from None
        queued = queue_replies(session=session, replies=outcome.replies, now=now)
        principal = cli_principal()
        record(
            session,
            principal=principal,
            channel=AuditChannel.CLI,
            action="ticket.create",
            now=now,
            source=principal.id,
            target=outcome.ticket_code or "",
            message=f"一站受理（{TicketChannel(channel).value}）：{outcome.kind.value}",
        )
    if as_json:
        echo_json(
            {
                "code": outcome.ticket_code,
                "kind": outcome.kind.value,
                "receipt": outcome.receipt,
                "queued_messages": queued,
            }
        )
        return
    click.echo(outcome.receipt)
    if queued:
        click.echo(f"已通知负责人（{queued}条消息待机器人发送）。")
