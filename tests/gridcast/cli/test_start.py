"""``gridcast`` starts fast: sub-commands load only what they use."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gridcast.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("sqlalchemy", "sqlmodel", "aiohttp", "matplotlib", "sklearn", "scipy", "jieba", "numpy")


def _modules_after(script: str, *, stdin: str = "") -> set[str]:
    """Which of :data:`HEAVY` a fresh interpreter has imported after running ``script``."""
    probe = f"{script}\nimport sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", f"import json\n{probe}"],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _run(argv: list[str]) -> str:
    """Run ``gridcast`` in-process without exiting the interpreter."""
    return (
        f"from gridcast.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    )


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_short_help_of_gridcast_help_is_the_commands_own(name: str) -> None:
    module, attribute, short_help = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert command.get_short_help_str(limit=200) == short_help
    assert main.get_command(click.Context(main), name) is command


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert _modules_after("import gridcast.cli") == set()


def test_gridcast_help_loads_no_heavy_library() -> None:
    assert _modules_after(_run(["--help"])) == set()


def test_parsing_one_message_loads_neither_database_nor_web_nor_sklearn() -> None:
    stdin = json.dumps({"text": "楼上太吵了，半夜还在跳"}, ensure_ascii=False) + "\n"
    assert _modules_after(_run(["parse"]), stdin=stdin) <= {"numpy", "jieba"}


def test_org_stats_loads_no_web_chart_or_intake_library(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    subprocess.run(
        [sys.executable, "-m", "gridcast", "setup", *data],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    loaded = _modules_after(_run(["org", "stats", "--json", *data]))
    assert loaded == {"sqlalchemy", "sqlmodel"}
