"""The process's Prometheus metrics (``/metrics``).

Two kinds: counters and histograms of what happens in this process (sends per account,
reply latency, database errors, scheduler runs), and figures read from the database when
Prometheus scrapes (deliveries by state, notice reach times, tickets by state and level,
SLA breaches, intake decisions), so they are right after a restart and on a process that
does not run the bots. Everything lives in :data:`REGISTRY`, not the global default one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = [
    "ACCOUNT_SENDS",
    "DB_ERRORS",
    "REACH_BUCKETS",
    "REGISTRY",
    "REPLY_LATENCY",
    "SCHEDULER_RUNS",
    "Snapshot",
    "SnapshotCollector",
]

REGISTRY = CollectorRegistry(auto_describe=True)

ACCOUNT_SENDS = Counter(
    "gridcast_account_sends",
    "Posts attempted per bot account, by outcome (sent, throttled, failed, unavailable).",
    ["account", "outcome"],
    registry=REGISTRY,
)
REPLY_LATENCY = Histogram(
    "gridcast_reply_latency_seconds",
    "From a resident's group message arriving to the bot's reply being posted.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
DB_ERRORS = Counter(
    "gridcast_database_errors",
    "Errors raised by the database driver (connection lost, lock timeout, constraint ...).",
    ["kind"],
    registry=REGISTRY,
)
SCHEDULER_RUNS = Counter(
    "gridcast_scheduler_job_runs",
    "Scheduler job runs by job id and outcome (ok, error, missed).",
    ["job", "outcome"],
    registry=REGISTRY,
)

REACH_BUCKETS: tuple[float, ...] = (30, 60, 90, 120, 150, 180, 240, 300, 600, 1800)
"""Seconds; 180 is the three-minute target."""


@dataclass
class Snapshot:
    """What the database says at scrape time (filled by :mod:`web.metrics`)."""

    account_states: dict[str, str] = field(default_factory=dict)
    """account id -> AccountStatus value."""
    account_deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    """(account id, delivery state) -> notice deliveries."""
    deliveries: dict[str, int] = field(default_factory=dict)
    reach_seconds: list[float] = field(default_factory=list)
    """One value per finished notice: from confirmation to its last group reached."""
    tickets: dict[tuple[str, str], int] = field(default_factory=dict)
    """(state, level) -> tickets."""
    sla_breaches: dict[str, int] = field(default_factory=dict)
    """level -> SLA expiries recorded."""
    overdue: int = 0
    """Open tickets whose current SLA expired."""
    intake: dict[tuple[str, str], int] = field(default_factory=dict)
    """(decision, category) -> messages read."""


ACCOUNT_STATES = ("starting", "online", "throttled", "logged_out", "disconnected", "stopped")


def _histogram(values: Sequence[float], buckets: Iterable[float]) -> list[tuple[str, float]]:
    out = [(repr(float(b)), float(sum(1 for v in values if v <= b))) for b in buckets]
    out.append(("+Inf", float(len(values))))
    return out


class SnapshotCollector(Collector):
    """Turns the last :class:`Snapshot` into metric families."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterable[Metric]:
        s = self.snapshot
        state = GaugeMetricFamily(
            "gridcast_account_state",
            "1 for the state each bot account is in (online, throttled, logged_out ...).",
            labels=["account", "state"],
        )
        for account, current in sorted(s.account_states.items()):
            for name in ACCOUNT_STATES:
                state.add_metric([account, name], 1.0 if name == current else 0.0)
        yield state
        per_account = GaugeMetricFamily(
            "gridcast_account_deliveries",
            "Notice deliveries per bot account and state (sent, failed ...).",
            labels=["account", "state"],
        )
        for (account, delivery_state), count in sorted(s.account_deliveries.items()):
            per_account.add_metric([account, delivery_state], count)
        yield per_account
        deliveries = GaugeMetricFamily(
            "gridcast_deliveries", "Notice deliveries by state.", labels=["state"]
        )
        for delivery_state, count in sorted(s.deliveries.items()):
            deliveries.add_metric([delivery_state], count)
        yield deliveries
        reach = HistogramMetricFamily(
            "gridcast_notice_reach_seconds",
            "Per finished notice: seconds from confirmation to the last group reached.",
        )
        reach.add_metric([], _histogram(s.reach_seconds, REACH_BUCKETS), sum(s.reach_seconds))
        yield reach
        tickets = GaugeMetricFamily(
            "gridcast_tickets", "Tickets by state and level.", labels=["state", "level"]
        )
        for (ticket_state, level), count in sorted(s.tickets.items()):
            tickets.add_metric([ticket_state, level], count)
        yield tickets
        breaches = CounterMetricFamily(
            "gridcast_ticket_sla_breaches",
            "SLA expiries (accept or resolve time passed) recorded, by ticket level.",
            labels=["level"],
        )
        for level, count in sorted(s.sla_breaches.items()):
            breaches.add_metric([level], count)
        yield breaches
        yield GaugeMetricFamily(
            "gridcast_tickets_overdue",
            "Open tickets whose current SLA time has passed.",
            value=s.overdue,
        )
        intake = CounterMetricFamily(
            "gridcast_intake_messages",
            "Group messages read, by intake decision (ticket, duplicate, not_ticket ...) and category.",
            labels=["decision", "category"],
        )
        for (decision, category), count in sorted(s.intake.items()):
            intake.add_metric([decision, category], count)
        yield intake


SNAPSHOT = SnapshotCollector()
REGISTRY.register(SNAPSHOT)
__all__ += ["SNAPSHOT"]
