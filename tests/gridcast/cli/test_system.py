from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from gridcast.cli import main


def test_setup_then_stats_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    result = runner.invoke(main, ["setup", *data])
    assert result.exit_code == 0, result.output
    assert "单元 4559" in result.output

    result = runner.invoke(main, ["org", "stats", "--json", *data])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert (stats["town"], stats["village"], stats["grid"], stats["unit"]) == (1, 15, 172, 4559)
    assert sum(stats["unit_kinds"].values()) == 4559

    result = runner.invoke(main, ["org", "show", "黄霞村/第16网格", *data])
    assert result.exit_code == 0, result.output
    assert "73 个单元" in result.output and "郭燕冰" in result.output
    assert "138****" in result.output

    result = runner.invoke(main, ["org", "show", "黄霞村/第99网格", *data])
    assert result.exit_code == 1
    assert "找不到" in result.output


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["org", "stats", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "gridcast db upgrade" in result.output


def test_bad_config_stops_with_one_message(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("web:\n  port: many\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["setup", "--config", str(config), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "web.port = 'many'" in result.output
    assert not (tmp_path / "gridcast.db").exists()


def test_run_serves_healthz_and_stops_on_sigint(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert CliRunner().invoke(main, ["setup", *data]).exit_code == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "gridcast", "run", "--port", "0", *data],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = None
        seen: list[str] = []
        deadline = time.monotonic() + 90  # the full Guohuan world and 32 log-ins; CI may be busy
        while url is None and time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            seen.append(line)
            if "已启动: " in line:
                url = line.split("已启动: ")[1].split()[0]
        assert url, "gridcast run did not announce its URL:\n" + "".join(seen[-20:])
        # Keep reading what it prints: a full pipe would block the process (a test bug,
        # not a slow stop).
        threading.Thread(target=lambda: seen.extend(process.stdout or ()), daemon=True).start()
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            body = json.loads(response.read())
        assert body["counts"]["unit"] == 4559
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert time.monotonic() - started < 8  # ~1.3 s on an idle machine; CI may be busy
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
