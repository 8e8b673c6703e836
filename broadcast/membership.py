"""Which bot accounts sit in which group (机器人账号入群设计), and what a loss costs.

A notice reaches a group only through a bot account that is a member of it. When WeChat
takes an account away mid-broadcast, its remaining groups can move only to the *other*
accounts in those groups. If every group holds the same two accounts (a fixed pair), a
lost account's load lands on its one partner, which is already busy. This module chooses
memberships whose co-members are spread evenly over all partners (a balanced design: every
pair of accounts shares about the same number of groups, like the edges of a random
regular graph), so a lost account's work flows to many accounts at once.

It also says how many accounts per group a loss budget needs, where the adversary is
a loss of the accounts whose groups have the fewest alternatives (:func:`adversarial_loss`),
and which invitations turn today's memberships into the design with the fewest actions:
real bots join a group only when a member invites them, so the design keeps every
existing membership and adds only what is missing.

Everything here is pure: plain data in, plain data out.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from broadcast.planner import Account, Group, plan_delivery
from broadcast.slots import SendSlots, earliest_time_for

G = TypeVar("G", bound=Hashable)


class DesignError(ValueError):
    """The design's input is malformed (the message names the item and the reason)."""


@dataclass(frozen=True, slots=True)
class Design:
    """Members per group, and what was added to the existing memberships to get there."""

    members: Mapping[Hashable, tuple[str, ...]]
    """Group -> its bot accounts (existing ones first)."""
    added: tuple[tuple[Hashable, str], ...]
    """(group, account) memberships that are new: the invitations to make."""
    per_group: int


def design_memberships(
    groups: Sequence[G],
    account_ids: Sequence[str],
    per_group: int,
    *,
    existing: Mapping[G, Collection[str]] | None = None,
    seed: int = 0,
) -> Design:
    """Give every group ``min(per_group, len(account_ids))`` accounts, spread over partners.

    Groups are filled one after another; each missing member is the account that shares
    the fewest groups with the members chosen so far, then the one with the fewest groups,
    then a seeded random draw. The result is a greedy balanced design: pair counts (groups
    two accounts share) and loads (groups per account) differ by a few at most.

    ``existing`` memberships are kept (a bot in a group stays there) and counted, and only
    the missing members are added, so ``added`` is the fewest invitations that give every
    group ``per_group`` accounts. Members not among ``account_ids`` are kept but not counted.
    """
    if per_group < 1:
        raise DesignError(f"per_group must be >= 1, not {per_group!r}")
    ids = list(dict.fromkeys(account_ids))
    if len(ids) != len(account_ids):
        raise DesignError("an account is listed twice")
    n = len(ids)
    index = {a: i for i, a in enumerate(ids)}
    existing = existing or {}
    want = min(per_group, n)
    rng = random.Random(seed)
    load = [0] * n
    pair = [[0] * n for _ in range(n)]
    used: Counter[frozenset[int]] = Counter()
    out: dict[Hashable, tuple[str, ...]] = {}
    added: list[tuple[Hashable, str]] = []
    # Groups that already have members first: their choices constrain the rest.
    order = sorted(range(len(groups)), key=lambda g: -len(existing.get(groups[g], ())))
    tiebreak = list(range(n))
    for g in order:
        group = groups[g]
        kept = list(dict.fromkeys(existing.get(group, ())))
        chosen = [index[a] for a in kept if a in index]
        score = [0] * n  # groups each account shares with the members chosen so far
        for c in chosen:
            row = pair[c]
            for i in range(n):
                score[i] += row[i]
        new: list[int] = []
        rng.shuffle(tiebreak)
        while len(chosen) < want:
            last = len(chosen) == want - 1
            best = min(
                (i for i in tiebreak if i not in chosen),
                key=lambda i: (
                    # a set of members that already serves a group comes last: a loss of
                    # exactly those accounts would take every such group away at once
                    used[frozenset((*chosen, i))] if last else 0,
                    score[i],
                    load[i],
                ),
            )
            chosen.append(best)
            new.append(best)
            row = pair[best]
            for i in range(n):
                score[i] += row[i]
        for pos, a in enumerate(chosen):
            load[a] += 1
            for b in chosen[pos + 1 :]:
                pair[a][b] += 1
                pair[b][a] += 1
        used[frozenset(chosen)] += 1
        out[group] = (*kept, *(ids[i] for i in new))
        added.extend((group, ids[i]) for i in new)
    return Design(members=out, added=tuple(added), per_group=want)


def adversarial_loss(
    members: Mapping[G, Collection[str]],
    account_ids: Iterable[str],
    count: int,
    *,
    already_lost: Collection[str] = (),
) -> tuple[str, ...]:
    """The ``count`` accounts whose loss hurts most, chosen one after another.

    Each step takes the live account whose groups would be left with the fewest live
    alternatives: most groups left with no live account, then most left with one, and so
    on; then the account in the most groups; then the smallest id (deterministic). This is
    the loss a benchmark and a prediction should survive: not a random one. Members
    not among ``account_ids`` are not alternatives.
    """
    lost = set(already_lost)
    known = set(account_ids)
    live = sorted(known - lost)
    groups_of: dict[str, list[frozenset[str]]] = {a: [] for a in live}
    for group_members in members.values():
        frozen = frozenset(group_members) & known  # an unknown member is no alternative
        for a in frozen:
            if a in groups_of:
                groups_of[a].append(frozen)
    chosen: list[str] = []
    for _ in range(min(count, len(live))):
        best: tuple[tuple[int, ...], int, str] | None = None
        for a in live:
            if a in lost:
                continue
            left = Counter(len(g - lost) - 1 for g in groups_of[a])
            # the most groups with 0 live alternatives, then with 1, ...: compare as a
            # vector of counts from 0 alternatives up
            depth = max(left, default=0) + 1
            profile = tuple(left.get(k, 0) for k in range(depth))
            key = (profile, len(groups_of[a]), a)
            if best is None or _worse(key, best):
                best = key
        assert best is not None
        lost.add(best[2])
        chosen.append(best[2])
    return tuple(chosen)


def _worse(a: tuple[tuple[int, ...], int, str], b: tuple[tuple[int, ...], int, str]) -> bool:
    """Whether losing ``a`` hurts more than losing ``b`` (see :func:`adversarial_loss`)."""
    width = max(len(a[0]), len(b[0]))
    pa = a[0] + (0,) * (width - len(a[0]))
    pb = b[0] + (0,) * (width - len(b[0]))
    if pa != pb:
        return pa > pb
    if a[1] != b[1]:
        return a[1] > b[1]
    return a[2] < b[2]


def accounts_lost(loss: float, accounts: int) -> int:
    """How many of ``accounts`` a loss budget (a share, e.g. 0.1) takes away."""
    if not (math.isfinite(loss) and 0 <= loss < 1):
        raise DesignError(f"loss must be in [0, 1), not {loss!r}")
    return math.floor(loss * accounts + 1e-9)


@dataclass(frozen=True, slots=True)
class DesignOption:
    """One choice of accounts per group, and how it fares."""

    per_group: int
    reach_s: float
    """Predicted reach with every account."""
    reach_under_loss_s: float
    """Predicted reach (of the groups still reachable) with the adversarial loss at the
    start, the worst moment for capacity."""
    unreachable_under_loss: int
    """Groups whose every account is among the lost ones."""
    lost_accounts: tuple[str, ...]
    invitations: int
    """Memberships to add to today's (each one person inviting one bot into one group)."""

    def meets(self, deadline_s: float) -> bool:
        return self.unreachable_under_loss == 0 and self.reach_under_loss_s <= deadline_s


@dataclass(frozen=True, slots=True)
class AccountsAdvice:
    """``gridcast plan accounts``: what the deployment needs for a deadline under a loss."""

    groups: int
    accounts: int
    loss: float
    lost: int
    """Accounts the loss budget takes away."""
    deadline_s: float
    accounts_needed: int
    """The fewest accounts (of the usual rate and burst) whose survivors of the loss can
    reach every group by the deadline, with a perfect spread."""
    per_group: int
    """The recommended accounts per group: the fewest that meet the deadline with no group
    lost (or the best found)."""
    options: tuple[DesignOption, ...]
    design: Design
    """The recommended design, built on today's memberships."""

    @property
    def chosen(self) -> DesignOption:
        return next(o for o in self.options if o.per_group == self.per_group)


def advise_accounts(
    levels: Mapping[str, int],
    accounts: Sequence[Account],
    *,
    loss: float,
    deadline_s: float,
    existing: Mapping[str, Collection[str]] | None = None,
    margin_s: float = 0.0,
    per_group: int | None = None,
    max_per_group: int = 6,
    seed: int = 0,
) -> AccountsAdvice:
    """Decide accounts per group for ``loss`` and ``deadline_s``, and the design that gives it.

    ``levels``: group id -> level depth (0 town ... 3 unit). ``accounts``: the deployment's
    accounts as the planner sees them. Each option from 2 accounts per group (1 is lost with
    its account) up to one more than the loss takes (then no loss can empty a group) is
    designed on ``existing`` memberships, planned without loss and with the adversarial
    loss at the start. ``per_group`` forces the recommendation.
    """
    existing = existing or {}
    group_ids = list(levels)
    ids = [a.id for a in accounts]
    n = len(ids)
    lost = accounts_lost(loss, n)
    if n == 0:
        raise DesignError("no bot accounts configured")
    top = min(n, max(2, lost + 1), max_per_group)
    candidates = list(range(min(2, n), top + 1))
    if per_group is not None:
        if not 1 <= per_group <= n:
            raise DesignError(f"per_group must be 1..{n}, not {per_group!r}")
        candidates = sorted({*candidates, per_group})
    options: list[DesignOption] = []
    designs: dict[int, Design] = {}
    for k in candidates:
        design = design_memberships(group_ids, ids, k, existing=existing, seed=seed)
        designs[k] = design
        groups = [Group(g, levels[g], frozenset(design.members[g])) for g in group_ids]
        whole = plan_delivery(groups, accounts, margin_s=margin_s)
        gone = adversarial_loss(design.members, ids, lost)
        left = [a for a in accounts if a.id not in gone]
        under = plan_delivery(groups, left, margin_s=margin_s) if left else None
        options.append(
            DesignOption(
                per_group=k,
                reach_s=whole.predicted_reach_s,
                reach_under_loss_s=under.predicted_reach_s if under else math.inf,
                unreachable_under_loss=len(under.unreachable) if under else len(groups),
                lost_accounts=gone,
                invitations=len(design.added),
            )
        )
    if per_group is None:
        meeting = [o for o in options if o.meets(deadline_s)]
        best = (
            meeting[0]
            if meeting
            else min(
                options, key=lambda o: (o.unreachable_under_loss, o.reach_under_loss_s, o.per_group)
            )
        )
        per_group = best.per_group
    return AccountsAdvice(
        groups=len(group_ids),
        accounts=n,
        loss=loss,
        lost=lost,
        deadline_s=deadline_s,
        accounts_needed=_accounts_needed(len(group_ids), accounts, loss, deadline_s, margin_s),
        per_group=per_group,
        options=tuple(options),
        design=designs[per_group],
    )


def _accounts_needed(
    groups: int, accounts: Sequence[Account], loss: float, deadline_s: float, margin_s: float
) -> int:
    """The fewest accounts of the usual kind whose survivors can post ``groups`` in time."""
    if groups == 0:
        return 0
    usual = Counter((a.rate, a.burst) for a in accounts).most_common(1)
    rate, burst = usual[0][0] if usual else (1.0, 1)
    slot = SendSlots(start=0.0, tokens=float(burst), rate=1.0 / (1.0 / rate + margin_s))
    n = 1
    while True:
        alive = n - accounts_lost(loss, n)
        if alive > 0 and earliest_time_for([slot] * alive, groups) <= deadline_s:
            return n
        if n > 100_000:
            return n
        n += 1


@dataclass(frozen=True, slots=True)
class Inviter:
    """Someone in a group who can invite a bot account into it (a leader of the group)."""

    name: str
    phone: str
    role: str
    """The post, in Chinese (单元长, 网格长, ...)."""


@dataclass(frozen=True, slots=True)
class Invitation:
    """One action: ``inviter`` invites bot ``account_id`` into group ``group``."""

    group: str
    account_id: str
    inviter: Inviter | None
    """``None``: nobody in the roster leads this group (the town's administrator must)."""


def invitations(
    added: Iterable[tuple[Hashable, str]], inviters: Mapping[str, Inviter | None]
) -> list[tuple[Inviter | None, list[Invitation]]]:
    """The design's new memberships as actions, grouped by the person who can do them.

    The person with the most invitations first; a group's invitations stay together.
    """
    by_person: dict[Inviter | None, list[Invitation]] = {}
    for group, account_id in added:
        key = str(group)
        who = inviters.get(key)
        by_person.setdefault(who, []).append(Invitation(key, account_id, who))
    out = [
        (who, sorted(todo, key=lambda i: (i.group, i.account_id)))
        for who, todo in by_person.items()
    ]
    out.sort(key=lambda pair: (-len(pair[1]), pair[0] is None, pair[0].name if pair[0] else ""))
    return out
