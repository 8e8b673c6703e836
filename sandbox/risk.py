"""WeChat's risk control (风控), simulated: send budgets, cool-downs, latency, failures.

Synchronous and deterministic: time comes in as ``now`` (seconds on any monotonic
clock) and every random draw comes from one ``random.Random`` seeded by
:attr:`SandboxRiskSettings.seed`, so the same calls give the same verdicts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sandbox.errors import Throttled, TransientFailure

THROTTLED_TEXT = "发送消息过于频繁"
"""What WeChat answers an account that posts too fast; the sandbox's errors contain it."""


class SandboxRiskSettings(BaseModel):
    """How strict the simulated WeChat is. Every field can be changed while running."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = 0
    """Seeds the random draws (latency jitter, random failures)."""
    rate_per_s: float = Field(default=20 / 60, ge=0)
    """Default send budget refill per account and second; 0 = unlimited.
    20 per minute is the WeCom group robot cap. :class:`AccountSpec` may override it."""
    burst: int = Field(default=20, ge=1)
    """Default send budget size (sends possible at once after a quiet period)."""
    cooldown_s: float = Field(default=60.0, ge=0)
    """How long an account that overran its budget cannot send at all."""
    send_latency_s: float = Field(default=0.0, ge=0)
    """Fixed delay added to every send."""
    send_latency_jitter_s: float = Field(default=0.0, ge=0)
    """Uniform random delay in [0, jitter] added on top of ``send_latency_s``."""
    failure_probability: float = Field(default=0.0, ge=0, le=1)
    """Chance that a send fails with a transient error (gRPC UNAVAILABLE)."""


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``rate == 0`` never runs out."""

    rate: float
    burst: int
    tokens: float
    updated_at: float

    def _refill(self, now: float) -> None:
        if now > self.updated_at:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated_at) * self.rate)
        self.updated_at = max(self.updated_at, now)

    def try_take(self, now: float) -> bool:
        if self.rate == 0:
            return True
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def seconds_until_token(self, now: float) -> float:
        if self.rate == 0:
            return 0.0
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate)


@dataclass(slots=True)
class _AccountRisk:
    bucket: TokenBucket
    rate_override: float | None
    burst_override: int | None
    frozen_until: float = 0.0


class RiskControl:
    """The per-account send budgets and the random faults of one sandbox."""

    def __init__(self, settings: SandboxRiskSettings | None = None) -> None:
        self.settings = settings if settings is not None else SandboxRiskSettings()
        self._rng = random.Random(self.settings.seed)
        self._accounts: dict[str, _AccountRisk] = {}

    def add_account(
        self, account_id: str, *, rate_per_s: float | None, burst: int | None, now: float
    ) -> None:
        rate, size = self._limits(rate_per_s, burst)
        self._accounts[account_id] = _AccountRisk(
            bucket=TokenBucket(rate=rate, burst=size, tokens=float(size), updated_at=now),
            rate_override=rate_per_s,
            burst_override=burst,
        )

    def _limits(self, rate_per_s: float | None, burst: int | None) -> tuple[float, int]:
        rate = self.settings.rate_per_s if rate_per_s is None else rate_per_s
        size = self.settings.burst if burst is None else burst
        if rate < 0 or size < 1:
            raise ValueError("rate_per_s must be >= 0 and burst >= 1")
        return rate, size

    def set_account_limits(
        self, account_id: str, *, rate_per_s: float | None, burst: int | None, now: float
    ) -> None:
        """Override one account's budget (``None`` = back to the default); refills it."""
        self.add_account(account_id, rate_per_s=rate_per_s, burst=burst, now=now)

    def update(self, changes: dict[str, Any], *, now: float) -> SandboxRiskSettings:
        """Apply validated setting changes; budgets without overrides follow the new defaults."""
        merged = self.settings.model_dump() | changes
        settings = SandboxRiskSettings.model_validate(merged)
        reseed = settings.seed != self.settings.seed
        self.settings = settings
        if reseed:
            self._rng = random.Random(settings.seed)
        for risk in self._accounts.values():
            rate, size = self._limits(risk.rate_override, risk.burst_override)
            bucket = risk.bucket
            if (bucket.rate, bucket.burst) != (rate, size):
                risk.bucket = TokenBucket(rate=rate, burst=size, tokens=float(size), updated_at=now)
        return settings

    def limits(self, account_id: str) -> tuple[float, int]:
        bucket = self._accounts[account_id].bucket
        return bucket.rate, bucket.burst

    def cooldown_remaining(self, account_id: str, now: float) -> float:
        return max(0.0, self._accounts[account_id].frozen_until - now)

    def admit_send(self, account_id: str, now: float) -> None:
        """Charge one send to the account's budget, or raise what WeChat would answer.

        Raises :class:`Throttled` while cooling down or when the budget is spent (which
        starts the cool-down), and :class:`TransientFailure` by chance.
        """
        risk = self._accounts[account_id]
        if now < risk.frozen_until:
            remaining = risk.frozen_until - now
            raise Throttled(_throttled_message(remaining), retry_after_s=remaining)
        if not risk.bucket.try_take(now):
            cooldown = self.settings.cooldown_s
            if cooldown > 0:
                risk.frozen_until = now + cooldown
                wait = cooldown
            else:
                wait = risk.bucket.seconds_until_token(now)
            raise Throttled(_throttled_message(wait), retry_after_s=wait)
        probability = self.settings.failure_probability
        if probability > 0 and self._rng.random() < probability:
            raise TransientFailure("网络异常，消息发送失败，请稍后重试")

    def draw_latency(self) -> float:
        """Seconds this send takes on the WeChat side."""
        jitter = self.settings.send_latency_jitter_s
        extra = self._rng.uniform(0.0, jitter) if jitter > 0 else 0.0
        return self.settings.send_latency_s + extra

    def reset_account(self, account_id: str, now: float) -> None:
        """Lift a cool-down and refill the budget (an operator's manual unfreeze)."""
        risk = self._accounts[account_id]
        risk.frozen_until = 0.0
        risk.bucket.tokens = float(risk.bucket.burst)
        risk.bucket.updated_at = now


def _throttled_message(wait_s: float) -> str:
    return f"{THROTTLED_TEXT}，请 {wait_s:.1f} 秒后再试"
