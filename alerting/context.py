"""The root-cause context of a notification, built from results and the config alone.

Everything here is pure: the engine reads the history, the latest results and the open incidents from the
state store and hands them over, so the context can be tested (and reasoned about) without a database.
The context goes into the outbox as JSON and out to Slack, SNS and webhooks, so it is bounded here and
never holds a value of a dataset's `pii_columns`, whatever a result's details carry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import singledispatch
from typing import Any
from urllib.parse import quote

from alerting.headline import headline, source_headline
from alerting.model import Context, FailingRule, Learned, Point, Retyped, SchemaChange, Upstream
from alerting.render.text import clip
from monitor.core.config.models import Config, DatasetConfig
from monitor.core.evidence import Drift, QualityReport, RuleResult, SchemaEvidence
from monitor.core.results import Outcome, Result

DASHBOARD_UID = "demon-dataset"  # dashboards/grafana/demon-dataset.json, whose `dataset` variable picks one
MAX_TREND = 10  # earlier results in the trend
MAX_RULES = 20  # failing rules of a quality check
MAX_SAMPLE = 10  # sample rows per failing rule
MAX_STATEMENTS = 5
MAX_COLUMNS = 50  # column names per list of a schema change
CELL = 500  # characters of one data value or name
TEXT = 2000  # characters of a message, description, runbook or statement
_FAILING = frozenset({Outcome.FAIL, Outcome.ERROR})


def check_context(
    config: Config,
    result: Result,
    history: Sequence[Result],
    upstream: Sequence[Upstream],
    downstream: Sequence[str] = (),
) -> Context:
    """The context of a check incident: what was observed, its trend, the kind's evidence, its dataset."""
    context = Context(
        check=result.check,
        dataset=result.dataset,
        kind=result.kind,
        source=result.source,
        outcome=Outcome(result.outcome).value,
        message=clip(result.message, TEXT),
        value=_number(result.value),
        unit=result.unit,
        thresholds={name: bound for name, bound in result.thresholds.items() if math.isfinite(bound)},
        trend=trend(result, history),
        last_passed_at=iso(result.last_success_at) if result.last_success_at else None,
        upstream=[Upstream(**item) for item in upstream],
        downstream=sorted(set(downstream)),
        statements=[clip(text, TEXT) for text in result.statements[:MAX_STATEMENTS]],
    )
    if result.query is not None:
        context["query"] = clip(result.query, TEXT)
    dataset = config.datasets.get(result.dataset)
    context.update(evidence_context(result.evidence, pii_columns(dataset)))
    if result.learned is not None and result.learned.band is not None:
        learned = result.learned
        context["learned"] = Learned(slot=clip(learned.slot, CELL), trained=learned.trained_label)
    if dataset is not None:
        context.update(about(dataset))
    context["dashboard_url"] = dashboard_url(config.alerting.grafana_url, result.dataset)
    context["headline"] = headline(context)
    return context


def source_context(
    config: Config, source: str, results: Sequence[Result], reason: str, dataset: str | None = None
) -> Context:
    """The context of a folded incident (a source that is down, or a dataset none of whose checks can run):
    why, and which checks could not run."""
    failing = [result for result in results if Outcome(result.outcome) in _FAILING]
    datasets = [config.datasets[name] for name in dict.fromkeys(r.dataset for r in failing)
                if name in config.datasets]
    owners = list(dict.fromkeys(dataset.owner for dataset in datasets if dataset.owner))
    context = Context(
        source=source,
        headline=source_headline(source),
        outcome=Outcome.ERROR.value,
        message=clip(reason, TEXT),
        members=sorted({result.check for result in failing}),
        owner=clip(", ".join(owners), TEXT) if owners else None,
        tags=sorted({tag for dataset in datasets for tag in dataset.tags}),
    )
    if dataset is not None and dataset in config.datasets:
        context.update(about(config.datasets[dataset]))
        context["dataset"] = dataset
        context["dashboard_url"] = dashboard_url(config.alerting.grafana_url, dataset)
    return context


def upstream_state(
    config: Config, dataset: str, latest: Mapping[str, Result], open_incidents: Mapping[str, int]
) -> list[Upstream]:
    """Each declared upstream of `dataset`: its worst latest outcome, failing checks and open incident."""
    declared = config.datasets.get(dataset)
    if declared is None:
        return []
    states = []
    for name in dict.fromkeys(declared.upstream):
        found = [latest[spec.id] for spec in config.checks if spec.dataset == name and spec.id in latest]
        outcomes = [Outcome(result.outcome) for result in found]
        states.append(Upstream(
            dataset=name,
            outcome=max(outcomes, key=lambda outcome: outcome.severity).value if outcomes else "unknown",
            failing=sorted(result.check for result in found if Outcome(result.outcome) in _FAILING),
            incident=open_incidents.get(name),
        ))
    return states


def dashboard_url(grafana_url: str | None, dataset: str) -> str | None:
    """The dataset's Grafana dashboard, when the config says where Grafana is."""
    if not grafana_url:
        return None
    return f"{grafana_url.rstrip('/')}/d/{DASHBOARD_UID}/?var-dataset={quote(dataset, safe='')}"


def trend(result: Result, history: Sequence[Result]) -> list[Point]:
    """The latest results, newest first, the current one included even when the history lacks it yet."""
    runs = {_utc(item.started_at): item for item in (*history, result)}
    newest = sorted(runs.items(), key=lambda item: item[0], reverse=True)[:MAX_TREND]
    return [Point(at=iso(at), outcome=Outcome(r.outcome).value, value=_number(r.value)) for at, r in newest]


def about(dataset: DatasetConfig) -> Context:
    """What the config says about the dataset: who owns it, what it is, what to do."""
    return Context(
        owner=_optional(dataset.owner),
        tags=[clip(tag, CELL) for tag in dataset.tags],
        description=_optional(dataset.description),
        runbook=_optional(dataset.runbook),
    )


@singledispatch
def evidence_context(evidence: object, pii: frozenset[str]) -> Context:
    """What a kind's evidence adds to a notification (by its type; most add nothing)."""
    return Context()


@evidence_context.register
def schema_change(evidence: SchemaEvidence, pii: frozenset[str]) -> Context:
    """Columns added, removed and retyped: against the config (problems) and the last snapshot (drift)."""
    drift = evidence.drift or Drift()
    retyped = [Retyped(column=clip(item.column, CELL), before=item.before, after=item.after)
               for item in (*evidence.retyped, *drift.retyped)]
    change = SchemaChange(
        added=_names([*evidence.unexpected, *drift.added]),
        removed=_names([*evidence.missing, *drift.removed]),
        retyped=_unique(retyped)[:MAX_COLUMNS],
    )
    return Context(schema=change) if any(change.values()) else Context()


@evidence_context.register
def failing_rules(evidence: QualityReport, pii: frozenset[str]) -> Context:
    """The quality rules with failing rows (or that could not run), worst first, each with a sample
    without pii."""
    rules = [rule for rule in evidence.rules if rule.failing or rule.values or rule.error]
    if not rules:
        return Context()
    rules.sort(key=lambda rule: (not rule.error, -rule.failing))
    shown = [_failing_rule(rule, pii) for rule in rules[:MAX_RULES]]
    if len(rules) > MAX_RULES:
        return Context(failing_rules=shown, truncated=[f"{len(rules) - MAX_RULES} more failing rules"])
    return Context(failing_rules=shown)


def _failing_rule(rule: RuleResult, pii: frozenset[str]) -> FailingRule:
    name = rule.check + (f" (could not run: {rule.error})" if rule.error else "")
    columns = rule.column.split(",") if rule.column else []
    hidden = any(part.strip().casefold() in pii for part in columns)
    shown = FailingRule(
        rule=clip(name, CELL),
        column=None if rule.column is None else clip(rule.column, CELL),
        failing_rows=rule.failing,
        failing_pct=_number(rule.pct),
        sample=[] if hidden else _sample(rule, pii),
    )
    if rule.query:
        shown["query"] = clip(rule.query, TEXT)
    return shown


def _sample(rule: RuleResult, pii: frozenset[str]) -> list[dict[str, Any]]:
    """Failing rows without pii columns; a rule that keeps no rows (a broken shape) shows its values."""
    column = rule.column or "value"
    rows = rule.sample or tuple({column: value} for value in rule.values)
    kept = [
        {clip(str(key), CELL): _cell(value) for key, value in row.items() if str(key).casefold() not in pii}
        for row in rows[:MAX_SAMPLE]
    ]
    return [row for row in kept if row]


def pii_columns(dataset: DatasetConfig | None) -> frozenset[str]:
    return frozenset(name.casefold() for name in dataset.pii_columns) if dataset else frozenset()


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second: how every time of a notification reads."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC, the only zone demon stores times in."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _names(names: Iterable[Any]) -> list[str]:
    unique = list(dict.fromkeys(clip(str(name), CELL) for name in names))
    if len(unique) <= MAX_COLUMNS:
        return unique
    return [*unique[:MAX_COLUMNS], f"... {len(unique) - MAX_COLUMNS} more"]


def _unique(retyped: list[Retyped]) -> list[Retyped]:
    """One entry per column (case-insensitive): the config's expectation wins over the drift."""
    seen: dict[str, Retyped] = {}
    for item in retyped:
        seen.setdefault(item["column"].casefold(), item)
    return list(seen.values())


def _optional(text: str | None) -> str | None:
    return clip(text, TEXT) if text else None


def _number(value: Any) -> float | None:
    """A finite float or None: NaN is not JSON, and PostgreSQL refuses it in the outbox."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(value: Any) -> Any:
    """A JSON-safe, bounded sample value: strings clipped, non-finite numbers and other objects as text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return clip(value if isinstance(value, str) else str(value), CELL)
