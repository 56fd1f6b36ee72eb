"""The rules a dataset's columns answer without reading rows: presence, dtype family, strictness.

Shared by SQL tables (catalog types) and lake datasets (Arrow types): both are `Column`s whose type
name maps onto a type family.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from checks.probes import Column
from checks.quality.plan import ACCEPTED_FAMILIES
from checks.quality.rules import SHAPE_CHECKS, QualityPlan, Rule
from checks.quality.sql import PREDICATES
from monitor.core.evidence import Mode, RuleResult
from monitor.core.typefamilies import family_of


def _match(columns: Sequence[Column], wanted: str) -> str | None:
    """The dataset's spelling of a schema column: exact, else the only case-insensitive match."""
    names = [column.name for column in columns]
    if wanted in names:
        return wanted
    folded = [name for name in names if name.lower() == wanted.lower()]
    return folded[0] if len(folded) == 1 else None


class Shape:
    """A plan's columns found in a dataset's columns, and the shape rules judged against them."""

    def __init__(self, plan: QualityPlan, columns: Sequence[Column]) -> None:
        self.plan = plan
        self.columns = list(columns)
        real = {name: _match(columns, name) for name in plan.columns}
        self.missing = [name for name in plan.required if real[name] is None]
        self.names = {name: found for name, found in real.items() if found is not None}
        # Columns a regex column matches, as Pandera matches them (re.match on the name).
        patterns = [re.compile(pattern) for pattern in plan.regex]
        self.names.update(
            (column.name, column.name) for column in columns
            if column.name not in self.names.values() and any(p.match(column.name) for p in patterns)
        )
        types = {column.name: family_of(column.type_name) for column in columns}
        self.families = {name: types[found] for name, found in self.names.items()}

    def rules(self) -> list[Rule]:
        """The plan's compiled rules whose columns the dataset has (absent optional columns are skipped),
        without the value checks of a column of the wrong type: its dtype rule fails, and comparing
        (say) text with a number would only turn that failure into an error."""
        wrong = self.wrong_types()
        return [
            rule for rule in self.plan.rules
            if all(name in self.names for name in rule.columns)
            and not (rule.check in PREDICATES and rule.column in wrong)
        ]

    def wrong_types(self) -> set[str]:
        """Schema columns whose type family is not the one their dtype rule wants."""
        return {
            rule.columns[0] for rule in self.plan.rules
            if rule.check == "dtype" and rule.columns[0] in self.names and self._problems(rule)
        }

    def has(self, column: str | None) -> bool:
        return column is None or column in self.names

    def result(self, rule: Rule, rows: int, mode: Mode) -> RuleResult:
        """A shape rule's result: when it fails, every row fails, and so does the check if there is none."""
        assert rule.check in SHAPE_CHECKS
        found = self._problems(rule)
        failing = rows if found else 0
        return RuleResult(rule.column, rule.label, mode, rows, failing, values=found, broken=bool(found))

    def _problems(self, rule: Rule) -> tuple[str, ...]:
        if rule.check == "dtype":
            name = rule.columns[0]
            expected = rule.params["family"]
            found = self.families[name]
            accepted = ACCEPTED_FAMILIES.get(expected, frozenset({expected}))
            return () if found in accepted else (f"{name} is {found}, expected {expected}",)
        known = {name.lower() for name in self.plan.columns}
        return tuple(column.name for column in self.columns if column.name.lower() not in known)
