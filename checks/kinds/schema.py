"""Schema: the columns against what the config expects, and against the last snapshot (drift)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from checks.kinds.base import Context, Kind
from checks.probes import Answers, Column, Columns, Probe, SchemaVariants
from monitor.core.config.models import CheckParams
from monitor.core.config.types import TypeFamily
from monitor.core.evidence import Drift, Retyped, SchemaEvidence
from monitor.core.results import Evaluation, Outcome
from monitor.core.typefamilies import family_of

_DRIFT_OUTCOME = {"warn": Outcome.WARN, "fail": Outcome.FAIL}


class SchemaParams(CheckParams):
    columns: dict[str, TypeFamily] = Field(default_factory=dict)
    allow_extra: bool = Field(default=True, description="false: a column not listed fails the check")
    on_drift: Literal["warn", "fail", "ignore"] = "warn"


class Schema(Kind[SchemaParams]):
    params = SchemaParams

    def probes(self, params: SchemaParams, context: Context, base_dir: Path) -> list[Probe[Any]]:
        """The columns and, for lake datasets, the files whose columns differ from the rest."""
        return [Columns(), SchemaVariants()] if context.dataset.path else [Columns()]

    def evaluate(self, params: SchemaParams, answers: Answers, context: Context) -> Evaluation:
        actual = _families(answers[Columns()])
        watch = params.on_drift != "ignore"
        variants = answers.get(SchemaVariants(), {})
        mixed = {key: _drift(actual, _families(columns)) for key, columns in sorted(variants.items())}
        evidence = replace(
            _against_expected(params, actual),
            drift=_drift(context.snapshot, actual) if watch and context.snapshot is not None else None,
            mixed_files=mixed if watch else {},
            file_schemas={key: _families(columns) for key, columns in variants.items()},
        )
        drifted = bool(evidence.drift) or bool(evidence.mixed_files)
        broken = evidence.missing or evidence.retyped or evidence.unexpected
        outcome = Outcome.FAIL if broken else _DRIFT_OUTCOME[params.on_drift] if drifted else Outcome.PASS
        return Evaluation(
            outcome, _message(evidence), value=float(evidence.problems), unit="problems", evidence=evidence,
            snapshot=actual,
        )


def _families(columns: list[Column]) -> dict[str, str]:
    return {column.name: family_of(column.type_name) for column in columns}


def _folded(columns: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Match names case-insensitively (Snowflake reports ORDER_NUMBER for order_number)."""
    return {name.casefold(): (name, family) for name, family in columns.items()}


def _against_expected(params: SchemaParams, actual: Mapping[str, str]) -> SchemaEvidence:
    have = _folded(actual)
    want = _folded(params.columns)
    return SchemaEvidence(
        columns=actual,
        missing=tuple(name for key, (name, _) in want.items() if key not in have),
        retyped=tuple(
            Retyped(have[key][0], family, have[key][1])
            for key, (_, family) in want.items()
            if key in have and have[key][1] != family
        ),
        unexpected=tuple(
            name for key, (name, _) in have.items() if key not in want and not params.allow_extra
        ),
    )


def _drift(before_columns: Mapping[str, str], actual: Mapping[str, str]) -> Drift:
    before, after = _folded(before_columns), _folded(actual)
    return Drift(
        added=tuple(name for key, (name, _) in after.items() if key not in before),
        removed=tuple(name for key, (name, _) in before.items() if key not in after),
        retyped=tuple(
            Retyped(after[key][0], before[key][1], after[key][1])
            for key in after
            if key in before and before[key][1] != after[key][1]
        ),
    )


def _message(evidence: SchemaEvidence) -> str:
    parts = [f"missing {name}" for name in evidence.missing]
    parts += [f"{item.column} is {item.after}, expected {item.before}" for item in evidence.retyped]
    parts += [f"unexpected {name}" for name in evidence.unexpected]
    if evidence.drift:
        parts.append("drift since last run: " + ", ".join(_changes(evidence.drift)))
    mixed = list(evidence.mixed_files.items())
    if mixed:
        shown = ", ".join(f"{name} ({', '.join(_changes(drift))})" for name, drift in mixed[:3])
        more = f" and {len(mixed) - 3} more" if len(mixed) > 3 else ""
        parts.append(f"{len(mixed)} file(s) with another schema than the rest: {shown}{more}")
    return "; ".join(parts) if parts else f"{len(evidence.columns)} columns as expected"


def _changes(drift: Drift) -> list[str]:
    """`+added`, `-removed`, `column before→after`: a drift in a few characters."""
    changes = [f"+{name}" for name in drift.added]
    changes += [f"-{name}" for name in drift.removed]
    changes += [f"{item.column} {item.before}→{item.after}" for item in drift.retyped]
    return changes
