"""The membership design and planning under loss: properties on random memberships and
loss sets, checked against brute force on small cases."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadcast import membership
from broadcast.membership import (
    Inviter,
    accounts_lost,
    adversarial_loss,
    advise_accounts,
    design_memberships,
    invitations,
)
from broadcast.planner import Account, Group, plan_delivery, replan
from broadcast.slots import earliest_time_for
from models.enums import AccountStatus
from tests.broadcast.test_planner import check_feasible, hall_bound, instances_st, slots_of

# -- the design --------------------------------------------------------------------------


@st.composite
def designs_st(draw: st.DrawFn) -> tuple[list[str], list[str], int, dict[str, frozenset[str]]]:
    n = draw(st.integers(1, 9))
    ids = [f"bot{i}" for i in range(n)]
    groups = [f"g{j}" for j in range(draw(st.integers(0, 60)))]
    k = draw(st.integers(1, 5))
    existing = {
        g: frozenset(draw(st.lists(st.sampled_from([*ids, "old"]), max_size=3)))
        for g in groups
        if draw(st.booleans())
    }
    return ids, groups, k, existing


@settings(max_examples=200, deadline=None)
@given(designs_st(), st.integers(0, 3))
def test_every_group_gets_its_accounts_with_the_fewest_invitations(
    instance: tuple[list[str], list[str], int, dict[str, frozenset[str]]], seed: int
) -> None:
    ids, groups, k, existing = instance
    design = design_memberships(groups, ids, k, existing=existing, seed=seed)
    want = min(k, len(ids))
    added = Counter(g for g, _ in design.added)
    for g in groups:
        members = design.members[g]
        kept = existing.get(g, frozenset())
        assert len(set(members)) == len(members)
        assert kept <= set(members)  # nobody is asked to leave a group
        known = len(kept & set(ids))
        # exactly the missing members are invited: no design needs fewer invitations
        assert added[g] == max(0, want - known)
        assert len(set(members) & set(ids)) == max(want, known)
    assert all(a in ids for _, a in design.added)
    assert design == design_memberships(groups, ids, k, existing=existing, seed=seed)


@settings(max_examples=100, deadline=None)
@given(st.integers(3, 9), st.integers(2, 4), st.integers(1, 4), st.integers(0, 5))
def test_fresh_designs_spread_every_account_over_all_partners(
    n: int, k: int, rounds: int, seed: int
) -> None:
    """Loads and pair counts (groups two accounts share) differ by very little; with enough
    groups every account shares groups with every other one."""
    k = min(k, n)
    ids = [f"bot{i}" for i in range(n)]
    pairs = n * (n - 1) // 2
    groups = [f"g{j}" for j in range(rounds * pairs)]
    design = design_memberships(groups, ids, k, seed=seed)
    load = Counter(a for m in design.members.values() for a in m)
    shared = Counter(
        frozenset(p) for m in design.members.values() for p in itertools.combinations(m, 2)
    )
    assert max(load.values()) - min(load.values()) <= 2
    assert len(shared) == pairs  # every pair meets (brute force over all pairs)
    assert max(shared.values()) - min(shared.values()) <= 3


def test_the_fixed_pairs_of_old_cannot_absorb_a_loss_the_design_can() -> None:
    """Issue 16: with fixed pairs a lost account's groups all land on its one partner."""
    ids = [f"bot{i:02d}" for i in range(12)]
    groups = [f"g{j}" for j in range(600)]
    fixed = {g: (ids[2 * (j % 6)], ids[2 * (j % 6) + 1]) for j, g in enumerate(groups)}
    spread = design_memberships(groups, ids, 2).members
    accounts = [Account(a, rate=1.0, burst=1) for a in ids]

    def reach_without(members: dict[str, tuple[str, ...]], lost: str) -> float:
        return plan_delivery(
            [Group(g, 3, frozenset(m)) for g, m in members.items()],
            [a for a in accounts if a.id != lost],
        ).predicted_reach_s

    whole = plan_delivery([Group(g, 3, frozenset(m)) for g, m in spread.items()], accounts)
    assert reach_without(fixed, "bot00") > 1.8 * whole.predicted_reach_s
    assert reach_without(spread, "bot00") <= whole.predicted_reach_s * 12 / 11 + 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 7), st.integers(1, 3), st.integers(0, 3), st.data())
def test_one_lost_account_is_absorbed_by_all_the_others(
    n: int, rounds: int, seed: int, data: st.DataObject
) -> None:
    """With a spread design of two accounts per group, losing any one account leaves no
    bottleneck: the exact optimum (brute-force Hall bound) is the survivors' capacity."""
    ids = [f"bot{i}" for i in range(n)]
    groups = [f"g{j}" for j in range(rounds * n * (n - 1) // 2)]
    design = design_memberships(groups, ids, 2, seed=seed)
    lost = data.draw(st.sampled_from(ids))
    accounts = [
        Account(
            a,
            rate=1.0,
            burst=1,
            status=AccountStatus.LOGGED_OUT if a == lost else AccountStatus.ONLINE,
        )
        for a in ids
    ]
    plan_groups = [Group(g, 3, frozenset(design.members[g])) for g in groups]
    plan = plan_delivery(plan_groups, accounts)
    assert not plan.unreachable
    optimum = hall_bound(plan_groups, accounts)
    assert plan.predicted_reach_s == optimum
    survivors = [slots_of(a) for a in accounts if a.usable]
    # a slot of rounding per survivor at most: the pair counts differ by up to 2
    assert optimum <= earliest_time_for(survivors, len(groups)) + 2


# -- the adversary -----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(designs_st(), st.integers(0, 4))
def test_the_adversary_takes_the_accounts_with_the_fewest_alternatives_first(
    instance: tuple[list[str], list[str], int, dict[str, frozenset[str]]], count: int
) -> None:
    ids, groups, k, existing = instance
    members = design_memberships(groups, ids, k, existing=existing).members
    lost = adversarial_loss(members, ids, count)
    assert len(lost) == min(count, len(ids)) == len(set(lost))
    assert set(lost) <= set(ids)
    if not lost:
        return

    def emptied(gone: set[str]) -> int:
        return sum(1 for m in members.values() if set(m) & set(ids) and set(m) & set(ids) <= gone)

    # The first pick, by brute force over every account: none empties more groups.
    assert emptied({lost[0]}) == max(emptied({a}) for a in ids)
    # Each pick, given the ones before: none empties more groups.
    for i in range(1, len(lost)):
        before = set(lost[:i])
        assert emptied(before | {lost[i]}) == max(
            emptied(before | {a}) for a in ids if a not in before
        )


def test_the_adversary_finds_the_pair_behind_a_group() -> None:
    members = {"g1": ("a", "b"), "g2": ("b", "c"), "g3": ("c", "d"), "g4": ("a", "b")}
    assert adversarial_loss(members, ["a", "b", "c", "d"], 2) == ("b", "a")


def test_the_loss_budget_in_accounts() -> None:
    assert accounts_lost(0.1, 32) == 3
    assert accounts_lost(0.1, 30) == 3
    assert accounts_lost(0.0, 32) == 0
    assert accounts_lost(0.5, 3) == 1


# -- planning under loss, against brute force -------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances_st(max_accounts=5, max_groups=25), st.data())
def test_a_replan_after_any_loss_at_any_moment_is_optimal(
    instance: tuple[list[Group], list[Account]], data: st.DataObject
) -> None:
    """Plan, send until ``t``, lose any set of accounts, re-plan the rest from the send
    history: the new plan is feasible, reaches every group a live account is in, and is
    the exact optimum of what is left (Hall bound by brute force)."""
    groups, accounts = instance
    plan = plan_delivery(groups, accounts)
    if not plan.deliveries:
        return
    t = data.draw(st.floats(0, plan.predicted_reach_s))
    ids = [a.id for a in accounts]
    lost = set(data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids))))
    done = [d for d in plan.deliveries if d.send_at < t]
    sent = {d.group_id for d in done}
    history: dict[str, list[float]] = {}
    for d in done:
        history.setdefault(d.account_id, []).append(d.send_at)
    now_accounts = [
        Account(a.id, a.rate, a.burst, AccountStatus.LOGGED_OUT, a.available_from, a.tokens)
        if a.id in lost
        else a
        for a in accounts
    ]
    remaining = [g for g in groups if g.id not in sent]
    again = replan(remaining, now_accounts, now=t, send_history=history)
    # What the brute force sees: each account with its bucket as the history left it.
    with_buckets = []
    for a in now_accounts:
        if a.tokens is None and history.get(a.id):
            from broadcast.slots import bucket_tokens

            at = max(t, a.available_from)
            tokens = bucket_tokens(rate=a.rate, burst=a.burst, send_times=history[a.id], at=at)
            a = Account(a.id, a.rate, a.burst, a.status, a.available_from, tokens)
        with_buckets.append(a)
    check_feasible(again, remaining, with_buckets)
    live = {a.id for a in with_buckets if a.usable}
    assert {u.group_id for u in again.unreachable} == {
        g.id for g in remaining if not g.members & live
    }
    if again.deliveries:
        assert again.predicted_reach_s == hall_bound(remaining, with_buckets, now=t)


@settings(max_examples=200, deadline=None)
@given(instances_st(max_accounts=5, max_groups=30))
def test_each_account_sends_the_groups_with_the_fewest_alternatives_first(
    instance: tuple[list[Group], list[Account]],
) -> None:
    groups, accounts = instance
    plan = plan_delivery(groups, accounts)
    live = {a.id for a in accounts if a.usable}
    members = {g.id: g.members & live for g in groups}
    for posts in plan.by_account().values():
        for level in range(4):
            alternatives = [len(members[d.group_id]) for d in posts if d.level == level]
            assert alternatives == sorted(alternatives)


# -- the advice ----------------------------------------------------------------------------


def test_advice_for_a_loss_budget() -> None:
    levels = {f"g{j}": 3 for j in range(200)}
    accounts = [Account(f"bot{i:02d}", rate=1.0, burst=4) for i in range(10)]
    existing = {f"g{j}": frozenset({"bot00", "bot01"}) for j in range(100)}  # fixed pairs
    advice = advise_accounts(levels, accounts, loss=0.2, deadline_s=40, existing=existing)
    assert advice.lost == 2
    assert [o.per_group for o in advice.options] == [2, 3]
    by_k = {o.per_group: o for o in advice.options}
    assert by_k[2].unreachable_under_loss > 0  # two accounts can empty a group of two
    assert by_k[3].unreachable_under_loss == 0
    assert advice.per_group == 3 and advice.chosen.meets(40)
    # the existing pairs are kept: 100 groups need one invitation, 100 need three
    assert len(advice.design.added) == 100 * 1 + 100 * 3
    # 200 groups at 1/s with a burst of 4 by 40 s need 5 survivors; 20% of 6 is 1
    assert advice.accounts_needed == 6
    assert advice.chosen.reach_under_loss_s <= 40
    assert math.isfinite(advice.chosen.reach_s)
    forced = advise_accounts(levels, accounts, loss=0.2, deadline_s=40, per_group=2)
    assert forced.per_group == 2 and not forced.chosen.meets(40)


def test_invitations_are_grouped_by_the_person_who_can_invite() -> None:
    leader = Inviter("林耀雄", "13800001301", "单元长")
    chief = Inviter("郭燕冰", "13800001288", "网格长")
    added = [("v/g/u1", "bot1"), ("v/g", "bot2"), ("v/g/u1", "bot3"), ("town", "bot1")]
    todo = invitations(added, {"v/g/u1": leader, "v/g": chief, "town": None})
    assert [(who, [(i.group, i.account_id) for i in items]) for who, items in todo] == [
        (leader, [("v/g/u1", "bot1"), ("v/g/u1", "bot3")]),
        (chief, [("v/g", "bot2")]),
        (None, [("town", "bot1")]),
    ]


def test_random_memberships_keep_the_design_deterministic() -> None:
    rng = random.Random(7)
    ids = [f"bot{i}" for i in range(6)]
    existing = {f"g{j}": frozenset(rng.sample(ids, rng.randint(0, 2))) for j in range(40)}
    first = membership.design_memberships(list(existing), ids, 3, existing=existing, seed=1)
    second = membership.design_memberships(list(existing), ids, 3, existing=existing, seed=1)
    assert first == second
