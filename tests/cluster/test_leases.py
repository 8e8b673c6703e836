"""Leases on one database, with time passed in: claim, renew, takeover, release, balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from cluster.leases import (
    DEFAULT_RENEW_EVERY,
    DEFAULT_TTL,
    HeldLeases,
    Round,
    balance,
    claim,
    holders,
    rebalance,
    release,
    renew,
)
from cluster.workers import heartbeat, leave, live_workers, prune
from models.db import session_scope
from tests.cluster.conftest import make_accounts

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=6)


def test_default_takeover_is_within_ten_seconds() -> None:
    # A dead worker's lease expires ttl after its last renewal; the others claim at their
    # next round.
    assert timedelta(seconds=10) >= DEFAULT_TTL + DEFAULT_RENEW_EVERY
    assert DEFAULT_RENEW_EVERY * 3 <= DEFAULT_TTL


def test_claim_takes_free_accounts_once(engine: Engine) -> None:
    ids = make_accounts(engine, 3)
    with session_scope(engine) as session:
        first = claim(session, worker_id="a", account_ids=ids, ttl=TTL, now=T0, limit=2)
        second = claim(session, worker_id="b", account_ids=ids, ttl=TTL, now=T0)
        again = claim(session, worker_id="a", account_ids=ids, ttl=TTL, now=T0)
    assert [(lease.account_id, lease.epoch) for lease in first] == [(ids[0], 1), (ids[1], 1)]
    assert [lease.account_id for lease in second] == [ids[2]]
    assert again == []
    assert first[0].lease_until == T0 + TTL


def test_takeover_only_after_expiry_with_a_new_epoch(engine: Engine) -> None:
    [account] = make_accounts(engine, 1)
    with session_scope(engine) as session:
        [lease] = claim(session, worker_id="a", account_ids=[account], ttl=TTL, now=T0)
        early = T0 + TTL - timedelta(milliseconds=1)
        assert claim(session, worker_id="b", account_ids=[account], ttl=TTL, now=early) == []
        [taken] = claim(session, worker_id="b", account_ids=[account], ttl=TTL, now=T0 + TTL)
    assert (taken.worker_id, taken.epoch) == ("b", lease.epoch + 1)
    with session_scope(engine) as session:
        # The old holder wakes up: its renewal fails, it cannot extend b's lease.
        lost = renew(session, worker_id="a", held={account: lease.epoch}, ttl=TTL, now=T0 + TTL)
        assert lost.renewed == () and lost.lost == {account}
        assert release(session, worker_id="a", held={account: lease.epoch}) == frozenset()
        assert holders(session, now=T0 + TTL) == {"b": frozenset({account})}


def test_renew_extends_and_an_expired_lease_is_lost_even_if_nobody_took_it(engine: Engine) -> None:
    [account] = make_accounts(engine, 1)
    with session_scope(engine) as session:
        [lease] = claim(session, worker_id="a", account_ids=[account], ttl=TTL, now=T0)
        later = T0 + timedelta(seconds=2)
        kept = renew(session, worker_id="a", held={account: lease.epoch}, ttl=TTL, now=later)
        assert [renewed.lease_until for renewed in kept.renewed] == [later + TTL]
        gone = renew(session, worker_id="a", held={account: lease.epoch}, ttl=TTL, now=later + TTL)
        assert gone.lost == {account}
        [again] = claim(session, worker_id="a", account_ids=[account], ttl=TTL, now=later + TTL)
    assert again.epoch == lease.epoch + 1


def test_release_frees_at_once(engine: Engine) -> None:
    [account] = make_accounts(engine, 1)
    with session_scope(engine) as session:
        [lease] = claim(session, worker_id="a", account_ids=[account], ttl=TTL, now=T0)
        assert release(session, worker_id="a", held={account: lease.epoch}) == {account}
        [taken] = claim(session, worker_id="b", account_ids=[account], ttl=TTL, now=T0)
    assert taken.epoch == 2


def test_worker_registry(engine: Engine) -> None:
    with session_scope(engine) as session:
        heartbeat(session, worker_id="a", now=T0)
        heartbeat(session, worker_id="b", now=T0)
        heartbeat(session, worker_id="a", now=T0 + timedelta(seconds=5))
        assert live_workers(session, ttl=TTL, now=T0 + timedelta(seconds=7)) == ["a"]
        leave(session, worker_id="a")
        assert live_workers(session, ttl=TTL, now=T0 + timedelta(seconds=7)) == []
        assert prune(session, older_than=TTL, now=T0 + timedelta(seconds=7)) == 1


def _round(engine: Engine, worker: str, ids: list[int], held: HeldLeases, now: datetime) -> Round:
    with session_scope(engine) as session:
        result = rebalance(
            session,
            worker_id=worker,
            account_ids=ids,
            held=dict(held.epochs),
            stopped=dict(held.stopping),
            now=now,
            ttl=TTL,
        )
    held.apply(result, started=now.timestamp())
    return result


def test_a_joining_worker_gets_its_share_and_a_dead_ones_accounts_move(engine: Engine) -> None:
    ids = make_accounts(engine, 5)
    a, b = HeldLeases(ttl=TTL), HeldLeases(ttl=TTL)
    _round(engine, "a", ids, a, T0)
    assert sorted(a.epochs) == ids  # alone, it holds everything
    now = T0 + timedelta(seconds=2)
    assert _round(engine, "b", ids, b, now).claimed == ()  # nothing free yet
    told = _round(engine, "a", ids, a, now)
    assert len(told.give_up) == 2 and set(a.stopping) == told.give_up  # a holds 3 of 5
    assert not any(a.trusted(account, at=now.timestamp()) for account in told.give_up)
    now += timedelta(seconds=2)
    assert _round(engine, "a", ids, a, now).released == told.give_up
    assert {lease.account_id for lease in _round(engine, "b", ids, b, now).claimed} == told.give_up
    # a dies: b keeps renewing, and takes a's accounts at its first round after their ttl.
    claimed = []
    for _ in range(3):
        now += timedelta(seconds=2)
        claimed.append(len(_round(engine, "b", ids, b, now).claimed))
    assert claimed == [0, 0, 3]
    assert sorted(b.epochs) == ids


def test_held_leases_trust_ends_before_the_ttl() -> None:
    held = HeldLeases(ttl=TTL)
    result = Round(
        renewed=(), claimed=(), released=frozenset(), lost=frozenset(), give_up=frozenset()
    )
    held.apply(result, started=100.0)
    assert not held.trusted(1, at=100.0)


def test_balance_gives_the_ceilings_to_those_that_hold_most() -> None:
    plan = balance(["a", "b", "c"], {"a": {1, 2, 3, 4, 5, 6, 7}, "b": {8}}, accounts=8)
    assert plan.quota == {"a": 3, "b": 3, "c": 2}
    assert plan.release == {"a": frozenset({4, 5, 6, 7})}
    assert balance([], {"a": {1}}, accounts=1).quota == {}


@given(
    workers=st.lists(st.sampled_from("abcdefg"), min_size=1, unique=True),
    owners=st.lists(st.sampled_from("abcdefgxyz"), max_size=40),
)
def test_balance_properties(workers: list[str], owners: list[str]) -> None:
    held: dict[str, set[int]] = {}
    for account, owner in enumerate(owners):
        held.setdefault(owner, set()).add(account)
    n = len(owners)
    plan = balance(workers, held, accounts=n)
    assert sum(plan.quota.values()) == n
    assert {q for q in plan.quota.values()} <= {n // len(workers), -(-n // len(workers))}
    for worker in workers:
        mine = held.get(worker, set())
        given_up = plan.release.get(worker, frozenset())
        assert given_up <= mine
        assert len(given_up) == max(0, len(mine) - plan.quota[worker])  # moves only the excess
    assert set(plan.release) <= set(workers)
