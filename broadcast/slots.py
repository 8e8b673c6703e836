"""Send slots: when one bot account may post under its token bucket (令牌桶).

An account's bucket holds ``tokens`` when it becomes usable at ``start`` and refills at
``rate`` tokens per second up to its burst. Posting as early as the bucket allows, send
``k`` (0-based) goes at ``start + max(0, k + 1 - tokens) / rate``; with a full bucket of
``burst`` tokens that is the familiar ``start + max(0, k - burst + 1) / rate``. Every time
in the planner is one of these slot times, computed by :meth:`SendSlots.time_of` alone, so
that comparisons between a bound and a schedule are exact in floating point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SendSlots:
    """The earliest send times of one account, posting back to back."""

    start: float
    """When the account becomes usable (seconds from the broadcast start)."""
    tokens: float
    """Tokens in the bucket at ``start`` (at most the burst; negative means a debt)."""
    rate: float
    """Refill rate in messages per second (already slowed by any safety margin)."""

    def time_of(self, k: int) -> float:
        """The earliest time of send ``k`` (0-based)."""
        return self.start + max(0.0, k + 1 - self.tokens) / self.rate

    def count_by(self, t: float) -> int:
        """How many sends fit at or before ``t``: ``#{k : time_of(k) <= t}``."""
        if t < self.start:
            return 0
        k = max(0, math.floor(self.tokens + self.rate * (t - self.start)))
        # The closed form can be one off after rounding; settle it with time_of itself.
        while k > 0 and self.time_of(k - 1) > t:
            k -= 1
        while self.time_of(k) <= t:
            k += 1
        return k

    def next_after(self, t: float) -> float:
        """The first slot time strictly after ``t``."""
        return self.time_of(self.count_by(t))


def earliest_time_for(slots: Sequence[SendSlots], need: int) -> float:
    """The smallest time by which ``slots`` together offer ``need`` sends (``need >= 1``).

    It is the ``need``-th smallest slot time over all the accounts, found by bisection on
    a closed-form count and then settled exactly on the slot times.
    """
    if need < 1:
        raise ValueError(f"need must be at least 1, not {need}")
    if not slots:
        raise ValueError("no accounts to send with")
    lo = min(s.start for s in slots) - 1.0
    hi = min(s.time_of(need - 1) for s in slots)
    # Bisection on the closed form; it can be off by one per account, settled below.
    for _ in range(64):
        if hi - lo <= 1e-9 * max(1.0, abs(hi)):
            break
        mid = (lo + hi) / 2
        approx = 0
        for s in slots:
            if mid >= s.start:
                c = math.floor(s.tokens + s.rate * (mid - s.start))
                if c > 0:
                    approx += c
        if approx >= need:
            hi = mid
        else:
            lo = mid
    t = lo
    while _count(slots, t) >= need:
        t -= max(1.0, abs(t)) * 1e-6
    while True:
        t = min(s.next_after(t) for s in slots)
        if _count(slots, t) >= need:
            return t


def _count(slots: Iterable[SendSlots], t: float) -> int:
    return sum(s.count_by(t) for s in slots)


def bucket_tokens(*, rate: float, burst: int, send_times: Iterable[float], at: float) -> float:
    """Tokens left at ``at`` in a bucket that started full and posted at ``send_times``.

    Used to re-plan mid-broadcast from an account's send history. A history that broke
    the bucket leaves a negative level: the account owes those tokens first.
    """
    tokens = float(burst)
    last: float | None = None
    for t in sorted(send_times):
        if t > at:
            break
        if last is not None:
            tokens = min(float(burst), tokens + rate * (t - last))
        tokens -= 1.0
        last = t
    if last is not None:
        tokens = min(float(burst), tokens + rate * (at - last))
    return tokens
