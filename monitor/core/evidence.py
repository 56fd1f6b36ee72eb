"""The evidence behind a result, typed: check kinds produce it, alerting, the metrics and the renderers read
its fields, and it becomes JSON (a result's `details`) here and nowhere else, in the shape the spec shows.

Each kind of evidence is a frozen record with `dump()`. New evidence (a learned band, a column profile) is one
more record here, and one more case where a consumer wants to show it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

Mode = Literal["in_warehouse", "on_sample"]


class Evidence(Protocol):
    def dump(self) -> dict[str, Any]:
        """The JSON of `details` (merged with what the source attached)."""
        ...


@dataclass(frozen=True)
class FreshnessEvidence:
    newest: datetime
    future: bool  # newer than "now": clock skew or a bad value

    def dump(self) -> dict[str, Any]:
        return {"newest": self.newest.isoformat(), "future": self.future}


@dataclass(frozen=True)
class VolumeEvidence:
    baseline: float | None  # the last successful run's value
    change: float | None = None  # relative to the baseline; None: not computed (no baseline, or it was 0)
    compared: bool = False  # whether a change was judged (`max_drop`/`max_growth` set and a baseline)

    def dump(self) -> dict[str, Any]:
        return {"baseline": self.baseline, **({"change": self.change} if self.compared else {})}


@dataclass(frozen=True)
class Retyped:
    """A column whose type family changed: from the expected (or last seen) to the actual one."""

    column: str
    before: str
    after: str


@dataclass(frozen=True)
class Drift:
    """Columns added, removed and retyped since the last snapshot (or between a file and the rest)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[Retyped, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def dump(self) -> dict[str, Any]:
        return {
            "added": list(self.added), "removed": list(self.removed),
            "retyped": [{"column": r.column, "before": r.before, "after": r.after} for r in self.retyped],
        }


@dataclass(frozen=True)
class SchemaEvidence:
    """A schema check's findings: against the config (missing, retyped, unexpected) and against the last
    snapshot (drift, None when there was none or drift is ignored), and lake files that differ."""

    columns: Mapping[str, str]  # name -> family, as found
    missing: tuple[str, ...] = ()
    retyped: tuple[Retyped, ...] = ()  # before: the family the config expects, after: the actual one
    unexpected: tuple[str, ...] = ()
    drift: Drift | None = None
    mixed_files: Mapping[str, Drift] = field(default_factory=dict)  # file -> how it differs from the rest
    file_schemas: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        drifted = self.drift or Drift()
        return (len(self.missing) + len(self.retyped) + len(self.unexpected) + len(drifted.added)
                + len(drifted.removed) + len(drifted.retyped) + len(self.mixed_files))

    def dump(self) -> dict[str, Any]:
        drift = self.drift.dump() if self.drift is not None else {}
        if self.mixed_files:
            drift["mixed_files"] = [{"file": name, **changes.dump()}
                                    for name, changes in self.mixed_files.items()]
        dumped: dict[str, Any] = {
            "missing": list(self.missing),
            "retyped": [{"column": r.column, "expected": r.before, "actual": r.after} for r in self.retyped],
            "unexpected": list(self.unexpected), "drift": drift, "columns": dict(self.columns),
        }
        if self.file_schemas:
            dumped["file_schemas"] = {name: dict(columns) for name, columns in self.file_schemas.items()}
        return dumped


@dataclass(frozen=True)
class RuleResult:
    """What one quality rule found: the rows it ran over and where, its failing rows, a bounded sample."""

    column: str | None
    check: str
    mode: Mode
    rows: int
    failing: int
    values: tuple[Any, ...] = ()  # failing values of the column (none for a pii column)
    sample: tuple[Mapping[str, Any], ...] = ()  # failing rows, without pii columns
    error: str | None = None
    broken: bool = False  # the dataset's shape breaks the rule (a dtype, an extra column): fails on any rows
    query: str | None = None  # a short statement showing its failing rows (counted in the warehouse)

    @property
    def pct(self) -> float | None:
        return self.failing / self.rows if self.rows else None

    def dump(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "column": self.column, "check": self.check, "mode": self.mode, "rows": self.rows,
            "failing_rows": self.failing, "failing_pct": self.pct,
        }
        if self.values:
            found["values"] = list(self.values)
        if self.sample:
            found["sample"] = [dict(row) for row in self.sample]
        if self.error:
            found["error"] = self.error
        if self.query:
            found["query"] = self.query
        return found


@dataclass(frozen=True)
class QualityReport:
    """Every rule's result, in the schema's order: the answer to a quality probe, and the check's evidence."""

    rules: tuple[RuleResult, ...]
    rows: int | None = None  # rows in scope when the warehouse counted them
    sample_rows: int | None = None  # rows of the sample, when one was read

    def errors_rewritten(self, rewrite: Callable[[str], str]) -> QualityReport:
        """The same report, each rule's error passed through `rewrite` (hiding values, say)."""
        rules = tuple(replace(rule, error=rewrite(rule.error)) if rule.error else rule for rule in self.rules)
        return replace(self, rules=rules)

    def dump(self) -> dict[str, Any]:
        rules = [rule.dump() for rule in self.rules]
        return {"rows": self.rows, "sample_rows": self.sample_rows, "rules": rules}


@dataclass(frozen=True)
class DbtTestEvidence:
    """A dbt test's last outcome as dbt recorded it: which test, when dbt wrote the results, failing rows."""

    test: str  # its unique_id
    generated_at: str | None
    failures: int | None

    def dump(self) -> dict[str, Any]:
        return {"dbt_test": self.test, "generated_at": self.generated_at, "failures": self.failures}


@dataclass(frozen=True)
class LearnedBand:
    """A learned baseline's expected value and bands for one seasonal slot."""

    expected: float
    low: float
    high: float
    warn_low: float | None = None
    warn_high: float | None = None

    def thresholds(self) -> dict[str, float]:
        """The band as threshold bounds, named as the spec names them (`demon_check_threshold{bound=...}`)."""
        bounds = {"expected": self.expected, "expected_min": self.low, "expected_max": self.high,
                  "expected_warn_min": self.warn_low, "expected_warn_max": self.warn_high}
        return {name: value for name, value in bounds.items() if value is not None}


@dataclass(frozen=True)
class LearnedEvidence:
    """What a learned baseline judged: which point (a bucket or a run), against which slot's band, trained on
    how many points; `band` is None while it is still learning."""

    at: datetime  # the judged bucket's start, or the run's time
    value: float
    slot: str  # "09:00-10:00 Mon", "Mon", "" without seasonality
    season: str
    trained: int  # points that trained the band (while learning: points so far)
    trained_label: str  # what trained it, in words: "8 Mondays", "14 points"
    min_training: int
    band: LearnedBand | None

    @property
    def learning(self) -> bool:
        return self.band is None

    def dump(self) -> dict[str, Any]:
        return {"learned": {
            "at": self.at.isoformat(), "value": self.value, "slot": self.slot, "season": self.season,
            "trained": self.trained, "trained_label": self.trained_label, "min_training": self.min_training,
            "learning": self.learning,
            **(self.band.thresholds() if self.band is not None else {}),
        }}


@dataclass(frozen=True)
class ColumnStats:
    """One column's profile over the rows in scope (or the sample). None where not computed: min, max and
    mean are only of numbers outside `pii_columns`, lengths only of strings, distinct values only of types
    every engine can compare."""

    column: str
    family: str
    values: int  # rows where it is not NULL
    distinct: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    avg_length: float | None = None
    max_length: float | None = None

    def dump(self, rows: int) -> dict[str, Any]:
        found = {"family": self.family, "nulls": rows - self.values,
                 "null_fraction": (rows - self.values) / rows if rows else None, "distinct": self.distinct,
                 "min": self.minimum, "max": self.maximum, "mean": self.mean,
                 "avg_length": self.avg_length, "max_length": self.max_length}
        return {key: value for key, value in found.items() if value is not None or key == "null_fraction"}


@dataclass(frozen=True)
class ProfileReport:
    """The columns' profiles: the answer to a profile probe, and the heart of its check's evidence."""

    rows: int  # in scope, or in the sample
    columns: tuple[ColumnStats, ...]
    sample: float | None = None  # the fraction sampled (TABLESAMPLE), None: every row in scope
    left_out: tuple[str, ...] = ()  # columns past `max_columns`, not profiled

    def dump(self) -> dict[str, Any]:
        return {"rows": self.rows, "sample": self.sample, "left_out": list(self.left_out),
                "columns": {stats.column: stats.dump(self.rows) for stats in self.columns}}


@dataclass(frozen=True)
class Anomaly:
    """One series of a profile (a column's statistic) outside its learned band."""

    column: str
    statistic: str  # null_fraction, distinct_fraction, min, max, mean, avg_length, max_length
    value: float
    outcome: str  # fail or warn
    band: LearnedBand
    trained_label: str

    def dump(self) -> dict[str, Any]:
        return {"column": self.column, "statistic": self.statistic, "value": self.value,
                "outcome": self.outcome, "trained": self.trained_label, **self.band.thresholds()}


@dataclass(frozen=True)
class ProfileEvidence:
    """A profile check's findings: the profiles, how many of their series were judged or are still learning,
    and the anomalous ones, worst first."""

    report: ProfileReport
    judged: int  # series with a band
    learning: int  # series still short of min_training points
    anomalies: tuple[Anomaly, ...] = ()

    def dump(self) -> dict[str, Any]:
        series = {"judged": self.judged, "learning": self.learning}
        return {**self.report.dump(), "series": series, "anomalies": [item.dump() for item in self.anomalies]}
