"""``gridcast bench``: measurements run by hand (never in the timed test suite)."""

from __future__ import annotations

import asyncio
import json
import resource
import runpy
import sys
import time

import click

from core.config import Settings
from gridcast.cli.tools import with_settings


@click.group()
def bench() -> None:
    """Benchmarks (see the README's figures)."""


def _emit(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            click.echo(f"{key}: {value}")


@bench.command("broadcast")
@with_settings
@click.option(
    "--rate-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply every rate by K (a run takes ~150/K s).",
)
@click.option(
    "--fail",
    is_flag=True,
    help="Log out accounts midway (those whose groups have the fewest alternatives first) "
    "and fail 1% of sends from then on.",
)
@click.option(
    "--fail-accounts",
    type=int,
    default=3,
    show_default=True,
    help="With --fail: how many accounts are logged out.",
)
@click.option(
    "--fail-at",
    type=float,
    default=0.3,
    show_default=True,
    help="With --fail: when, as a share of the predicted reach.",
)
@click.option("--json", "as_json", is_flag=True)
def bench_broadcast(
    settings: Settings,
    rate_scale: float,
    fail: bool,
    fail_accounts: int,
    fail_at: float,
    as_json: bool,
) -> None:
    """A whole-town notice on the full Guohuan tree through the sandbox."""
    from bench.broadcast import run_broadcast_bench

    if not 0 < rate_scale <= 100:
        raise click.BadParameter("must be in (0, 100]", param_hint="--rate-scale")
    if fail_accounts < 0:
        raise click.BadParameter("must be >= 0", param_hint="--fail-accounts")
    if not 0 <= fail_at <= 1:
        raise click.BadParameter("must be in [0, 1]", param_hint="--fail-at")
    _emit(
        asyncio.run(
            run_broadcast_bench(
                rate_scale=rate_scale,
                fail=fail,
                fail_accounts=fail_accounts,
                fail_at=fail_at,
                settings=settings,
            )
        ),
        as_json,
    )


@bench.command("chase")
@with_settings
@click.option(
    "--silent",
    type=click.IntRange(min=0),
    default=2020,
    show_default=True,
    help="Units that do not answer the urgent town notice (the rest do).",
)
@click.option("--rate-scale", type=click.FloatRange(0, 100, min_open=True), default=1.0)
@click.option("--json", "as_json", is_flag=True)
def bench_chase(settings: Settings, silent: int, rate_scale: float, as_json: bool) -> None:
    """Reminders (催办) to the silent units of an urgent town notice, through the sandbox."""
    from bench.chase import run_chase_bench

    _emit(
        asyncio.run(run_chase_bench(silent=silent, rate_scale=rate_scale, settings=settings)),
        as_json,
    )


@bench.command("sandbox")
@click.option("--sends", type=int, default=5000, show_default=True)
@click.option("--accounts", type=int, default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_sandbox(sends: int, accounts: int, as_json: bool) -> None:
    """Sends/s of bot -> wechaty -> gRPC -> sandbox with rate limits off, and peak memory
    with the full Guohuan world loaded."""
    from bench.sandbox import measure_send_throughput
    from core.config import parse_settings
    from gridcast.deployment import build_world_spec
    from models.db import make_engine, session_scope, upgrade
    from orgtree.service import ensure_town
    from sandbox.sandbox import Sandbox

    result = asyncio.run(measure_send_throughput(sends, accounts))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_settings({"data_dir": tmp})
        engine = make_engine(cfg.database_url)
        upgrade(engine)
        with session_scope(engine) as session:
            ensure_town(session=session, settings=cfg)
            started = time.perf_counter()
            spec = build_world_spec(session, cfg)
        engine.dispose()
        world = Sandbox(spec)
        result["guohuan_rooms"] = len(world.world.rooms)
        result["guohuan_contacts"] = len(world.world.contacts)
        result["world_build_s"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    _emit(result, as_json)


@bench.command("plan", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_plan(args: tuple[str, ...]) -> None:
    """Planning at town scale and city scale (100,000 groups, 1,000 accounts)."""
    sys.argv = ["gridcast bench plan", *args]
    runpy.run_module("bench.plan_city", run_name="__main__", alter_sys=True)


@bench.command("intake", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_intake(args: tuple[str, ...]) -> None:
    """Intake parser throughput on one core (messages per second)."""
    sys.argv = ["gridcast bench intake", *args]
    runpy.run_module("bench.intake", run_name="__main__", alter_sys=True)


@bench.command("console")
@click.option(
    "--database-url",
    default=None,
    help="A PostgreSQL server to measure on (a schema of its own, dropped after); "
    "default: a fresh SQLite file.",
)
@click.option("--tickets", type=int, default=100_000, show_default=True)
@click.option("--notices", type=int, default=1_000, show_default=True)
@click.option("--rounds", type=int, default=30, show_default=True, help="Requests per page.")
@click.option("--json", "as_json", is_flag=True)
def bench_console(
    database_url: str | None, tickets: int, notices: int, rounds: int, as_json: bool
) -> None:
    """Console page times (p50/p95), the board's query and the live reach delay, with the
    full Guohuan tree, 100,000 tickets and 1,000 notices."""
    from bench.console import run_console_bench

    _emit(
        asyncio.run(
            run_console_bench(
                database_url=database_url, tickets=tickets, notices=notices, rounds=rounds
            )
        ),
        as_json,
    )


@bench.command("reply")
@click.option("--messages", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_reply(messages: int, as_json: bool) -> None:
    """Time from a resident's message to the bot's answer in the group (full Guohuan system)."""
    from bench.reply import run_reply_bench

    _emit(asyncio.run(run_reply_bench(messages)), as_json)
