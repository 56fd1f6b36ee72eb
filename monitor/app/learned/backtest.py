"""`demon backtest`: a check's learned baseline replayed over its stored series, point by point as if each had
been the latest, so a user sees what it would have flagged before it pages anyone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from checks.baselines.learn import marks, settings, taught
from checks.baselines.model import Point, Verdict, replay
from checks.baselines.params import BUCKET_SECONDS
from checks.kinds import Learning
from monitor.core.series import SeriesHistory


@dataclass(frozen=True)
class Replayed:
    """One point of a backtest: its value and what the baseline expected of it then."""

    at: datetime
    value: float
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        band = self.verdict.band
        return {
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "value": self.value,
            "expected": band.expected if band else None,
            "expected_min": band.low if band else None,
            "expected_max": band.high if band else None,
            "outcome": self.verdict.outcome,
        }


def backtest(learning: Learning, history: SeriesHistory, since: datetime) -> list[Replayed]:
    """The verdicts of the points from `since` on, oldest first; earlier stored points only train.

    Which points are anomalous is the replay's to decide, as it was each run's, except what users taught:
    points marked expected always train, points marked anomalous and excluded windows never do."""
    points, windows = taught(history, learning.view(history.points))
    said = marks(history)
    marked = [(at, at + timedelta(microseconds=1)) for at, anomalous in said.items() if anomalous]
    bucket = timedelta(seconds=BUCKET_SECONDS[learning.anomaly.bucket]) if learning.bucketed else None
    verdicts = replay(
        [Point(point.at, point.value) for point in points],
        settings(learning.anomaly, learning.direction),
        bucket=bucket,
        excluded=[*windows, *marked],
        expected={at for at, anomalous in said.items() if not anomalous},
    )
    return [Replayed(point.at, point.value, verdict)
            for point, verdict in zip(points, verdicts, strict=True) if point.at >= since]
