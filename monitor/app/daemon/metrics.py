"""What `/metrics` of `demon run` serves: the result metrics plus the daemon's own.

Everything is built at scrape time from plain data (latest results, source status, counters kept here), so
a check, dataset or source that a reload removed is gone from the next scrape, and one scrape never mixes
two states. The scheduler's lag and missed runs are counted here as they happen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

from alerting.channels import DEFAULT_CHANNEL
from alerting.stats import Snapshot
from monitor.app.daemon.status import Status
from monitor.app.metrics.catalog import dataset_families, duration_family, rendered_check_families
from monitor.app.metrics.exposition import Family, Histogram, render
from monitor.core.config.models import Config
from monitor.core.config.types import Severity
from monitor.core.distribution import version

# From a dataset that starts on time to one that waited minutes behind a hung source.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
MISSED_REASONS = ("late", "overlap")  # waited a period for a worker; previous run still going
NOTIFICATION_RESULTS = ("sent", "retried", "failed")


class SchedulerMetrics:
    """The scheduler's lag histogram and missed-run counts, updated from its thread and its workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lag = Histogram(LAG_BUCKETS)
        self._missed = dict.fromkeys(MISSED_REASONS, 0)  # exported as 0 from the start, for rate() and alerts

    def observe_lag(self, seconds: float) -> None:
        with self._lock:
            self._lag.observe(seconds)

    def count_missed(self, reason: str, runs: int) -> None:
        with self._lock:
            self._missed[reason] += runs

    def families(self) -> Iterator[Family]:
        with self._lock:
            lag, missed = self._lag.copy(), dict(self._missed)
        lags = Family(
            "demon_scheduler_lag_seconds", "histogram", "Actual minus planned start of dataset runs"
        )
        lags.add_histogram((), lag)
        yield lags
        counts = Family(
            "demon_scheduler_missed_runs_total",
            "counter",
            "Planned dataset runs that did not happen: late (queued past their grace) or overlap",
            ("reason",),
        )
        for reason, runs in missed.items():
            counts.add((reason,), float(runs))
        yield counts


def exposition(
    config: Config,
    status: Status,
    requests: Mapping[tuple[str, str], int],
    scheduler: SchedulerMetrics,
    alerting: Snapshot,
) -> bytes:
    """One scrape: results of the configured checks, sources, alerting, scheduler and build."""
    latest, lines = status.exported(config.datasets)
    return render(
        [
            *rendered_check_families(lines),
            duration_family(latest.durations),
            *dataset_families(latest),
            *_source_families(config, status, requests),
            *_alerting_families(config, alerting),
            *scheduler.families(),
            _build_info(),
        ]
    )


def _source_families(
    config: Config, status: Status, requests: Mapping[tuple[str, str], int]
) -> Iterator[Family]:
    up = Family(
        "demon_source_up", "gauge", "1 if the source answered its latest dataset job, else 0", ("source",)
    )
    for name, found in sorted(status.sources().items()):
        up.add((name,), 1.0 if found.up else 0.0)
    yield up
    calls = Family(
        "demon_source_requests_total",
        "counter",
        "Statements run and object-store calls made, by operation",
        ("source", "operation"),
    )
    for (name, operation), count in sorted(requests.items()):
        if name in config.sources:
            calls.add((name, operation), float(count))
    yield calls


def _alerting_families(config: Config, alerting: Snapshot) -> Iterator[Family]:
    """Open incidents, notifications and the outbox, by severity and channel.

    Every severity and configured channel is exported, at 0 when nothing happened, so the dashboards and
    alert rules built on them work from the first scrape.
    """
    incidents = Family("demon_incidents_open", "gauge", "Open incidents by severity", ("severity",))
    for severity in Severity:
        incidents.add((severity.value,), float(alerting.open_incidents.get(severity.value, 0)))
    channels = sorted(set(config.alerting.channels or [DEFAULT_CHANNEL]) | set(alerting.pending)
                      | {channel for channel, _ in alerting.notifications})
    sent = Family(
        "demon_notifications_total", "counter", "Notifications by channel and result", ("channel", "result")
    )
    pending = Family("demon_outbox_pending", "gauge", "Notifications waiting in the outbox", ("channel",))
    for channel in channels:
        for result in NOTIFICATION_RESULTS:
            sent.add((channel, result), float(alerting.notifications[(channel, result)]))
        pending.add((channel,), float(alerting.pending.get(channel, 0)))
    yield from (incidents, sent, pending)


def _build_info() -> Family:
    info = Family("demon_build_info", "gauge", "The running demon's version", ("version",))
    info.add((version(),), 1.0)
    return info
