"""Risk control: budgets, cool-downs and random faults, reproducible from the seed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sandbox.errors import Throttled, TransientFailure
from sandbox.risk import THROTTLED_TEXT, RiskControl, SandboxRiskSettings, TokenBucket


def control(**settings: float) -> RiskControl:
    risk = RiskControl(SandboxRiskSettings.model_validate(settings))
    risk.add_account("bot", rate_per_s=None, burst=None, now=0.0)
    return risk


def test_token_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, tokens=3.0, updated_at=0.0)
    assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.seconds_until_token(0.0) == pytest.approx(0.5)
    assert bucket.try_take(0.5)
    assert not bucket.try_take(0.5)


def test_rate_zero_never_runs_out() -> None:
    risk = control(rate_per_s=0, burst=1)
    for _ in range(10_000):
        risk.admit_send("bot", 0.0)


def test_overrunning_the_budget_throttles_and_freezes_for_the_cooldown() -> None:
    risk = control(rate_per_s=1, burst=2, cooldown_s=30)
    risk.admit_send("bot", 0.0)
    risk.admit_send("bot", 0.0)
    with pytest.raises(Throttled) as refused:
        risk.admit_send("bot", 0.0)
    assert THROTTLED_TEXT in refused.value.message
    assert refused.value.retry_after_s == pytest.approx(30)
    # Frozen: even with tokens refilled, nothing goes out before the cool-down ends.
    with pytest.raises(Throttled) as still:
        risk.admit_send("bot", 20.0)
    assert still.value.retry_after_s == pytest.approx(10)
    assert risk.cooldown_remaining("bot", 20.0) == pytest.approx(10)
    risk.admit_send("bot", 30.0)


def test_without_cooldown_the_wait_is_until_the_next_token() -> None:
    risk = control(rate_per_s=0.5, burst=1, cooldown_s=0)
    risk.admit_send("bot", 0.0)
    with pytest.raises(Throttled) as refused:
        risk.admit_send("bot", 1.0)
    assert refused.value.retry_after_s == pytest.approx(1.0)
    risk.admit_send("bot", 2.0)


def test_account_limits_override_the_defaults() -> None:
    risk = control(rate_per_s=0, burst=5)
    risk.set_account_limits("bot", rate_per_s=1, burst=1, now=0.0)
    assert risk.limits("bot") == (1, 1)
    risk.admit_send("bot", 0.0)
    with pytest.raises(Throttled):
        risk.admit_send("bot", 0.0)


def test_random_failures_and_latency_repeat_with_the_seed() -> None:
    def run(seed: int) -> list[object]:
        risk = control(
            rate_per_s=0,
            failure_probability=0.3,
            send_latency_s=0.1,
            send_latency_jitter_s=0.5,
            seed=seed,
        )
        outcomes: list[object] = []
        for _ in range(50):
            try:
                risk.admit_send("bot", 0.0)
                outcomes.append(round(risk.draw_latency(), 6))
            except TransientFailure as failure:
                outcomes.append(failure.message)
        return outcomes

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    failures = [o for o in first if isinstance(o, str)]
    assert 0 < len(failures) < 50
    assert all(0.1 <= o <= 0.6 for o in first if isinstance(o, float))


def test_updating_settings_validates_and_reseeds() -> None:
    risk = control(rate_per_s=1, burst=1, seed=1)
    settings = risk.update({"rate_per_s": 0, "seed": 2}, now=0.0)
    assert settings.rate_per_s == 0 and settings.seed == 2
    assert risk.limits("bot") == (0, 1)
    with pytest.raises(ValidationError):
        risk.update({"failure_probability": 2}, now=0.0)
    with pytest.raises(ValidationError):
        risk.update({"no_such_setting": 1}, now=0.0)


def test_unfreeze_lifts_the_cooldown() -> None:
    risk = control(rate_per_s=1, burst=1, cooldown_s=60)
    risk.admit_send("bot", 0.0)
    with pytest.raises(Throttled):
        risk.admit_send("bot", 0.0)
    risk.reset_account("bot", 1.0)
    risk.admit_send("bot", 1.0)
