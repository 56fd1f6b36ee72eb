"""Freshness: how old the newest data is, against `warn_after` / `fail_after`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from checks.baselines.learn import learn
from checks.baselines.model import Point
from checks.baselines.params import AnomalyParams
from checks.baselines.series import gaps, loads
from checks.kinds.base import Context, Kind, Learning
from checks.kinds.learning import bucket_probe, by_misfits, definition, flag, joined, merged
from checks.probes import (
    Answers,
    BucketCounts,
    FileCount,
    MaxValue,
    Newest,
    Probe,
    RowCount,
    Scope,
    TableState,
    TableStats,
)
from checks.thresholds import as_dict, bounds, worst
from monitor.core import humanize
from monitor.core.clock import as_utc
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import Duration
from monitor.core.evidence import FreshnessEvidence
from monitor.core.failures import Reason
from monitor.core.results import Evaluation, Outcome
from monitor.core.series import SeriesHistory, SeriesPoint, SeriesUpdate

_LIMITS = (("warn_after", True, Outcome.WARN), ("fail_after", True, Outcome.FAIL))


class FreshnessParams(CheckParams):
    column: str | None = Field(
        default=None,
        description="timestamp or date column; without it, a lake's newest object, or a sql table's last"
        " change as its statistics show it",
    )
    warn_after: Duration | None = None
    fail_after: Duration | None = None
    anomaly: AnomalyParams | None = Field(
        default=None, description="learn how long the table usually goes between loads, per seasonal slot"
    )

    @model_validator(mode="after")
    def _needs_a_threshold(self) -> FreshnessParams:
        if self.warn_after is None and self.fail_after is None and self.anomaly is None:
            raise ValueError("expected warn_after or fail_after (or both), or anomaly")
        return self


class Freshness(Kind[FreshnessParams]):
    params = FreshnessParams

    def probes(self, params: FreshnessParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        """The newest value and the size (a sql table without a column: its statistics); with `anomaly.by`,
        also the loads per bucket in the window."""
        if _by_statistics(params, context.dataset):
            return [TableStats()]
        found: list[Probe[Any]] = list(_probes(params, context.dataset))
        if params.anomaly is not None and params.anomaly.by is not None:
            found.append(bucket_probe(params.anomaly, context))
        return found

    def learns(self, params: FreshnessParams, dataset: DatasetConfig) -> Learning | None:
        if params.anomaly is None:
            return None
        measure = definition("freshness", dataset, params.anomaly, column=params.column)
        return Learning(measure, params.anomaly, gaps, direction="spike")

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: FreshnessParams
    ) -> Iterator[tuple[Loc, str]]:
        scoped = dataset.where or (params.anomaly is not None and params.anomaly.by is not None)
        if family == "sql" and params.column is None and scoped:
            why = "a table's statistics say when it changed, not when rows of a where or a bucket did"
            yield ("column",), f"missing required key 'column': {why}"
        yield from by_misfits(family, dataset, params.anomaly)

    def evaluate(self, params: FreshnessParams, answers: Answers, context: Context) -> Evaluation:
        limits = bounds(params, _LIMITS)
        thresholds = as_dict(limits)
        if _by_statistics(params, context.dataset):
            return _last_change(params, answers[TableStats()], context)
        newest_probe, size_probe = _probes(params, context.dataset)
        column = params.column or "object"
        newest = answers[newest_probe]
        if newest is None:
            empty = answers[size_probe] == 0
            reason = "dataset is empty" if empty else f"{column} is NULL in every row"
            return Evaluation(
                Outcome.FAIL, f"{reason}: no newest {column}", unit="seconds", thresholds=thresholds
            )
        try:
            newest_at = as_utc(newest)
        except TypeError as exc:
            return Evaluation(Outcome.ERROR, f"cannot read {column} as a time: {exc}", thresholds=thresholds)
        return _judged(params, newest_at, f"newest {column}", answers, context)


def _judged(
    params: FreshnessParams, newest_at: datetime, what: str, answers: Answers, context: Context,
    note: str = "", snapshot: dict[str, str] | None = None,
) -> Evaluation:
    """The age of `newest_at` against the thresholds, then (with `anomaly`) against the usual gaps."""
    limits = bounds(params, _LIMITS)
    age = max((context.now - newest_at).total_seconds(), 0.0)
    evidence = FreshnessEvidence(newest_at, future=newest_at > context.now)
    bound = worst(age, limits)
    message = f"{what} is {humanize.duration(age)} old"
    if newest_at > context.now:  # clock skew or a bad value: age 0 is all that can be said
        ahead = humanize.duration((newest_at - context.now).total_seconds())
        message = f"{what} is {ahead} in the future"
    if bound is not None:
        verb = "warn" if bound.outcome == Outcome.WARN else "fail"
        message += f" ({verb} after {humanize.duration(bound.limit)})"
    fixed = Evaluation(
        bound.outcome if bound else Outcome.PASS,
        message + note,
        value=age,
        unit="seconds",
        thresholds=as_dict(limits),
        evidence=evidence,
        facts={"last_modified": newest_at.timestamp()},
        snapshot=snapshot,
    )
    if params.anomaly is None:
        return fixed
    return _cadence(params.anomaly, fixed, newest_at, answers, context)


def _by_statistics(params: FreshnessParams, dataset: DatasetConfig) -> bool:
    return params.column is None and dataset.table is not None


def _last_change(params: FreshnessParams, state: TableState, context: Context) -> Evaluation:
    """When the table last changed: the engine's modification time where it keeps one; else the first run
    that saw its counters (rows, inserts, updates, deletes, its storage) differ from the run before,
    remembered between runs, as schema snapshots are."""
    if state.modified_at is not None:
        return _judged(params, as_utc(state.modified_at), "last change", Answers({}), context)
    if state.signature is None:
        why = "the engine keeps no statistics for it (a view?): name a timestamp column"
        return Evaluation(Outcome.ERROR, why, reason=Reason.SETUP)
    before = context.snapshot or {}
    seen = before.get("changed_at")
    changed_at = context.now
    note = " (as demon saw it: this engine keeps no modification time)"
    if before.get("signature") == state.signature and seen:
        changed_at = as_utc(datetime.fromisoformat(seen))
    elif not before:
        note = " (first seen now: this engine keeps no modification time, so the age counts from now)"
    snapshot = {"signature": state.signature, "changed_at": changed_at.isoformat()}
    return _judged(params, changed_at, "last change", Answers({}), context, note, snapshot)


def _cadence(
    anomaly: AnomalyParams, fixed: Evaluation, newest: datetime, answers: Answers, context: Context
) -> Evaluation:
    """The gap since the last load against how long this table usually goes between loads from then on.

    Loads are the newest values seen run after run, or with `by` the newest of each bucket; the open gap is
    judged as belonging to the load that opened it, so a weekend gap is Friday's last load's, and is
    usual."""
    history = context.series or SeriesHistory("")
    fresh = [SeriesPoint(newest, None)]
    if anomaly.by is not None:  # each bucket's newest; the newest of all is the last bucket's, once
        counted = loads(answers.one(BucketCounts), bucket_probe(anomaly, context).since)
        fresh = [point for point in counted if point.at != newest] + fresh
    series = [point for point in merged(history.points, fresh) if point.at <= newest]
    age = fixed.value or 0.0
    learned = learn(Point(newest, age), history, gaps(series), anomaly, _gap, bucketed=False,
                    direction="spike")
    update = SeriesUpdate(history.key, flag(fresh, newest, learned)) if history.key else None
    return joined(fixed, learned, update)


def _gap(seconds: float) -> str:
    return humanize.duration(max(seconds, 0.0))


def _probes(params: FreshnessParams, dataset: DatasetConfig) -> tuple[Probe[object], Probe[int]]:
    """The newest value (of the column, else the newest object) and how much data there is at all."""
    newest: Probe[object] = MaxValue(params.column) if params.column else Newest()
    scope: Scope = "latest_partition" if dataset.partitioning == "hive" else "all"
    return newest, RowCount() if dataset.table else FileCount(scope)
