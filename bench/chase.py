"""``gridcast bench chase``: reminders (催办) to the silent units of an urgent town notice.

The process as ``gridcast run`` builds it, on the full Guohuan tree, the sandbox and one
wechaty client per account (as ``gridcast bench broadcast``). An urgent notice goes to
every group; then every unit leader except ``--silent`` of them answers (recorded as
their 收到 would be), and one chasing round runs at the time the group reminders fall
due. Measured: how long until every silent group has its reminder, against
``rate_bound_s`` (reminders / the reminders' share of the accounts' summed rates; the
first bursts can beat it slightly, so ``ratio`` may be just under 1), how the posts spread over the accounts,
duplicates, and how fast residents who write meanwhile are answered (the share of the
rate the reminders leave free).

The issue this answers: reminders went out one after another at 1.1/s; 2,020 took over
18 minutes.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import update
from sqlmodel import Session, col, select

from bench.broadcast import _settings, _transport
from broadcast.chasing import Chaser
from broadcast.engine import NoticeRequest
from core.config import Settings
from gridcast.runtime import build_sandbox, prepare_database
from models.broadcast import Delivery, DeliveryState, Notice, NoticeKind, NoticePriority
from models.db import run_in_session
from web.app import create_app
from web.keys import BROADCASTER, ENGINE, HUB

SILENT = 2020
"""Silent units in the measurement the issue reports."""


async def run_chase_bench(
    *,
    silent: int = SILENT,
    rate_scale: float = 1.0,
    seed: int = 11,
    settings: Settings | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gridcast-chase-") as tmp:
        cfg = _settings(Path(tmp), rate_scale, settings)
        cfg = cfg.model_copy(
            update={"sandbox": cfg.sandbox.model_copy(update={"residents_per_unit": 2})}
        )
        prepare_database(cfg)
        sandbox = await build_sandbox(cfg, heartbeat_interval_s=0, message_id_prefix="c")
        runner = web.AppRunner(
            create_app(cfg, sandbox=sandbox, transport_factory=_transport),
            handle_signals=False,
            access_log=None,
        )
        await runner.setup()
        try:
            app = runner.app
            hub, broadcaster, engine = app[HUB], app[BROADCASTER], app[ENGINE]
            await hub.wait_rooms(600)
            prepared = await broadcaster.send(
                NoticeRequest(
                    title="台风“海葵”防御紧急通知",
                    body="台风预计今晚登陆，请立即转移低洼地带和危房人员。",
                    scope=cfg.town.name,
                    issuer_name="国欢镇防汛办",
                    priority=NoticePriority.URGENT,
                )
            )
            await broadcaster.wait(prepared.code)
            rng = random.Random(seed)

            def answer_all_but_silent(session: Session) -> tuple[int, Any]:
                units = session.exec(
                    select(Delivery.id, Delivery.sent_at)
                    .join(Notice, col(Notice.id) == col(Delivery.notice_id))
                    .where(
                        Notice.code == prepared.code,
                        Delivery.level == "unit",
                        Delivery.state == DeliveryState.SENT,
                    )
                ).all()
                ids = [i for i, _ in units]
                rng.shuffle(ids)
                answered = ids[silent:]
                last = max(t for _, t in units if t is not None)
                if answered:
                    session.execute(
                        update(Delivery)
                        .where(col(Delivery.id).in_(answered))
                        .values(acked_at=last, acked_by="压测", acked_via="leader")
                    )
                return len(ids) - len(answered), last

            silent_units, last_sent = await run_in_session(engine, answer_all_but_silent)
            due = last_sent + cfg.broadcast.reminders_urgent.remind_group + timedelta(seconds=1)
            chaser = Chaser(
                broadcaster,
                send=hub.send,
                normal=cfg.broadcast.reminders_normal,
                urgent=cfg.broadcast.reminders_urgent,
                clock=lambda: due,
            )
            started = time.monotonic()
            started_at = datetime.now(UTC)
            round_started = time.perf_counter()
            report = await chaser.run_once()
            round_ms = (time.perf_counter() - round_started) * 1000
            replies = asyncio.create_task(_residents_meanwhile(sandbox, rng))
            await broadcaster.idle()
            reach_wall_s = time.monotonic() - started
            replies.cancel()
            samples = await asyncio.gather(replies, return_exceptions=True)
            latencies = samples[0] if isinstance(samples[0], list) else []
            reminders = await run_in_session(engine, lambda s: _reminder_rows(s, started_at))
        finally:
            await runner.cleanup()
    posts = Counter(
        m.room_id for m in _bot_posts(sandbox) if "尚未确认" in m.text and prepared.code in m.text
    )
    per_account = Counter(account for account, _ in reminders["sent_by"])
    rates = [a.rate_per_s for a in cfg.account_settings()]
    share = cfg.broadcast.reminder_rate_share
    reminded = report.reminded_groups
    bound_s = reminded / (sum(rates) * share) if rates else None
    reach_s = reminders["reach_s"]
    return {
        "groups": prepared.groups,
        "silent_units": silent_units,
        "reminded_groups": reminded,
        "reminders_sent": reminders["sent"],
        "reminders_unreachable": reminders["unreachable"],
        "round_ms": round(round_ms, 1),
        "reach_s": reach_s,
        "wall_s": round(reach_wall_s, 2),
        "rate_share": share,
        "rate_bound_s": round(bound_s, 2) if bound_s else None,
        "ratio": round(reach_s / bound_s, 4) if reach_s and bound_s else None,
        "reminders_per_s": round(reminders["sent"] / reach_s, 2) if reach_s else None,
        "accounts_used": len(per_account),
        "per_account_min_max": [min(per_account.values()), max(per_account.values())]
        if per_account
        else None,
        "duplicates": sum(1 for n in posts.values() if n > 1),
        "resident_replies_during": _percentiles(latencies),
        "rate_scale": rate_scale,
    }


def _reminder_rows(session: Session, started_at: datetime) -> dict[str, Any]:
    """The reminder rows; reach from the round's start (wall clock: the round itself ran
    on a clock set to when the reminders fall due)."""
    reminder = session.exec(select(Notice).where(Notice.kind == NoticeKind.REMINDER)).one()
    rows = session.exec(select(Delivery).where(Delivery.notice_id == reminder.id)).all()
    sent = [r for r in rows if r.state is DeliveryState.SENT and r.sent_at is not None]
    reach = max(r.sent_at for r in sent if r.sent_at) - started_at if sent else None
    return {
        "sent": len(sent),
        "unreachable": sum(1 for r in rows if r.state is DeliveryState.UNREACHABLE),
        "sent_by": [(r.account_id, r.room_id) for r in sent],
        "reach_s": round(reach.total_seconds(), 2) if reach else None,
    }


def _bot_posts(sandbox: Any) -> list[Any]:
    return [
        m
        for room in sandbox.rooms(with_members=False)
        for m in sandbox.transcript(room.room_id)
        if m.sender_is_bot
    ]


async def _residents_meanwhile(sandbox: Any, rng: random.Random) -> list[float]:
    """A resident asks for their grid leader every second; seconds until answered."""
    rooms = [r for r in sandbox.rooms(with_members=False) if "-" in r.topic]
    out: list[float] = []
    try:
        while True:
            room = rng.choice(rooms)
            sender = next(
                m.contact_id
                for m in sandbox.room_members(room.room_id)
                if m.contact_id.startswith("resident-")
            )
            posted = sandbox.post_message(room.room_id, sender, "我的网格长是谁")
            t0 = time.perf_counter()
            while not any(
                m.sender_is_bot and "网格长" in m.text
                for m in sandbox.transcript(room.room_id, since_seq=posted.seq)
            ):
                if time.perf_counter() - t0 > 30:
                    break
                await asyncio.sleep(0.01)
            out.append(time.perf_counter() - t0)
            await asyncio.sleep(1.0)
    except asyncio.CancelledError:
        return out


def _percentiles(samples: list[float]) -> dict[str, float | int] | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


__all__ = ["run_chase_bench"]
