"""A learned baseline's judgement of one point, ready for a check kind: the model (checks/baselines/model.py)
applied to a stored series with its users' feedback, worded for messages and typed for results."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from checks.baselines.model import Direction, Point, Settings, Verdict, judge
from checks.baselines.params import BUCKET_SECONDS, AnomalyParams
from monitor.core import humanize
from monitor.core.evidence import LearnedBand, LearnedEvidence
from monitor.core.results import Outcome
from monitor.core.series import FeedbackAction, SeriesHistory, SeriesPoint

Window = tuple[datetime, datetime]
# Buckets a later run counts again, for late and backfilled rows: the rest of the window comes from the store.
RECOMPUTE = {"1h": timedelta(hours=24), "1d": timedelta(days=3)}
_OUTCOMES = {"pass": Outcome.PASS, "learning": Outcome.PASS, "warn": Outcome.WARN, "fail": Outcome.FAIL}


def series_key(check: str, definition: Mapping[str, object]) -> str:
    """`check#digest`: what defines the series (its kind, `by`, bucket, `where`, statement...), so a changed
    definition starts a new series instead of mixing the old one in."""
    text = json.dumps(definition, sort_keys=True, default=str)
    return f"{check}#{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def part_key(key: str, part: str) -> str:
    """`check#digest/part`: one series of a check that learns several (a profile's `email.null_fraction`)."""
    return f"{key}/{part}"


@dataclass(frozen=True)
class Learned:
    """A point judged: its outcome, the words for it ("expected 950-1,460 (median 1,204 of 8 Mondays)"),
    the evidence, and whether the point is flagged (it then never trains)."""

    outcome: Outcome
    expectation: str
    evidence: LearnedEvidence

    @property
    def flagged(self) -> bool:
        return self.outcome is Outcome.FAIL

    def thresholds(self) -> dict[str, float]:
        band = self.evidence.band
        return band.thresholds() if band is not None else {}


def settings(params: AnomalyParams, direction: Direction | None = None) -> Settings:
    """The model's settings from the config's `anomaly:` block (`direction` forced by kinds where only one
    side can be wrong: a load is never too early)."""
    return Settings(
        seasonality=params.seasonality,
        sensitivity=params.sensitivity,
        warn_sensitivity=params.warn_sensitivity,
        direction=direction or params.direction,
        min_training=params.min_training,
        min_change=params.min_change,
        training=timedelta(seconds=params.training),
    )


def marks(history: SeriesHistory) -> dict[datetime, bool]:
    """Points users marked, by time: True for a real anomaly, False for expected; the latest word wins."""
    said = {}
    for item in sorted(history.feedback, key=lambda item: item.id):
        if item.action in (FeedbackAction.EXPECTED, FeedbackAction.ANOMALY):
            said[item.start] = item.action is FeedbackAction.ANOMALY
    return said


def taught(history: SeriesHistory, points: Iterable[Point]) -> tuple[list[Point], list[Window]]:
    """Points and excluded windows after users' feedback: `expected` points train, `anomaly` points never
    do, `exclude` windows and everything before a `reset` are left out."""
    marked_as = marks(history)
    windows = [(item.start, item.end or item.start) for item in history.feedback
               if item.action is FeedbackAction.EXCLUDE]
    resets = [item.start for item in history.feedback if item.action is FeedbackAction.RESET]
    reset = max(resets, default=None)
    marked = [
        Point(point.at, point.value, marked_as.get(point.at, point.flagged))
        for point in points if reset is None or point.at >= reset  # a new series from there on
    ]
    return marked, windows


def as_points(stored: Sequence[SeriesPoint]) -> list[Point]:
    """Stored points with a value, as the model's."""
    return [Point(point.at, point.value, point.flagged) for point in stored if point.value is not None]


def learn(
    point: Point,
    history: SeriesHistory,
    series: Sequence[Point],
    params: AnomalyParams,
    render: Callable[[float], str],
    *,
    bucketed: bool,
    direction: Direction | None = None,
) -> Learned:
    """Judge `point` against `series` (the history as the model sees it: deltas, gaps or values)."""
    trained, excluded = taught(history, series)
    bucket = timedelta(seconds=BUCKET_SECONDS[params.bucket]) if bucketed else None
    chosen = settings(params, direction)
    verdict = judge(point, trained, chosen, bucket=bucket, excluded=excluded)
    words = _expectation(verdict, chosen, render)
    outcome = _OUTCOMES[verdict.outcome]
    if marks(history).get(point.at) is False and outcome is not Outcome.PASS:  # a user said it is normal
        outcome, words = Outcome.PASS, f"{words}; marked expected by feedback"
    return Learned(outcome, words, _evidence(point, verdict, params))


def _expectation(verdict: Verdict, chosen: Settings, render: Callable[[float], str]) -> str:
    """`expected 950-1,460 (median 1,204 of 8 Mondays)`; one side only where only one side alerts."""
    band = verdict.band
    if band is None:
        return f"learning: {verdict.note or f'{verdict.trained} of {chosen.min_training} points'}"
    drift = f"; {verdict.note}" if verdict.note else ""  # a slow drift, failing inside the band
    bounds = {"both": f"{render(band.low)}-{render(band.high)}", "spike": f"at most {render(band.high)}",
              "drop": f"at least {render(band.low)}"}[chosen.direction]
    return f"expected {bounds} (median {render(band.expected)} of {band.trained_label}){drift}"


def _evidence(point: Point, verdict: Verdict, params: AnomalyParams) -> LearnedEvidence:
    band = verdict.band
    learned = None if band is None else LearnedBand(band.expected, band.low, band.high, band.warn_low,
                                                     band.warn_high)
    return LearnedEvidence(
        at=point.at, value=point.value, slot=band.slot if band else "", season=band.season if band else "",
        trained=verdict.trained, trained_label=band.trained_label if band else "",
        min_training=params.min_training, band=learned,
    )


def whole(value: float) -> str:
    """Rows, files and bytes in a band: whole numbers."""
    return humanize.number(round(value))


def number(value: float) -> str:
    """Counts and metric values in a band: whole numbers for counts, three significant digits otherwise."""
    return humanize.number(round(value)) if abs(value) >= 100 else humanize.number(float(f"{value:.3g}"))
