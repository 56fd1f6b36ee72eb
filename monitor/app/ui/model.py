"""What the web UI and `demon report` show, gathered at once from the config, the state store and (in
`demon run`) the daemon's live status.

Plain typed records, built before any template runs: the templates only lay them out (and escape them).
Everything a notification would not show is left out here: sample values of `pii_columns`, secrets.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from alerting.context import pii_columns
from monitor.core.config.models import Config, DatasetConfig, dataset_checks
from monitor.core.results import Outcome, Result
from monitor.state.store import Point

NONE = "none"  # the outcome of a check with no result yet
OUTCOMES = (Outcome.ERROR.value, Outcome.FAIL.value, Outcome.WARN.value, Outcome.PASS.value, NONE)
RANK = {outcome: len(OUTCOMES) - index for index, outcome in enumerate(OUTCOMES)}  # error is the worst
RELATIVE = ("_pct", "_drop", "_growth")  # thresholds on a ratio, not on the value: not drawn beside it
MAX_POINTS = 100  # per chart: older points are thinned, the worst outcome of each stretch kept
MAX_SAMPLE = 10  # failing rows shown per rule
CELL = 200  # characters of a sample cell


@dataclass(frozen=True)
class SourceState:
    """Whether a source answered the daemon's latest job (the live status only)."""

    up: bool
    since: datetime
    reason: str = ""


@dataclass(frozen=True)
class Live:
    """What a running daemon knows beyond the state store."""

    latest: Mapping[str, Result]
    sources: Mapping[str, SourceState]
    pending: int


@dataclass(frozen=True)
class Rule:
    """A failing quality rule with a sample of its rows, pii columns removed."""

    name: str
    column: str | None
    failing: int
    rows: int
    error: str | None
    columns: list[str]
    sample: list[list[str]]


@dataclass(frozen=True)
class Schema:
    """A schema check's latest columns and what changed."""

    columns: list[tuple[str, str]]
    added: list[str]
    removed: list[str]
    retyped: list[tuple[str, str, str]]


@dataclass(frozen=True)
class CheckView:
    id: str
    kind: str
    outcome: str
    message: str
    value: float | None
    unit: str | None
    at: datetime | None
    passed: datetime | None  # when it last passed or warned, if it does not pass now
    thresholds: dict[str, float]
    statement: str | None
    chart: dict[str, Any] | None
    rules: list[Rule] = field(default_factory=list)
    schema: Schema | None = None

    @property
    def anchor(self) -> str:
        return "check-" + self.id


@dataclass(frozen=True)
class DatasetView:
    name: str
    source: str
    owner: str | None
    tags: list[str]
    severity: str | None
    description: str | None
    runbook: str | None
    origin: str
    upstream: list[str]
    downstream: list[str]
    checks: list[CheckView]
    outcome: str

    @property
    def search(self) -> str:
        """What the search box matches, in lower case."""
        return " ".join([self.name, self.description or "", self.owner or "", *self.tags]).casefold()


@dataclass(frozen=True)
class FreshnessRow:
    dataset: str
    check: str
    outcome: str
    age: float
    warn_after: float | None
    fail_after: float | None

    @property
    def ratio(self) -> float:
        """The age as a share of the fail threshold (of the warn one without it): the bar's length."""
        limit = self.fail_after or self.warn_after
        return self.age / limit if limit else 0.0


@dataclass(frozen=True)
class Inputs:
    """What was read for a snapshot, kept so one dataset's view can be built again with its histories."""

    config: Config
    newest: Mapping[str, Result]
    snapshots: Mapping[str, Mapping[str, str]]
    passed: Mapping[str, datetime]
    downstream: Mapping[str, list[str]]
    now: datetime
    days: int
    redact: Callable[[str], str]


@dataclass(frozen=True)
class Snapshot:
    generated_at: datetime
    days: int
    datasets: list[DatasetView]  # worst first
    incidents: list[dict[str, Any]]
    silences: list[dict[str, Any]]
    inputs: Inputs
    live: Live | None = None

    @property
    def by_name(self) -> dict[str, DatasetView]:
        return {dataset.name: dataset for dataset in self.datasets}

    def counts(self) -> dict[str, int]:
        found = Counter(dataset.outcome for dataset in self.datasets)
        return {outcome: found[outcome] for outcome in OUTCOMES}

    def failing(self) -> list[tuple[DatasetView, CheckView]]:
        """Checks not passing, worst and longest-failing first."""
        found = [(dataset, check) for dataset in self.datasets for check in dataset.checks
                 if check.outcome in (Outcome.WARN, Outcome.FAIL, Outcome.ERROR)]
        oldest = datetime.min.replace(tzinfo=self.generated_at.tzinfo)
        found.sort(key=lambda pair: (-RANK[pair[1].outcome], pair[1].passed or oldest, pair[1].id))
        return found

    def open_incidents(self) -> list[dict[str, Any]]:
        return [incident for incident in self.incidents if incident.get("state") != "resolved"]

    def by_severity(self) -> list[tuple[str, int]]:
        found = Counter(str(incident.get("severity")) for incident in self.open_incidents())
        return sorted(found.items(), key=lambda item: (-_SEVERITY.get(item[0], 0), item[0]))

    def freshness(self) -> list[FreshnessRow]:
        """Every freshness check's age against its thresholds, stalest first."""
        rows = [
            FreshnessRow(dataset.name, check.id, check.outcome, check.value,
                         check.thresholds.get("warn_after"), check.thresholds.get("fail_after"))
            for dataset in self.datasets for check in dataset.checks
            if check.kind == "freshness" and check.value is not None
        ]
        return sorted(rows, key=lambda row: (-row.ratio, row.check))

    def by_kind(self) -> list[tuple[str, dict[str, int]]]:
        """Per check kind (the quality dimensions: freshness, volume, schema, validity...), its outcomes."""
        found: dict[str, Counter[str]] = {}
        for check in (check for dataset in self.datasets for check in dataset.checks):
            found.setdefault(check.kind, Counter())[check.outcome] += 1
        return [(kind, {outcome: found[kind][outcome] for outcome in OUTCOMES}) for kind in sorted(found)]

    def choices(self) -> dict[str, list[str]]:
        """The values the overview's filters offer."""
        return {
            "owner": sorted({dataset.owner for dataset in self.datasets if dataset.owner}),
            "tag": sorted({tag for dataset in self.datasets for tag in dataset.tags}),
            "source": sorted({dataset.source for dataset in self.datasets}),
        }


_SEVERITY = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


def gather(
    inputs: Inputs,
    points: Mapping[str, Sequence[Point]],
    incidents: list[dict[str, Any]],
    silences: list[dict[str, Any]],
    live: Live | None = None,
) -> Snapshot:
    """The snapshot of the config's datasets from what was read (see `read.py`); charts for the checks
    `points` has histories of."""
    views = [dataset_view(inputs, name, points) for name in inputs.config.datasets]
    views.sort(key=lambda view: (-RANK[view.outcome], view.name))
    return Snapshot(inputs.now, inputs.days, views, incidents, silences, inputs, live)


def inputs(
    config: Config,
    latest: Mapping[str, Result],
    snapshots: Mapping[str, Mapping[str, str]],
    passed: Mapping[str, datetime],
    now: datetime,
    days: int,
    redact: Callable[[str], str],
    live: Live | None = None,
) -> Inputs:
    newest = dict(latest)
    if live is not None:  # the daemon's own results are as new as the store's, or newer
        newest.update({check: result for check, result in live.latest.items()
                       if check not in newest or newest[check].started_at <= result.started_at})
    downstream: dict[str, list[str]] = {}
    for name, dataset in config.datasets.items():
        for parent in dataset.upstream:
            downstream.setdefault(parent, []).append(name)
    return Inputs(config, newest, snapshots, passed, downstream, now, days, redact)


def dataset_view(inputs: Inputs, name: str, points: Mapping[str, Sequence[Point]]) -> DatasetView:
    """One dataset with its checks (charted where `points` holds their histories)."""
    dataset = inputs.config.datasets[name]
    start = inputs.now - timedelta(days=inputs.days)
    checks = [_check(spec.id, spec.kind, inputs, points.get(spec.id, ()), dataset, start)
              for spec in dataset_checks(name, dataset)]
    return DatasetView(
        name=name, source=dataset.source, owner=dataset.owner, tags=list(dataset.tags),
        severity=None if dataset.severity is None else str(dataset.severity.value),
        description=dataset.description, runbook=dataset.runbook, origin=inputs.config.origin(name),
        upstream=list(dataset.upstream), downstream=sorted(inputs.downstream.get(name, [])), checks=checks,
        outcome=max((check.outcome for check in checks), key=RANK.__getitem__, default=NONE),
    )


def _check(
    check_id: str, kind: str, inputs: Inputs, points: Sequence[Point], dataset: DatasetConfig,
    start: datetime,
) -> CheckView:
    result, redact, columns = inputs.newest.get(check_id), inputs.redact, inputs.snapshots.get(check_id)
    pii = pii_columns(dataset)
    details = result.all_details if result is not None else {}
    statement = redact(result.statements[0]) if result is not None and result.statements else None
    return CheckView(
        id=check_id,
        kind=kind,
        outcome=result.outcome.value if result is not None else NONE,
        message=redact(result.message) if result is not None else "no result yet",
        value=_finite(result.value) if result is not None else None,
        unit=result.unit if result is not None else None,
        at=result.started_at if result is not None else None,
        passed=None if result is None or result.outcome is Outcome.PASS else inputs.passed.get(check_id),
        thresholds={key: value for key, value in (result.thresholds if result else {}).items()
                    if _finite(value) is not None},
        statement=statement,
        chart=chart(points, start, result.unit if result is not None else None) if points else None,
        rules=_rules(details, pii, redact) if kind == "quality" else [],
        schema=_schema(details, columns) if kind == "schema" else None,
    )


def chart(points: Sequence[Point], start: datetime, unit: str | None) -> dict[str, Any]:
    """A check's history as the chart script draws it, compact (a report holds thousands): the first time
    (epoch seconds) and the steps after it, values, outcomes as one letter each, and per threshold its value
    at each point (a learned band moves) or once (a fixed threshold stays put)."""
    kept = _thin([point for point in points if point.at >= start], MAX_POINTS)
    names = sorted({name for point in kept for name in point.thresholds if not name.endswith(RELATIVE)})
    lines: dict[str, Any] = {}
    for name in names:
        values = [_finite(point.thresholds.get(name)) for point in kept]
        lines[name] = values[0] if len(set(values)) == 1 else values
    times = [int(point.at.timestamp()) for point in kept]
    return {
        "t0": times[0] if times else 0,
        "dt": [after - before for before, after in pairwise(times)],
        "v": [_round(point.value) for point in kept],
        "o": "".join(point.outcome.value[0] for point in kept),  # p, w, f, e
        "th": lines,
        "unit": unit or "",
    }


def _thin(points: list[Point], limit: int) -> list[Point]:
    """At most `limit` points, evenly spread; of each stretch dropped, its worst point stays."""
    if len(points) <= limit:
        return points
    step = len(points) / limit
    return [max(points[int(index * step):int((index + 1) * step)] or [points[-1]],
                key=lambda point: (point.outcome.severity, point.at))
            for index in range(limit)]


def _round(value: float | None) -> float | None:
    found = _finite(value)
    return None if found is None else float(f"{found:.5g}")


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _rules(details: Mapping[str, Any], pii: frozenset[str], redact: Callable[[str], str]) -> list[Rule]:
    """Rules with failing rows or an error, worst first; sample cells of pii columns never leave here."""
    found = []
    for rule in details.get("rules") or []:
        if not isinstance(rule, dict) or not (rule.get("failing_rows") or rule.get("error")):
            continue
        column = rule.get("column")
        hidden = any(part.strip().casefold() in pii for part in str(column or "").split(","))
        rows = rule.get("sample") or [{str(column or "value"): value} for value in rule.get("values") or []]
        kept = [{str(key): value for key, value in row.items() if str(key).casefold() not in pii}
                for row in rows[:MAX_SAMPLE] if isinstance(row, dict) and not hidden]
        columns = list(dict.fromkeys(key for row in kept for key in row))
        found.append(Rule(
            name=str(rule.get("check", "")), column=None if column is None else str(column),
            failing=int(rule.get("failing_rows") or 0), rows=int(rule.get("rows") or 0),
            error=redact(str(rule["error"])) if rule.get("error") else None, columns=columns,
            sample=[[_cell(row.get(key)) for key in columns] for row in kept if row],
        ))
    return sorted(found, key=lambda rule: (rule.error is None, -rule.failing))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL else text[:CELL - 1] + "…"


def _schema(details: Mapping[str, Any], snapshot: Mapping[str, str] | None) -> Schema:
    found = details.get("columns")
    columns: Mapping[str, Any] = found if isinstance(found, dict) else snapshot or {}
    changed = details.get("drift")
    drift: Mapping[str, Any] = changed if isinstance(changed, dict) else {}
    retyped = [(str(item.get("column")), str(item.get("expected", item.get("before"))),
                str(item.get("actual", item.get("after"))))
               for item in [*(details.get("retyped") or []), *(drift.get("retyped") or [])]
               if isinstance(item, dict)]
    return Schema(
        columns=[(str(name), str(family)) for name, family in columns.items()],
        added=[str(name) for name in [*(details.get("unexpected") or []), *(drift.get("added") or [])]],
        removed=[str(name) for name in [*(details.get("missing") or []), *(drift.get("removed") or [])]],
        retyped=retyped,
    )
