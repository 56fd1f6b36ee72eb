"""Plain data of quality checks: the rules of a schema and the plan to run them (what each found is evidence:
monitor/core/evidence.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MAX_SAMPLES = 10  # failing rows kept per rule

# Rules about the table's shape rather than its values: when one fails, every row does.
SHAPE_CHECKS = frozenset({"dtype", "column_in_schema"})


@dataclass(frozen=True)
class Rule:
    """One rule of a schema as demon runs it: a built-in check, nullability, uniqueness or a dtype.

    `check` is Pandera's name for it (`greater_than`, `not_nullable`, `field_uniqueness`, `dtype`, ...),
    `label` how Pandera prints it (`greater_than(0)`), so results read the same as Pandera's own.
    """

    check: str
    columns: tuple[str, ...]
    label: str
    arguments: tuple[tuple[str, Any], ...] = ()
    ignore_na: bool = True

    @property
    def column(self) -> str | None:
        return self.columns[0] if len(self.columns) == 1 else None

    @property
    def shown_column(self) -> str | None:
        """The column as results name it: several columns (a unique key) joined with commas."""
        return ", ".join(self.columns) or None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.arguments)

    def describe(self) -> str:
        return f"{self.label} on {', '.join(self.columns)}" if self.columns else self.label


@dataclass(frozen=True)
class QualityPlan:
    """How to run one schema on one dataset; equal plans of two checks are run once.

    `rules` are the rules SQL can count over the whole table; `residual` is the Pandera schema of the
    rest (custom and dataframe checks, regex columns), run on a sample; `frame_schema` is the whole
    schema without dtypes (the type families judge those), run on samples where nothing is compiled.
    """

    ref: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    regex: tuple[str, ...]  # column name patterns (Pandera `regex=True`): run on the sample only
    rules: tuple[Rule, ...]
    sample: int
    scope: Literal["all", "latest_partition"]
    pii: frozenset[str] = frozenset()  # lower-cased: never shown, whatever the spelling
    residual: Any = field(default=None, compare=False)
    frame_schema: Any = field(default=None, compare=False)
    residual_labels: tuple[tuple[str | None, str], ...] = ()  # (column, check) of the residual's checks

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional
