"""Volume: how much data there is, against absolute bounds and against the last successful run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from checks.kinds.base import Context, Kind, scope_misfits
from checks.probes import Answers, ByteSize, FileCount, Probe, RowCount
from checks.thresholds import MIN_MAX, Bound, as_dict, bounds, worst
from monitor.core import humanize
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import NonNegative, Percentage
from monitor.core.evidence import VolumeEvidence
from monitor.core.results import Evaluation, Outcome

_PROBES: dict[str, type[RowCount | FileCount | ByteSize]] = {
    "rows": RowCount,
    "files": FileCount,
    "bytes": ByteSize,
}


class VolumeParams(CheckParams):
    metric: Literal["rows", "files", "bytes"] = "rows"
    scope: Literal["all", "latest_partition"] = "all"
    min: NonNegative | None = None
    max: NonNegative | None = None
    warn_min: NonNegative | None = None
    warn_max: NonNegative | None = None
    max_drop: Percentage | None = Field(default=None, description="fail when the value fell more than this")
    max_growth: Percentage | None = Field(default=None, description="fail when the value grew more than this")


class Volume(Kind[VolumeParams]):
    params = VolumeParams

    def probes(self, params: VolumeParams, dataset: DatasetConfig, base_dir: Path) -> list[Probe[Any]]:
        """The measure, and for lake datasets the file count: a prefix without files is no dataset."""
        measure = _PROBES[params.metric](params.scope)
        return [measure] if dataset.table else list(dict.fromkeys([measure, FileCount(params.scope)]))

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: VolumeParams
    ) -> Iterator[tuple[Loc, str]]:
        return scope_misfits(family, dataset, params.scope, params.metric)

    def evaluate(self, params: VolumeParams, answers: Answers, context: Context) -> Evaluation:
        value = float(answers[_PROBES[params.metric](params.scope)])
        unit = params.metric
        limits = bounds(params, MIN_MAX)
        change_limits = _change_bounds(params)
        thresholds = as_dict(limits + change_limits)
        # The dataset's size, for its metrics; a partition's size is not the dataset's.
        facts: dict[str, float] = {unit: value} if params.scope == "all" else {}
        if context.dataset.path and answers[FileCount(params.scope)] == 0:
            where = "in the newest partition" if params.scope == "latest_partition" else "under the prefix"
            return Evaluation(
                Outcome.FAIL, f"no data files {where}", value=value, unit=unit, thresholds=thresholds,
                facts=facts,
            )
        message = humanize.count(value, unit)
        bound = worst(value, limits)
        if bound is not None:
            message += (
                f", {'below' if not bound.upper else 'above'} {bound.name} {humanize.number(bound.limit)}"
            )
        change_bound, change_note, evidence = _judge_change(value, context.baseline, change_limits)
        message += change_note
        outcomes = [b.outcome for b in (bound, change_bound) if b is not None]
        outcome = Outcome.FAIL if Outcome.FAIL in outcomes else (outcomes[0] if outcomes else Outcome.PASS)
        return Evaluation(
            outcome, message, value=value, unit=unit, thresholds=thresholds, evidence=evidence, facts=facts
        )


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
