"""Bot account leases (账号租约): each bot account is connected by one worker at a time.

A worker *claims* free or expired leases (``SELECT … FOR UPDATE SKIP LOCKED``: concurrent
claimers pass each other by instead of queueing), *renews* the ones it holds every
``renew_every``, and *releases* the ones the balance tells it to give up. Every claim
increments the lease's ``epoch``, the fencing token of that holding: a renewal or release
names the epoch it holds, so a worker that stalled past its lease and was replaced finds
out at its next renewal (the lease comes back as lost) and can never extend the new
holder's lease.

Why no two workers trust the same lease at once: a worker trusts a lease until
``started + ttl`` on its own monotonic clock, where ``started`` is read *before* the
transaction that claimed or renewed it (:class:`HeldLeases`). That transaction wrote
``lease_until = now + ttl`` with ``now`` read later, so ``lease_until`` is later than
anything the holder trusts; another worker can claim only once ``lease_until <= now``.
Pass the database's clock as ``now`` (:func:`database_now`) so that workers on several
machines compare times on one clock; the remaining assumption is that clocks run at the
same rate over a few seconds, which :data:`CLOCK_DRIFT` covers with a margin.

Takeover: a dead worker's leases expire at most ``ttl`` after its last renewal, and the
others claim them at their next round, so within ``ttl + renew_every`` (8 s by default,
issue #15 asks for 10 s).

Balance: :func:`balance` (pure) gives each live worker the floor or the ceiling of
``accounts / workers``; a worker over its quota releases the excess, and workers under it
claim what is free, so a joining worker gets its share within a few rounds and a leaving
one's accounts are spread over the rest. :func:`rebalance` is one such round.

On SQLite the same statements are correct (``FOR UPDATE`` is dropped, ``BEGIN IMMEDIATE``
serialises the transactions), and with one process the one worker holds every account.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from cluster.backend import dialect_name
from cluster.workers import heartbeat, live_workers
from models.cluster import AccountLease

__all__ = [
    "CLOCK_DRIFT",
    "DEFAULT_RENEW_EVERY",
    "DEFAULT_TTL",
    "DEFAULT_WORKER_TTL",
    "Balance",
    "HeldLeases",
    "Lease",
    "Renewal",
    "Round",
    "balance",
    "claim",
    "database_now",
    "holders",
    "rebalance",
    "release",
    "renew",
]

DEFAULT_TTL = timedelta(seconds=6)
"""How long a lease lasts without renewal."""
DEFAULT_RENEW_EVERY = timedelta(seconds=2)
"""How often a worker renews (and rebalances): three chances before its leases expire."""
DEFAULT_WORKER_TTL = DEFAULT_TTL
"""A worker whose heartbeat is older than this is not counted by the balance."""
CLOCK_DRIFT = 0.01
"""The share of the ttl a holder gives up, for clocks that do not run at quite one rate."""


@dataclass(frozen=True, slots=True)
class Lease:
    """One holding of one account: ``epoch`` identifies it, ``lease_until`` is database time."""

    account_id: int
    worker_id: str
    epoch: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Renewal:
    renewed: tuple[Lease, ...]
    lost: frozenset[int]
    """Accounts whose lease expired or was claimed by another worker (a newer epoch)."""


def database_now(session: Session) -> datetime:
    """The database's clock (PostgreSQL ``clock_timestamp()``); this process's on SQLite."""
    if dialect_name(session) != "postgresql":
        return datetime.now(UTC)
    value = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def _insert(session: Session) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.Insert if dialect_name(session) == "postgresql" else sqlite.Insert


def _ensure_rows(session: Session, account_ids: Sequence[int]) -> None:
    known = set(
        session.execute(
            select(col(AccountLease.account_id)).where(
                col(AccountLease.account_id).in_(account_ids)
            )
        ).scalars()
    )
    missing = [account_id for account_id in account_ids if account_id not in known]
    if missing:
        insert = _insert(session)
        session.execute(
            insert(AccountLease)
            .values([{"account_id": account_id, "epoch": 0} for account_id in missing])
            .on_conflict_do_nothing(index_elements=["account_id"])
        )


def claim(
    session: Session,
    *,
    worker_id: str,
    account_ids: Iterable[int],
    ttl: timedelta = DEFAULT_TTL,
    now: datetime,
    limit: int | None = None,
) -> list[Lease]:
    """Claim up to ``limit`` of ``account_ids`` that are free or expired, each with a new epoch.

    Rows locked by another claimer are skipped, not waited for. Leases this worker already
    holds are not free, so they are not returned again.
    """
    ids = sorted(set(account_ids))
    if not ids or (limit is not None and limit <= 0):
        return []
    _ensure_rows(session, ids)
    free = (
        select(col(AccountLease.account_id))
        .where(
            col(AccountLease.account_id).in_(ids),
            or_(col(AccountLease.worker_id).is_(None), col(AccountLease.lease_until) <= now),
        )
        .order_by(col(AccountLease.account_id))
        .with_for_update(skip_locked=True)
    )
    if limit is not None:
        free = free.limit(limit)
    taken = list(session.execute(free).scalars())
    if not taken:
        return []
    until = now + ttl
    rows = session.execute(
        update(AccountLease)
        .where(col(AccountLease.account_id).in_(taken))
        .values(
            worker_id=worker_id,
            epoch=col(AccountLease.epoch) + 1,
            lease_until=until,
            renewed_at=now,
        )
        .returning(col(AccountLease.account_id), col(AccountLease.epoch))
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(
        (Lease(account_id, worker_id, epoch, until) for account_id, epoch in rows),
        key=lambda lease: lease.account_id,
    )


def renew(
    session: Session,
    *,
    worker_id: str,
    held: Mapping[int, int],
    ttl: timedelta = DEFAULT_TTL,
    now: datetime,
) -> Renewal:
    """Extend the leases in ``held`` (account -> epoch) that are still this worker's, same
    epoch and not expired; the others come back as lost (an expired lease must be claimed
    again, with a new epoch, even if nobody else took it)."""
    if not held:
        return Renewal((), frozenset())
    until = now + ttl
    rows = session.execute(
        update(AccountLease)
        .where(
            col(AccountLease.worker_id) == worker_id,
            col(AccountLease.lease_until) > now,
            tuple_(col(AccountLease.account_id), col(AccountLease.epoch)).in_(list(held.items())),
        )
        .values(lease_until=until, renewed_at=now)
        .returning(col(AccountLease.account_id), col(AccountLease.epoch))
        .execution_options(synchronize_session=False)
    ).all()
    renewed = tuple(
        sorted(
            (Lease(account_id, worker_id, epoch, until) for account_id, epoch in rows),
            key=lambda lease: lease.account_id,
        )
    )
    kept = {lease.account_id for lease in renewed}
    return Renewal(renewed, frozenset(held) - kept)


def release(session: Session, *, worker_id: str, held: Mapping[int, int]) -> frozenset[int]:
    """Give up the leases in ``held`` (account -> epoch) that are still this worker's; the
    accounts are free at once. Stop using them *before* calling this."""
    if not held:
        return frozenset()
    rows = session.execute(
        update(AccountLease)
        .where(
            col(AccountLease.worker_id) == worker_id,
            tuple_(col(AccountLease.account_id), col(AccountLease.epoch)).in_(list(held.items())),
        )
        .values(worker_id=None, lease_until=None)
        .returning(col(AccountLease.account_id))
        .execution_options(synchronize_session=False)
    ).all()
    return frozenset(account_id for (account_id,) in rows)


def holders(session: Session, *, now: datetime) -> dict[str, frozenset[int]]:
    """The accounts each worker holds an unexpired lease on."""
    rows = session.execute(
        select(col(AccountLease.worker_id), col(AccountLease.account_id)).where(
            col(AccountLease.worker_id).is_not(None),
            col(AccountLease.lease_until) > now,
        )
    ).all()
    held: dict[str, set[int]] = {}
    for worker_id, account_id in rows:
        held.setdefault(worker_id, set()).add(account_id)
    return {worker_id: frozenset(ids) for worker_id, ids in held.items()}


@dataclass(frozen=True, slots=True)
class Balance:
    quota: Mapping[str, int]
    """How many accounts each live worker should hold."""
    release: Mapping[str, frozenset[int]]
    """What each worker over its quota gives up (absent: nothing)."""


def balance(
    worker_ids: Collection[str], held: Mapping[str, Collection[int]], *, accounts: int
) -> Balance:
    """Share ``accounts`` among the live ``worker_ids``: each gets the floor or the ceiling of
    ``accounts / workers``. The ceilings go to the workers that already hold most (ties by
    id), so as few accounts as possible move; an over-quota worker gives up its highest ids.
    Holdings of workers not in ``worker_ids`` (dead ones, until their leases expire) are
    ignored. Every worker computing this from the same facts gets the same answer."""
    workers = sorted(set(worker_ids))
    if not workers:
        return Balance({}, {})
    base, extra = divmod(max(accounts, 0), len(workers))
    by_holding = sorted(workers, key=lambda worker: (-len(held.get(worker, ())), worker))
    quota = {worker: base + (1 if rank < extra else 0) for rank, worker in enumerate(by_holding)}
    give_up = {}
    for worker in workers:
        mine = sorted(held.get(worker, ()))
        if len(mine) > quota[worker]:
            give_up[worker] = frozenset(mine[quota[worker] :])
    return Balance(quota, give_up)


@dataclass(frozen=True, slots=True)
class Round:
    """What one :func:`rebalance` round did for one worker."""

    renewed: tuple[Lease, ...]
    claimed: tuple[Lease, ...]
    released: frozenset[int]
    lost: frozenset[int]
    give_up: frozenset[int]
    """Renewed, but over the quota: stop using them now; the next round releases them."""


def rebalance(
    session: Session,
    *,
    worker_id: str,
    account_ids: Collection[int],
    held: Mapping[int, int],
    stopped: Mapping[int, int],
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
    worker_ttl: timedelta = DEFAULT_WORKER_TTL,
) -> Round:
    """One round of a worker, in one transaction: heartbeat; release ``stopped`` (the leases
    it was told to give up last round and has stopped using since); renew ``held``; claim up
    to its quota. Over the quota, it learns what to give up (:attr:`Round.give_up`): those
    are released a round later, so a worker never releases an account it still acts as."""
    heartbeat(session, worker_id=worker_id, now=now)
    released = release(session, worker_id=worker_id, held=stopped)
    renewal = renew(session, worker_id=worker_id, held=held, ttl=ttl, now=now)
    mine = frozenset(lease.account_id for lease in renewal.renewed)
    everyone = dict(holders(session, now=now))
    everyone[worker_id] = mine
    live = set(live_workers(session, ttl=worker_ttl, now=now)) | {worker_id}
    plan = balance(live, everyone, accounts=len(account_ids))
    give_up = plan.release.get(worker_id, frozenset()) & mine
    room = plan.quota[worker_id] - (len(mine) - len(give_up))
    claimed = claim(
        session, worker_id=worker_id, account_ids=account_ids, ttl=ttl, now=now, limit=room
    )
    return Round(
        renewed=renewal.renewed,
        claimed=tuple(claimed),
        released=released,
        lost=renewal.lost,
        give_up=give_up,
    )


@dataclass
class HeldLeases:
    """The leases one worker holds, and until when it may trust each, on its own monotonic
    clock (``time.monotonic()``): ``started + ttl * (1 - CLOCK_DRIFT)``, where ``started``
    was read before the transaction that claimed or renewed the lease.

    Feed it every :class:`Round`; pass :attr:`epochs` as ``held`` and :attr:`stopping` as
    ``stopped`` to the next one."""

    ttl: timedelta = DEFAULT_TTL
    epochs: dict[int, int] = field(default_factory=dict)
    """Leases in use (account -> epoch)."""
    stopping: dict[int, int] = field(default_factory=dict)
    """Leases no longer in use, to release in the next round."""
    trusted_until: dict[int, float] = field(default_factory=dict)

    def apply(self, result: Round, *, started: float) -> None:
        deadline = started + self.ttl.total_seconds() * (1 - CLOCK_DRIFT)
        for account_id in result.lost | result.released:
            self.epochs.pop(account_id, None)
            self.stopping.pop(account_id, None)
            self.trusted_until.pop(account_id, None)
        for lease in (*result.renewed, *result.claimed):
            self.stopping.pop(lease.account_id, None)
            if lease.account_id in result.give_up:
                self.epochs.pop(lease.account_id, None)
                self.trusted_until.pop(lease.account_id, None)
                self.stopping[lease.account_id] = lease.epoch
            else:
                self.epochs[lease.account_id] = lease.epoch
                self.trusted_until[lease.account_id] = deadline

    def trusted(self, account_id: int, *, at: float | None = None) -> bool:
        """May this worker act as ``account_id`` now?"""
        moment = time.monotonic() if at is None else at
        return moment < self.trusted_until.get(account_id, float("-inf"))
