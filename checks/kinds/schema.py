"""Schema: the columns against what the config expects, and against the last snapshot (drift)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from checks.kinds.base import Context, Kind
from checks.probes import Answers, Column, Columns, Probe, SchemaVariants
from monitor.core.config.models import CheckParams, DatasetConfig
from monitor.core.config.types import TypeFamily
from monitor.core.results import Evaluation, Outcome
from monitor.core.typefamilies import family_of

_DRIFT_OUTCOME = {"warn": Outcome.WARN, "fail": Outcome.FAIL}


class SchemaParams(CheckParams):
    columns: dict[str, TypeFamily] = Field(default_factory=dict)
    allow_extra: bool = Field(default=True, description="false: a column not listed fails the check")
    on_drift: Literal["warn", "fail", "ignore"] = "warn"


class Schema(Kind[SchemaParams]):
    params = SchemaParams

    def probes(self, params: SchemaParams, dataset: DatasetConfig, base_dir: Path) -> list[Probe[Any]]:
        """The columns and, for lake datasets, the files whose columns differ from the rest."""
        return [Columns(), SchemaVariants()] if dataset.path else [Columns()]

    def evaluate(self, params: SchemaParams, answers: Answers, context: Context) -> Evaluation:
        columns = answers[Columns()]
        actual = _families(columns)
        problems = _against_expected(params, actual)
        drift = _drift(context.snapshot, actual) if params.on_drift != "ignore" else {}
        variants = answers.get(SchemaVariants(), {})
        if variants and params.on_drift != "ignore":
            drift["mixed_files"] = [
                {"file": key, **_drift(actual, _families(columns))}
                for key, columns in sorted(variants.items())
            ]
        details: dict[str, Any] = {**problems, "drift": drift, "columns": actual}
        if variants:
            details["file_schemas"] = {key: _families(columns) for key, columns in variants.items()}
        count = sum(len(items) for items in problems.values()) + sum(len(items) for items in drift.values())
        if any(problems.values()):
            outcome = Outcome.FAIL
        elif any(drift.values()):
            outcome = _DRIFT_OUTCOME[params.on_drift]
        else:
            outcome = Outcome.PASS
        return Evaluation(
            outcome,
            _message(problems, drift, len(actual)),
            value=float(count),
            unit="problems",
            details=details,
            snapshot=actual,
        )


def _families(columns: list[Column]) -> dict[str, str]:
    return {column.name: family_of(column.type_name) for column in columns}


def _folded(columns: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Match names case-insensitively (Snowflake reports ORDER_NUMBER for order_number)."""
    return {name.casefold(): (name, family) for name, family in columns.items()}


def _against_expected(params: SchemaParams, actual: Mapping[str, str]) -> dict[str, list[Any]]:
    have = _folded(actual)
    want = _folded(params.columns)
    missing = [name for key, (name, _) in want.items() if key not in have]
    retyped = [
        {"column": have[key][0], "expected": family, "actual": have[key][1]}
        for key, (_, family) in want.items()
        if key in have and have[key][1] != family
    ]
    unexpected = [] if params.allow_extra else [name for key, (name, _) in have.items() if key not in want]
    return {"missing": missing, "retyped": retyped, "unexpected": unexpected}


def _drift(snapshot: Mapping[str, str] | None, actual: Mapping[str, str]) -> dict[str, list[Any]]:
    if snapshot is None:
        return {}
    before, after = _folded(snapshot), _folded(actual)
    return {
        "added": [name for key, (name, _) in after.items() if key not in before],
        "removed": [name for key, (name, _) in before.items() if key not in after],
        "retyped": [
            {"column": after[key][0], "before": before[key][1], "after": after[key][1]}
            for key in after
            if key in before and before[key][1] != after[key][1]
        ],
    }


def _message(problems: Mapping[str, list[Any]], drift: Mapping[str, list[Any]], width: int) -> str:
    parts = [f"missing {name}" for name in problems["missing"]]
    parts += [
        f"{item['column']} is {item['actual']}, expected {item['expected']}" for item in problems["retyped"]
    ]
    parts += [f"unexpected {name}" for name in problems["unexpected"]]
    changes = _changes(drift)
    if changes:
        parts.append("drift since last run: " + ", ".join(changes))
    mixed = drift.get("mixed_files", [])
    if mixed:
        shown = ", ".join(f"{item['file']} ({', '.join(_changes(item))})" for item in mixed[:3])
        more = f" and {len(mixed) - 3} more" if len(mixed) > 3 else ""
        parts.append(f"{len(mixed)} file(s) with another schema than the rest: {shown}{more}")
    return "; ".join(parts) if parts else f"{width} columns as expected"


def _changes(drift: Mapping[str, Any]) -> list[str]:
    """`+added`, `-removed`, `column before→after`: a drift in a few characters."""
    changes = [f"+{name}" for name in drift.get("added", [])]
    changes += [f"-{name}" for name in drift.get("removed", [])]
    changes += [f"{item['column']} {item['before']}→{item['after']}" for item in drift.get("retyped", [])]
    return changes
