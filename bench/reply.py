"""``gridcast bench reply``: how fast a resident is answered, on the full Guohuan system.

The real process (`create_app` with the sandbox, 32 wechaty clients over gRPC, the
routers, SQLite) on a fresh database; residents post in random unit groups, one at a
time, and the time until the bot's answer appears in the group is measured: `我的网格长`
(a directory look-up) and a complaint (parse, ticket, code, reply, private forward).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from typing import Any

from aiohttp import web

from core.config import parse_settings
from gridcast.runtime import build_sandbox, prepare_database
from web.app import create_app
from web.keys import HUB

COMPLAINTS = (
    "楼道的灯坏了好几天了，晚上黑乎乎的",
    "门口的垃圾桶满了三天没人清，臭死了",
    "隔壁装修每天早上七点就开始电钻，吵得没法睡",
    "小区门口的井盖松了，电动车压过去咣咣响",
)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def run_reply_bench(messages: int = 50, seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gridcast-reply-") as tmp:
        settings = parse_settings(
            {"data_dir": tmp, "web": {"port": 0}, "sandbox": {"residents_per_unit": 2}}
        )
        prepare_database(settings)
        sandbox = await build_sandbox(settings)
        runner = web.AppRunner(
            create_app(settings, sandbox=sandbox), handle_signals=False, access_log=None
        )
        started = time.perf_counter()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        startup_s = time.perf_counter() - started
        try:
            await runner.app[HUB].wait_rooms(600)
            rng = random.Random(seed)
            rooms = [r for r in sandbox.rooms(with_members=False) if "-" in r.topic]
            lookups: list[float] = []
            tickets: list[float] = []
            for index in range(messages):
                room = rng.choice(rooms)
                sender = next(
                    m.contact_id
                    for m in sandbox.room_members(room.room_id)
                    if m.contact_id.startswith("resident-")
                )
                for text, samples in (
                    ("我的网格长", lookups),
                    (COMPLAINTS[index % len(COMPLAINTS)], tickets),
                ):
                    posted = sandbox.post_message(room.room_id, sender, text)
                    t0 = time.perf_counter()
                    while not any(
                        m.sender_is_bot
                        for m in sandbox.transcript(room.room_id, since_seq=posted.seq)
                    ):
                        if time.perf_counter() - t0 > 10:
                            raise TimeoutError(f"no answer in {room.topic} to {text!r}")
                        await asyncio.sleep(0.002)
                    samples.append(time.perf_counter() - t0)
        finally:
            await runner.cleanup()
    return {
        "messages": messages,
        "startup_s": round(startup_s, 1),
        "find_leader": _percentiles(lookups),
        "ticket": _percentiles(tickets),
        "target_ms": 2000,
    }


__all__ = ["run_reply_bench"]
