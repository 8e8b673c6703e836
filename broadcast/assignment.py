"""Which account posts which group: a b-matching with deadlines, solved as a max-flow.

Groups with the same usable member accounts and the same level are interchangeable, so
they are collapsed into one *class* with a count: a town has a few hundred distinct member
sets for its 4,747 groups, and a path then moves many groups at once.

The flow network behind it, for deadlines ``D_0 <= D_1 <= D_2 <= D_3`` (one per level,
town = 0 ... unit = 3)::

    source --count--> class (level l) --> (account a, l) --cap_a(D_l)--> (a, l+1) ... --> sink

An account posts its groups in level order, so the edge ``(a, l) -> (a, l+1)`` carries the
number of its groups of level ``<= l`` and its capacity is the number of sends the bucket
allows by ``D_l``. With every deadline equal to ``T`` this is the plain question "can all
groups be posted by ``T``"; a failed search leaves a set of accounts that are full and hold
more groups than they can send by ``T`` (Hall's condition fails), which is the proof that
``T`` is too early and tells how far to move it.

The network is never built: its residual edges are read off the placement (``load``,
``cap``, which classes sit on which account). A greedy fill places almost everything;
Dinic's algorithm (breadth-first labels, then depth-first blocking flows) places the rest.

Makespan (:meth:`AssignmentFlow.minimise_makespan`): start at a lower bound ``T`` (all
accounts' buckets together); whenever no group can be placed any more, the accounts the
search reached split into overloaded pieces, each a Hall violator, and ``T`` moves to the
earliest time the worst piece can post its confined groups. That time is a lower bound and
the final placement meets it, so the result is optimal and proved so.

Levels (:meth:`AssignmentFlow.tighten_level`): with the makespan fixed, lower the deadline
of the town groups, then of town + village, ... by bisection over slot times, each step a
max-flow from the current placement (undone if it fails).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import pairwise

from broadcast.slots import SendSlots, earliest_time_for

LEVELS = 4
"""Town, village, grid, unit. Node numbers below rely on it being 4 (``>> 2``, ``& 3``)."""

_Move = tuple[int, int, int, int]  # class, from account (-1: unplaced), to account, how many


class OutOfBudget(Exception):
    """A search passed :attr:`AssignmentFlow.work_limit`."""


class AssignmentFlow:
    """Classes of groups placed on accounts, with per-level capacities.

    ``load[a][l]`` is the number of groups of level ``<= l`` on account ``a`` and
    ``cap[a][l]`` its capacity; the invariant is ``load <= cap`` everywhere.
    """

    def __init__(
        self,
        slots: Sequence[SendSlots],
        members: Sequence[tuple[int, ...]],
        levels: Sequence[int],
        counts: Sequence[int],
    ) -> None:
        self.slots = slots
        self.members = members
        self.levels = levels
        self.counts = counts
        self.unplaced = list(counts)
        self.placed: list[dict[int, int]] = [{} for _ in members]
        self.on_account: list[list[dict[int, int]]] = [[{} for _ in range(LEVELS)] for _ in slots]
        self.load = [[0] * LEVELS for _ in slots]
        self.cap = [[0] * LEVELS for _ in slots]
        self._log: list[_Move] | None = None
        self.work = 0
        """Classes looked at by the searches so far."""
        self.work_limit: int | None = None
        self._pointer: list[int] = []  # Dinic's current arc, per node, for one phase
        self._arcs: dict[int, list[int]] = {}  # the classes on an account node, per phase

    # -- state -------------------------------------------------------------------------

    def set_deadline(self, t: float, levels: Iterable[int] = range(LEVELS)) -> None:
        """Set the capacity of the given levels to what each bucket allows by ``t``."""
        levels = tuple(levels)
        for slot, cap in zip(self.slots, self.cap, strict=True):
            n = slot.count_by(t)
            for lv in levels:
                cap[lv] = n

    def move(self, c: int, frm: int, to: int, k: int) -> None:
        """Move ``k`` groups of class ``c`` from account ``frm`` to ``to`` (-1: unplaced)."""
        lv = self.levels[c]
        if frm < 0:
            self.unplaced[c] -= k
        else:
            left = self.placed[c][frm] - k
            here = self.on_account[frm][lv]
            if left:
                self.placed[c][frm] = left
                here[c] = left
            else:
                del self.placed[c][frm]
                del here[c]
            row = self.load[frm]
            for m in range(lv, LEVELS):
                row[m] -= k
        if to < 0:
            self.unplaced[c] += k
        else:
            now = self.placed[c].get(to, 0) + k
            self.placed[c][to] = now
            self.on_account[to][lv][c] = now
            row = self.load[to]
            for m in range(lv, LEVELS):
                row[m] += k
        if self._log is not None:
            self._log.append((c, frm, to, k))

    def slack(self, a: int, lv: int) -> int:
        """How many more groups of level ``lv`` account ``a`` can take."""
        load, cap = self.load[a], self.cap[a]
        return min(cap[m] - load[m] for m in range(lv, LEVELS))

    def fill(self, order: Iterable[int]) -> None:
        """Greedy: put unplaced groups on the member account with the most room."""
        unplaced, levels, members_of = self.unplaced, self.levels, self.members
        load, cap = self.load, self.cap
        for c in order:
            left = unplaced[c]
            if not left:
                continue
            lv = levels[c]
            members = members_of[c]
            while left:
                best, best_room, second_room = -1, 0, 0
                for a in members:
                    row_load, row_cap = load[a], cap[a]
                    room = row_cap[lv] - row_load[lv]
                    for m in range(lv + 1, LEVELS):
                        room = min(room, row_cap[m] - row_load[m])
                    if room > best_room:
                        best, best_room, second_room = a, room, best_room
                    elif room > second_room:
                        second_room = room
                if best < 0:
                    break
                # Level the best account down to the runner-up in one step.
                k = min(left, max(1, best_room - second_room))
                self.move(c, -1, best, k)
                left -= k

    def reach_of_prefix(self, lv: int) -> float | None:
        """When the last group of level ``<= lv`` goes out, posting in level order."""
        last: float | None = None
        for slot, load in zip(self.slots, self.load, strict=True):
            n = load[lv]
            if n:
                t = slot.time_of(n - 1)
                if last is None or t > last:
                    last = t
        return last

    # -- augmenting paths --------------------------------------------------------------

    def augment(self, roots: Sequence[int]) -> set[int] | None:
        """One phase of Dinic's algorithm from the unplaced groups of ``roots``.

        A breadth-first search labels the residual network by distance from the roots;
        then depth-first searches push groups along shortest paths until none is left
        (a blocking flow). Returns ``None`` when groups moved, else the accounts the
        search reached: all full, and no group on them or among the roots can go elsewhere.
        Raises :class:`OutOfBudget` when a work limit is set and the search passes it.

        Nodes are numbered: class ``c`` is ``c``; account ``a`` at level ``l`` is
        ``n_classes + 4 a + l``; the sink is -1.
        """
        members, levels = self.members, self.levels
        on_account, load, cap, unplaced = self.on_account, self.load, self.cap, self.unplaced
        n_classes = len(members)
        roots = [c for c in roots if unplaced[c]]
        dist = [-1] * (n_classes + LEVELS * len(load))
        for c in roots:
            dist[c] = 0
        queue = deque(roots)
        to_sink = -1  # the distance of the sink
        while queue:
            u = queue.popleft()
            d = dist[u] + 1
            if 0 <= to_sink <= d:
                break
            if u < n_classes:
                base = n_classes + levels[u]
                for b in members[u]:
                    v = base + LEVELS * b
                    if dist[v] < 0:
                        dist[v] = d
                        queue.append(v)
                continue
            a, lv = (u - n_classes) >> 2, (u - n_classes) & 3
            row_load, row_cap = load[a], cap[a]
            if row_load[lv] < row_cap[lv]:
                if lv == LEVELS - 1:
                    if to_sink < 0:
                        to_sink = d
                elif dist[u + 1] < 0:
                    dist[u + 1] = d
                    queue.append(u + 1)
            if lv and row_load[lv - 1] and dist[u - 1] < 0:
                dist[u - 1] = d
                queue.append(u - 1)
            here = on_account[a][lv]
            for c in here:
                if dist[c] < 0:
                    dist[c] = d
                    queue.append(c)
            self.work += len(here)
            if self.work_limit is not None and self.work > self.work_limit:
                raise OutOfBudget
        if to_sink < 0:
            return {(u - n_classes) // LEVELS for u in range(n_classes, len(dist)) if dist[u] >= 0}
        self._pointer, self._arcs = [0] * len(dist), {}
        moved = 0
        for root in roots:
            moved += self._blocking_flow(root, dist, to_sink)
        return None if moved else set()

    def _blocking_flow(self, root: int, dist: list[int], to_sink: int) -> int:
        """Push the root's unplaced groups along shortest paths (Dinic's depth-first part)."""
        members, levels, placed = self.members, self.levels, self.placed
        on_account, load, cap, unplaced = self.on_account, self.load, self.cap, self.unplaced
        n_classes = len(members)
        pointer = self._pointer
        arcs = self._arcs
        moved = 0
        while unplaced[root] and dist[root] >= 0:
            path = [root]
            while path:
                u = path[-1]
                if u < 0:
                    break
                d = dist[u] + 1
                i = pointer[u]
                v = -2  # none found
                if u < n_classes:
                    base = n_classes + levels[u]
                    ms = members[u]
                    while i < len(ms):
                        w = base + LEVELS * ms[i]
                        if dist[w] == d:
                            v = w
                            break
                        i += 1
                else:
                    a, lv = (u - n_classes) >> 2, (u - n_classes) & 3
                    row_load, row_cap = load[a], cap[a]
                    if i == 0:
                        if row_load[lv] < row_cap[lv]:
                            if lv == LEVELS - 1:
                                if to_sink == d:
                                    v = -1
                            elif dist[u + 1] == d:
                                v = u + 1
                        if v == -2:
                            i = 1
                    if i == 1 and v == -2:
                        if lv and row_load[lv - 1] and dist[u - 1] == d:
                            v = u - 1
                        else:
                            i = 2
                    if v == -2:
                        classes = arcs.get(u)
                        if classes is None:
                            classes = arcs[u] = list(on_account[a][lv])
                        while i - 2 < len(classes):
                            c = classes[i - 2]
                            if dist[c] == d and placed[c].get(a, 0):
                                v = c
                                break
                            i += 1
                pointer[u] = i
                if v == -2:
                    dist[u] = -3  # a dead end for the rest of this phase
                    path.pop()
                    if path:
                        pointer[path[-1]] += 1
                else:
                    path.append(v)
            if not path:
                break
            moved += self._push_path(path)
        return moved

    def _push_path(self, path: list[int]) -> int:
        """Move groups along a root-to-sink path of node numbers; return how many."""
        load, cap, placed = self.load, self.cap, self.placed
        n_classes = len(self.members)
        amount = self.unplaced[path[0]]
        for u, v in pairwise(path):
            if u < n_classes:
                continue  # joining an account: no limit
            a, lv = (u - n_classes) >> 2, (u - n_classes) & 3
            if v < 0 or v == u + 1:
                room = cap[a][lv] - load[a][lv]
            elif v == u - 1:
                room = load[a][lv - 1]
            else:
                room = placed[v][a]
            amount = min(amount, room)
        for i, c in enumerate(path):
            if 0 <= c < n_classes:
                frm = (path[i - 1] - n_classes) // LEVELS if i else -1
                to = (path[i + 1] - n_classes) // LEVELS
                self.move(c, frm, to, amount)
        return amount

    def pending(self, order: Iterable[int]) -> list[int]:
        return [c for c in order if self.unplaced[c]]

    def place_all(self, order: Sequence[int]) -> bool:
        """Place every unplaced group under the current capacities, if that is possible."""
        self.fill(order)
        stuck = self.pending(order)
        while stuck:
            if self.augment(stuck) is not None:
                return False
            stuck = self.pending(stuck)
        return True

    def max_flow(self, order: Sequence[int]) -> set[int]:
        """Place as many groups as fit; return the accounts that hold the rest back."""
        self.fill(order)
        stuck = self.pending(order)
        while stuck:
            reached = self.augment(stuck)
            if reached is not None:
                return reached
            stuck = self.pending(stuck)
        return set()

    def overloaded(self, reached: set[int]) -> list[tuple[list[int], list[int]]]:
        """Split the accounts of a failed search into independent overloaded pieces.

        Each piece is a set of accounts and the classes confined to it: the classes placed
        on those accounts and the unplaced ones (all their members were reached). Only
        pieces holding unplaced groups are returned; each is a Hall violator.
        """
        parent = {a: a for a in reached}

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        confined = {
            c for c, left in enumerate(self.unplaced) if left and self.members[c][0] in reached
        }
        for a in reached:
            for by_class in self.on_account[a]:
                confined.update(by_class)
        for c in confined:
            first, *rest = self.members[c]
            for b in rest:
                parent[find(b)] = find(first)
        classes: dict[int, list[int]] = {}
        for c in sorted(confined):
            classes.setdefault(find(self.members[c][0]), []).append(c)
        accounts: dict[int, list[int]] = {}
        for a in sorted(reached):
            accounts.setdefault(find(a), []).append(a)
        return [
            (accounts[root], piece)
            for root, piece in classes.items()
            if any(self.unplaced[c] for c in piece)
        ]

    # -- the two optimisations -----------------------------------------------------------

    def minimise_makespan(self, order: Sequence[int], start_bound: float) -> float:
        """Place every group by the smallest possible common deadline and return it.

        Starts from ``start_bound`` (a true lower bound) and raises the deadline only to
        the Hall bound of a set of accounts that a failed search proved overloaded, so the
        returned deadline is a lower bound and is met: it is the optimum.
        """
        t = start_bound
        self.set_deadline(t)
        self.fill(order)
        pending = self.pending(order)
        while pending:
            reached = self.augment(pending)
            if reached is not None:
                # Every account reached is full and every group on it has all its members
                # among them: each overloaded piece needs at least this long.
                for accounts, classes in self.overloaded(reached):
                    need = sum(self.load[a][LEVELS - 1] for a in accounts)
                    need += sum(self.unplaced[c] for c in classes)
                    t = max(t, earliest_time_for([self.slots[a] for a in accounts], need))
                self.set_deadline(t)
                self.fill(pending)
            pending = self.pending(pending)
        return t

    def tighten_level(self, lv: int, lower: float, order: Sequence[int]) -> tuple[float, bool]:
        """Bring the groups of level ``<= lv`` forward as far as the deadlines allow.

        The deadlines of the levels above ``lv`` and of the last level stay as they are.
        Returns the time the prefix is posted by and whether it is the smallest possible
        (``False`` only when the work limit stopped the search; the placement is then the
        best one found), and leaves the placement achieving it. ``lower`` is a lower bound
        for the prefix.
        """
        achieved = self.reach_of_prefix(lv)
        if achieved is None:
            return lower, True
        exact = True
        try:
            if achieved > lower:
                if self._try_prefix_deadline(lv, lower, order):
                    achieved = self._reach(lv)
                else:
                    lo = lower
                    while (t := self._slot_between(lo, achieved)) is not None:
                        if self._try_prefix_deadline(lv, t, order):
                            achieved = self._reach(lv)
                        else:
                            lo = t
        except OutOfBudget:
            exact = False
        for slot, cap in zip(self.slots, self.cap, strict=True):
            cap[lv] = slot.count_by(achieved)
        return achieved, exact

    def _reach(self, lv: int) -> float:
        t = self.reach_of_prefix(lv)
        assert t is not None
        return t

    def _slot_between(self, lo: float, hi: float) -> float | None:
        """A slot time strictly between ``lo`` and ``hi``, near the middle, if any."""
        mid = (lo + hi) / 2
        below = max((s.time_of(n - 1) for s in self.slots if (n := s.count_by(mid))), default=lo)
        if below > lo:
            return below
        after = min(s.next_after(lo) for s in self.slots)
        return after if after < hi else None

    def _try_prefix_deadline(self, lv: int, t: float, order: Sequence[int]) -> bool:
        """Try to post every group of level ``<= lv`` by ``t``; undo everything if not."""
        saved_caps = [cap[lv] for cap in self.cap]
        log: list[_Move] = []
        self._log = log
        for a, (slot, cap, load) in enumerate(zip(self.slots, self.cap, self.load, strict=True)):
            cap[lv] = slot.count_by(t)
            excess = load[lv] - cap[lv]
            # Unplace the lowest-level groups of the prefix first; the search re-places them.
            m = lv
            while excess > 0:
                for c, k in list(self.on_account[a][m].items()):
                    k = min(k, excess)
                    self.move(c, a, -1, k)
                    excess -= k
                    if not excess:
                        break
                m -= 1
        ok = False
        try:
            ok = self.place_all(order)
        finally:  # also when the work limit interrupts the search
            self._log = None
            if not ok:
                for c, frm, to, k in reversed(log):
                    self.move(c, to, frm, k)
                for cap, saved in zip(self.cap, saved_caps, strict=True):
                    cap[lv] = saved
        return ok
