"""Whether an upstream failure could cause a downstream one: only that is a probable root cause.

An on-call engineer sent to the wrong team stops trusting the tool, so the rules are narrow and explicit: late
or short data upstream explains late or short data downstream; a changed upstream schema explains a
downstream schema change, and errors and rules on the columns it changed. Nothing upstream explains a missing
table, duplicated keys, or a rule on a column upstream did not touch: those are only said to fail "too".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alerting.context import schema_change
from alerting.model import Context
from alerting.records import Incident
from monitor.core.evidence import QualityReport, SchemaEvidence
from monitor.core.results import Outcome, Result

ARRIVAL = frozenset({"freshness", "volume"})  # kinds that say data came late or short
NOTHING_ARRIVES = frozenset({"missing", "timeout", "unreachable"})  # a folded dataset's reasons that starve
UPPER = ("max", "warn_max", "expected_max", "expected_warn_max")
SOURCE, DATASET = "source:", "dataset:"  # the keys of folded incidents (alerting/engine.py)


@dataclass(frozen=True)
class Upstream:
    """What an open upstream incident says went wrong: data that did not arrive, or columns that changed."""

    arrival: bool
    changed: frozenset[str]  # column names, case-folded


@dataclass(frozen=True)
class Downstream:
    """What a downstream failure is: its kind, whether it is an error, the columns its failing rules are on,
    and its message (an error names the column it tripped on)."""

    kind: str | None
    error: bool
    unreadable: bool  # a dataset that cannot be read at all (missing table): nothing upstream explains it
    columns: frozenset[str]  # of its failing rules
    message: str
    grew: bool = False  # a value above an upper bound: too much data is not late data
    changed: frozenset[str] = frozenset()  # a schema check's columns added, removed or retyped


def upstream(incident: Incident) -> Upstream:
    """Nothing arrives from a source that is down or a dataset that is missing or times out; a failing
    freshness or a volume that fell says data came late or short. An error says neither."""
    context = incident.context
    folded = incident.key.startswith(SOURCE) or (
        incident.key.startswith(DATASET) and context.get("reason") in NOTHING_ARRIVES)
    failed = incident.outcome == Outcome.FAIL.value and incident.kind in ARRIVAL
    grew = _grew(context.get("value"), context.get("thresholds") or {}, context.get("message"))
    short = failed and not grew
    return Upstream(arrival=folded or short, changed=_schema_columns(context.get("schema"), added=False))


def of_result(result: Result) -> Downstream:
    evidence = result.evidence
    rules = evidence.rules if isinstance(evidence, QualityReport) else ()
    found = schema_change(evidence, frozenset()) if isinstance(evidence, SchemaEvidence) else None
    schema = found.get("schema") if found else None
    return Downstream(
        kind=result.kind, error=result.outcome is Outcome.ERROR, unreadable=False,
        columns=_columns(rule.column for rule in rules if rule.failing or rule.error),
        message=result.message, grew=_grew(result.value, result.thresholds, result.message),
        changed=_schema_columns(schema, added=True),
    )


def of_incident(incident: Incident) -> Downstream:
    context: Context = incident.context  # type: ignore[assignment]
    rules = context.get("failing_rules", [])
    return Downstream(
        kind=incident.kind, error=incident.outcome == Outcome.ERROR.value,
        unreadable=incident.key.startswith(DATASET),
        columns=_columns(rule["column"] for rule in rules), message=context.get("message", ""),
        grew=_grew(context.get("value"), context.get("thresholds") or {}, context.get("message")),
        changed=_schema_columns(context.get("schema"), added=True),
    )


def explains(cause: Upstream, effect: Downstream) -> bool:
    """Whether the upstream failure could cause the downstream one (any rule of `_RULES` says so)."""
    return not effect.unreadable and any(rule(cause, effect) for rule in _RULES)


def _late_or_short(cause: Upstream, effect: Downstream) -> bool:
    return cause.arrival and effect.kind in ARRIVAL and not effect.error and not effect.grew


def _schema(cause: Upstream, effect: Downstream) -> bool:
    """A downstream schema change on a column the upstream changed."""
    return effect.kind == "schema" and bool(cause.changed & effect.changed)


def _changed_columns(cause: Upstream, effect: Downstream) -> bool:
    """Rules on changed columns only (one rule on an untouched column is not explained), or an error whose
    message names a changed column."""
    if not cause.changed:
        return False
    if effect.columns:
        return effect.columns <= cause.changed
    words = set(re.findall(r"[\w$]+", effect.message.casefold()))
    return effect.error and bool(words & cause.changed)


_RULES: tuple[Callable[[Upstream, Downstream], bool], ...] = (_late_or_short, _schema, _changed_columns)


def _grew(value: object, thresholds: Mapping[str, float], message: object) -> bool:
    """Above an upper bound, or grown since the last good run (`max_growth` says so in its message)."""
    above = isinstance(value, int | float) and any(
        value > thresholds[name] for name in UPPER if name in thresholds)
    return above or " grew " in f" {message} "


def _schema_columns(change: Mapping[str, Any] | None, added: bool) -> frozenset[str]:
    """A schema change's columns, case-folded: removed and retyped (what breaks what reads them), and added
    ones too for the change a downstream schema check saw."""
    if not change:
        return frozenset()
    names = [*change.get("removed", []), *(item["column"] for item in change.get("retyped", []))]
    names += change.get("added", []) if added else []
    return frozenset(str(name).casefold() for name in names)


def _columns(names: Iterable[str | None]) -> frozenset[str]:
    """Rule columns, case-folded; a multi-column rule (`a,b`) counts each."""
    return frozenset(part.strip().casefold() for name in names if name for part in name.split(","))
