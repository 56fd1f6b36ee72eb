"""A learned baseline's series as the state store keeps it, and the feedback users give it.

Checks produce series points and read them back with the feedback; the state store keeps both; the CLI writes
feedback. These records are the handoff between them, so they live at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class SeriesPoint:
    """One point: a bucket's start (series counted in the data), a run's time, or a load's time.

    `value` is None for an event with nothing measured yet (the first load a freshness series sees).
    `flagged`: judged anomalous when it was the latest point; it never trains a baseline unless a user marks
    it expected.
    """

    at: datetime
    value: float | None
    flagged: bool = False


class FeedbackAction(StrEnum):
    """What a user taught a baseline (`demon feedback`)."""

    EXPECTED = "expected"  # a flagged point was normal: it trains again
    ANOMALY = "anomaly"  # a point was a real anomaly: it never trains
    EXCLUDE = "exclude"  # a window (a backfill, an outage, a holiday): its points never train
    RESET = "reset"  # learn anew: points before `start` never train


@dataclass(frozen=True)
class Feedback:
    """One piece of feedback on a check's baseline, as stored (`id` undoes it)."""

    id: int
    check: str
    action: FeedbackAction
    start: datetime  # the point's time, the window's start, or where learning starts again
    end: datetime | None  # the window's end (exclusive); None for the other actions
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class SeriesHistory:
    """What a check's baseline learns from: its stored points (oldest first) and its feedback."""

    key: str
    points: tuple[SeriesPoint, ...] = ()
    feedback: tuple[Feedback, ...] = ()


@dataclass(frozen=True)
class SeriesUpdate:
    """Points a run adds to a series or recomputes (the same `at` replaces the stored point)."""

    key: str
    points: tuple[SeriesPoint, ...]
