"""``gridcast bench broadcast``: a whole-town notice on the full Guohuan tree.

Everything real except WeChat: the process as ``gridcast run`` builds it
(:func:`web.app.create_app`) on the org tree in a fresh SQLite database, the sandbox
serving the Wechaty Puppet Service protocol with each account's rate limit enforced,
one python-wechaty client per account over gRPC, the hub, the planner and the
outbox. The reference deployment is config.yaml's default: 32 accounts at 1
message/s with a burst of 5, every group in four accounts laid out by the membership
design (:mod:`broadcast.membership`), villages of uneven size.

``--rate-scale K`` multiplies every rate (accounts and sandbox alike) so a run takes
about 150/K seconds; ``--fail`` logs out ``--fail-accounts`` accounts (3, 10% of 32) at
``--fail-at`` (0.3) of the predicted reach and makes 1% of sends fail transiently from
then on. The loss is adversarial: the accounts whose groups have the fewest alternatives
go first (:func:`broadcast.membership.adversarial_loss`).
"""

from __future__ import annotations

import asyncio
import re
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlmodel import Session

from bot.transport import ChatTransport
from broadcast import membership, planner, service
from broadcast.engine import Broadcaster, NoticeRequest
from core.config import Settings, parse_settings
from gridcast.runtime import build_sandbox, prepare_database
from models.broadcast import DeliveryState
from models.db import run_in_session
from sandbox.sandbox import Sandbox
from web.app import create_app
from web.keys import BROADCASTER, ENGINE, HUB


def _settings(data_dir: Path, rate_scale: float, base: Settings | None) -> Settings:
    base = base or parse_settings({})
    bots = base.bots.model_copy(
        update={
            "rate_per_s": base.bots.rate_per_s * rate_scale,
            "accounts": [
                a.model_copy(update={"rate_per_s": a.rate_per_s * rate_scale})
                for a in base.bots.accounts
            ],
        }
    )
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "database": base.database.model_copy(update={"url": None, "echo": False}),
            "bots": bots,
            "sandbox": base.sandbox.model_copy(
                update={"failure_rate": 0.0, "residents_per_unit": 1}
            ),
            "broadcast": base.broadcast.model_copy(update={"resend_uncertain": False}),
        }
    )


FAIL_ACCOUNTS = 3
FAIL_AT = 0.3


async def run_broadcast_bench(
    *,
    rate_scale: float = 1.0,
    fail: bool = False,
    fail_accounts: int = FAIL_ACCOUNTS,
    fail_at: float = FAIL_AT,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The whole process as ``gridcast run`` builds it (``create_app``), on a fresh database
    and a sandbox of the full town; one notice to every group."""
    with tempfile.TemporaryDirectory(prefix="gridcast-bench-") as tmp:
        cfg = _settings(Path(tmp), rate_scale, settings)
        prepare_database(cfg)
        sandbox = await build_sandbox(cfg, heartbeat_interval_s=0, message_id_prefix="b")
        runner = web.AppRunner(
            create_app(cfg, sandbox=sandbox, transport_factory=_transport),
            handle_signals=False,
            access_log=None,
        )
        connect_started = time.perf_counter()
        await runner.setup()  # starts the sandbox, logs every account in, resumes nothing
        try:
            app = runner.app
            hub, broadcaster, engine = app[HUB], app[BROADCASTER], app[ENGINE]
            connect_s = time.perf_counter() - connect_started
            await hub.wait_rooms(600)
            discover_s = time.perf_counter() - connect_started - connect_s
            result = await _measure(
                cfg, sandbox, broadcaster, engine, fail_accounts if fail else 0, fail_at, fail
            )
            result["connect_s"] = round(connect_s, 1)
            result["room_discovery_s"] = round(discover_s, 1)
            result["rate_scale"] = rate_scale
            return result
        finally:
            await runner.cleanup()


def _transport(account_id: str, endpoint: str, token: str) -> ChatTransport:
    """The production wechaty transport, without the heartbeat watchdog: the bench's
    sandbox sends no heartbeats, so that they do not compete with the posts."""
    from bot.wechaty_transport import WechatyTransport

    return WechatyTransport(account_id, endpoint=endpoint, token=token, heartbeat_timeout_s=None)


async def _measure(
    cfg: Settings,
    sandbox: Sandbox,
    broadcaster: Broadcaster,
    engine: Any,
    fail_accounts: int,
    fail_at: float,
    fail: bool,
) -> dict[str, Any]:
    deadline = cfg.broadcast.deadline.total_seconds()

    def naive(session: Session) -> tuple[planner.DeliveryPlan, dict[str, frozenset[str]]]:
        scope = service.scope_unit(session, cfg.town.name, town=cfg.town.name)
        targets = service.target_groups(session, scope, ("town", "village", "grid", "unit"))
        groups = service.planner_groups(targets)
        plan = planner.plan_delivery(groups, broadcaster.planner_accounts())
        return plan, {g.id: g.members for g in groups}

    reference, members = await run_in_session(engine, naive)
    account_ids = [a.id for a in cfg.account_settings()]
    lost = membership.adversarial_loss(members, account_ids, fail_accounts) if fail else ()
    request = NoticeRequest(
        title="台风“海葵”防御紧急通知",
        body="台风预计今晚登陆，请立即转移低洼地带和危房人员，停止一切户外作业。",
        scope=cfg.town.name,
        issuer_name="国欢镇防汛办",
        deadline_s=deadline,
    )
    prepared = await broadcaster.prepare(request)
    started = time.monotonic()
    await broadcaster.confirm(prepared.code)
    if fail:
        asyncio.get_running_loop().call_later(
            prepared.predicted_reach_s * fail_at, _inject_failures, sandbox, lost
        )
    await broadcaster.wait(prepared.code)
    wall_s = time.monotonic() - started
    writer = broadcaster.last_writer
    report = await run_in_session(
        engine, lambda s: service.reach_report(s, service.notice_by_code(s, prepared.code))
    )
    states = await run_in_session(engine, lambda s: _states(s, prepared.code))
    per_room = _posts_per_room(sandbox, prepared.code)
    sent_times, _acks = await run_in_session(
        engine, lambda s: service.curve_points(s, service.notice_by_code(s, prepared.code))
    )
    reach_s = max(sent_times) if sent_times else None
    uncertain_rooms = states["uncertain_rooms"]
    duplicates = sum(1 for room, n in per_room.items() if n > 1 and room not in uncertain_rooms)
    sent_rooms = states["sent_rooms"]
    missing = sum(1 for room in sent_rooms if per_room.get(room, 0) == 0)
    counts = states["counts"]
    unreachable = counts.get(DeliveryState.UNREACHABLE.value, 0)
    reached_all_reachable = report["sent"] + unreachable == prepared.groups
    delays = broadcaster.replan_delays_s
    return {
        "groups": prepared.groups,
        "delivered": report["sent"],
        "unreachable": states["counts"].get(DeliveryState.UNREACHABLE.value, 0),
        "failed": states["counts"].get(DeliveryState.FAILED.value, 0),
        "uncertain": states["counts"].get(DeliveryState.UNCERTAIN.value, 0),
        "lower_bound_s": round(prepared.lower_bound_s, 2),
        "replanned_reach_s": round(broadcaster.last_plan_reach_s or 0.0, 2),
        "predicted_reach_s": round(prepared.predicted_reach_s, 2),
        "reach_s": round(reach_s, 2) if reach_s is not None else None,
        "wall_s": round(wall_s, 2),
        "ratio": round(reach_s / prepared.lower_bound_s, 4)
        if reach_s and prepared.lower_bound_s
        else None,
        "deadline_s": deadline,
        "meets_deadline": reach_s is not None and reach_s <= deadline,
        "naive_reach_s": {
            "single_account": round(reference.naive_single_account_s, 1),
            "round_robin": round(reference.naive_round_robin_s, 1),
        },
        "time_to": report["time_to"],
        "plan_ms": round(prepared.plan_ms, 1),
        "db_writes_per_s": round(writer.rows_written / wall_s, 1) if writer else None,
        "db_commits": writer.commits if writer else None,
        "db_busy_share": round(writer.busy_s / wall_s, 4) if writer else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "posts_seen_by_sandbox": sum(per_room.values()),
        "duplicates_outside_uncertain": duplicates,
        "sent_but_not_in_sandbox": missing,
        "fail_injected": fail,
        "lost_accounts": list(lost),
        "fail_at": fail_at if fail else None,
        "meets_deadline_under_loss": reached_all_reachable
        and reach_s is not None
        and reach_s <= deadline
        and duplicates == 0,
        "predicted_reach_under_loss_s": round(prepared.predicted_reach_under_loss_s, 2)
        if prepared.predicted_reach_under_loss_s is not None
        else None,
        "replan_after_loss_s": round(max(delays), 3) if delays else None,
    }


def _inject_failures(sandbox: Sandbox, account_ids: Sequence[str]) -> None:
    for account_id in account_ids:
        sandbox.logout(account_id, "压测：模拟账号被迫下线")
    sandbox.set_risk(failure_probability=0.01)


def _states(session: Session, code: str) -> dict[str, Any]:
    from sqlmodel import select

    from models.broadcast import Delivery

    notice = service.notice_by_code(session, code)
    rows = session.exec(select(Delivery).where(Delivery.notice_id == notice.id)).all()
    return {
        "counts": Counter(r.state.value for r in rows),
        "uncertain_rooms": {r.room_id for r in rows if r.state is DeliveryState.UNCERTAIN},
        "sent_rooms": {r.room_id for r in rows if r.state is DeliveryState.SENT},
    }


def _posts_per_room(sandbox: Sandbox, code: str) -> Counter[str]:
    """How many times the notice text appears in each room, as the sandbox recorded it."""
    marker = re.compile(rf"【[^】]*{code}】")
    counts: Counter[str] = Counter()
    for room in sandbox.world.rooms.values():
        for message in sandbox.world.room_transcript(room):
            if message.sender_id in sandbox.world.accounts and marker.search(message.text):
                counts[room.room_id] += 1
    return counts
