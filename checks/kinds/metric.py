"""Metric: a user statement returning one number, against numeric thresholds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from checks.kinds.base import Context
from checks.probes import Probe, ScalarQuery
from checks.thresholds import MIN_MAX, as_dict, bounds, worst
from monitor.core import humanize
from monitor.core.config.models import DatasetConfig, MetricParams
from monitor.core.results import Evaluation, Outcome


class Metric:
    def probes(self, params: MetricParams, dataset: DatasetConfig, base_dir: Path) -> list[Probe]:
        return [ScalarQuery(params.sql)]

    def evaluate(self, params: MetricParams, observed: Mapping[Probe, Any], context: Context) -> Evaluation:
        limits = bounds(params, MIN_MAX)
        thresholds = as_dict(limits)
        raw = observed[ScalarQuery(params.sql)]
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
