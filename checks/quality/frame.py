"""Runs a Pandera schema on a sample frame and reads its findings from `SchemaErrors`, not its text.

Counts come from each error's `check_output` (every row the check judged) where Pandera keeps one, so
capping `n_failure_cases` bounds memory without making counts wrong; otherwise from the failure cases'
row index. Validation depth is forced to SCHEMA_AND_DATA, as some backends default to schema only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from checks.quality.plan import check_label
from checks.quality.rules import MAX_SAMPLES
from monitor.core.evidence import Mode, RuleResult
from monitor.core.humanize import first_line

MAX_TEXT = 200  # characters of a value shown in a result
MAX_FAILURE_CASES = 1000  # per check: Pandera keeps no more failure cases than this


def plain(value: Any) -> Any:
    """A value as JSON shows it, bounded: text cut to MAX_TEXT characters, NaN and NA as None."""
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and not isinstance(value, str | bytes):
        value = item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__name__ in {"NAType", "NaTType"}:
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        value = value.hex()
    structured = isinstance(value, dict | list)
    text = json.dumps(value, default=str, ensure_ascii=False) if structured else str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


@dataclass(frozen=True)
class Finding:
    """One check's failures as Pandera reported them."""

    column: str | None
    check: str
    rows: frozenset[Any]  # index labels of failing rows (may be capped)
    count: int
    values: tuple[Any, ...]
    error: str | None = None
    reason: str = ""  # Pandera's reason code


_COERCION = frozenset({"dtype_coercion_error", "wrong_dtype"})
# Duplicates whose failure cases name no row are nulls only, which no failure case names: none count.
_DUPLICATES = frozenset({"series_contains_duplicates", "duplicates"})


def validate(
    schema: Any, frame: Any, pii: Collection[str], mode: Mode, expected: Iterable[tuple[str | None, str]] = ()
) -> list[RuleResult]:
    """Every check of `schema` on `frame` as a RuleResult over len(frame) rows: the failing ones, and
    the `expected` (column, check) pairs that did not fail, with 0 failing rows; in `expected` order.
    Columns in `pii` (lower-cased) are never shown."""
    import pandera.pandas as pa
    from pandera.config import ValidationDepth, config_context

    capped = _capped(schema)
    try:
        with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
            capped.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        findings = [_finding(error, len(frame)) for error in errors.schema_errors]
    except pa.errors.SchemaError as error:  # raised eagerly by some schema-level errors
        findings = [_finding(error, len(frame))]
    else:
        findings = []
    # A column that cannot be coerced fails on that; its checks then compare values of the wrong type
    # and raise, which says nothing more: they are left out, as on SQL for a column of the wrong type.
    uncoerced = {finding.column for finding in findings if finding.reason in _COERCION}
    findings = [f for f in findings if not (f.error and f.column in uncoerced)]
    shown = [name for name in frame.columns if str(name).lower() not in pii]
    failed = [_result(finding, frame, shown, pii, mode) for finding in findings]
    found = {(result.column, result.check): result for result in failed}
    ordered = [
        found.pop(key, RuleResult(key[0], key[1], mode, len(frame), 0))
        for key in dict.fromkeys(expected)
        if key in found or key[0] not in uncoerced
    ]
    return ordered + list(found.values())


def _capped(schema: Any) -> Any:
    """A copy whose checks keep at most MAX_FAILURE_CASES failure cases each."""
    copy = schema.update_columns({})
    for check in [*copy.checks, *(c for column in copy.columns.values() for c in column.checks)]:
        if check.n_failure_cases is None or check.n_failure_cases > MAX_FAILURE_CASES:
            check.n_failure_cases = MAX_FAILURE_CASES
    return copy


def _finding(error: Any, total: int) -> Finding:
    check = error.check
    label = check if isinstance(check, str) else check_label(check)
    column = getattr(error, "column_name", None)
    cases = error.failure_cases
    reason = str(getattr(error.reason_code, "value", ""))
    if reason == "check_error" or not hasattr(cases, "columns"):
        cause = first_line(str(cases))
        return Finding(column, label, frozenset(), 0, (), error=f"{label} raised {cause}", reason=reason)
    index = [value for value in cases["index"] if value is not None] if "index" in cases.columns else []
    count = _count(error.check_output, total, index, whole=reason not in _DUPLICATES)
    values = tuple(cases["failure_case"]) if "failure_case" in cases.columns else ()
    return Finding(column, label, frozenset(index), count, values, reason=reason)


def _count(output: Any, total: int, index: list[Any], *, whole: bool) -> int:
    """Failing rows: the False entries of a check's output, else the distinct failing row labels; when a
    failure names no row, every row (`whole`: the column failed, say its dtype) or none (duplicates)."""
    if output is None:
        return len(set(index)) if index else (total if whole else 0)
    if hasattr(output, "all") and getattr(output, "ndim", 0) == 2:
        output = output.all(axis=1)
    if hasattr(output, "sum") and getattr(output, "ndim", 0) == 1:
        return int((~output.fillna(False).astype(bool)).sum())
    return 0 if bool(output) else total


def _result(finding: Finding, frame: Any, shown: list[str], pii: Collection[str], mode: Mode) -> RuleResult:
    labels = [label for label in sorted(finding.rows, key=str) if label in frame.index][:MAX_SAMPLES]
    sample = tuple(
        {name: plain(value) for name, value in row.items()}
        for row in frame.loc[labels, shown].to_dict("records")
    ) if labels and shown else ()
    values = () if finding.column is None or finding.column.lower() in pii else tuple(
        plain(value) for value in finding.values[:MAX_SAMPLES]
    )
    return RuleResult(
        column=finding.column, check=finding.check, mode=mode, rows=len(frame), failing=finding.count,
        values=values, sample=sample, error=finding.error,
    )


def rows_to_frame(columns: list[str], rows: list[tuple[Any, ...]]) -> Any:
    """A pandas frame of fetched rows."""
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=columns)

