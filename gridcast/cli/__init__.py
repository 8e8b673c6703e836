"""The ``gridcast`` command line.

Every command that reads or changes state takes ``--config`` and ``--data-dir``
(also from ``GRIDCAST_CONFIG`` / ``GRIDCAST_DATA_DIR``), so it works on the data
of a ``gridcast run`` started with the same options.

Sub-commands live in the modules of this package and are imported only when they run,
so ``gridcast --help`` starts without loading the database, web or chat libraries.
"""

from __future__ import annotations

import importlib
import logging

import click

import gridcast

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute, short help shown by ``gridcast --help``)
    "setup": (
        "gridcast.cli.system",
        "setup",
        "Bring the database to this version's schema and load the town when it is empty.",
    ),
    "run": (
        "gridcast.cli.system",
        "run",
        "Start the whole system: web server (and, as configured, sandbox, bots, scheduler).",
    ),
    "web": (
        "gridcast.cli.system",
        "web",
        "Serve the console and the API only, as one of any number of web processes.",
    ),
    "db": ("gridcast.cli.system", "db", "Database schema."),
    "config": ("gridcast.cli.system", "config_group", "The deployment's configuration."),
    "org": ("gridcast.cli.org", "org", "The town's org tree (镇/村/网格/单元) and roster."),
    "bot": ("gridcast.cli.bot", "bot", "The bot accounts (机器人账号)."),
    "notice": ("gridcast.cli.notice", "notice", "Notices to the town's groups (通知)."),
    "tickets": (
        "gridcast.cli.tickets",
        "tickets",
        "Tickets (工单): list, show, figures, one-stop intake.",
    ),
    "parse": (
        "gridcast.cli.parse",
        "parse_command",
        "Decide which group messages are tickets (工单受理).",
    ),
    "sandbox": (
        "gridcast.cli.sandbox",
        "sandbox",
        "The simulated WeChat (模拟微信) of a running `gridcast run`.",
    ),
    "report": (
        "gridcast.cli.rhythm",
        "report",
        "Reports (月结): the monthly report as XLSX and a chart.",
    ),
    "task": (
        "gridcast.cli.rhythm",
        "task",
        "Tasks to grids (任务下达): assign, completion per village and grid, export.",
    ),
    "cadence": (
        "gridcast.cli.rhythm",
        "cadence",
        "The cadences (日清、周商、旬查、月结): run one by hand.",
    ),
    "token": ("gridcast.cli.admin", "token", "API tokens for integrations and scripts (接口令牌)."),
    "audit": (
        "gridcast.cli.admin",
        "audit",
        "The audit trail (操作记录): who did what, when, through which channel.",
    ),
    "backup": (
        "gridcast.cli.ops",
        "backup",
        "Back up the database to FILE, also while the system runs.",
    ),
    "restore": (
        "gridcast.cli.ops",
        "restore",
        "Restore the database from a backup FILE (into an empty database).",
    ),
    "person": (
        "gridcast.cli.ops",
        "person",
        "A resident's personal data (个人信息): export or erase it.",
    ),
    "cap": (
        "gridcast.cli.ops",
        "cap",
        "CAP 1.2 warnings (预警): send a CAP file to the running system's POST /api/cap.",
    ),
    "plan": (
        "gridcast.cli.plan",
        "plan",
        "Plans for the deployment (bot accounts and their groups).",
    ),
    "bench": ("gridcast.cli.bench", "bench", "Benchmarks (see the README's figures)."),
}
"""Every sub-command; a test checks each short help against the command itself."""


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short_help) for name, (_, _, short_help) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(gridcast.__version__, prog_name="gridcast")
@click.option("-v", "--verbose", is_flag=True, help="Log debug output.")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default="console",
    envvar="GRIDCAST_LOG_FORMAT",
    show_default=True,
    help="Logs for people (console) or one JSON object per line (json).",
)
def main(verbose: bool, log_format: str) -> None:
    """gridcast: 网格化治理微信群机器人 (WeChat group bot for grid governance)."""
    from core.logs import configure_logging

    configure_logging(
        fmt="json" if log_format == "json" else "console",
        level=logging.DEBUG if verbose else logging.INFO,
    )
