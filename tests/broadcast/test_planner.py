"""The delivery planner: properties on random instances, checked against brute force."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadcast import planner
from broadcast.planner import (
    Account,
    DeliveryPlan,
    Group,
    PlanningError,
    UnreachableReason,
    plan_delivery,
    replan,
)
from broadcast.slots import SendSlots, bucket_tokens, earliest_time_for
from models.enums import AccountStatus, Level

EPS = 1e-9


# -- instances ---------------------------------------------------------------------------

RATES = (0.3, 0.5, 1.0, 1.5, 2.0)


@st.composite
def accounts_st(draw: st.DrawFn, max_accounts: int = 5) -> list[Account]:
    n = draw(st.integers(1, max_accounts))
    out = []
    for i in range(n):
        burst = draw(st.integers(1, 4))
        status = draw(
            st.sampled_from(
                [AccountStatus.ONLINE] * 4
                + [AccountStatus.THROTTLED, AccountStatus.LOGGED_OUT, AccountStatus.DISCONNECTED]
            )
        )
        out.append(
            Account(
                f"bot{i}",
                rate=draw(st.sampled_from(RATES)),
                burst=burst,
                status=status,
                available_from=draw(st.sampled_from((0.0, 0.0, 1.0, 2.5, 7.0))),
                tokens=draw(st.sampled_from((None, None, 0.0, 1.0, -0.5, float(burst)))),
            )
        )
    return out


@st.composite
def instances_st(
    draw: st.DrawFn, max_accounts: int = 5, max_groups: int = 30
) -> tuple[list[Group], list[Account]]:
    accounts = draw(accounts_st(max_accounts))
    ids = [a.id for a in accounts] + ["ghost"]  # an account the planner does not know
    n = draw(st.integers(0, max_groups))
    groups = [
        Group(
            f"g{j}",
            draw(st.integers(0, 3)),
            frozenset(draw(st.lists(st.sampled_from(ids), max_size=3))),
        )
        for j in range(n)
    ]
    return groups, accounts


def split(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` as ``parts`` uneven positive integers."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in itertools.pairwise([0, *cuts, total])]


def two_of(pool: list[str], rng: random.Random) -> frozenset[str]:
    return frozenset(rng.sample(pool, 2))


def slots_of(account: Account, now: float = 0.0) -> SendSlots:
    tokens = float(account.burst if account.tokens is None else account.tokens)
    return SendSlots(max(now, account.available_from), tokens, account.rate)


def usable(accounts: Sequence[Account]) -> dict[str, Account]:
    return {a.id: a for a in accounts if a.usable}


def reachable(groups: Sequence[Group], accounts: Sequence[Account]) -> list[Group]:
    ok = usable(accounts)
    return [g for g in groups if any(m in ok for m in g.members)]


def hall_bound(groups: Sequence[Group], accounts: Sequence[Account], now: float = 0.0) -> float:
    """The exact optimum by Hall's theorem: the worst set of accounts and its confined groups."""
    ok = usable(accounts)
    best = now
    for r in range(1, len(ok) + 1):
        for chosen in itertools.combinations(ok.values(), r):
            ids = {a.id for a in chosen}
            need = sum(
                1 for g in groups if (g.members & ok.keys()) and g.members & ok.keys() <= ids
            )
            if need:
                best = max(best, earliest_time_for([slots_of(a, now) for a in chosen], need))
    return best


def prefix_reach(plan: DeliveryPlan) -> tuple[float, float, float, float]:
    """When all groups of level <= 0, 1, 2, 3 are posted."""
    reach = [-math.inf] * 4
    for d in plan.deliveries:
        for lv in range(d.level, 4):
            reach[lv] = max(reach[lv], d.send_at)
    return reach[0], reach[1], reach[2], reach[3]


def check_feasible(
    plan: DeliveryPlan, groups: Sequence[Group], accounts: Sequence[Account]
) -> None:
    """Memberships, token buckets, level order, completeness."""
    by_id = {g.id: g for g in groups}
    ok = usable(accounts)
    delivered = [d.group_id for d in plan.deliveries]
    lost = [u.group_id for u in plan.unreachable]
    assert sorted(delivered + lost) == sorted(by_id)
    for d in plan.deliveries:
        assert d.account_id in by_id[d.group_id].members
        assert d.account_id in ok
        assert d.level == by_id[d.group_id].level
        assert d.send_at >= plan.start_s
    assert [(d.send_at, d.level) for d in plan.deliveries] == sorted(
        (d.send_at, d.level) for d in plan.deliveries
    )
    for account_id, posts in plan.by_account().items():
        account = ok[account_id]
        slots = slots_of(account, plan.start_s)
        assert [d.seq for d in posts] == list(range(len(posts)))
        assert [d.level for d in posts] == sorted(d.level for d in posts)
        times = [d.send_at for d in posts]
        assert times == sorted(times)
        for k, t in enumerate(times):
            assert t >= account.available_from
            assert t >= slots.start + max(0, k + 1 - slots.tokens) / account.rate - EPS
        for i, j in itertools.combinations(range(len(times)), 2):
            assert j - i + 1 <= account.burst + account.rate * (times[j] - times[i]) + EPS


# -- properties --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances_st())
def test_plans_are_feasible_and_reach_the_lower_bound(
    instance: tuple[list[Group], list[Account]],
) -> None:
    groups, accounts = instance
    plan = plan_delivery(groups, accounts)
    check_feasible(plan, groups, accounts)
    assert plan.lower_bound_s <= plan.predicted_reach_s
    # The guarantee: the plan is optimal, not merely close (ratio exactly 1).
    assert plan.predicted_reach_s == plan.lower_bound_s
    assert plan.ratio == 1.0
    assert plan.capacity_bound_s <= plan.lower_bound_s
    assert plan.levels_optimal
    if reachable(groups, accounts):
        assert plan.naive_single_account_s >= plan.capacity_bound_s
        assert plan.naive_round_robin_s >= plan.lower_bound_s


@settings(max_examples=150, deadline=None)
@given(instances_st(max_accounts=5, max_groups=40))
def test_the_lower_bound_is_the_hall_optimum(instance: tuple[list[Group], list[Account]]) -> None:
    groups, accounts = instance
    plan = plan_delivery(groups, accounts)
    if reachable(groups, accounts):
        assert plan.lower_bound_s == hall_bound(groups, accounts)


@settings(max_examples=200, deadline=None)
@given(instances_st(max_accounts=3, max_groups=7))
def test_higher_levels_are_lexicographically_first(
    instance: tuple[list[Group], list[Account]],
) -> None:
    """Among all assignments with the optimal finish, the town groups end earliest, then ..."""
    groups, accounts = instance
    plan = plan_delivery(groups, accounts)
    ok = usable(accounts)
    targets = reachable(groups, accounts)
    if not targets:
        return
    best: tuple[float, ...] | None = None
    choices = [sorted(m for m in g.members if m in ok) for g in targets]
    for chosen in itertools.product(*choices):
        levels: dict[str, list[int]] = {}
        for g, a in zip(targets, chosen, strict=True):
            levels.setdefault(a, []).append(g.level)
        reach = [-math.inf] * 4
        for a, lv in levels.items():
            for k, level in enumerate(sorted(lv)):
                t = slots_of(ok[a]).time_of(k)
                for m in range(level, 4):
                    reach[m] = max(reach[m], t)
        key = (reach[3], reach[0], reach[1], reach[2])
        best = key if best is None or key < best else best
    r0, r1, r2, r3 = prefix_reach(plan)
    assert (r3, r0, r1, r2) == best


@settings(max_examples=100, deadline=None)
@given(instances_st(max_accounts=4, max_groups=25), st.sampled_from((0.0, 3.0, 12.5)))
def test_a_later_start_and_a_margin_are_respected(
    instance: tuple[list[Group], list[Account]], now: float
) -> None:
    groups, accounts = instance
    plan = plan_delivery(groups, accounts, now=now, margin_s=0.25)
    assert all(d.send_at >= now for d in plan.deliveries)
    assert plan.predicted_reach_s == plan.lower_bound_s
    for account_id, posts in plan.by_account().items():
        account = usable(accounts)[account_id]
        for a, b in itertools.pairwise(posts):
            gap = b.send_at - a.send_at
            assert gap == 0 or gap >= 1 / account.rate + 0.25 - EPS


# -- examples ----------------------------------------------------------------------------


def test_one_account_posts_its_burst_at_once_then_at_its_rate() -> None:
    groups = [Group(f"u{i}", Level.UNIT.depth, frozenset({"a"})) for i in range(5)]
    groups.append(Group("town", Level.TOWN.depth, frozenset({"a"})))
    plan = plan_delivery(groups, [Account("a", rate=0.5, burst=2)])
    assert [(d.group_id, d.send_at) for d in plan.deliveries] == [
        ("town", 0.0),
        ("u0", 0.0),
        ("u1", 2.0),
        ("u2", 4.0),
        ("u3", 6.0),
        ("u4", 8.0),
    ]
    assert plan.lower_bound_s == plan.predicted_reach_s == 8.0
    assert plan.naive_single_account_s == 8.0
    assert plan.level_reach_s == {0: 0.0, 3: 8.0}


def test_groups_go_to_the_account_that_has_room() -> None:
    # "a" is in everything; "b" only in the last four groups: they should go to "b".
    groups = [Group(f"g{i}", Level.UNIT.depth, frozenset({"a"})) for i in range(4)]
    groups += [Group(f"h{i}", Level.UNIT.depth, frozenset({"a", "b"})) for i in range(4)]
    accounts = [Account("a", 1.0, 1), Account("b", 1.0, 1)]
    plan = plan_delivery(groups, accounts)
    assert plan.predicted_reach_s == plan.lower_bound_s == 3.0
    assert {d.group_id for d in plan.by_account()["a"]} == {"g0", "g1", "g2", "g3"}
    assert plan.capacity_bound_s == 3.0
    # Round-robin without looking at the load puts some h* on "a" too.
    assert plan.naive_round_robin_s == 5.0
    assert plan.naive_single_account_s == 7.0


def test_unreachable_groups_are_listed_with_the_reason() -> None:
    groups = [
        Group("orphan", Level.UNIT.depth, frozenset()),
        Group("dead", Level.GRID.depth, frozenset({"gone", "cut"})),
        Group("stranger", Level.UNIT.depth, frozenset({"nobody-knows"})),
        Group("fine", Level.UNIT.depth, frozenset({"ok", "gone"})),
    ]
    accounts = [
        Account("ok", 1.0, 1),
        Account("gone", 1.0, 1, AccountStatus.LOGGED_OUT),
        Account("cut", 1.0, 1, AccountStatus.DISCONNECTED),
    ]
    plan = plan_delivery(groups, accounts)
    lost = {u.group_id: u for u in plan.unreachable}
    assert set(lost) == {"orphan", "dead", "stranger"}
    assert lost["orphan"].reason is UnreachableReason.NO_BOT_ACCOUNT
    assert lost["dead"].reason is UnreachableReason.NO_USABLE_ACCOUNT
    assert lost["dead"].detail == "cut disconnected, gone logged_out"
    assert lost["stranger"].detail == "nobody-knows unknown"
    assert lost["dead"].level == Level.GRID.depth
    assert [(d.group_id, d.account_id) for d in plan.deliveries] == [("fine", "ok")]
    assert not plan.meets_deadline(1_000.0)  # an unreachable group is never "met"


def test_a_throttled_account_posts_only_once_it_is_free() -> None:
    groups = [Group(f"g{i}", Level.UNIT.depth, frozenset({"slow", "free"})) for i in range(10)]
    accounts = [
        Account("slow", 10.0, 5, AccountStatus.THROTTLED, available_from=4.0),
        Account("free", 1.0, 1),
    ]
    plan = plan_delivery(groups, accounts)
    posts = plan.by_account()
    assert all(d.send_at >= 4.0 for d in posts["slow"])
    # "free" does g at 0,1,2,3,4; "slow" bursts 5 at 4.0: all done by 4.0.
    assert plan.predicted_reach_s == plan.lower_bound_s == 4.0
    assert len(posts["slow"]) == 5


def test_town_and_village_groups_go_before_unit_groups() -> None:
    """Two accounts, one overloaded with units: the villages must not queue behind them."""
    groups = [Group(f"u{i}", Level.UNIT.depth, frozenset({"a"})) for i in range(6)]
    groups += [Group(f"v{i}", Level.VILLAGE.depth, frozenset({"a", "b"})) for i in range(3)]
    groups += [Group(f"w{i}", Level.UNIT.depth, frozenset({"a", "b"})) for i in range(3)]
    plan = plan_delivery(groups, [Account("a", 1.0, 1), Account("b", 1.0, 1)])
    assert plan.predicted_reach_s == plan.lower_bound_s == 5.0
    assert plan.level_reach_s[Level.VILLAGE.depth] == 2.0  # b posts v0, v1, v2 at 0, 1, 2
    assert plan.levels_optimal


def test_advice_names_the_village_held_back_by_one_account() -> None:
    """A village whose 40 groups are all in one bot: that bot is the bottleneck."""
    groups = [Group(f"v1/u{i}", Level.UNIT.depth, frozenset({"lonely"})) for i in range(40)]
    groups += [
        Group(f"v2/u{i}", Level.UNIT.depth, frozenset({f"b{i % 4}", f"b{(i + 1) % 4}"}))
        for i in range(60)
    ]
    accounts = [Account("lonely", 1.0, 5)] + [Account(f"b{i}", 1.0, 5) for i in range(4)]
    plan = plan_delivery(groups, accounts)
    assert plan.predicted_reach_s == plan.lower_bound_s == 35.0
    assert plan.meets_deadline(35.0)
    assert not plan.meets_deadline(30.0)
    advice = plan.advise(30.0)
    assert not advice.met
    assert advice.late_by_s == 5.0
    assert advice.late_groups == 5  # by 30 s lonely can post 5 + 30 = 35 of its 40
    (bottleneck,) = advice.bottlenecks
    assert bottleneck.account_ids == ("lonely",)
    assert set(bottleneck.group_ids) == {f"v1/u{i}" for i in range(40)}
    assert bottleneck.sends_by_deadline == 35
    assert bottleneck.excess == 5
    assert bottleneck.earliest_reach_s == 35.0
    assert bottleneck.extra_accounts == 1
    assert advice.extra_accounts == 1
    assert (advice.extra_rate, advice.extra_burst) == (1.0, 5)
    met = plan.advise(40.0)
    assert met.met and met.late_by_s == 0.0 and met.bottlenecks == () and met.extra_accounts == 0


@settings(max_examples=60, deadline=None)
@given(instances_st(max_accounts=4, max_groups=40), st.sampled_from((0.0, 1.0, 3.0, 10.0)))
def test_the_suggested_extra_accounts_are_enough_and_needed(
    instance: tuple[list[Group], list[Account]], deadline: float
) -> None:
    groups, accounts = instance
    plan = plan_delivery(groups, accounts)
    advice = plan.advise(deadline, extra_rate=1.0, extra_burst=2)
    assert advice.met == plan.meets_deadline(deadline)
    if advice.extra_accounts is None:
        return

    def with_extra(n: int) -> DeliveryPlan:
        extra = [f"extra{i}" for i in range(n)]
        more = [Group(g.id, g.level, g.members | set(extra)) for g in groups]
        return plan_delivery(more, [*accounts, *(Account(e, 1.0, 2) for e in extra)])

    if advice.met:
        assert advice.extra_accounts == 0
        return
    assert with_extra(advice.extra_accounts).meets_deadline(deadline)
    if advice.extra_accounts:
        assert not with_extra(advice.extra_accounts - 1).meets_deadline(deadline)
    for b in advice.bottlenecks:
        assert b.excess > 0
        assert b.earliest_reach_s > deadline
        assert len(b.group_ids) == b.sends_by_deadline + b.excess


def test_replan_after_a_logout_moves_the_work_to_the_other_members() -> None:
    groups = [Group(f"g{i}", Level.UNIT.depth, frozenset({"a", "b"})) for i in range(20)]
    groups.append(Group("only-a", Level.UNIT.depth, frozenset({"a"})))
    accounts = [Account("a", 1.0, 3), Account("b", 1.0, 3)]
    plan = plan_delivery(groups, accounts)
    # Five seconds in, what was due is sent; then "a" is logged out.
    now = 5.0
    sent = [d for d in plan.deliveries if d.send_at <= now]
    history = {acc: [d.send_at for d in sent if d.account_id == acc] for acc in ("a", "b")}
    remaining = [g for g in groups if g.id not in {d.group_id for d in sent}]
    assert any(d.account_id == "a" for d in plan.deliveries if d.send_at > now)
    after = replan(
        remaining,
        [Account("a", 1.0, 3, AccountStatus.LOGGED_OUT), Account("b", 1.0, 3)],
        now=now,
        send_history=history,
    )
    assert {d.account_id for d in after.deliveries} == {"b"}
    assert {d.group_id for d in after.deliveries} | {u.group_id for u in after.unreachable} == {
        g.id for g in remaining
    }
    if "only-a" in {g.id for g in remaining}:
        assert [u.group_id for u in after.unreachable] == ["only-a"]
    # b's history and its new posts together respect its bucket: 3 at once, then 1/s.
    times = sorted(history["b"] + [d.send_at for d in after.deliveries])
    for i, j in itertools.combinations(range(len(times)), 2):
        assert j - i + 1 <= 3 + (times[j] - times[i]) + EPS
    assert all(d.send_at >= now for d in after.deliveries)
    assert after.predicted_reach_s == after.lower_bound_s


def test_bucket_tokens_follows_the_history() -> None:
    assert bucket_tokens(rate=1.0, burst=3, send_times=[], at=5.0) == 3.0
    assert bucket_tokens(rate=1.0, burst=3, send_times=[0.0, 0.0, 0.0], at=0.0) == 0.0
    assert bucket_tokens(rate=1.0, burst=3, send_times=[0.0, 0.0, 0.0], at=1.5) == 1.5
    assert bucket_tokens(rate=1.0, burst=3, send_times=[0.0], at=100.0) == 3.0
    assert bucket_tokens(rate=2.0, burst=1, send_times=[0.0, 0.0], at=0.0) == -1.0
    assert bucket_tokens(rate=1.0, burst=3, send_times=[0.0, 9.0], at=5.0) == 3.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-5, 5), st.floats(-2, 6), st.sampled_from(RATES)).map(
            lambda x: SendSlots(*x)
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(1, 60),
)
def test_earliest_time_is_the_need_th_slot(slots: list[SendSlots], need: int) -> None:
    times = sorted(s.time_of(k) for s in slots for k in range(need))
    assert earliest_time_for(slots, need) == times[need - 1]
    for s in slots:
        t = s.time_of(need // 2)
        assert s.count_by(t) >= need // 2 + 1
        assert s.count_by(math.nextafter(t, -math.inf)) <= need // 2


def test_the_level_search_can_stop_early_and_keep_the_optimal_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(4)
    accounts = [Account(f"b{i}", rng.choice(RATES), rng.randint(1, 3)) for i in range(6)]
    groups = [
        Group(f"g{j}", rng.randint(0, 3), frozenset(rng.sample([a.id for a in accounts], 2)))
        for j in range(200)
    ]
    exact = plan_delivery(groups, accounts)
    monkeypatch.setattr(planner, "LEVEL_SEARCH_PASSES", 0)
    monkeypatch.setattr(planner, "LEVEL_SEARCH_MIN_WORK", 0)
    hurried = plan_delivery(groups, accounts)
    check_feasible(hurried, groups, accounts)
    assert not hurried.levels_optimal
    assert hurried.predicted_reach_s == hurried.lower_bound_s == exact.lower_bound_s
    assert prefix_reach(hurried) >= prefix_reach(exact)


def test_a_town_is_planned_to_the_bound_within_three_minutes() -> None:
    """Guohuan-sized: 1 + 15 + 172 + 4,559 groups, 32 accounts at 1/s, burst 5.

    Villages are of uneven size; each gets a slice of the accounts in proportion to its
    groups, overlapping its neighbours', and each group is in two of its slice.
    """
    rng = random.Random(7)
    accounts = [Account(f"bot{i:02d}", 1.0, 5) for i in range(32)]
    ids = [a.id for a in accounts]
    grids = split(172, 15, rng)
    units = split(4559, 172, rng)
    groups = [Group("town", Level.TOWN.depth, frozenset(ids[::8]))]
    begin = 0.0
    for v, n_grids in enumerate(grids):
        village_units, units = units[:n_grids], units[n_grids:]
        width = 32 * (1 + n_grids + sum(village_units)) / 4746
        pool = [ids[i % 32] for i in range(math.floor(begin) - 1, math.ceil(begin + width) + 1)]
        begin += width
        groups.append(Group(f"v{v}", Level.VILLAGE.depth, two_of(pool, rng)))
        for g, n_units in enumerate(village_units):
            groups.append(Group(f"v{v}/g{g}", Level.GRID.depth, two_of(pool, rng)))
            groups += [
                Group(f"v{v}/g{g}/u{u}", Level.UNIT.depth, two_of(pool, rng))
                for u in range(n_units)
            ]
    assert len(groups) == 4747
    plan = plan_delivery(groups, accounts)
    check_feasible(plan, groups, accounts)
    assert plan.predicted_reach_s == plan.lower_bound_s <= 180.0
    assert plan.meets_deadline(180.0)
    assert plan.level_reach_s[Level.VILLAGE.depth] == 0.0
    assert plan.naive_single_account_s == 4742.0
    assert plan.naive_round_robin_s > plan.predicted_reach_s


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Account("a", 0.0, 1), "rate must be > 0"),
        (lambda: Account("a", math.nan, 1), "rate must be > 0"),
        (lambda: Account("a", 1.0, 0), "burst must be an int >= 1"),
        (lambda: Account("a", 1.0, 2, tokens=3.0), "tokens must be finite and <= burst"),
        (lambda: Group("g", 4, frozenset()), "level must be 0..3"),
        (
            lambda: plan_delivery([Group("g", 3, frozenset()), Group("g", 2, frozenset())], []),
            "group 'g' is listed twice",
        ),
        (
            lambda: plan_delivery([], [Account("a", 1.0), Account("a", 2.0)]),
            "account 'a' is listed twice",
        ),
        (lambda: plan_delivery([], [], now=math.inf), "now must be finite"),
        (lambda: plan_delivery([], [], margin_s=-1.0), "margin_s must be >= 0"),
    ],
)
def test_bad_input_is_refused_with_the_reason(make: object, message: str) -> None:
    with pytest.raises(PlanningError, match=message):
        make()  # type: ignore[operator]


def test_nothing_to_send() -> None:
    plan = plan_delivery([], [Account("a", 1.0)], now=3.0)
    assert plan.deliveries == () and plan.unreachable == ()
    assert plan.predicted_reach_s == plan.lower_bound_s == 3.0
    assert plan.meets_deadline(3.0)
    assert plan.ratio == 1.0
