"""Metric: one number against numeric thresholds, from a user statement (`sql`) or an aggregate expression
over the dataset's rows (`expression`), which joins the dataset's fused scan instead of reading it again."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from checks.baselines.learn import as_points, learn, number
from checks.baselines.model import Point
from checks.baselines.params import AnomalyParams
from checks.kinds.base import Context, Kind, Learning
from checks.kinds.learning import definition, joined
from checks.probes import Aggregate, Answers, Probe, ScalarQuery
from checks.thresholds import MIN_MAX, as_dict, bounds, worst
from monitor.core import humanize
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import AggregateSql, SelectSql
from monitor.core.results import Evaluation, Outcome
from monitor.core.series import SeriesHistory, SeriesPoint, SeriesUpdate


class MetricParams(CheckParams):
    sql: SelectSql | None = Field(
        default=None, description="one SELECT statement returning one number; not scoped by the where"
    )
    expression: AggregateSql | None = Field(
        default=None,
        description="an aggregate over the dataset's rows in its where scope (avg(amount)), fused",
    )
    min: float | None = None
    max: float | None = None
    warn_min: float | None = None
    warn_max: float | None = None
    anomaly: AnomalyParams | None = Field(default=None, description="learn the metric's usual range")

    @model_validator(mode="after")
    def _sql_or_expression(self) -> MetricParams:
        if (self.sql is None) == (self.expression is None):
            raise ValueError("expected exactly one of 'sql' (a statement) and 'expression' (an aggregate)")
        return self

    @property
    def probe(self) -> Probe[object]:
        return Aggregate(self.expression) if self.expression is not None else ScalarQuery(self.sql or "")


class Metric(Kind[MetricParams]):
    params = MetricParams

    def probes(self, params: MetricParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        return [params.probe]

    def learns(self, params: MetricParams, dataset: DatasetConfig) -> Learning | None:
        if params.anomaly is None:
            return None
        measured = {"sql": params.sql} if params.sql is not None else {"expression": params.expression}
        measure = definition("metric", dataset, params.anomaly, **measured)
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
        raw = answers[params.probe]
        if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal) or not math.isfinite(raw):
            shown = "NULL" if raw is None else f"{type(raw).__name__} {str(raw)[:40]!r}"
            source = "statement" if params.sql is not None else "expression"
            return Evaluation(
                Outcome.ERROR, f"metric {source} returned {shown}, expected a number", thresholds=thresholds
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
