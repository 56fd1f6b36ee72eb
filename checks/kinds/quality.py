"""Quality: a Pandera schema's rules, judged per rule against failing-row thresholds.

Thresholds hold for every rule on its own, as Great Expectations' `mostly` does: `max_failing_pct: 1%`
fails when any rule fails on more than 1% of the rows it ran over. With no threshold at all, one
failing row fails the check. The value is the failing rows of the worst rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from checks.kinds.base import CheckSetupError, Context, Kind, scope_misfits
from checks.probes import Answers, Probe, Validation
from checks.thresholds import Bound, as_dict, bounds
from monitor.core import humanize
from monitor.core.config.document import Loc
from monitor.core.config.models import CheckParams, DatasetConfig, SourceFamily
from monitor.core.config.types import Percentage
from monitor.core.evidence import QualityReport, RuleResult
from monitor.core.failures import Reason
from monitor.core.results import Evaluation, Outcome

_LIMITS = (
    ("max_failing_rows", True, Outcome.FAIL),
    ("warn_failing_rows", True, Outcome.WARN),
)
_PCT_LIMITS = (
    ("max_failing_pct", True, Outcome.FAIL),
    ("warn_failing_pct", True, Outcome.WARN),
)
MAX_LISTED = 3  # failing rules named in the message
_SEVERITY = attrgetter("severity")
_BROKEN = Bound("shape", 0, upper=True, outcome=Outcome.FAIL)  # wrong type, extra column: fails on any rows


class QualityParams(CheckParams):
    schema_ref: str = Field(alias="schema", description="module:attr of a Pandera schema, or a YAML file")
    sample: int = Field(default=100_000, ge=1)
    scope: Literal["all", "latest_partition"] = "all"
    max_failing_rows: int | None = Field(default=None, ge=0)
    max_failing_pct: Percentage | None = None
    warn_failing_rows: int | None = Field(default=None, ge=0)
    warn_failing_pct: Percentage | None = None


class Quality(Kind[QualityParams]):
    params = QualityParams

    def probes(self, params: QualityParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        from checks.quality.loader import SchemaLoadError, load_schema
        from checks.quality.plan import build_plan

        try:
            schema = load_schema(params.schema_ref, base_dir)
        except SchemaLoadError as error:
            raise CheckSetupError(str(error)) from None
        pii = context.dataset.pii_columns
        plan = build_plan(schema, params.schema_ref, sample=params.sample, scope=params.scope, pii=pii)
        return [Validation(plan)]

    def misfits(
        self, family: SourceFamily, dataset: DatasetConfig, params: QualityParams
    ) -> Iterator[tuple[Loc, str]]:
        return scope_misfits(family, dataset, params.scope)

    def evaluate(self, params: QualityParams, answers: Answers, context: Context) -> Evaluation:
        report = answers.one(Validation)
        rows, pcts = _limits(params)
        thresholds = as_dict(rows + pcts)
        errored = [rule for rule in report.rules if rule.error]
        if errored:
            message = f"rule {_name(errored[0])} could not run: {errored[0].error}"
            return Evaluation(Outcome.ERROR, message, thresholds=thresholds, evidence=report,
                              reason=Reason.STATEMENT)
        judged = [(rule, _worst(rule, rows, pcts)) for rule in report.rules if rule.failing or rule.broken]
        outcome = max((bound.outcome for _, bound in judged if bound), key=_SEVERITY, default=Outcome.PASS)
        worst = max((rule.failing for rule, _ in judged), default=0)
        return Evaluation(
            outcome, _message(report, judged), value=float(worst), unit="rows",
            thresholds=thresholds, evidence=report, facts={"failing_rows": float(worst)},
        )


def _limits(params: QualityParams) -> tuple[list[Bound], list[Bound]]:
    rows, pcts = bounds(params, _LIMITS), bounds(params, _PCT_LIMITS)
    if not rows and not pcts:
        rows = [Bound("max_failing_rows", 0.0, upper=True, outcome=Outcome.FAIL)]
    return rows, pcts


def _worst(rule: RuleResult, rows: list[Bound], pcts: list[Bound]) -> Bound | None:
    if rule.broken:
        return _BROKEN
    violated = [bound for bound in rows if bound.violated_by(rule.failing)]
    if rule.pct is not None:
        violated += [bound for bound in pcts if bound.violated_by(rule.pct)]
    return max(violated, key=lambda bound: bound.outcome.severity, default=None)


def _name(rule: RuleResult) -> str:
    return f"{rule.column} {rule.check}" if rule.column else rule.check


def _message(report: QualityReport, judged: list[tuple[RuleResult, Bound | None]]) -> str:
    where = _where(report)
    if not judged:
        return f"no failing rows{where}"
    judged.sort(key=lambda item: (-(item[1].outcome if item[1] else Outcome.PASS).severity, -item[0].failing))
    listed = "; ".join(_finding(rule) for rule, _ in judged[:MAX_LISTED])
    more = f"; and {len(judged) - MAX_LISTED} more" if len(judged) > MAX_LISTED else ""
    rules = f"{len(judged)} rule{'s' if len(judged) != 1 else ''}"
    within = all(bound is None for _, bound in judged)
    failing = f"{rules} with failing rows, within thresholds" if within else f"{rules} failing"
    return f"{failing}{where}: {listed}{more}"


def _finding(rule: RuleResult) -> str:
    if rule.broken:
        return f"{_name(rule)}: {', '.join(map(str, rule.values))}"
    pct = f" ({humanize.percent(rule.pct)})" if rule.pct is not None else ""
    sampled = " on the sample" if rule.mode == "on_sample" else ""
    return f"{_name(rule)}: {humanize.count(rule.failing, 'rows')}{pct}{sampled}"


def _where(report: QualityReport) -> str:
    parts = []
    if report.rows is not None:
        parts.append(f"over {humanize.count(report.rows, 'rows')}")
    if report.sample_rows is not None:
        parts.append(f"on a sample of {humanize.count(report.sample_rows, 'rows')}")
    return f" ({', '.join(parts)})" if parts else ""
