"""Whether an upstream failure could cause a downstream one: only that is a probable root cause.

An on-call engineer sent to the wrong team stops trusting the tool, so the rules are narrow and explicit: late
or short data upstream explains late or short data downstream; a changed upstream schema explains a
downstream schema change, and errors and rules on the columns it changed. Nothing upstream explains a missing
table, duplicated keys, or a rule on a column upstream did not touch: those are only said to fail "too".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from alerting.model import Context
from alerting.records import Incident
from monitor.core.evidence import QualityReport
from monitor.core.results import Outcome, Result

ARRIVAL = frozenset({"freshness", "volume"})  # kinds that say data came late or short
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
    columns: frozenset[str]
    message: str


def upstream(incident: Incident) -> Upstream:
    """A source that is down or a dataset that cannot be read delivers nothing: late and short downstream."""
    folded = incident.key.startswith((SOURCE, DATASET))
    schema = incident.context.get("schema") or {}
    changed = [*schema.get("removed", []), *(item["column"] for item in schema.get("retyped", []))]
    return Upstream(arrival=folded or incident.kind in ARRIVAL,
                    changed=frozenset(str(name).casefold() for name in changed))


def of_result(result: Result) -> Downstream:
    report = result.evidence if isinstance(result.evidence, QualityReport) else None
    rules = report.rules if report else ()
    return Downstream(
        kind=result.kind, error=result.outcome is Outcome.ERROR, unreadable=False,
        columns=_columns(rule.column for rule in rules if rule.failing or rule.error),
        message=result.message,
    )


def of_incident(incident: Incident) -> Downstream:
    context: Context = incident.context  # type: ignore[assignment]
    rules = context.get("failing_rules", [])
    return Downstream(
        kind=incident.kind, error=incident.outcome == Outcome.ERROR.value,
        unreadable=incident.key.startswith(DATASET),
        columns=_columns(rule["column"] for rule in rules), message=context.get("message", ""),
    )


def explains(cause: Upstream, effect: Downstream) -> bool:
    """Whether the upstream failure could cause the downstream one (any rule of `_RULES` says so)."""
    return not effect.unreadable and any(rule(cause, effect) for rule in _RULES)


def _late_or_short(cause: Upstream, effect: Downstream) -> bool:
    return cause.arrival and effect.kind in ARRIVAL and not effect.error


def _schema(cause: Upstream, effect: Downstream) -> bool:
    return bool(cause.changed) and effect.kind == "schema"


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


def _columns(names: Iterable[str | None]) -> frozenset[str]:
    """Rule columns, case-folded; a multi-column rule (`a,b`) counts each."""
    return frozenset(part.strip().casefold() for name in names if name for part in name.split(","))
