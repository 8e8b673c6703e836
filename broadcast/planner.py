"""The delivery planner: which bot account posts a notice to which group, and when.

The promise is 人、情、地、事、物 3分钟内通知到每家每户: a notice reaches every group of the
town within three minutes. WeChat throttles accounts that post fast, so each account has a
token bucket (``rate`` messages per second, ``burst`` at once) and may post only in the
groups it is a member of. :func:`plan_delivery` spreads the groups over the accounts so that
the last group is reached as early as the buckets allow, posts higher levels first (town,
village, grid, unit: leaders see a notice before residents ask them about it), and says
what it cannot do: groups no usable account is in, and whether a deadline is met.

Guarantee: ``predicted_reach_s == lower_bound_s``. The lower bound is the exact optimum of
the assignment problem (unit jobs on token-bucket machines with eligibility), proved by a
Hall-type certificate: a set of accounts that cannot send the groups confined to them any
earlier. See :mod:`broadcast.assignment`.

Everything here is pure: times are seconds from the broadcast start, passed in.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

from broadcast.assignment import LEVELS, AssignmentFlow, OutOfBudget
from broadcast.slots import SendSlots, bucket_tokens, earliest_time_for
from models.enums import AccountStatus


class PlanningError(ValueError):
    """The planner's input is malformed (the message names the item and the reason)."""


USABLE = frozenset({AccountStatus.ONLINE, AccountStatus.THROTTLED})


@dataclass(frozen=True, slots=True)
class Group:
    """One WeChat group of the org tree and the bot accounts that are members of it."""

    id: str
    level: int
    """The depth of the group's org level (:attr:`models.enums.Level.depth`: 0 town ... 3 unit)."""
    members: frozenset[str]
    """Ids of the bot accounts in the group."""

    def __post_init__(self) -> None:
        if not 0 <= self.level < LEVELS:
            raise PlanningError(f"group {self.id!r}: level must be 0..3, not {self.level!r}")


@dataclass(frozen=True, slots=True)
class Account:
    """A bot account, its token bucket and its state."""

    id: str
    rate: float
    """Messages per second the account may post on average."""
    burst: int = 1
    """Token-bucket capacity: messages it may post at once."""
    status: AccountStatus = AccountStatus.ONLINE
    available_from: float = 0.0
    """Seconds from the broadcast start at which it may post (the end of a throttle)."""
    tokens: float | None = None
    """Tokens in its bucket when it becomes usable; ``None`` means a full bucket.
    :func:`bucket_tokens` computes it from a send history."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise PlanningError(f"account {self.id!r}: rate must be > 0, not {self.rate!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise PlanningError(f"account {self.id!r}: burst must be an int >= 1")
        if not math.isfinite(self.available_from):
            raise PlanningError(f"account {self.id!r}: available_from must be finite")
        if self.tokens is not None and not (
            math.isfinite(self.tokens) and self.tokens <= self.burst
        ):
            raise PlanningError(f"account {self.id!r}: tokens must be finite and <= burst")

    @property
    def usable(self) -> bool:
        return self.status in USABLE


class Delivery(NamedTuple):
    """One planned post. A named tuple, not a dataclass: a city plan holds 100,000."""

    send_at: float
    """Seconds from the broadcast start."""
    level: int
    group_id: str
    account_id: str
    seq: int
    """The account's ``seq``-th send in this plan (0-based)."""


class UnreachableReason(StrEnum):
    NO_BOT_ACCOUNT = "no_bot_account"
    """No bot account is a member of the group."""
    NO_USABLE_ACCOUNT = "no_usable_account"
    """Bot accounts are members, but all are logged out, disconnected or unknown."""


@dataclass(frozen=True, slots=True)
class UnreachableGroup:
    group_id: str
    level: int
    reason: UnreachableReason
    detail: str
    """For people: e.g. ``"bot-07 logged_out, bot-12 disconnected"``."""


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """Accounts that cannot post the groups confined to them by the deadline."""

    account_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    """Every group whose usable members are all among ``account_ids``."""
    sends_by_deadline: int
    """How many posts these accounts can make by the deadline."""
    excess: int
    """Groups among ``group_ids`` that would miss the deadline."""
    earliest_reach_s: float
    """When these accounts alone could have posted all of ``group_ids``."""
    extra_accounts: int | None
    """Accounts of the advice's rate and burst that, joining these groups, meet the deadline
    (``None``: no account can post before the deadline)."""


@dataclass(frozen=True, slots=True)
class DeadlineAdvice:
    """Whether a plan meets a deadline and, if not, what would."""

    deadline_s: float
    predicted_reach_s: float
    met: bool
    """Every group reached by the deadline (an unreachable group means not met)."""
    late_by_s: float
    late_groups: int
    """Reachable groups that cannot be posted by the deadline with these accounts."""
    unreachable: int
    extra_accounts: int | None
    """Accounts of ``extra_rate``/``extra_burst`` in every group, usable from the plan's
    start, that would meet the deadline (reaching the unreachable groups too); 0 when met,
    ``None`` when the deadline is before the start."""
    extra_rate: float
    extra_burst: int
    bottlenecks: tuple[Bottleneck, ...]
    """Largest excess first."""


@dataclass(frozen=True, slots=True)
class _Problem:
    """The planner's input, collapsed into classes; kept on the plan for advice."""

    start: float
    accounts: tuple[Account, ...]
    """The usable accounts, in the order of ``slots``."""
    slots: tuple[SendSlots, ...]
    members: tuple[tuple[int, ...], ...]
    levels: tuple[int, ...]
    group_ids: tuple[tuple[str, ...], ...]
    unreachable: tuple[UnreachableGroup, ...]

    @property
    def reachable(self) -> int:
        return sum(len(ids) for ids in self.group_ids)

    def order(self) -> list[int]:
        """Classes by level, then the fewest members first (the greedy's order)."""
        return sorted(
            range(len(self.members)), key=lambda c: (self.levels[c], len(self.members[c]))
        )

    def flow(self, classes: Sequence[int] | None = None) -> AssignmentFlow:
        if classes is None:
            classes = range(len(self.members))
        wanted = set(classes)
        counts = [len(ids) if c in wanted else 0 for c, ids in enumerate(self.group_ids)]
        return AssignmentFlow(self.slots, self.members, self.levels, counts)


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """Who posts where and when, and how that compares with what is possible."""

    deliveries: tuple[Delivery, ...]
    """In sending order: by time, then level."""
    unreachable: tuple[UnreachableGroup, ...]
    start_s: float
    lower_bound_s: float
    """No assignment can reach every reachable group earlier (exact optimum)."""
    predicted_reach_s: float
    """When this plan's last post is scheduled (``start_s`` if there is nothing to post)."""
    capacity_bound_s: float
    """A simpler bound, for comparison: all usable accounts' buckets together, ignoring
    memberships."""
    level_reach_s: Mapping[int, float]
    """The last post of each level present."""
    levels_optimal: bool
    """Whether the levels are as early as they can be, lexicographically: the town groups'
    last post as early as possible given the optimal makespan, then the villages', ... .
    ``False`` only when that search hit its work limit (the makespan stays optimal)."""
    naive_single_account_s: float
    """One account (the fastest, as if it were in every group) posting group after group."""
    naive_round_robin_s: float
    """Groups in level order dealt to the accounts in turn; a group the account is not in
    goes to its next member in the rotation; no look at the load."""
    _problem: _Problem = field(repr=False, compare=False)

    @property
    def ratio(self) -> float:
        """``(predicted - start) / (lower_bound - start)``; 1.0 when both are zero."""
        spent = self.predicted_reach_s - self.start_s
        bound = self.lower_bound_s - self.start_s
        return 1.0 if spent <= bound else (spent / bound if bound > 0 else math.inf)

    def meets_deadline(self, deadline_s: float) -> bool:
        """Every group reached by ``deadline_s`` (seconds from the broadcast start)."""
        return not self.unreachable and self.predicted_reach_s <= deadline_s

    def by_account(self) -> dict[str, list[Delivery]]:
        """Each account's posts in its own order."""
        out: dict[str, list[Delivery]] = defaultdict(list)
        for d in self.deliveries:
            out[d.account_id].append(d)
        for posts in out.values():
            posts.sort(key=lambda d: d.seq)
        return dict(out)

    def advise(
        self,
        deadline_s: float,
        *,
        extra_rate: float | None = None,
        extra_burst: int | None = None,
    ) -> DeadlineAdvice:
        """Say whether ``deadline_s`` is met and, if not, by how much and what would meet it.

        Extra accounts default to the most common rate and burst among the usable ones.
        """
        return _advise(self._problem, self.predicted_reach_s, deadline_s, extra_rate, extra_burst)


def plan_delivery(
    groups: Iterable[Group],
    accounts: Iterable[Account],
    *,
    now: float = 0.0,
    margin_s: float = 0.0,
) -> DeliveryPlan:
    """Plan the posts of one notice to ``groups`` with ``accounts``, starting at ``now``.

    ``margin_s`` is added to the spacing of each account's rate-limited posts
    (``1/rate + margin_s``), a safety margin against jitter and clock skew.
    """
    problem = _build_problem(groups, accounts, now, margin_s)
    order = problem.order()
    flow = problem.flow()
    n = problem.reachable
    if n:
        capacity_bound = earliest_time_for(problem.slots, n)
        lower = flow.minimise_makespan(order, capacity_bound)
        levels_optimal = _bring_higher_levels_forward(problem, flow, order)
    else:
        capacity_bound = lower = now
        levels_optimal = True
    deliveries, level_reach = _schedule(problem, flow)
    return DeliveryPlan(
        deliveries=deliveries,
        unreachable=problem.unreachable,
        start_s=now,
        lower_bound_s=lower,
        predicted_reach_s=deliveries[-1].send_at if deliveries else now,
        capacity_bound_s=capacity_bound,
        level_reach_s=dict(sorted(level_reach.items())),
        levels_optimal=levels_optimal,
        naive_single_account_s=_naive_single_account(problem),
        naive_round_robin_s=_naive_round_robin(problem),
        _problem=problem,
    )


def replan(
    remaining: Iterable[Group],
    accounts: Iterable[Account],
    *,
    now: float,
    send_history: Mapping[str, Collection[float]] | None = None,
    margin_s: float = 0.0,
) -> DeliveryPlan:
    """Plan the groups not yet posted, mid-broadcast, e.g. after an account dropped out.

    ``accounts`` carry their current status (a logged-out one is simply not used) and
    ``available_from``; an account's bucket level comes from ``tokens`` or, when that is
    ``None``, from its ``send_history`` (send times so far) at the moment it is usable.
    """
    history = send_history or {}
    current: list[Account] = []
    for account in accounts:
        sent = history.get(account.id)
        if account.tokens is None and sent:
            rate = _effective_rate(account.rate, margin_s)
            at = max(now, account.available_from)
            tokens = bucket_tokens(rate=rate, burst=account.burst, send_times=sent, at=at)
            account = replace(account, tokens=tokens)
        current.append(account)
    return plan_delivery(remaining, current, now=now, margin_s=margin_s)


# -- building the problem ------------------------------------------------------------------


def _effective_rate(rate: float, margin_s: float) -> float:
    return 1.0 / (1.0 / rate + margin_s)


def _build_problem(
    groups: Iterable[Group], accounts: Iterable[Account], now: float, margin_s: float
) -> _Problem:
    if not math.isfinite(now):
        raise PlanningError(f"now must be finite, not {now!r}")
    if not (math.isfinite(margin_s) and margin_s >= 0):
        raise PlanningError(f"margin_s must be >= 0, not {margin_s!r}")
    by_id: dict[str, Account] = {}
    for account in accounts:
        if account.id in by_id:
            raise PlanningError(f"account {account.id!r} is listed twice")
        by_id[account.id] = account
    usable = [a for a in by_id.values() if a.usable]
    index = {a.id: i for i, a in enumerate(usable)}
    slots = tuple(
        SendSlots(
            start=max(now, a.available_from),
            tokens=float(a.burst if a.tokens is None else a.tokens),
            rate=_effective_rate(a.rate, margin_s),
        )
        for a in usable
    )
    # Groups with the same members and level are interchangeable: one class each.
    by_members: dict[tuple[frozenset[str], int], list[Group]] = {}
    n_groups = 0
    for group in groups:
        n_groups += 1
        key = (group.members, group.level)
        same = by_members.get(key)
        if same is None:
            by_members[key] = [group]
        else:
            same.append(group)
    if len({g.id for same in by_members.values() for g in same}) != n_groups:
        counts = Counter(g.id for same in by_members.values() for g in same)
        twice = min(g for g, n in counts.items() if n > 1)
        raise PlanningError(f"group {twice!r} is listed twice")
    members: list[tuple[int, ...]] = []
    levels: list[int] = []
    group_ids: list[tuple[str, ...]] = []
    unreachable: list[UnreachableGroup] = []
    get = index.get
    for (names, level), same in by_members.items():
        usable_members = [i for m in names if (i := get(m)) is not None]
        if usable_members:
            usable_members.sort()
            members.append(tuple(usable_members))
            levels.append(level)
            group_ids.append(tuple(g.id for g in same))
        else:
            unreachable.extend(_unreachable(g, by_id) for g in same)
    return _Problem(
        start=now,
        accounts=tuple(usable),
        slots=slots,
        members=tuple(members),
        levels=tuple(levels),
        group_ids=tuple(group_ids),
        unreachable=tuple(unreachable),
    )


def _unreachable(group: Group, accounts: Mapping[str, Account]) -> UnreachableGroup:
    if not group.members:
        return UnreachableGroup(
            group.id, group.level, UnreachableReason.NO_BOT_ACCOUNT, "no bot account in it"
        )
    states = ", ".join(
        f"{m} {accounts[m].status.value if m in accounts else 'unknown'}"
        for m in sorted(group.members)
    )
    return UnreachableGroup(group.id, group.level, UnreachableReason.NO_USABLE_ACCOUNT, states)


# -- planning ------------------------------------------------------------------------------


LEVEL_SEARCH_PASSES = 3
"""Work allowed to bring higher levels forward, in passes over the classes and accounts.
A town's or a city's tree needs well under one pass; a synthetic city where a quarter of
all groups are town groups needs about seven, and stops early."""
LEVEL_SEARCH_MIN_WORK = 100_000
"""...but never less than this many classes looked at (small plans are always exact)."""


def _bring_higher_levels_forward(
    problem: _Problem, flow: AssignmentFlow, order: Sequence[int]
) -> bool:
    """Lexicographically: the town groups as early as possible, then town+village, ...

    The last level keeps the optimal makespan as its deadline. Each level's target starts
    at the optimum of its prefix planned alone, a lower bound, so on a town's tree one check
    settles it. The searches share a work limit (:data:`LEVEL_SEARCH_PASSES`): returns
    ``False`` when it ran out and some level is only as early as the search had got.
    """
    present = set(problem.levels)
    earlier = problem.start
    size = len(problem.members) + len(problem.slots)
    flow.work_limit = flow.work + max(LEVEL_SEARCH_MIN_WORK, LEVEL_SEARCH_PASSES * size)
    try:
        for lv in range(LEVELS - 1):
            prefix = [c for c in order if problem.levels[c] <= lv]
            if not prefix or not any(level > lv for level in present):
                continue
            alone = problem.flow(prefix)
            alone.work, alone.work_limit = flow.work, flow.work_limit
            bound = alone.minimise_makespan(
                prefix, earliest_time_for(problem.slots, sum(alone.counts))
            )
            flow.work = alone.work
            earlier, exact = flow.tighten_level(lv, max(bound, earlier), order)
            if not exact:
                return False
    except OutOfBudget:
        return False
    finally:
        flow.work_limit = None
    return True


def _schedule(
    problem: _Problem, flow: AssignmentFlow
) -> tuple[tuple[Delivery, ...], dict[int, float]]:
    """Give each account's groups its slots in level order; also each level's last post."""
    next_id = [0] * len(problem.group_ids)
    # Bucketing by level and time is a linear sort: a plan has few distinct send times.
    at_time: list[dict[float, list[Delivery]]] = [{} for _ in range(LEVELS)]
    level_reach: dict[int, float] = {}
    new = tuple.__new__  # Delivery(...) without its Python-level __new__: 100,000 of them
    for a, (account, slot) in enumerate(zip(problem.accounts, problem.slots, strict=True)):
        k = 0
        account_id, start, tokens, rate = account.id, slot.start, slot.tokens, slot.rate
        for lv, by_time in enumerate(at_time):
            first_of_level = k
            # Fewest live alternatives first: if this account is lost midway, what it has
            # not sent yet is what other accounts can most easily take over.
            by_class = flow.on_account[a][lv]
            for c in sorted(by_class, key=lambda c: (len(problem.members[c]), c)):
                count = by_class[c]
                first = next_id[c]
                next_id[c] = first + count
                for group_id in problem.group_ids[c][first : first + count]:
                    # SendSlots.time_of, inlined.
                    waited = k + 1 - tokens
                    t = start + waited / rate if waited > 0 else start
                    posts = by_time.get(t)
                    if posts is None:
                        posts = by_time[t] = []
                    posts.append(new(Delivery, (t, lv, group_id, account_id, k)))
                    k += 1
            if k > first_of_level:
                level_reach[lv] = max(level_reach.get(lv, start), slot.time_of(k - 1))
    order = sorted((t, lv) for lv, by_time in enumerate(at_time) for t in by_time)
    return tuple(d for t, lv in order for d in at_time[lv][t]), level_reach


def _naive_single_account(problem: _Problem) -> float:
    n = problem.reachable
    if not n:
        return problem.start
    return min(slot.time_of(n - 1) for slot in problem.slots)


def _naive_round_robin(problem: _Problem) -> float:
    n_accounts = len(problem.slots)
    if not problem.reachable:
        return problem.start
    sends = [0] * n_accounts
    turn = 0
    for c in sorted(range(len(problem.members)), key=lambda c: problem.levels[c]):
        members = problem.members[c]  # sorted: the next member at or after the turn
        for _ in problem.group_ids[c]:
            i = bisect_left(members, turn % n_accounts)
            sends[members[i] if i < len(members) else members[0]] += 1
            turn += 1
    return max(slot.time_of(k - 1) for slot, k in zip(problem.slots, sends, strict=True) if k)


# -- advice --------------------------------------------------------------------------------


def _advise(
    problem: _Problem,
    predicted: float,
    deadline_s: float,
    extra_rate: float | None,
    extra_burst: int | None,
) -> DeadlineAdvice:
    """See :meth:`DeliveryPlan.advise`."""
    rate, burst = _extra_account(problem, extra_rate, extra_burst)
    extra_slots = SendSlots(start=problem.start, tokens=float(burst), rate=rate)
    extra_sends = extra_slots.count_by(deadline_s)
    unreachable = len(problem.unreachable)
    if predicted <= deadline_s:
        return DeadlineAdvice(
            deadline_s=deadline_s,
            predicted_reach_s=predicted,
            met=not unreachable,
            late_by_s=0.0,
            late_groups=0,
            unreachable=unreachable,
            extra_accounts=-(-unreachable // extra_sends) if extra_sends else None,
            extra_rate=rate,
            extra_burst=burst,
            bottlenecks=(),
        )
    order = problem.order()
    flow = problem.flow()
    flow.set_deadline(deadline_s)
    stuck_accounts = flow.max_flow(order)
    late = sum(flow.unplaced)
    bottlenecks = _bottlenecks(problem, flow, stuck_accounts, deadline_s, extra_sends)
    return DeadlineAdvice(
        deadline_s=deadline_s,
        predicted_reach_s=predicted,
        met=False,
        late_by_s=predicted - deadline_s,
        late_groups=late,
        unreachable=unreachable,
        extra_accounts=-(-(late + unreachable) // extra_sends) if extra_sends else None,
        extra_rate=rate,
        extra_burst=burst,
        bottlenecks=bottlenecks,
    )


def _extra_account(problem: _Problem, rate: float | None, burst: int | None) -> tuple[float, int]:
    if rate is None or burst is None:
        common: dict[tuple[float, int], int] = defaultdict(int)
        for a in problem.accounts:
            common[a.rate, a.burst] += 1
        usual = max(common, key=lambda k: common[k], default=(1.0, 1))
        rate = usual[0] if rate is None else rate
        burst = usual[1] if burst is None else burst
    Account("extra", rate, burst)  # validates
    return rate, burst


def _bottlenecks(
    problem: _Problem,
    flow: AssignmentFlow,
    stuck_accounts: set[int],
    deadline_s: float,
    extra_sends: int,
) -> tuple[Bottleneck, ...]:
    """The independent overloaded pieces of the accounts, each a Hall violator."""
    out: list[Bottleneck] = []
    for accounts, classes in flow.overloaded(stuck_accounts):
        groups = sum(len(problem.group_ids[c]) for c in classes)
        late = sum(flow.unplaced[c] for c in classes)
        slots = [problem.slots[a] for a in accounts]
        out.append(
            Bottleneck(
                account_ids=tuple(problem.accounts[a].id for a in accounts),
                group_ids=tuple(g for c in classes for g in problem.group_ids[c]),
                sends_by_deadline=sum(s.count_by(deadline_s) for s in slots),
                excess=late,
                earliest_reach_s=earliest_time_for(slots, groups),
                extra_accounts=-(-late // extra_sends) if extra_sends else None,
            )
        )
    out.sort(key=lambda b: (-b.excess, b.account_ids))
    return tuple(out)
