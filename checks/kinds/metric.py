"""Metric: a user statement returning one number, against numeric thresholds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field

from checks.baselines.learn import as_points, learn, number
from checks.baselines.model import Point
from checks.baselines.params import AnomalyParams
from checks.kinds.base import Context, Kind, Learning
from checks.kinds.learning import definition, joined
from checks.probes import Answers, Probe, ScalarQuery
from checks.thresholds import MIN_MAX, as_dict, bounds, worst
from monitor.core import humanize
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import SelectSql
from monitor.core.results import Evaluation, Outcome
from monitor.core.series import SeriesHistory, SeriesPoint, SeriesUpdate


class MetricParams(CheckParams):
    sql: SelectSql = Field(description="one SELECT statement returning one number")
    min: float | None = None
    max: float | None = None
    warn_min: float | None = None
    warn_max: float | None = None
    anomaly: AnomalyParams | None = Field(default=None, description="learn the metric's usual range")


class Metric(Kind[MetricParams]):
    params = MetricParams

    def probes(self, params: MetricParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        return [ScalarQuery(params.sql)]

    def learns(self, params: MetricParams, dataset: DatasetConfig) -> Learning | None:
        if params.anomaly is None:
            return None
        measure = definition("metric", dataset, params.anomaly, sql=params.sql)
        return Learning(measure, params.anomaly, as_points)

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: MetricParams
    ) -> Iterator[tuple[Loc, str]]:
        if family != "sql":
            yield (), "metric checks run SQL: they need a dataset on a sql source"
        if params.anomaly is not None and params.anomaly.by is not None:
            yield ("anomaly", "by"), "a metric is one number per run: `by` applies to volume and freshness"

    def evaluate(self, params: MetricParams, answers: Answers, context: Context) -> Evaluation:
        limits = bounds(params, MIN_MAX)
        thresholds = as_dict(limits)
        raw = answers[ScalarQuery(params.sql)]
        if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal) or not math.isfinite(raw):
            shown = "NULL" if raw is None else f"{type(raw).__name__} {str(raw)[:40]!r}"
            return Evaluation(
                Outcome.ERROR, f"metric statement returned {shown}, expected a number", thresholds=thresholds
            )
        value = float(raw)
        bound = worst(value, limits)
        message = f"{params.name or 'metric'} = {humanize.number(value)}"
        if bound is not None:
            message += f", {'above' if bound.upper else 'below'} {bound.name} {humanize.number(bound.limit)}"
        outcome = bound.outcome if bound else Outcome.PASS
        fixed = Evaluation(outcome, message, value=value, thresholds=thresholds)
        if params.anomaly is None:
            return fixed
        history = context.series or SeriesHistory("")
        earlier = as_points([point for point in history.points if point.at < context.now])
        learned = learn(Point(context.now, value), history, earlier, params.anomaly, number, bucketed=False)
        point = SeriesPoint(context.now, value, learned.flagged)
        return joined(fixed, learned, SeriesUpdate(history.key, (point,)) if history.key else None)
