"""The ticket settings in the shapes the ticket code takes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.config import ConfigError, parse_settings
from tests.tickets.flows import MIN
from tickets.configured import lifecycle_rules, sla_policy


def test_policy_and_rules_come_from_the_settings() -> None:
    changed = parse_settings(
        {
            "tickets": {
                "sla": {"urgent": {"accept": "10m", "resolve": "1h"}, "remind_before": 0.5},
                "rating_timeout": "1d",
                "max_extensions": 1,
            }
        }
    )
    policy = sla_policy(changed.tickets)
    assert policy.urgent.accept == 10 * MIN and policy.remind_fraction == 0.5
    assert policy.rating_window == timedelta(days=1)
    assert lifecycle_rules(changed.tickets).max_extensions == 1
    with pytest.raises(ConfigError, match=r"accept .* must not be longer than resolve"):
        parse_settings({"tickets": {"sla": {"normal": {"accept": "8d", "resolve": "7d"}}}})
