"""Column profiles on SQL tables: a few aggregates per column, added to the dataset's one fused statement (a
profile costs no scan of its own), or with `sample:` a statement of their own over a sample of the table.

What engines spell differently (an approximate distinct count, sampling, string length) is a
`ProfileFlavor`, looked up by SQLAlchemy's backend name, as quality rules' flavors are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from checks.probes import Column, ColumnProfiles, Observed, Probe, RowCount
from checks.sources.sql import Table, condition, find_column, missing_column
from monitor.core.evidence import ColumnStats, ProfileReport
from monitor.core.failures import Reason
from monitor.core.humanize import closest
from monitor.core.typefamilies import family_of

NUMBERS = frozenset({"integer", "float", "decimal"})
# Families whose distinct values every engine counts (PostgreSQL's json, say, has no equality).
COMPARABLE = NUMBERS | {"string", "boolean", "date", "timestamp"}
Aggregate = Callable[[ColumnElement[Any]], ColumnElement[Any]]
Sampler = Callable[[sa.TableClause, float], sa.FromClause]


def _exact(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return sa.func.count(sa.distinct(column))


def _system(table: sa.TableClause, fraction: float) -> sa.FromClause:
    """The standard's `TABLESAMPLE SYSTEM (10)`: whole pages, so only about that share of the table is
    read."""
    return sa.tablesample(table, sa.func.system(sa.literal_column(f"{fraction * 100:g}")))


def _duckdb_system(table: sa.TableClause, fraction: float) -> sa.FromClause:
    """DuckDB's `TABLESAMPLE system(10 PERCENT)`: whole vectors of rows (a bare number counts rows)."""
    return sa.tablesample(table, sa.func.system(sa.literal_column(f"{fraction * 100:g} PERCENT")))


@dataclass(frozen=True)
class ProfileFlavor:
    """A dialect's distinct count (approximate where the engine has one), string length and sampling."""

    distinct: Aggregate = _exact
    length: Aggregate = sa.func.char_length
    sample: Sampler | None = _system  # None: the dialect cannot sample a table


FLAVORS: dict[str, ProfileFlavor] = {
    "duckdb": ProfileFlavor(sa.func.approx_count_distinct, sa.func.length, _duckdb_system),
    "postgresql": ProfileFlavor(),
    "snowflake": ProfileFlavor(sa.func.approx_count_distinct, sa.func.length),
    "trino": ProfileFlavor(sa.func.approx_distinct, sa.func.length),
    "sqlite": ProfileFlavor(length=sa.func.length, sample=None),
    "mysql": ProfileFlavor(sample=None),
    "redshift": ProfileFlavor(length=sa.func.len, sample=None),
}


def flavor_for(backend: str) -> ProfileFlavor:
    return FLAVORS.get(backend, ProfileFlavor())


@dataclass(frozen=True)
class ProfileStat(Probe[Any]):
    """One aggregate of one column's profile: a part of the fused (or sampled) statement."""

    column: str  # as the table spells it
    statistic: str  # values, distinct, min, max, mean, avg_length, max_length

    def describe(self) -> str:
        return f"{self.statistic} of {self.column}"


class ProfileQuery:
    """One profile probe on one table: the columns it profiles, their aggregates, and the report."""

    def __init__(self, probe: ColumnProfiles, table: Table, flavor: ProfileFlavor) -> None:
        self.probe = probe
        self._table = table
        self._flavor = flavor
        self._chosen, self._left_out, self._missing = _choose(probe, table.columns)

    def missing_error(self) -> str | None:
        """`column emial not found in public.users (did you mean email?)`, for a column named that is not
        there."""
        if not self._missing:
            return None
        wanted, columns = self._missing[0], self._table.columns
        label = f"{self._table.schema}.{self._table.name}" if self._table.schema else self._table.name
        near = closest(wanted, [column.name for column in columns], n=2)
        if near:  # unquoted: an error of a dataset with pii_columns hides quoted words, as values of the data
            return f"column {wanted} not found in {label} (did you mean {' or '.join(near)}?)"
        return missing_column(wanted, label, columns)

    def parts(self) -> dict[Probe[Any], ColumnElement[Any]]:
        """The rows in scope and each column's aggregates, for the fused or the sampled statement."""
        found: dict[Probe[Any], ColumnElement[Any]] = {RowCount(): sa.func.count()}
        for column in self._chosen:
            for statistic, aggregate in self._aggregates(column):
                found[ProfileStat(column.name, statistic)] = aggregate
        return found

    def fused_parts(self) -> dict[Probe[Any], ColumnElement[Any]]:
        return {} if self.probe.sample is not None else self.parts()

    def sampled(self, where: str | None) -> sa.Select[Any] | Observed | None:
        """The sampled statement (None: the profile is fused), or why the dialect has none."""
        if self.probe.sample is None:
            return None
        if self._flavor.sample is None:
            why = "this source cannot sample a table (TABLESAMPLE): profile it without `sample`"
            return Observed(error=why, reason=Reason.SETUP)
        parts = self.parts()
        columns = [part.label(f"demon_p{index}") for index, part in enumerate(parts.values())]
        table = sa.table(self._table.name, schema=self._table.schema)
        statement = sa.select(*columns).select_from(self._flavor.sample(table, self.probe.sample))
        return statement.where(condition(where)) if where else statement

    def from_row(self, row: Sequence[Any], statement: str) -> Observed:
        values = dict(zip(self.parts(), row, strict=True))
        return Observed(value=self._report(values), statement=statement)

    def report(self, answers: Mapping[Probe[Any], Observed]) -> Observed:
        """The report from the fused statement's answers; the first part that failed, if one did."""
        parts = list(self.parts())
        failed = next((answers[part] for part in parts if not answers[part].ok), None)
        if failed is not None:
            return Observed(error=failed.error, reason=failed.reason, statement=failed.statement)
        report = self._report({part: answers[part].value for part in parts})
        return Observed(value=report, statement=answers[RowCount()].statement)

    def _report(self, values: Mapping[Probe[Any], Any]) -> ProfileReport:
        def stat(column: Column, statistic: str) -> Any:
            return values.get(ProfileStat(column.name, statistic))

        columns = tuple(
            ColumnStats(
                column.name, family_of(column.type_name), int(stat(column, "values") or 0),
                _whole(stat(column, "distinct")), _number(stat(column, "min")), _number(stat(column, "max")),
                _number(stat(column, "mean")), _number(stat(column, "avg_length")),
                _number(stat(column, "max_length")),
            )
            for column in self._chosen
        )
        return ProfileReport(int(values[RowCount()] or 0), columns, self.probe.sample, self._left_out)

    def _aggregates(self, column: Column) -> list[tuple[str, ColumnElement[Any]]]:
        """What is counted of a column: its non-NULL values always; distinct values of comparable types;
        min/max/mean of numbers outside `pii_columns` (they would show values); lengths of strings."""
        value: ColumnElement[Any] = sa.column(column.name)
        family = family_of(column.type_name)
        found: list[tuple[str, ColumnElement[Any]]] = [("values", sa.func.count(value))]
        if family in COMPARABLE:
            found.append(("distinct", self._flavor.distinct(value)))
        if family in NUMBERS and column.name.casefold() not in self.probe.pii:
            found += [("min", sa.func.min(value)), ("max", sa.func.max(value)), ("mean", sa.func.avg(value))]
        if family == "string":
            length = self._flavor.length(value)
            found += [("avg_length", sa.func.avg(length)), ("max_length", sa.func.max(length))]
        return found


def _choose(probe: ColumnProfiles, columns: list[Column]) -> tuple[list[Column], tuple[str, ...], list[str]]:
    """The columns profiled (the named ones, else the table's first `max_columns`), those left out past the
    bound, and the named ones the table does not have."""
    if probe.columns is None:
        left_out = tuple(column.name for column in columns[probe.max_columns:])
        return columns[: probe.max_columns], left_out, []
    by_name = {column.name: column for column in columns}
    found = {wanted: find_column(columns, wanted) for wanted in probe.columns}
    chosen = [by_name[name] for name in dict.fromkeys(name for name in found.values() if name is not None)]
    return chosen, (), [wanted for wanted, name in found.items() if name is None]


def _number(value: Any) -> float | None:
    """A statistic as a float; None for NULL (no rows) and for NaN or infinity, which no band can hold."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    found = float(value)
    return found if math.isfinite(found) else None


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)
