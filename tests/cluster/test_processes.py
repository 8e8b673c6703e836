"""Several OS processes on the real PostgreSQL: lease exclusivity and takeover, and scheduled
jobs that run once per period. Assertions are on what the processes recorded, not on timing."""

from __future__ import annotations

import itertools
import signal
import time
from datetime import timedelta

from sqlalchemy import Engine, text

from tests.cluster.conftest import make_accounts, spawn

TTL = 1.0
EVERY = 0.25


def _wait(processes: list, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    """Wait for every process; their stderr, by process."""
    return {process: process.communicate(timeout=timeout)[1].decode() for process in processes}


def test_no_two_workers_hold_an_account_at_once(pg_url: str, pg_engine: Engine) -> None:
    ids = make_accounts(pg_engine, 8)
    with pg_engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE lease_log (account_id int, epoch bigint, worker_id text,"
                " started timestamptz, ended timestamptz, PRIMARY KEY (account_id, epoch))"
            )
        )
    accounts = ",".join(map(str, ids))

    def worker(name: str, seconds: float, seed: int):  # type: ignore[no-untyped-def]
        return spawn(
            "leases", pg_url, name, str(seconds), str(TTL), str(EVERY), "0.05", str(seed), accounts
        )

    first = [worker(f"w{i}", 4, i) for i in range(3)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until w0 holds something
        time.sleep(0.1)
        with pg_engine.connect() as connection:
            if connection.execute(text("SELECT 1 FROM lease_log WHERE worker_id = 'w0'")).first():
                break
    joiner = worker("w3", 3, 3)
    time.sleep(1.0)
    first[0].send_signal(signal.SIGKILL)
    errors = _wait([*first, joiner])
    assert first[0].returncode == -signal.SIGKILL
    for process in [*first[1:], joiner]:
        assert process.returncode == 0, errors[process]

    with pg_engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT account_id, epoch, worker_id, started, ended FROM lease_log"
                " ORDER BY account_id, epoch"
            )
        ).all()
    by_account: dict[int, list] = {}  # type: ignore[type-arg]
    for row in rows:
        by_account.setdefault(row.account_id, []).append(row)
    assert set(by_account) == set(ids)
    for account, holdings in by_account.items():
        # Every claim was logged (epochs 1, 2, 3, ... with no gap) ...
        assert [h.epoch for h in holdings] == list(range(1, len(holdings) + 1)), account
        for before, after in itertools.pairwise(holdings):
            # ... and each holding began after the previous holder stopped trusting it.
            assert before.ended <= after.started, (account, before, after)
    taken_over = 0
    for holdings in by_account.values():
        for before, after in itertools.pairwise(holdings):
            if before.worker_id != after.worker_id:
                taken_over += 1
    assert taken_over >= 1
    # w0 was killed: each account it held last was taken over, within the 10 s.
    for holdings in by_account.values():
        last_w0 = [i for i, h in enumerate(holdings) if h.worker_id == "w0"]
        if last_w0 and last_w0[-1] == len(holdings) - 1:
            raise AssertionError(f"not taken over after w0 died: {holdings[-1]}")
        if last_w0:
            gap = holdings[last_w0[-1] + 1].started - holdings[last_w0[-1]].ended
            assert gap < timedelta(seconds=10)
    # The late joiner got a share.
    assert any(h.worker_id == "w3" for holdings in by_account.values() for h in holdings)


def _job_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE job_log (period_start timestamptz, worker_id text)"))
        connection.execute(
            text("CREATE TABLE leader_log (worker_id text, is_leading boolean, at timestamptz)")
        )


def _periods(engine: Engine) -> list:  # type: ignore[type-arg]
    with engine.connect() as connection:
        logged = connection.execute(
            text(
                "SELECT period_start, count(*) AS n, min(worker_id) AS worker"
                " FROM job_log GROUP BY period_start ORDER BY period_start"
            )
        ).all()
        runs = connection.execute(text("SELECT count(*) FROM cluster_job_run")).scalar_one()
    assert runs == len(logged)
    return logged


def test_a_job_runs_once_per_period_across_a_leader_change(pg_url: str, pg_engine: Engine) -> None:
    _job_tables(pg_engine)
    period = 0.5
    first = float(int(time.time()))  # a whole second: the periods are exact in binary
    processes = [
        spawn("jobs", pg_url, f"p{i}", "5", str(first), str(period), "1") for i in range(3)
    ]
    leader = None
    deadline = time.monotonic() + 30
    while leader is None and time.monotonic() < deadline:
        time.sleep(0.2)
        with pg_engine.connect() as connection:
            leader = connection.execute(
                text("SELECT worker_id FROM leader_log WHERE is_leading ORDER BY at LIMIT 1")
            ).scalar()
    assert leader is not None, "nobody became leader"
    time.sleep(1.5)
    killed = processes[int(leader[1:])]
    killed.send_signal(signal.SIGKILL)
    errors = _wait(processes)
    for process in processes:
        if process is not killed:
            assert process.returncode == 0, errors[process]

    logged = _periods(pg_engine)
    assert [row.n for row in logged] == [1] * len(logged)
    starts = [row.period_start.timestamp() for row in logged]
    assert starts == [first + i * period for i in range(len(starts))]  # no period skipped
    with pg_engine.connect() as connection:
        leaders = (
            connection.execute(text("SELECT DISTINCT worker_id FROM leader_log WHERE is_leading"))
            .scalars()
            .all()
        )
    assert len(leaders) >= 2  # the killed leader had a successor
    assert len({row.worker for row in logged}) >= 2


def test_racing_processes_without_a_leader_still_run_each_period_once(
    pg_url: str, pg_engine: Engine
) -> None:
    _job_tables(pg_engine)
    period = 0.5
    first = float(int(time.time()))  # a whole second: the periods are exact in binary
    processes = [
        spawn("jobs", pg_url, f"p{i}", "3", str(first), str(period), "0") for i in range(3)
    ]
    errors = _wait(processes)
    for process in processes:
        assert process.returncode == 0, errors[process]
    logged = _periods(pg_engine)
    assert len(logged) >= 4
    assert [row.n for row in logged] == [1] * len(logged)
