"""Planning benchmark: a Guohuan-sized town and a synthetic city, planned in-process.

    .venv/bin/python bench/plan_city.py [--seed 1] [--repeat 3] [--members local|random]
                                        [--deadline 180]

Prints one JSON object with, for the town and for the city: ``plan_ms`` (best of
``--repeat``, lower bound included), ``lower_bound_s``, ``predicted_reach_s``, ``ratio``,
the naive figures and the advice for the deadline (180 s). Not a timed test.

The town is the reference deployment of issue 4: 1 + 15 + 172 + 4,559 groups, villages of
uneven size, 32 accounts at 1 message/s with a burst of 5, each group in at least two
accounts. The city has 100,000 groups in towns and villages of uneven size and 1,000
accounts of mixed rates and bursts, some throttled, some logged out, some towns short of
accounts; each group is in 2-3 accounts drawn from its village's pool (``--members
random`` draws them from all accounts instead: a worst case with no structure to exploit).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

from broadcast.planner import (
    Account,
    DeliveryPlan,
    Group,
    plan_delivery,
)
from models.enums import AccountStatus, Level


@dataclass
class Village:
    name: str
    grids: list[int]
    """Units per grid."""

    @property
    def groups(self) -> int:
        return 1 + len(self.grids) + sum(self.grids)


def split(total: int, parts: int, rng: random.Random, sigma: float, least: int = 1) -> list[int]:
    """``total`` as ``parts`` integers >= ``least`` of uneven (log-normal) size."""
    weights = [rng.lognormvariate(0.0, sigma) for _ in range(parts)]
    spare = total - least * parts
    if spare < 0:
        raise ValueError(f"cannot split {total} into {parts} parts of at least {least}")
    shares = [least + math.floor(spare * w / sum(weights)) for w in weights]
    for i in rng.sample(range(parts), total - sum(shares)):
        shares[i] += 1
    return shares


def villages(n_villages: int, n_grids: int, n_units: int, rng: random.Random) -> list[Village]:
    grids_per_village = split(n_grids, n_villages, rng, 0.6, least=3)
    units_per_grid = split(n_units, n_grids, rng, 0.7, least=3)
    out: list[Village] = []
    for v, n in enumerate(grids_per_village):
        out.append(Village(f"v{v}", units_per_grid[:n]))
        units_per_grid = units_per_grid[n:]
    return out


def town_groups(
    prefix: str,
    tree: list[Village],
    account_ids: list[str],
    rng: random.Random,
    members_from: list[str] | None = None,
) -> list[Group]:
    """The four levels of groups of one town; each village gets a ring slice of accounts.

    Slices are proportional to the village's groups and overlap their neighbours by one
    account, so that every village has at least three. With ``members_from`` every group
    draws its members from that list instead.
    """
    total = sum(v.groups for v in tree)
    n = len(account_ids)
    pools: list[list[str]] = []
    begin = 0.0
    for v in tree:
        width = n * v.groups / total
        first, last = math.floor(begin) - 1, math.ceil(begin + width) + 1
        if last - first < 3:
            last = first + 3
        pools.append([account_ids[i % n] for i in range(first, last)])
        begin += width

    def pick(pool: list[str]) -> frozenset[str]:
        source = members_from or pool
        return frozenset(rng.sample(source, min(len(source), rng.choice((2, 2, 3)))))

    groups = [Group(prefix, Level.TOWN.depth, frozenset(rng.sample(account_ids, min(4, n))))]
    for v, pool in zip(tree, pools, strict=True):
        village = f"{prefix}/{v.name}"
        groups.append(Group(village, Level.VILLAGE.depth, pick(pool)))
        for g, units in enumerate(v.grids):
            grid = f"{village}/g{g}"
            groups.append(Group(grid, Level.GRID.depth, pick(pool)))
            groups.extend(Group(f"{grid}/u{u}", Level.UNIT.depth, pick(pool)) for u in range(units))
    return groups


def guohuan(rng: random.Random) -> tuple[list[Group], list[Account]]:
    """1 town, 15 villages, 172 grids, 4,559 units; 32 accounts at 1/s, burst 5."""
    accounts = [Account(f"bot{i:02d}", rate=1.0, burst=5) for i in range(32)]
    tree = villages(15, 172, 4559, rng)
    return town_groups("guohuan", tree, [a.id for a in accounts], rng), accounts


def city(rng: random.Random, members: str) -> tuple[list[Group], list[Account]]:
    """100,000 groups in 21 towns of uneven size; 1,000 accounts of mixed health."""
    sizes = split(100_000, 21, rng, 0.5, least=1_500)
    staffing = [s * rng.uniform(0.7, 1.3) for s in sizes]  # some towns are short of bots
    per_town = [max(8, round(1_000 * w / sum(staffing))) for w in staffing]
    per_town[-1] += 1_000 - sum(per_town)
    accounts: list[Account] = []
    groups: list[Group] = []
    every_account = [f"t{t}-bot{i}" for t, n in enumerate(per_town) for i in range(n)]
    for t, (size, n_accounts) in enumerate(zip(sizes, per_town, strict=True)):
        ids = [f"t{t}-bot{i}" for i in range(n_accounts)]
        for account_id in ids:
            accounts.append(_city_account(account_id, rng))
        n_villages = rng.randint(8, 25)
        n_grids = max(3 * n_villages, round(size * rng.uniform(0.03, 0.045)))
        tree = villages(n_villages, n_grids, size - 1 - n_villages - n_grids, rng)
        source = every_account if members == "random" else None
        groups.extend(town_groups(f"t{t}", tree, ids, rng, source))
    return groups, accounts


def _city_account(account_id: str, rng: random.Random) -> Account:
    rate, burst = rng.choice(((1.0, 5), (1.0, 5), (1.0, 3), (0.5, 3), (2.0, 10), (1.0, 10)))
    roll = rng.random()
    if roll < 0.02:
        return Account(account_id, rate, burst, AccountStatus.LOGGED_OUT)
    if roll < 0.03:
        return Account(account_id, rate, burst, AccountStatus.DISCONNECTED)
    if roll < 0.08:
        until = rng.uniform(10.0, 60.0)
        return Account(account_id, rate, burst, AccountStatus.THROTTLED, available_from=until)
    return Account(account_id, rate, burst)


def measure(
    groups: list[Group], accounts: list[Account], repeat: int, deadline_s: float
) -> dict[str, Any]:
    best = math.inf
    plan: DeliveryPlan | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        plan = plan_delivery(groups, accounts)
        best = min(best, time.perf_counter() - started)
    assert plan is not None
    started = time.perf_counter()
    advice = plan.advise(deadline_s)
    advice_ms = (time.perf_counter() - started) * 1000
    return {
        "groups": len(groups),
        "accounts": len(accounts),
        "usable_accounts": sum(a.usable for a in accounts),
        "unreachable": len(plan.unreachable),
        "plan_ms": round(best * 1000, 1),
        "lower_bound_s": plan.lower_bound_s,
        "predicted_reach_s": plan.predicted_reach_s,
        "ratio": plan.ratio,
        "capacity_bound_s": plan.capacity_bound_s,
        "level_reach_s": {Level.at_depth(k).value: v for k, v in plan.level_reach_s.items()},
        "naive_single_account_s": plan.naive_single_account_s,
        "naive_round_robin_s": plan.naive_round_robin_s,
        "deadline_s": deadline_s,
        "meets_deadline": plan.meets_deadline(deadline_s),
        "advice": {
            "advice_ms": round(advice_ms, 1),
            "late_by_s": advice.late_by_s,
            "late_groups": advice.late_groups,
            "extra_accounts": advice.extra_accounts,
            "bottlenecks": len(advice.bottlenecks),
            "worst": [
                {
                    "accounts": len(b.account_ids),
                    "groups": len(b.group_ids),
                    "excess": b.excess,
                    "earliest_reach_s": b.earliest_reach_s,
                    "extra_accounts": b.extra_accounts,
                }
                for b in advice.bottlenecks[:3]
            ],
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--members", choices=("local", "random"), default="local")
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds, for the advice")
    args = parser.parse_args(argv)
    report = {
        "town": measure(*guohuan(random.Random(args.seed)), args.repeat, args.deadline),
        "city": measure(*city(random.Random(args.seed), args.members), args.repeat, args.deadline),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
