"""Fixtures of the sandbox tests: the demo world, a started sandbox, a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.demo import demo_world
from sandbox.risk import SandboxRiskSettings
from sandbox.sandbox import Sandbox
from sandbox.world import WorldSpec


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def demo_spec() -> WorldSpec:
    return demo_world()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(demo_spec: WorldSpec, clock: FakeClock) -> AsyncIterator[Sandbox]:
    """The demo world, started, without rate limits, on the fake clock."""
    async with Sandbox(
        demo_spec,
        risk=SandboxRiskSettings(rate_per_s=0),
        heartbeat_interval_s=0.2,
        message_id_prefix="t",
        clock=clock,
    ) as started:
        yield started
