"""Worker processes for the cluster tests: ``python -m tests.cluster.processes MODE URL ARGS``.

* ``leases WORKER SECONDS TTL RENEW_EVERY STALL_P SEED ACCOUNT_IDS``: claim, renew and
  rebalance in a loop, now and then stalling past the ttl; every holding is logged in
  ``lease_log`` (account, epoch, worker, started, ended) in the transaction that claimed or
  renewed it, ``ended`` being the last moment this worker trusted it (wall clock).
* ``jobs WORKER SECONDS FIRST_PERIOD PERIOD GATED``: run the job ``tick`` for every period
  from FIRST_PERIOD to now, through run_once_across_cluster; GATED=1 only while leading.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from cluster.leader import LeaderElection, run_once_across_cluster
from cluster.leases import CLOCK_DRIFT, HeldLeases, database_now, rebalance
from models.db import make_engine, session_scope


def _wall(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def leases(
    url: str, worker: str, seconds: str, ttl_s: str, every_s: str, stall_p: str, seed: str, ids: str
) -> None:
    engine = make_engine(url)
    ttl = timedelta(seconds=float(ttl_s))
    every = float(every_s)
    account_ids = [int(part) for part in ids.split(",")]
    rng = random.Random(int(seed))
    held = HeldLeases(ttl=ttl)
    stop_at = time.monotonic() + float(seconds)
    while time.monotonic() < stop_at:
        started, started_wall = time.monotonic(), time.time()
        trust_end = _wall(started_wall + ttl.total_seconds() * (1 - CLOCK_DRIFT))
        with session_scope(engine) as session:
            now = database_now(session)
            result = rebalance(
                session,
                worker_id=worker,
                account_ids=account_ids,
                held=dict(held.epochs),
                stopped=dict(held.stopping),
                now=now,
                ttl=ttl,
                worker_ttl=ttl,
            )
            for lease in result.claimed:
                session.execute(
                    text("INSERT INTO lease_log VALUES (:a, :e, :w, :s, :t)"),
                    {
                        "a": lease.account_id,
                        "e": lease.epoch,
                        "w": worker,
                        "s": now,
                        "t": trust_end,
                    },
                )
            for lease in result.renewed:
                session.execute(
                    text("UPDATE lease_log SET ended = :t WHERE account_id = :a AND epoch = :e"),
                    {"a": lease.account_id, "e": lease.epoch, "t": trust_end},
                )
        held.apply(result, started=started)
        stopped_wall = _wall(time.time())
        if result.give_up:
            with session_scope(engine) as session:
                for account_id in result.give_up:
                    session.execute(
                        text(
                            "UPDATE lease_log SET ended = :t WHERE account_id = :a AND epoch = :e"
                        ),
                        {"a": account_id, "e": held.stopping[account_id], "t": stopped_wall},
                    )
        if rng.random() < float(stall_p):
            time.sleep(ttl.total_seconds() * 1.5)  # a stall: the leases expire meanwhile
        else:
            time.sleep(every)
    engine.dispose()


def _record_run(worker: str, period: datetime):  # type: ignore[no-untyped-def]
    def job(session: Session) -> None:
        session.execute(
            text("INSERT INTO job_log (period_start, worker_id) VALUES (:p, :w)"),
            {"p": period, "w": worker},
        )

    return job


async def jobs(url: str, worker: str, seconds: str, first: str, period_s: str, gated: str) -> None:
    engine = make_engine(url)
    first_period = datetime.fromtimestamp(float(first), UTC)
    period = timedelta(seconds=float(period_s))

    def on_change(leading: bool) -> None:
        with session_scope(engine) as session:
            session.execute(
                text("INSERT INTO leader_log (worker_id, is_leading, at) VALUES (:w, :l, :t)"),
                {"w": worker, "l": leading, "t": datetime.now(UTC)},
            )

    election = LeaderElection(url, "jobs", retry_every=0.2, check_every=0.2, on_change=on_change)
    stop_at = time.monotonic() + float(seconds)
    start = first_period  # every period before this one has run, here or elsewhere
    async with election:
        while time.monotonic() < stop_at:
            if election.is_leader or gated == "0":
                while start + period <= datetime.now(UTC):
                    with session_scope(engine) as session:
                        run_once_across_cluster(
                            session,
                            job_key="tick",
                            period_start=start,
                            fn=_record_run(worker, start),
                            worker_id=worker,
                        )
                    start += period
            await asyncio.sleep(0.05)
    engine.dispose()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "leases":
        leases(*args)
    elif mode == "jobs":
        asyncio.run(jobs(*args))
    else:
        raise SystemExit(f"unknown mode {mode}")
