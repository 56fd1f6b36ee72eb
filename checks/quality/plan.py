"""Turns a Pandera schema into a `QualityPlan`: the rules SQL counts, and a residual schema for the rest.

A rule is compiled when SQL can express exactly what Pandera checks: the column's dtype (compared as
a type family), `nullable`, `unique`, and the built-in checks in `sql.PREDICATES`. Anything else (a
custom check, a dataframe check, a regex column) stays in the residual schema, which Pandera runs on
a bounded sample of rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from checks.quality.rules import QualityPlan, Rule
from checks.quality.sql import PREDICATES

# Pandera dtype names (lower-cased) -> the type family a warehouse column must have. Others (object,
# category, timedelta) have no family to compare with and are not checked.
_DTYPE_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), family)
    for pattern, family in (
        (r"u?int(8|16|32|64)?(\[pyarrow\])?", "integer"),
        (r"float(16|32|64)?(\[pyarrow\])?|double(\[pyarrow\])?", "float"),
        (r"decimal.*", "decimal"),
        (r"str|string(\[(python|pyarrow)\])?|large_string\[pyarrow\]", "string"),
        (r"bool(ean)?(\[pyarrow\])?", "boolean"),
        (r"datetime64.*|timestamp.*", "timestamp"),
        (r"date(32\[day\]\[pyarrow\])?", "date"),
    )
)
# The families each expected family accepts: a float column in pandas is often NUMERIC in the warehouse.
ACCEPTED_FAMILIES = {"float": frozenset({"float", "decimal"})}


def dtype_family(dtype: Any) -> str | None:
    """The type family a Pandera dtype stands for; None when it has none (object, category, ...)."""
    if dtype is None:
        return None
    name = str(dtype).lower()
    return next((family for pattern, family in _DTYPE_FAMILIES if pattern.fullmatch(name)), None)


def build_plan(
    schema: Any, ref: str, *, sample: int, scope: Any, pii: Iterable[str]
) -> QualityPlan:
    """The plan of a `pandera.pandas.DataFrameSchema`.

    A coerced column (its own `coerce` or the schema's) is judged as Pandera judges it, after coercion:
    no dtype rule, and its checks run on the sample, where Pandera coerces the values first.
    """
    rules: list[Rule] = []
    residual: dict[str, list[Any]] = {}
    required: list[str] = []
    optional: list[str] = []
    regex: list[str] = []
    coerced = {name for name, column in schema.columns.items() if column.coerce or schema.coerce}
    for name, column in schema.columns.items():
        if column.regex:
            regex.append(name)
            continue
        (required if column.required else optional).append(name)
        rules.extend(_column_rules(name, column, name in coerced))
        kept = [check for check in column.checks if name in coerced or compiled(check) is None]
        residual[name] = kept
        rules.extend(rule for check in column.checks if check not in kept and (rule := compiled(check, name)))
    if schema.unique:
        names = tuple(schema.unique) if not isinstance(schema.unique, str) else (schema.unique,)
        rules.append(Rule("multiple_fields_uniqueness", names, "multiple_fields_uniqueness"))
    if schema.strict is True:
        rules.append(Rule("column_in_schema", (), "column_in_schema"))
    leftover = _residual(schema, residual, regex, coerced)
    return QualityPlan(
        ref=ref,
        required=tuple(required),
        optional=tuple(optional),
        regex=tuple(regex),
        rules=tuple(rules),
        sample=sample,
        scope=scope,
        pii=frozenset(name.lower() for name in pii),
        residual=leftover,
        frame_schema=_without_dtypes(schema, coerced),
        residual_labels=_labels(leftover),
    )


def _column_rules(name: str, column: Any, coerced: bool) -> list[Rule]:
    found = []
    family = None if coerced else dtype_family(column.dtype)
    if family is not None:
        found.append(Rule("dtype", (name,), f"dtype('{column.dtype}')", (("family", family),)))
    if not column.nullable:
        found.append(Rule("not_nullable", (name,), "not_nullable"))
    if column.unique:
        found.append(Rule("field_uniqueness", (name,), "field_uniqueness"))
    return found


def compiled(check: Any, column: str | None = None) -> Rule | None:
    """The rule of a built-in check SQL can count, or None: a custom check, or arguments it lacks."""
    predicate = PREDICATES.get(check.name or "")
    statistics = dict(check.statistics or {})
    if predicate is None or not predicate.accepts(statistics):
        return None
    arguments = tuple(sorted((key, _frozen(value)) for key, value in statistics.items()))
    return Rule(check.name, (column,) if column else (), check_label(check), arguments, bool(check.ignore_na))


def _frozen(value: Any) -> Any:
    """Check arguments as hashable plain values (plans are compared and hashed)."""
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_frozen(item) for item in value)
    item = getattr(value, "item", None)  # numpy scalars
    return item() if callable(item) and not isinstance(value, str | bytes) else value


def _residual(schema: Any, checks: dict[str, list[Any]], regex: list[str], coerced: set[str]) -> Any:
    """The schema of what SQL cannot count, or None when nothing is left."""
    if not schema.checks and not regex and not any(checks.values()):
        return None
    kept: dict[str, dict[str, Any]] = {
        name: {"checks": checks[name], "nullable": True, "unique": False, **_typing(name, coerced)}
        for name in checks
    }
    kept.update((name, {"dtype": None}) for name in regex)
    leftover = schema.update_columns(kept) if kept else schema
    return _frame_only(leftover, unique=False)


def _without_dtypes(schema: Any, coerced: set[str]) -> Any:
    """The whole schema for a sample: the type families judge dtypes (except for coerced columns, which
    Pandera coerces first), and the columns judge strictness."""
    typing = {name: _typing(name, coerced) for name in schema.columns}
    return _frame_only(schema.update_columns(typing), unique=True)


def _typing(name: str, coerced: set[str]) -> dict[str, Any]:
    return {"coerce": True} if name in coerced else {"dtype": None}


def _frame_only(schema: Any, *, unique: bool) -> Any:
    """A copy that checks values only: no index (a sample has none), strictness, order or schema dtype."""
    return schema.__class__(
        columns=schema.columns,
        checks=schema.checks,
        unique=schema.unique if unique else None,
        name=schema.name,
    )


def _labels(schema: Any) -> tuple[tuple[str | None, str], ...]:
    """(column, label) of every check in a schema, labelled as Pandera labels its failures."""
    if schema is None:
        return ()
    found: list[tuple[str | None, str]] = [(None, check_label(check)) for check in schema.checks]
    for name, column in schema.columns.items():
        found.extend((name, check_label(check)) for check in column.checks)
    return tuple(found)


def check_label(check: Any) -> str:
    return str(check.error or check.name or "check")
