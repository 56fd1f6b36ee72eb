"""Quality probes on SQL tables: every compiled rule counted in the dataset's one fused statement.

The table's metadata answers the shape rules (missing columns, dtypes as type families, strictness).
Each other compiled rule adds one failing-row count to the fused statement the SQL source runs for all
of the dataset's probes (a uniqueness rule, a distinct count telling whether any key is duplicated, and
only then a grouping statement of its own counting the failing rows; on DuckDB the grouping itself, whose
hash costs what the distinct count's does); then one bounded statement per failing rule fetches a sample
of its rows, and one more reads a sample for the rules SQL cannot express, which Pandera runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from checks.probes import Observed, Probe, RowCount
from checks.quality import frame
from checks.quality.rules import MAX_SAMPLES, SHAPE_CHECKS, QualityPlan, Rule
from checks.quality.shape import Shape
from checks.quality.sql import (
    UNIQUENESS,
    Flavor,
    Scan,
    duplicates,
    failing_count,
    failing_query,
    failing_rows,
    grouped_counts,
)
from checks.sources.sql import Part, Table, condition, missing_column
from monitor.core.evidence import QualityReport, RuleResult
from monitor.core.humanize import first_line

# Runs a statement; the second one, if given, is how it is shown (without data values in it).
Run = Callable[[sa.Select[Any], sa.Select[Any] | None], list[tuple[Any, ...]]]
# A statement as a person pastes it, or None (sources/queries.py).
Show = Callable[[sa.Select[Any]], str | None]
QUERY_ROWS = 20  # rows (or duplicated keys) a rule's paste-able query returns


@dataclass(frozen=True)
class RuleCount(Probe[Any]):
    """The failing rows of one compiled rule: a part of the fused statement."""

    rule: Rule

    def describe(self) -> str:
        return f"failing rows of {self.rule.describe()}"


@dataclass(frozen=True)
class DuplicatedKey(Probe[Any]):
    """The least duplicated value of a one-column uniqueness rule, where the fused statement groups keys."""

    rule: Rule

    def describe(self) -> str:
        return f"a duplicated value of {self.rule.describe()}"


def _grouping_name(rule: Rule) -> str:
    """The CTE grouping a uniqueness rule's keys, named after the rule as its probes know it: checks asking
    for the same rule share its parts (and one CTE); two rules, even on the same columns spelt otherwise by
    two schemas, never share a name (two CTEs of one name are no statement)."""
    return f"demon_dup_{hashlib.sha256(repr(rule).encode()).hexdigest()[:12]}"


class QualityQuery:
    """One quality probe on one table: its counts, then its samples."""

    def __init__(self, plan: QualityPlan, table: Table, where: str | None, flavor: Flavor) -> None:
        self.plan = plan
        self._table = table
        self._shape = Shape(plan, table.columns)
        self._names = self._shape.names
        self._scan = Scan(
            sa.table(table.name, schema=table.schema), condition(where) if where else None,
            {found: self._shape.families[name] for name, found in self._names.items()}, flavor,
        )
        self._rules = self._shape.rules()

    def missing_error(self) -> str | None:
        if not self._shape.missing:
            return None
        label = f"{self._table.schema}.{self._table.name}" if self._table.schema else self._table.name
        missing = missing_column(self._shape.missing[0], label, self._table.columns)
        return f"schema {self.plan.ref}: {missing}"

    def aggregates(self) -> dict[Probe[Any], Part]:
        """The parts this probe adds to the fused statement: the rows in scope, each row rule's failing rows
        and, where the statement groups a one-column uniqueness rule's keys, a duplicated value."""
        counts: dict[Probe[Any], Part] = {RowCount(): sa.func.count()}
        for rule in self._rules:
            if rule.check in SHAPE_CHECKS:
                continue
            if self._grouped(rule):
                parts = grouped_counts(self._real(rule), self._scan, _grouping_name(rule))
                counts.update(zip((RuleCount(rule), DuplicatedKey(rule)), parts, strict=False))
            else:
                counts[RuleCount(rule)] = failing_count(self._real(rule), self._scan)
        return counts

    def _grouped(self, rule: Rule) -> bool:
        """Whether the fused statement counts the rule's duplicates itself (see `Flavor.grouped_scan`)."""
        return rule.check in UNIQUENESS and self._scan.flavor.grouped_scan

    def finish(self, answers: Mapping[Probe[Any], Observed], run: Run, show: Show) -> Observed:
        """The report, once the fused statement answered; samples fetched for the failing rules. Its query
        is that of the rule with the most failing rows, whose count is the check's value."""
        total = answers[RowCount()]
        if not total.ok:
            return Observed(error=total.error, statement=total.statement)
        rows = int(total.value)
        results = [self._result(rule, rows, answers, run, show) for rule in self._rules]
        queried = [result for result in results if result.query]
        worst = max(queried, key=lambda result: result.failing).query if queried else None
        sample_rows = None
        if self.plan.residual is not None:
            sampled, sample_rows = self._sampled(run)
            results.extend(sampled)
        report = QualityReport(tuple(results), rows=rows, sample_rows=sample_rows)
        return Observed(value=report, statement=total.statement, query=worst)

    # --- compiled rules ----------------------------------------------------------------------------

    def _real(self, rule: Rule) -> Rule:
        """The rule on the table's own spelling of its columns."""
        return Rule(rule.check, tuple(self._names[name] for name in rule.columns), rule.label,
                    rule.arguments, rule.ignore_na)

    def _result(
        self, rule: Rule, rows: int, answers: Mapping[Probe[Any], Observed], run: Run, show: Show
    ) -> RuleResult:
        column = rule.shown_column
        if rule.check in SHAPE_CHECKS:
            return self._shape.result(rule, rows, "in_warehouse")
        answer = answers[RuleCount(rule)]
        if not answer.ok:
            return RuleResult(column, rule.label, "in_warehouse", rows, 0, error=answer.error)
        found: tuple[Any, ...] = (answer.value,)
        duplicated_key = answers.get(DuplicatedKey(rule))
        if duplicated_key is not None:
            found = (answer.value, duplicated_key.value)
        elif rule.check in UNIQUENESS and answer.value and not self._grouped(rule):
            try:
                found = run(duplicates(self._real(rule), self._scan), None)[0]
            except Exception as error:
                failed = f"duplicates not counted: {first_line(error)}"
                return RuleResult(column, rule.label, "in_warehouse", rows, 0, error=failed)
        failing = int(found[0] or 0)
        duplicated = found[1] if len(found) > 1 else None
        if not failing:
            return RuleResult(column, rule.label, "in_warehouse", rows, 0)
        values, sample = self._failing_sample(rule, run, duplicated)
        query = show(failing_query(self._real(rule), self._scan, QUERY_ROWS))
        return RuleResult(column, rule.label, "in_warehouse", rows, failing, values, sample, query=query)

    def _shown(self) -> list[str]:
        return [found for name, found in self._names.items() if name.lower() not in self.plan.pii]

    def _failing_sample(
        self, rule: Rule, run: Run, duplicated: Any
    ) -> tuple[tuple[Any, ...], tuple[dict[str, Any], ...]]:
        """Up to MAX_SAMPLES failing rows (without pii columns), and the rule column's values in them."""
        shown = self._shown()
        if not shown:
            return (), ()
        on_table = self._real(rule)
        statement = failing_rows(on_table, self._scan, shown, MAX_SAMPLES, duplicated)
        # The duplicated value is data (perhaps of a pii column): results show a placeholder for it.
        placeholder: Any = sa.literal_column(":duplicated") if duplicated is not None else None
        try:
            fetched = run(statement, failing_rows(on_table, self._scan, shown, MAX_SAMPLES, placeholder))
        except Exception:  # the count stands without its sample (say, the sample query timed out)
            return (), ()
        sample = tuple({name: frame.plain(value) for name, value in zip(shown, row, strict=True)}
                       for row in fetched)
        column = rule.column
        real = self._names.get(column) if column else None
        values = tuple(row[real] for row in sample) if real in shown else ()
        return values, sample

    # --- the rest, on a sample ---------------------------------------------------------------------

    def _sampled(self, run: Run) -> tuple[list[RuleResult], int | None]:
        """The residual schema run by Pandera on up to `sample` rows, honouring `where`."""
        names = list(self._names)
        columns: list[ColumnElement[Any]] = [sa.column(self._names[name]).label(name) for name in names]
        projected: sa.Select[Any] = sa.select(*columns).select_from(self._scan.table)
        statement = self._scan.scoped(projected).limit(self.plan.sample)
        try:
            fetched = run(statement, None)
        except Exception as error:
            reason = first_line(error)
            return [
                RuleResult(column, label, "on_sample", 0, 0, error=f"sample not read: {reason}")
                for column, label in self.plan.residual_labels
                if self._shape.has(column)
            ], None
        sample = frame.rows_to_frame(names, fetched)
        present = [(column, label) for column, label in self.plan.residual_labels if self._shape.has(column)]
        results = frame.validate(self.plan.residual, sample, self.plan.pii, "on_sample", present)
        return results, len(sample)
