"""Metric: a user statement returning one number, against numeric thresholds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field

from checks.kinds.base import Context, Kind
from checks.probes import Answers, Probe, ScalarQuery
from checks.thresholds import MIN_MAX, as_dict, bounds, worst
from monitor.core import humanize
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import SelectSql
from monitor.core.results import Evaluation, Outcome


class MetricParams(CheckParams):
    sql: SelectSql = Field(description="one SELECT statement returning one number")
    min: float | None = None
    max: float | None = None
    warn_min: float | None = None
    warn_max: float | None = None


class Metric(Kind[MetricParams]):
    params = MetricParams

    def probes(self, params: MetricParams, dataset: DatasetConfig, base_dir: Path) -> list[Probe[Any]]:
        return [ScalarQuery(params.sql)]

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: MetricParams
    ) -> Iterator[tuple[Loc, str]]:
        if family != "sql":
            yield (), "metric checks run SQL: they need a dataset on a sql source"

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
        return Evaluation(
            bound.outcome if bound else Outcome.PASS, message, value=value, thresholds=thresholds
        )
