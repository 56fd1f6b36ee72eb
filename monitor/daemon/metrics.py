"""The daemon's own metrics (spec: `demon_scheduler_lag_seconds`, `demon_source_up`, `demon_build_info`).

A private registry, not prometheus-client's global one: nothing else in the process can add to or clash with
what `/metrics` serves. Values that describe the current state (source up) are built from `Status` at scrape
time, so a source removed by a reload disappears at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.daemon.status import Status

# From a dataset that starts on time to one that waited minutes behind a hung source.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
MISSED_REASONS = ("late", "overlap")  # queued past its grace; previous run still going

disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series double what is scraped and no dashboard or rule reads them


def build_version() -> str:
    try:
        return version("demon")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


class _StatusCollector(Collector):
    def __init__(self, status: Status) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "demon_source_up", "1 if the source answered its latest dataset job, else 0.", labels=["source"]
        )
        for name, source in sorted(self._status.sources().items()):
            up.add_metric([name], 1.0 if source.up else 0.0)
        yield up
        info = GaugeMetricFamily("demon_build_info", "The running demon's version.", labels=["version"])
        info.add_metric([build_version()], 1.0)
        yield info


class DaemonMetrics:
    """The registry `/metrics` serves, with the scheduler's lag histogram and missed-run counter."""

    def __init__(self, status: Status) -> None:
        self.registry = CollectorRegistry()
        self.lag = Histogram(
            "demon_scheduler_lag_seconds",
            "Actual minus planned start of dataset runs.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.missed = Counter(
            "demon_scheduler_missed_runs",
            "Planned dataset runs that did not happen: late (queued past their grace) or overlap.",
            ["reason"],
            registry=self.registry,
        )
        for reason in MISSED_REASONS:
            self.missed.labels(reason)  # exported as 0 from the start, so rate() and alerts see the series
        self.registry.register(_StatusCollector(status))
