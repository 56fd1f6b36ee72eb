"""Plain data types for what a check run produces: its outcome and the evidence behind it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from monitor.core.evidence import Evidence, LearnedEvidence
from monitor.core.failures import Reason
from monitor.core.series import SeriesUpdate


class Outcome(StrEnum):
    """The one outcome every check run ends in (see the spec's outcome table)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def severity(self) -> int:
        """Its rank, least to most severe (pass, warn, fail, error): `max(outcomes, key=...)` is the worst."""
        return _SEVERITY.index(self)


_SEVERITY = tuple(Outcome)  # in the order of its members


@dataclass(frozen=True)
class Evaluation:
    """What a check kind concludes from its observations, before timing and provenance are added."""

    outcome: Outcome
    message: str
    value: float | None = None
    unit: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    evidence: Evidence | None = None  # what the kind found, typed (monitor/core/evidence.py)
    reason: Reason | None = None  # why it is an error (an error without one is the kind's: DATA)
    snapshot: dict[str, str] | None = None  # schema checks: the columns to remember for drift
    facts: dict[str, float] = field(default_factory=dict)  # what was learnt about the dataset (see Result)
    learned: LearnedEvidence | None = None  # a learned baseline's judgement, beside the kind's evidence
    series: SeriesUpdate | None = None  # points for the learned baseline's series, stored with the result
    parts: tuple[SeriesUpdate, ...] = ()  # points for the series of its parts, when it learns several

    @property
    def updates(self) -> tuple[SeriesUpdate, ...]:
        """Every series update this evaluation stores."""
        return ((self.series,) if self.series is not None else ()) + self.parts


@dataclass(frozen=True)
class Result:
    """One check run, as stored, printed and exported."""

    check: str
    dataset: str
    kind: str
    source: str
    outcome: Outcome
    message: str
    started_at: datetime
    duration_seconds: float
    value: float | None = None
    unit: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    statements: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # what the source attached (requests made, ...)
    evidence: Evidence | None = None  # what the kind found; read back from the store, it is in details
    # What the run learnt about the whole dataset, for its metrics: last_modified (epoch seconds), rows, ...
    facts: dict[str, float] = field(default_factory=dict)
    last_success_at: datetime | None = None  # this run if it passed or warned, else the latest that did
    reason: Reason | None = None  # why it is an error (None for the other outcomes)
    learned: LearnedEvidence | None = None  # a learned baseline's judgement; read back, it is in details
    # A short statement showing what the check saw, for notifications; not stored (None when read back).
    query: str | None = None

    @property
    def all_details(self) -> dict[str, Any]:
        """`details` as results show and store them: the source's and the evidence's, in one mapping."""
        found = (self.evidence, self.learned)
        return {**self.details, **{key: value for item in found if item is not None
                                   for key, value in item.dump().items()}}

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the spec (`demon check --format json`)."""
        return {
            "check": self.check,
            "dataset": self.dataset,
            "kind": self.kind,
            "source": self.source,
            "outcome": self.outcome.value,
            "value": self.value,
            "unit": self.unit,
            "thresholds": dict(self.thresholds),
            "message": self.message,
            "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "duration_seconds": round(self.duration_seconds, 6),
            "statements": list(self.statements),
            "details": self.all_details,
            "reason": self.reason.value if self.reason is not None else None,
        }


def summarize(results: Iterable[Result]) -> dict[str, int]:
    """How many results ended in each outcome, every outcome listed."""
    summary = {outcome.value: 0 for outcome in Outcome}
    for result in results:
        summary[result.outcome.value] += 1
    return summary
