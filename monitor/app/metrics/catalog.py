"""The spec's result metrics (`demon_check_*`, `demon_dataset_*`), built from each check's latest result.

Built from plain data: for each push, and in the daemon once per result (a check's own series, see
`check_lines`) or per scrape (the rest). So a check a reload removed is simply not there, and a scrape never
sees half of an update. Timestamps are exported, not ages: dashboards compute `time() - x`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from monitor.app.metrics.exposition import Family, Histogram, sample_lines
from monitor.core.config.models import DatasetConfig
from monitor.core.results import Outcome, Result

# From a metadata query of a few milliseconds to a Pandera validation of minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
CHECK = ("dataset", "check", "kind")
OUTCOMES = tuple(outcome.value for outcome in Outcome)
# Result facts -> the gauge each feeds: a dataset's (the newest result that learnt it wins), or a check's.
FACTS = {
    "last_modified": (
        "demon_dataset_last_modified_timestamp_seconds",
        "Newest data (freshness column or object)",
    ),
    "rows": ("demon_dataset_rows", "Rows in the dataset, from its latest volume check"),
    "bytes": ("demon_dataset_bytes", "Bytes in the dataset's objects, from its latest volume check"),
    "files": ("demon_dataset_files", "Objects under the dataset's prefix, from its latest volume check"),
}
CHECK_FACTS = {
    "failing_rows": (
        "demon_dataset_failing_rows", "Failing rows of a quality check's worst rule, or of a dbt test"
    ),
}


@dataclass(frozen=True)
class Latest:
    """What the metrics are built from: each check's latest result and, for the daemon, run counts."""

    results: Mapping[str, Result]  # check id -> its latest result
    datasets: Mapping[str, DatasetConfig]  # for demon_dataset_info
    runs: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # check id -> outcome -> runs
    durations: Mapping[tuple[str, str], Histogram] = field(default_factory=dict)  # (source, kind)


def result_families(latest: Latest) -> list[Family]:
    """Every result family built at once: the reference that the daemon's scrape (check series rendered
    per result, see `check_lines`) must equal, and what the benchmark compares writers on."""
    return [*check_families(latest), duration_family(latest.durations), *dataset_families(latest)]


def check_families(latest: Latest) -> list[Family]:
    """The families whose series each belong to one check."""
    return [*_check_families(latest), *_check_facts(latest), _runs(latest)]


def check_lines(result: Result, runs: Mapping[str, int]) -> dict[str, str]:
    """One check's series, rendered once per result (with its run counts): family name -> its lines."""
    latest = Latest({result.check: result}, {}, {result.check: runs})
    return {family.name: sample_lines(family) for family in check_families(latest) if family}


def rendered_check_families(lines: Iterable[Mapping[str, str]]) -> list[Family]:
    """The check families made of lines `check_lines` rendered, one mapping per check."""
    families = check_families(Latest({}, {}))  # names, types and help, without series
    per_check = list(lines)
    for family in families:
        family.rendered = [found[family.name] for found in per_check if family.name in found]
    return families


def _ids(result: Result) -> tuple[str, str, str]:
    return result.dataset, result.check, result.kind


def _check_families(latest: Latest) -> Iterator[Family]:
    outcome = Family(
        "demon_check_outcome",
        "gauge",
        "1 for the outcome of the check's latest run, else 0",
        (*CHECK, "outcome"),
    )
    last_run = Family(
        "demon_check_last_run_timestamp_seconds", "gauge", "Start of the check's latest run", CHECK
    )
    last_success = Family(
        "demon_check_last_success_timestamp_seconds",
        "gauge",
        "Start of the check's latest pass or warn",
        CHECK,
    )
    value = Family("demon_check_value", "gauge", "The observed value the check's thresholds apply to", CHECK)
    threshold = Family(
        "demon_check_threshold",
        "gauge",
        "The check's thresholds by name (seconds, fractions)",
        (*CHECK, "bound"),
    )
    error = Family(
        "demon_check_error",
        "gauge",
        "1 while the check's latest run ended in error, labelled with why (unreachable, timeout, ...)",
        (*CHECK, "reason"),
    )
    for result in latest.results.values():
        ids = _ids(result)
        for each in OUTCOMES:
            outcome.add((*ids, each), 1.0 if result.outcome == each else 0.0)
        last_run.add(ids, result.started_at.timestamp())
        if result.last_success_at is not None:
            last_success.add(ids, result.last_success_at.timestamp())
        if result.value is not None:
            value.add(ids, result.value)
        for bound, limit in result.thresholds.items():
            threshold.add((*ids, bound), limit)
        if result.reason is not None:
            error.add((*ids, result.reason.value), 1.0)
    yield from (outcome, last_run, last_success, value, threshold, error)


def _check_facts(latest: Latest) -> Iterator[Family]:
    for fact, (name, text) in CHECK_FACTS.items():
        family = Family(name, "gauge", text, ("dataset", "check"))
        for result in latest.results.values():
            if fact in result.facts:
                family.add((result.dataset, result.check), result.facts[fact])
        yield family


def _runs(latest: Latest) -> Family:
    runs = Family(
        "demon_check_runs_total", "counter", "Check runs since demon started, by outcome", (*CHECK, "outcome")
    )
    for check, counts in latest.runs.items():
        ids = _ids(latest.results[check])
        for each in OUTCOMES:
            runs.add((*ids, each), float(counts.get(each, 0)))
    return runs


def duration_family(durations: Mapping[tuple[str, str], Histogram]) -> Family:
    family = Family(
        "demon_check_duration_seconds",
        "histogram",
        "How long check runs took (a dataset's checks run together)",
        ("source", "kind"),
    )
    for labels, histogram in sorted(durations.items()):
        family.add_histogram(labels, histogram)
    return family


def dataset_families(latest: Latest) -> Iterator[Family]:
    """The families whose series describe a whole dataset: its size, newest data and info."""
    facts = {fact: Family(name, "gauge", text, ("dataset",)) for fact, (name, text) in FACTS.items()}
    known: dict[tuple[str, str], float] = {}
    for result in sorted(latest.results.values(), key=lambda result: result.started_at):  # the newest wins
        known.update(((fact, result.dataset), value) for fact, value in result.facts.items() if fact in facts)
    for (fact, dataset), value in known.items():
        facts[fact].add((dataset,), value)
    yield from facts.values()
    info = Family(
        "demon_dataset_info",
        "gauge",
        "The datasets demon watches, with their owner and severity",
        ("dataset", "source", "owner", "severity"),
    )
    for name, config in latest.datasets.items():
        info.add((name, config.source, config.owner or "", str(config.severity or "")), 1.0)
    yield info
