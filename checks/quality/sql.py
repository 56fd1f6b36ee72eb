"""Pandera's rules as SQL: a failing-row condition per rule, counted in one statement with the others.

Each built-in check is a `Predicate` (the condition a valid value meets), registered by Pandera's
check name. Pandera drops nulls (and NaN) before a check unless `ignore_na=False`, counts NaN as null
for `nullable`, and ignores nulls in a column's `unique`; the conditions here do the same, so a count
in the warehouse equals what Pandera finds on the same rows. What differs between databases (regular
expressions, string length, collation, NaN) is a `Flavor`, looked up by SQLAlchemy's backend name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from checks.quality.rules import Rule

Condition = ColumnElement[bool]


def _python_dot(pattern: str) -> str:
    """The pattern with `.` outside brackets as `[^\\n]`: Python's `.` stops at a line break."""
    out, escaped, in_brackets = [], False, False
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[" and not in_brackets:
            in_brackets = True
        elif char == "]" and in_brackets and pattern[index - 1] not in "[^":
            in_brackets = False
        elif char == "." and not in_brackets:
            out.append("[^\\n]")
            continue
        out.append(char)
    return "".join(out)


def _inline(pattern: str) -> Any:
    """A pattern written into the statement, not bound: DuckDB compiles a constant regex once, a bound one
    per row (about twice as slow on 10M rows)."""
    return sa.bindparam(None, pattern, type_=sa.String, literal_execute=True)


@dataclass(frozen=True)
class Flavor:
    """What a dialect spells differently: partial regex search, character length, ordering, NaN."""

    search: Callable[[ColumnElement[Any], str], Condition]  # does the pattern match anywhere in the value
    length: Callable[[ColumnElement[Any]], ColumnElement[Any]]  # length in characters (code points)
    # Strings compared as Python compares them (code points, case- and accent-sensitive), whatever the
    # column's collation; not for regular expressions, where "C" would make \d and \w ASCII-only.
    string_collation: str | None = None
    has_nan: bool = False  # float columns can hold NaN, which Pandera counts as null
    row_values: bool = False  # `count(DISTINCT (a, b))` counts distinct row values, nulls equal to each other
    # Grouping the keys costs what a distinct count does (DuckDB, where both hash every key): the fused scan
    # groups a uniqueness rule's keys itself (`grouped_counts`), and a duplicated key costs no statement more.
    grouped_scan: bool = False

    def binary(self, column: ColumnElement[Any], family: str) -> ColumnElement[Any]:
        if family == "string" and self.string_collation:
            return column.collate(self.string_collation)
        return column

    def is_null(self, column: ColumnElement[Any], family: str) -> Condition:
        if self.has_nan and family == "float":
            return sa.or_(column.is_(None), column == sa.cast(sa.literal("NaN"), sa.Float))
        return column.is_(None)

    def null_free(self, column: ColumnElement[Any], family: str) -> ColumnElement[Any]:
        """The value, with NaN as NULL (uniqueness groups NaN with nulls, as pandas does)."""
        if self.has_nan and family == "float":
            return sa.func.nullif(column, sa.cast(sa.literal("NaN"), sa.Float))
        return column


FLAVORS: dict[str, Flavor] = {
    "duckdb": Flavor(
        search=lambda column, pattern: sa.func.regexp_matches(column, _inline(pattern)),
        length=sa.func.length, has_nan=True, row_values=True, grouped_scan=True,
    ),
    "postgresql": Flavor(
        search=lambda column, pattern: column.op("~")(_inline(_python_dot(pattern))),
        length=sa.func.char_length, string_collation="C", has_nan=True, row_values=True,
    ),
}
GENERIC = Flavor(search=lambda column, pattern: column.regexp_match(pattern), length=sa.func.char_length)


def flavor_for(backend: str) -> Flavor:
    return FLAVORS.get(backend, GENERIC)


@dataclass(frozen=True)
class Operand:
    """A column as a predicate sees it: the expression, its type family, and the dialect's flavor."""

    column: ColumnElement[Any]
    family: str
    flavor: Flavor

    @property
    def ordered(self) -> ColumnElement[Any]:
        return self.flavor.binary(self.column, self.family)


Build = Callable[[Operand, Mapping[str, Any]], Condition]


@dataclass(frozen=True)
class Predicate:
    """A built-in check as SQL: `build` is the condition a valid (non-null) value meets."""

    build: Build
    needs: frozenset[str] = frozenset()  # arguments that must be set
    needs_any: frozenset[str] = frozenset()  # at least one of these must be set
    # With ignore_na=False, whether a null (or NaN) passes: pandas compares NaN false (NaN != x is true),
    # and `isin` matches a null to a null in its set.
    null_passes: Callable[[Mapping[str, Any]], bool] = lambda arguments: False

    def accepts(self, statistics: Mapping[str, Any]) -> bool:
        present = {key for key, value in statistics.items() if value is not None}
        return self.needs <= present and (not self.needs_any or bool(self.needs_any & present))


def _values(arguments: Mapping[str, Any], key: str) -> list[Any]:
    """isin/notin values without nulls (a null never equals a value in pandas); a string is its characters."""
    values = arguments[key]
    items = list(values) if not isinstance(values, str) else list(dict.fromkeys(values))
    return [item for item in items if item is not None and not (isinstance(item, float) and math.isnan(item))]


def _has_null(values: Any) -> bool:
    return not isinstance(values, str) and any(
        item is None or (isinstance(item, float) and math.isnan(item)) for item in values
    )


def _in_range(operand: Operand, arguments: Mapping[str, Any]) -> Condition:
    low, high = arguments["min_value"], arguments["max_value"]
    column = operand.ordered
    above = column >= low if arguments.get("include_min", True) else column > low
    below = column <= high if arguments.get("include_max", True) else column < high
    return sa.and_(above, below)


def _str_length(operand: Operand, arguments: Mapping[str, Any]) -> Condition:
    length = operand.flavor.length(operand.column)
    if arguments.get("exact_value") is not None:
        exact: Condition = length == arguments["exact_value"]
        return exact
    bounds: list[Condition] = []
    if arguments.get("min_value") is not None:
        bounds.append(length >= arguments["min_value"])
    if arguments.get("max_value") is not None:
        bounds.append(length <= arguments["max_value"])
    return sa.and_(*bounds)


PREDICATES: dict[str, Predicate] = {
    "equal_to": Predicate(lambda o, a: o.ordered == a["value"], needs=frozenset({"value"})),
    "not_equal_to": Predicate(
        lambda o, a: o.ordered != a["value"], frozenset({"value"}), null_passes=lambda arguments: True
    ),
    "greater_than": Predicate(lambda o, a: o.ordered > a["min_value"], frozenset({"min_value"})),
    "greater_than_or_equal_to": Predicate(lambda o, a: o.ordered >= a["min_value"], frozenset({"min_value"})),
    "less_than": Predicate(lambda o, a: o.ordered < a["max_value"], frozenset({"max_value"})),
    "less_than_or_equal_to": Predicate(lambda o, a: o.ordered <= a["max_value"], frozenset({"max_value"})),
    "in_range": Predicate(_in_range, frozenset({"min_value", "max_value"})),
    "isin": Predicate(
        lambda o, a: o.ordered.in_(_values(a, "allowed_values")), frozenset({"allowed_values"}),
        null_passes=lambda arguments: _has_null(arguments["allowed_values"]),
    ),
    "notin": Predicate(
        lambda o, a: o.ordered.not_in(_values(a, "forbidden_values")), frozenset({"forbidden_values"}),
        null_passes=lambda arguments: not _has_null(arguments["forbidden_values"]),
    ),
    "str_matches": Predicate(
        lambda o, a: o.flavor.search(o.column, f"^(?:{a['pattern']})"), frozenset({"pattern"})
    ),
    "str_contains": Predicate(lambda o, a: o.flavor.search(o.column, a["pattern"]), frozenset({"pattern"})),
    "str_startswith": Predicate(
        lambda o, a: o.ordered.startswith(a["string"], autoescape=True), frozenset({"string"})
    ),
    "str_endswith": Predicate(
        lambda o, a: o.ordered.endswith(a["string"], autoescape=True), frozenset({"string"})
    ),
    "str_length": Predicate(_str_length, needs_any=frozenset({"min_value", "max_value", "exact_value"})),
}


@dataclass(frozen=True)
class Scan:
    """The rows a rule reads: the dataset's table, its `where`, and its columns' families."""

    table: sa.TableClause
    where: Any  # the dataset's `where` as SQL text, or None
    families: Mapping[str, str]
    flavor: Flavor

    def operand(self, name: str) -> Operand:
        return Operand(sa.column(name), self.families.get(name, "other"), self.flavor)

    def scoped(self, statement: sa.Select[Any], *conditions: Any) -> sa.Select[Any]:
        wanted = [condition for condition in (self.where, *conditions) if condition is not None]
        return statement.where(*wanted) if wanted else statement


def failing_condition(rule: Rule, scan: Scan) -> Condition:
    """The condition a failing row meets, for row-by-row rules (built-in checks and nullability)."""
    operand = scan.operand(rule.columns[0])
    null = scan.flavor.is_null(operand.column, operand.family)
    if rule.check == "not_nullable":
        return null
    predicate = PREDICATES[rule.check]
    invalid = sa.not_(sa.func.coalesce(predicate.build(operand, rule.params), sa.false()))
    if rule.ignore_na or predicate.null_passes(rule.params):
        return sa.and_(sa.not_(null), invalid)
    return sa.or_(null, invalid)  # SQL orders NaN above every number; pandas compares it false


UNIQUENESS = frozenset({"field_uniqueness", "multiple_fields_uniqueness"})


def failing_count(rule: Rule, scan: Scan) -> ColumnElement[Any]:
    """What the fused scan counts of a rule: its failing rows; for uniqueness, `surplus`."""
    if rule.check in UNIQUENESS:
        return surplus(rule, scan)
    return sa.func.count(sa.case((failing_condition(rule, scan), 1)))


def surplus(rule: Rule, scan: Scan) -> ColumnElement[Any]:
    """Rows of a uniqueness rule's keys beyond one per distinct key: zero exactly when no key is duplicated.

    A distinct count in the fused scan, not a grouping of the table (a hash table of every key, which
    spills to disk on 10M keys at PostgreSQL's default `work_mem`): only when it is not zero does
    `duplicates` group the keys, in a statement of its own, for the failing rows and a duplicated value.
    Several columns are one row value, its nulls equal to each other as in `duplicated` (nulls and NaN
    alike: keys are `null_free`); where the flavor has no row values it counts every key, so the grouping
    always runs.
    """
    keys, nulls = _keys(rule, scan)
    if len(keys) == 1:
        return sa.func.count(keys[0]) - sa.func.count(sa.distinct(keys[0]))
    named = sa.not_(sa.and_(*nulls))  # a key of nulls only is no duplicate
    if not scan.flavor.row_values:
        return sa.func.count(sa.case((named, 1)))
    key = sa.case((named, sa.tuple_(*keys)))
    return sa.func.count(key) - sa.func.count(sa.distinct(key))


def _keys(rule: Rule, scan: Scan) -> tuple[list[ColumnElement[Any]], list[Condition]]:
    """A uniqueness rule's keys (NaN as NULL) and, for each, whether it is null."""
    operands = [scan.operand(name) for name in rule.columns]
    keys = [scan.flavor.null_free(o.column, o.family) for o in operands]
    return keys, [scan.flavor.is_null(o.column, o.family) for o in operands]


def _duplicate_keys(rule: Rule, scan: Scan) -> tuple[list[ColumnElement[Any]], sa.Select[Any]]:
    """The grouping keys of a uniqueness rule, and the groups of more than one row.

    A key that is null (or NaN) in every column is no duplicate, as no failure case of Pandera names
    such rows; with several columns, rows equal on all of them are, nulls in some columns included,
    as pandas' `duplicated` sees them.
    """
    keys, nulls = _keys(rule, scan)
    conditions = [sa.not_(sa.and_(*nulls))]  # a key of nulls only is no duplicate (Pandera names no row)
    grouped = scan.scoped(sa.select(*keys, sa.func.count().label("n")).select_from(scan.table), *conditions)
    return keys, grouped.group_by(*keys).having(sa.func.count() > 1)


def grouped_counts(rule: Rule, scan: Scan, name: str) -> list[ColumnElement[Any]]:
    """`duplicates` as parts of the fused statement (scalar subqueries, scoped by the dataset's `where` as
    the grouping is): the failing rows and, for one column, the least duplicated value. Both read one
    grouping, a materialised CTE called `name`, which no other part of the statement may take."""
    found = duplicates(rule, scan).cte(name).prefix_with("MATERIALIZED")
    return [sa.select(column).scalar_subquery() for column in found.c]


def duplicates(rule: Rule, scan: Scan) -> sa.Select[Any]:
    """The failing rows of a uniqueness rule (the rows of its duplicated groups) and, for one column, the
    least duplicated value, so the sample of failing rows needs no second grouping of the table."""
    _, groups = _duplicate_keys(rule, scan)
    duplicated = groups.subquery("demon_dup")
    failing = sa.func.coalesce(sa.func.sum(duplicated.c.n), 0).label("failing")
    if len(rule.columns) > 1:
        return sa.select(failing)
    return sa.select(failing, sa.func.min(duplicated.c[0]).label("duplicated"))


def failing_rows(
    rule: Rule, scan: Scan, columns: Sequence[str], limit: int, duplicated: Any = None
) -> sa.Select[Any]:
    """A bounded sample of the rule's failing rows, `columns` only; for a one-column uniqueness, the rows
    of the `duplicated` value the count found."""
    shown: list[ColumnElement[Any]] = [sa.column(name) for name in columns]
    statement: sa.Select[Any] = sa.select(*shown).select_from(scan.table)
    if rule.check == "field_uniqueness" and duplicated is not None:
        operand = scan.operand(rule.columns[0])
        key = scan.flavor.null_free(operand.column, operand.family)
        return scan.scoped(statement, key == duplicated).limit(limit)
    if rule.check in UNIQUENESS:
        keys, groups = _duplicate_keys(rule, scan)
        wanted = groups.with_only_columns(*keys)
        condition = (keys[0].in_(wanted) if len(keys) == 1 else sa.tuple_(*keys).in_(wanted))
        return scan.scoped(statement, condition).limit(limit)
    return scan.scoped(statement, failing_condition(rule, scan)).limit(limit)


def failing_query(rule: Rule, scan: Scan, limit: int) -> sa.Select[Any]:
    """What a person runs to see a rule's failures: its failing rows, every column; for uniqueness, each
    duplicated key and its rows, most duplicated first (the failing rows are their sum)."""
    if rule.check in UNIQUENESS:
        _, groups = _duplicate_keys(rule, scan)
        return groups.order_by(sa.func.count().desc()).limit(limit)
    statement: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(scan.table)
    return scan.scoped(statement, failing_condition(rule, scan)).limit(limit)
