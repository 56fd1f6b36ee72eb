"""What the dataset jobs leave behind for /healthz, /readyz and /metrics: plain data behind one lock."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from monitor.app.metrics.catalog import DURATION_BUCKETS, Latest, check_lines
from monitor.app.metrics.exposition import Histogram
from monitor.core.clock import Clock, utcnow
from monitor.core.config.models import Config, DatasetConfig
from monitor.core.results import Outcome, Result


@dataclass(frozen=True)
class SourceStatus:
    """Whether a source answered its latest job, since when, and why not."""

    up: bool
    since: datetime
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        shown: dict[str, object] = {"up": self.up, "since": self.since.isoformat()}
        return shown | ({"reason": self.reason} if self.reason else {})


class Status:
    """Latest results, run counts and rendered series per check, durations, source reachability and the
    first round's progress; safe across threads."""

    def __init__(self, config: Config, clock: Clock = utcnow) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending = set(config.datasets)  # datasets that have not finished their first run yet
        self._checks, self._source_names = _wanted(config)
        self._latest: dict[str, Result] = {}
        self._runs: dict[str, Counter[str]] = {}  # check -> outcome -> runs
        self._lines: dict[str, dict[str, str]] = {}  # check -> family -> its series, rendered per result
        self._durations: dict[tuple[str, str], Histogram] = {}  # (source, kind)
        self._sources: dict[str, SourceStatus] = {}

    def dataset_done(self, dataset: str, results: Iterable[Result]) -> None:
        """Record a dataset run's results; those of checks the config no longer has are dropped (a run that
        started before a reload may end after it)."""
        with self._lock:
            self._pending.discard(dataset)
            for result in (result for result in results if result.check in self._checks):
                self._latest[result.check] = result
                runs = self._runs.setdefault(result.check, Counter())
                runs[result.outcome.value] += 1
                self._lines[result.check] = check_lines(result, runs)
                key = (result.source, result.kind)
                self._durations.setdefault(key, Histogram(DURATION_BUCKETS)).observe(result.duration_seconds)

    def source_seen(self, source: str, reason: str | None) -> bool | None:
        """Record the source as up (reason None) or down; returns whether it was up before (None: unknown)."""
        with self._lock:
            if source not in self._source_names:  # removed by a reload while its job ran
                return None
            before = self._sources.get(source)
            if before is None or before.up != (reason is None):
                self._sources[source] = SourceStatus(reason is None, self._clock(), reason or "")
            return None if before is None else before.up

    def retain(self, config: Config) -> None:
        """Forget what a reload removed, so it is no longer reported or awaited, and never recorded again."""
        checks, sources = _wanted(config)
        with self._lock:
            self._checks, self._source_names = checks, sources
            self._sources = {name: status for name, status in self._sources.items() if name in sources}
            self._latest = {check: result for check, result in self._latest.items() if check in checks}
            self._runs = {check: runs for check, runs in self._runs.items() if check in checks}
            self._lines = {check: lines for check, lines in self._lines.items() if check in checks}
            self._durations = {key: found for key, found in self._durations.items() if key[0] in sources}
            self._pending &= set(config.datasets)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def latest(self) -> dict[str, Result]:
        """Each check's latest result, copied at once (the web UI's live view)."""
        with self._lock:
            return dict(self._latest)

    def sources(self) -> dict[str, SourceStatus]:
        with self._lock:
            return dict(self._sources)

    def exported(self, datasets: Mapping[str, DatasetConfig]) -> tuple[Latest, list[dict[str, str]]]:
        """What one scrape exports, copied at once: the latest results (for the dataset metrics) with the
        durations, and each check's series as rendered when its result came, in check order."""
        with self._lock:
            durations = {key: histogram.copy() for key, histogram in self._durations.items()}
            lines = [self._lines[check] for check in sorted(self._lines)]
            return Latest(dict(self._latest), datasets, durations=durations), lines

    def summary(self) -> dict[str, int]:
        """Outcome counts over each check's latest result (stored with the daemon's run when it stops)."""
        counts = {outcome.value: 0 for outcome in Outcome}
        with self._lock:
            latest = list(self._latest.values())
        for result in latest:
            counts[result.outcome.value] += 1
        return counts


def _wanted(config: Config) -> tuple[frozenset[str], frozenset[str]]:
    """The check ids and source names of a config: all that may be recorded."""
    return frozenset(spec.id for spec in config.checks), frozenset(config.sources)
