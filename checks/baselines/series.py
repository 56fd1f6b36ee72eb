"""The series a model judges, from what is stored: what changed, never a running total.

Stored points are what a run can observe (a bucket's rows, a run's total, a load's time); a model judges the
change: rows per bucket, rows added between runs, time between loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from checks.baselines.model import Point
from checks.probes import Bucket
from monitor.core.series import SeriesPoint


def deltas(stored: Sequence[SeriesPoint]) -> list[Point]:
    """Run totals -> what each run added since the one before (at the later run, with its flag)."""
    known = [point for point in stored if point.value is not None]
    return [
        Point(after.at, after.value - before.value, after.flagged)  # type: ignore[operator]
        for before, after in pairwise(known)
    ]


def gaps(loads: Sequence[SeriesPoint]) -> list[Point]:
    """Load times -> the time between loads, each at the load that opened the gap (so a weekend gap belongs to
    Friday's last load), flagged when that gap was judged late."""
    return [
        Point(before.at, (after.at - before.at).total_seconds(), before.flagged)
        for before, after in pairwise(loads)
    ]


def floor(at: datetime, size: timedelta) -> datetime:
    """The start of the UTC bucket `at` falls in."""
    epoch = datetime(1970, 1, 1, tzinfo=at.tzinfo)
    return at - (at - epoch) % size


def counted(
    buckets: Sequence[Bucket], since: datetime, until: datetime, size: timedelta, fill_from: datetime | None
) -> list[SeriesPoint]:
    """Complete buckets in [since, until) as points, empty ones as 0 from `fill_from` on (before the table's
    first rows, or the series' first stored point, nothing is known: a missing bucket there is no zero)."""
    rows = {bucket.start: bucket.rows for bucket in buckets if since <= bucket.start < until}
    first = min(rows, default=None) if fill_from is None else fill_from
    if first is None:
        return []
    points, at = [], max(first, since)
    while at < until:
        points.append(SeriesPoint(at, float(rows.get(at, 0))))
        at += size
    return points


def loads(buckets: Sequence[Bucket], since: datetime) -> list[SeriesPoint]:
    """Each bucket's newest timestamp, as the load times a freshness series learns the cadence from."""
    return [SeriesPoint(bucket.newest, None) for bucket in buckets
            if bucket.newest is not None and bucket.start >= since]
