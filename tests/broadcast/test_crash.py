"""Kill a broadcasting process with SIGKILL midway, start it again: it resumes from the
database and no group that was recorded ``sent`` gets the notice twice.

Three processes, as in production: the simulated WeChat (`gridcast sandbox serve`),
which outlives the crash, and `gridcast run` twice, talking to it over gRPC.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from models.broadcast import Delivery, DeliveryState
from models.db import make_engine
from orgtree.roster import write_roster
from tests.factories import small_town

ROSTER = small_town(villages=2, grids_per_village=3, units_per_grid=10)
ACCOUNTS, RATE, BURST = 3, 6.0, 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gridcast(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gridcast", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_line(process: subprocess.Popen[str], marker: str, within_s: float = 60) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"process exited ({process.returncode}) before {marker!r}")
        if marker in line:
            return line
    raise AssertionError(f"{marker!r} not printed within {within_s} s")


def http(method: str, url: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def deployment(tmp_path: Path, db_url: str) -> Iterator[tuple[Path, str]]:
    roster = write_roster(ROSTER, tmp_path / "roster.csv")
    base = {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": db_url},
        "town": {"roster": str(roster)},
        "bots": {"sandbox_accounts": ACCOUNTS, "rate_per_s": RATE, "burst": BURST},
        "sandbox": {"residents_per_unit": 1},
    }
    sandbox_config = tmp_path / "sandbox.yaml"
    sandbox_config.write_text(json.dumps(base, ensure_ascii=False), encoding="utf-8")
    setup = subprocess.run(
        [sys.executable, "-m", "gridcast", "setup", "--config", str(sandbox_config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    endpoints_file = tmp_path / "endpoints.json"
    sandbox_port = free_port()
    world = gridcast(
        "sandbox",
        "serve",
        "--config",
        str(sandbox_config),
        "--port",
        str(sandbox_port),
        "--endpoints-file",
        str(endpoints_file),
    )
    try:
        wait_for_line(world, "模拟微信已启动")
        endpoints = json.loads(endpoints_file.read_text(encoding="utf-8"))
        bot_config = tmp_path / "bots.yaml"
        accounts = [
            {
                "id": account_id,
                "endpoint": e["endpoint"],
                "token": e["token"],
                "rate_per_s": RATE,
                "burst": BURST,
            }
            for account_id, e in sorted(endpoints.items())
        ]
        bot_config.write_text(
            json.dumps(
                {
                    **base,
                    "web": {"port": free_port()},
                    "bots": {"accounts": accounts},
                    "sandbox": {"enabled": False},
                    "broadcast": {"resend_uncertain": True},
                },
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        yield bot_config, f"http://127.0.0.1:{sandbox_port}/sandbox/api"
    finally:
        stop(world)


def send_a_third(url: str, token: str) -> tuple[str, int]:
    """A town-wide notice, confirmed; returns (code, groups) once a third of them got it."""
    created = http(
        "POST",
        f"{url}/api/notices",
        {
            "title": "暴雨预警",
            "body": "今夜有大暴雨，请低洼地带住户注意转移。",
            "scope": ROSTER.town,
            "issuer": "镇防汛办",
            "confirm": True,
        },
        token=token,
    )
    code, groups = str(created["code"]), int(created["groups"])
    deadline = time.monotonic() + 30
    while http("GET", f"{url}/api/notices/{code}", token=token)["sent"] < groups // 3:
        assert time.monotonic() < deadline, "sending did not start"
        time.sleep(0.05)
    return code, groups


def wait_until_done(url: str, code: str, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (report := http("GET", f"{url}/api/notices/{code}", token=token))["status"] != "done":
        assert time.monotonic() < deadline, report
        time.sleep(0.1)
    return dict(report)


def posts_per_room(sandbox_api: str, code: str) -> dict[str, int]:
    """How many times each room of the simulated WeChat got the notice (or a line about it)."""
    marker = re.compile(rf"【[^】]*{code}】")
    posts = {}
    for room in http("GET", f"{sandbox_api}/rooms?members=0")["rooms"]:
        transcript = http("GET", f"{sandbox_api}/rooms/{room['room_id']}/transcript")["messages"]
        posts[room["room_id"]] = sum(
            1 for m in transcript if m["sender_is_bot"] and marker.search(m["text"])
        )
    return posts


def start_bots(config: Path) -> tuple[subprocess.Popen[str], str]:
    process = gridcast("run", "--config", str(config))
    line = wait_for_line(process, "已启动: ")
    return process, line.split("已启动: ")[1].split()[0]


def test_sigkill_midway_then_resume_sends_nothing_twice(
    deployment: tuple[Path, str], db_url: str
) -> None:
    config, sandbox_api = deployment
    token = (config.parent / "data" / "admin.token").read_text(encoding="utf-8").strip()
    process, url = start_bots(config)
    try:
        code, groups = send_a_third(url, token)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        stop(process)

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            before = {d.room_id: d.state for d in session.exec(select(Delivery))}
    finally:
        engine.dispose()
    sent_before = {room for room, state in before.items() if state is DeliveryState.SENT}
    caught = {room for room, state in before.items() if state is DeliveryState.SENDING}
    assert 0 < len(sent_before) < groups, "the kill must land midway"

    process, url = start_bots(config)
    try:
        report = wait_until_done(url, code, token)
    finally:
        stop(process)

    posts = posts_per_room(sandbox_api, code)
    assert len(posts) == groups
    assert all(n >= 1 for n in posts.values()), "a group never got the notice"
    duplicated = {room for room, n in posts.items() if n > 1}
    assert not duplicated & sent_before, "a delivery recorded as sent was sent again"
    assert duplicated <= caught, "only a delivery caught mid-send may be repeated"
    assert report["sent"] == groups


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_standby_takes_over_a_killed_active_process_and_sends_nothing_twice(
    deployment: tuple[Path, str], db_url: str
) -> None:
    """``gridcast run --standby`` twice: the first is active, the second waits; the active one
    is killed (SIGKILL) mid-notice; the standby takes over, resumes from the outbox and
    finishes: every group gets it, nothing recorded sent goes out again."""
    config, sandbox_api = deployment
    token = (config.parent / "data" / "admin.token").read_text(encoding="utf-8").strip()
    standby_config = config.with_name("standby.yaml")
    settings = json.loads(config.read_text(encoding="utf-8"))
    standby_config.write_text(
        json.dumps({**settings, "web": {"port": free_port()}}, ensure_ascii=False),
        encoding="utf-8",
    )
    active = gridcast("run", "--standby", "--config", str(config))
    standby: subprocess.Popen[str] | None = None
    try:
        url = wait_for_line(active, "已启动: ").split("已启动: ")[1].split()[0]
        standby = gridcast("run", "--standby", "--config", str(standby_config))
        time.sleep(2)  # it is waiting for the lock
        assert standby.poll() is None
        code, groups = send_a_third(url, token)
        killed_at = time.monotonic()
        active.send_signal(signal.SIGKILL)
        active.wait(timeout=10)
        line = wait_for_line(standby, "已启动: ", within_s=60)
        took_over_s = time.monotonic() - killed_at
        standby_url = line.split("已启动: ")[1].split()[0]
        report = wait_until_done(standby_url, code, token)
    finally:
        stop(active)
        if standby is not None:
            stop(standby)
    assert took_over_s < 15, took_over_s  # lock freed at once, accounts logged in again
    posts = list(posts_per_room(sandbox_api, code).values())
    assert len(posts) == groups and min(posts) >= 1
    assert sum(posts) - groups <= ACCOUNTS  # at most the posts cut mid-way, sent again
    assert report["sent"] == groups
