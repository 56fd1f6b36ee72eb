"""Volume: how much data there is, against absolute bounds and against the last successful run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from checks.baselines.learn import as_points, learn, whole
from checks.baselines.model import Point
from checks.baselines.params import AnomalyParams
from checks.baselines.series import counted, deltas, floor
from checks.kinds.base import Context, Kind, Learning, metadata_misfits, scope_misfits
from checks.kinds.learning import (
    bucket_label,
    bucket_probe,
    bucket_size,
    by_misfits,
    definition,
    flag,
    joined,
    merged,
)
from checks.probes import (
    Answers,
    Bucket,
    BucketCounts,
    ByteSize,
    FileCount,
    Probe,
    RowCount,
    TableState,
    TableStats,
)
from checks.thresholds import MIN_MAX, Bound, as_dict, bounds, worst
from monitor.core import humanize
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import NonNegative, Percentage
from monitor.core.evidence import VolumeEvidence
from monitor.core.failures import Reason
from monitor.core.results import Evaluation, Outcome
from monitor.core.series import SeriesHistory, SeriesPoint, SeriesUpdate

_PROBES: dict[str, type[RowCount | FileCount | ByteSize]] = {
    "rows": RowCount,
    "files": FileCount,
    "bytes": ByteSize,
}


class VolumeParams(CheckParams):
    metric: Literal["rows", "files", "bytes"] = "rows"
    method: Literal["scan", "metadata"] = Field(
        default="scan", description="metadata: the engine's row estimate for the table, nothing read (sql)"
    )
    scope: Literal["all", "latest_partition"] = "all"
    min: NonNegative | None = None
    max: NonNegative | None = None
    warn_min: NonNegative | None = None
    warn_max: NonNegative | None = None
    max_drop: Percentage | None = Field(default=None, description="fail when the value fell more than this")
    max_growth: Percentage | None = Field(default=None, description="fail when the value grew more than this")
    anomaly: AnomalyParams | None = Field(
        default=None, description="learn the expected rows per bucket (`by`) or added per run from history"
    )


class Volume(Kind[VolumeParams]):
    params = VolumeParams

    def probes(self, params: VolumeParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        """The measure, and for lake datasets the file count: a prefix without files is no dataset. With
        `anomaly.by`, the rows per bucket instead: every number of the check is then per bucket."""
        if params.anomaly is not None and params.anomaly.by is not None:
            return [bucket_probe(params.anomaly, context)]
        if params.method == "metadata":
            return [TableStats()]
        measure = _PROBES[params.metric](params.scope)
        return [measure] if context.dataset.table else list(dict.fromkeys([measure, FileCount(params.scope)]))

    def learns(self, params: VolumeParams, dataset: DatasetConfig) -> Learning | None:
        if params.anomaly is None:
            return None
        anomaly = params.anomaly
        method = {"method": params.method} if params.method != "scan" else {}  # scan series keep their key
        measure = definition("volume", dataset, anomaly, metric=params.metric, scope=params.scope, **method)
        return Learning(measure, anomaly, as_points if anomaly.by is not None else deltas)

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: VolumeParams
    ) -> Iterator[tuple[Loc, str]]:
        yield from scope_misfits(family, dataset, params.scope, params.metric)
        yield from by_misfits(family, dataset, params.anomaly)
        yield from metadata_misfits(family, dataset, params.method, params.metric)
        if params.method == "metadata" and params.anomaly is not None and params.anomaly.by is not None:
            yield ("method",), "'metadata' counts the whole table: rows per bucket need a scan (method: scan)"

    def evaluate(self, params: VolumeParams, answers: Answers, context: Context) -> Evaluation:
        if params.anomaly is not None and params.anomaly.by is not None:
            return _per_bucket(params, params.anomaly, answers.one(BucketCounts), context)
        if params.method == "metadata":
            return _estimated(params, answers[TableStats()], context)
        value = float(answers[_PROBES[params.metric](params.scope)])
        # The dataset's size, for its metrics; a partition's size is not the dataset's.
        facts: dict[str, float] = {params.metric: value} if params.scope == "all" else {}
        if context.dataset.path and answers[FileCount(params.scope)] == 0:
            where = "in the newest partition" if params.scope == "latest_partition" else "under the prefix"
            return Evaluation(
                Outcome.FAIL, f"no data files {where}", value=value, unit=params.metric,
                thresholds=as_dict(bounds(params, MIN_MAX) + _change_bounds(params)), facts=facts,
            )
        fixed = _fixed(params, value, context.baseline, humanize.count(value, params.metric), facts)
        return fixed if params.anomaly is None else _per_run(params.anomaly, fixed, value, context)


def _fixed(
    params: VolumeParams, value: float, baseline: float | None, said: str, facts: dict[str, float]
) -> Evaluation:
    """The fixed thresholds' judgement of `value` and of its change since `baseline` (max_drop/growth)."""
    limits = bounds(params, MIN_MAX)
    change_limits = _change_bounds(params)
    bound = worst(value, limits)
    message = said
    if bound is not None:
        message += f", {'below' if not bound.upper else 'above'} {bound.name} {humanize.number(bound.limit)}"
    change_bound, change_note, evidence = _judge_change(value, baseline, change_limits)
    outcomes = [b.outcome for b in (bound, change_bound) if b is not None]
    outcome = Outcome.FAIL if Outcome.FAIL in outcomes else (outcomes[0] if outcomes else Outcome.PASS)
    return Evaluation(
        outcome, message + change_note, value=value, unit=params.metric,
        thresholds=as_dict(limits + change_limits), evidence=evidence, facts=facts,
    )


def _estimated(params: VolumeParams, state: TableState, context: Context) -> Evaluation:
    """The engine's row estimate, judged as a count would be, and said to be an estimate."""
    if state.rows is None:
        return Evaluation(Outcome.ERROR, "the engine keeps no row estimate for this table (use method: scan)",
                          reason=Reason.SETUP)
    value = float(state.rows)
    said = f"~{humanize.count(value, 'rows')} (the engine's estimate)"
    fixed = _fixed(params, value, context.baseline, said, {"rows": value})
    return fixed if params.anomaly is None else _per_run(params.anomaly, fixed, value, context)


def _per_run(anomaly: AnomalyParams, fixed: Evaluation, total: float, context: Context) -> Evaluation:
    """The learned judgement of what a run added since the one before (never the running total, which grows),
    its band shifted onto the total for the thresholds and dashboards."""
    history = context.series or SeriesHistory("")
    known = [point for point in history.points if point.value is not None and point.at < context.now]
    previous = known[-1].value if known else None
    added = 0.0 if previous is None else total - previous
    learned = learn(Point(context.now, added), history, deltas(known), anomaly, whole, bucketed=False)
    if previous is None:  # nothing to compare with: the first point of the series
        learned = replace(learned, expectation=f"{learned.expectation} (the first run of the series)")
    update = SeriesUpdate(history.key, (SeriesPoint(context.now, total, learned.flagged),))
    said = "" if previous is None else f"; {_added(added)} since the last run"
    return joined(fixed, learned, update if history.key else None, said, shift=previous or 0.0)


def _added(added: float) -> str:
    return f"{humanize.number(added)} added" if added >= 0 else f"{humanize.number(-added)} fewer"


def _per_bucket(
    params: VolumeParams, anomaly: AnomalyParams, buckets: tuple[Bucket, ...], context: Context
) -> Evaluation:
    """Rows in the latest complete bucket, against the fixed thresholds (per bucket, the change against the
    bucket before) and the band learnt from the buckets before it."""
    history = context.series or SeriesHistory("")
    size = bucket_size(anomaly)
    judged_at = floor(context.now, size) - size
    since = bucket_probe(anomaly, context).since
    fill_from = history.points[0].at if history.points else None
    fresh = counted(buckets, since, judged_at + size, size, fill_from)
    series = merged(history.points, fresh)
    earlier = [point for point in series if point.at < judged_at]
    value = next((point.value or 0.0 for point in series if point.at == judged_at), 0.0)
    baseline = earlier[-1].value if earlier else None
    said = f"{humanize.count(value, 'rows')} in {bucket_label(judged_at, anomaly.bucket)}"
    fixed = _fixed(params, value, baseline, said, {})
    learned = learn(Point(judged_at, value), history, as_points(earlier), anomaly, whole, bucketed=True)
    update = SeriesUpdate(history.key, flag(fresh, judged_at, learned)) if history.key else None
    return joined(fixed, learned, update)


def _change_bounds(params: VolumeParams) -> list[Bound]:
    """max_drop bounds the negative change, max_growth the positive one, both as fractions."""
    found = []
    if params.max_drop is not None:
        found.append(Bound("max_drop", params.max_drop, upper=True, outcome=Outcome.FAIL))
    if params.max_growth is not None:
        found.append(Bound("max_growth", params.max_growth, upper=True, outcome=Outcome.FAIL))
    return found


def _judge_change(
    value: float, baseline: float | None, limits: list[Bound]
) -> tuple[Bound | None, str, VolumeEvidence]:
    """The change since the baseline against max_drop/max_growth: the bound broken, words, the evidence."""
    if not limits:
        return None, "", VolumeEvidence(baseline)
    if baseline is None:
        first = "; no baseline yet for the change since the last successful run (first run)"
        return None, first, VolumeEvidence(None)
    if baseline == 0:
        return None, "; last successful run saw 0, change not computed", VolumeEvidence(0, None, True)
    change = (value - baseline) / baseline
    evidence = VolumeEvidence(baseline, change, compared=True)
    direction = "max_drop" if change < 0 else "max_growth"
    bound = next(
        (limit for limit in limits if limit.name == direction and limit.violated_by(abs(change))), None
    )
    since = f"since the last successful run ({humanize.number(baseline)})"
    if change == 0:
        return None, f"; unchanged {since}", evidence
    verb = "fell" if change < 0 else "grew"
    note = f"; {verb} {humanize.percent(abs(change))} {since}"
    if bound is not None:
        note += f", more than {bound.name} {humanize.percent(bound.limit)}"
    return bound, note, evidence
