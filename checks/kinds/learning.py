"""What the kinds that learn (volume, freshness, metric) share: their series' definition, the bucket probe of
`by:`, and a learned judgement joined to the fixed thresholds' (the worse outcome wins)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from checks.baselines.learn import RECOMPUTE, Learned
from checks.baselines.params import BUCKET_SECONDS, AnomalyParams
from checks.baselines.series import floor
from checks.kinds.base import Context
from checks.probes import BucketCounts
from monitor.core.config.document import Loc
from monitor.core.config.models import DatasetConfig, SourceFamily
from monitor.core.results import Evaluation
from monitor.core.series import SeriesPoint, SeriesUpdate


def definition(
    kind: str, dataset: DatasetConfig, anomaly: AnomalyParams, **measure: object
) -> dict[str, object]:
    """What a series measures: a change of any of it starts a new series (the band's settings do not)."""
    by = {"by": anomaly.by, "bucket": anomaly.bucket} if anomaly.by else {}
    where = {"source": dataset.source, "table": dataset.table, "path": dataset.path, "where": dataset.where}
    return {"kind": kind, **where, **by, **measure}


TIMES = ("timestamp", "date")


def by_misfits(family: SourceFamily, dataset: DatasetConfig, anomaly: AnomalyParams | None
               ) -> Iterator[tuple[Loc, str]]:
    """`by` counts rows per bucket of a timestamp column of a table: not on lakes, and not a column the
    dataset's own schema check declares as something else (the database says so at run time, too)."""
    if anomaly is None or anomaly.by is None:
        return
    if family != "sql":
        yield ("anomaly", "by"), "`by` counts rows per bucket of a timestamp column: sql datasets only"
        return
    for entry in dataset.checks:
        columns: dict[str, str] = getattr(entry.params, "columns", None) or {}
        declared = next((kind for name, kind in columns.items() if name.lower() == anomaly.by.lower()), None)
        if entry.kind == "schema" and declared is not None and declared not in TIMES:
            why = "`by` needs a timestamp or date column"
            yield ("anomaly", "by"), f"the schema check declares {anomaly.by!r} {declared}: {why}"


def bucket_size(anomaly: AnomalyParams) -> timedelta:
    return timedelta(seconds=BUCKET_SECONDS[anomaly.bucket])


def bucket_probe(anomaly: AnomalyParams, context: Context) -> BucketCounts:
    """The whole training window on a first run; later, only the buckets late rows may still change."""
    assert anomaly.by is not None
    size = bucket_size(anomaly)
    start = floor(context.now - timedelta(seconds=anomaly.training), size) - size
    stored = context.series.points if context.series is not None else ()
    if stored and stored[-1].at >= start:
        start = max(start, floor(stored[-1].at - RECOMPUTE[anomaly.bucket], size))
    return BucketCounts(anomaly.by, anomaly.bucket, start)


def bucket_label(at: datetime, bucket: str) -> str:
    """`09:00-10:00 Mon` for an hour, `Mon 7 Dec` for a day (UTC), as messages name a judged bucket."""
    if bucket == "1h":
        return f"{at:%H:00}-{at + timedelta(hours=1):%H:00} {at:%a}"
    return f"{at:%a} {at.day} {at:%b}"


def merged(stored: tuple[SeriesPoint, ...], fresh: list[SeriesPoint]) -> list[SeriesPoint]:
    """The stored series with this run's points in place of the same buckets (keeping flags), oldest first."""
    points = {point.at: point for point in stored}
    for point in fresh:
        before = points.get(point.at)
        points[point.at] = replace(point, flagged=point.flagged or (before is not None and before.flagged))
    return [points[at] for at in sorted(points)]


def flag(points: list[SeriesPoint], at: datetime, learned: Learned) -> tuple[SeriesPoint, ...]:
    """This run's points, the judged one flagged when it failed (it then never trains)."""
    return tuple(replace(point, flagged=True) if point.at == at and learned.flagged else point
                 for point in points)


def joined(
    fixed: Evaluation, learned: Learned, update: SeriesUpdate | None, said: str = "", shift: float = 0.0
) -> Evaluation:
    """The fixed thresholds' evaluation and the learned one's, the worse outcome winning; the band's bounds
    join the thresholds, shifted into the value's terms (a run's total, where the band is of what it added).
    `said` is what the learned judgement is about, when the fixed message does not say it already."""
    outcome = max(fixed.outcome, learned.outcome, key=lambda outcome: outcome.severity)
    band = {name: bound + shift for name, bound in learned.thresholds().items()}
    return replace(
        fixed, outcome=outcome, message=f"{fixed.message}{said}, {learned.expectation}",
        thresholds={**fixed.thresholds, **band}, learned=learned.evidence, series=update,
    )
