"""Probes: the observations a check asks of a source.

A check never talks to a warehouse or a bucket. It names the facts it needs (a row count, the
newest value of a column, the columns) and the source decides how to get them, fusing the
probes of every check of a dataset into as few statements or requests as it can. This keeps one
code path for SQL tables and lake prefixes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar, cast

from checks.quality.rules import QualityPlan
from monitor.core.evidence import ProfileReport, QualityReport
from monitor.core.failures import Reason

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
D = TypeVar("D")


@dataclass(frozen=True)
class Column:
    """A column as reflected from the source, with its native type name."""

    name: str
    type_name: str


@dataclass(frozen=True)
class Probe(Generic[T_co]):
    """Base of every probe, typed by what it answers (`RowCount` is a `Probe[int]`), so a kind reading
    `answers[RowCount()]` gets an int; subclasses are frozen so equal probes of two checks are fetched
    once."""

    def describe(self) -> str:
        """A short human name, used in error messages."""
        return type(self).__name__


Scope = Literal["all", "latest_partition"]


@dataclass(frozen=True)
class RowCount(Probe[int]):
    """Number of rows in the dataset's scope (`where` on SQL; all files or the newest partition on lakes)."""

    scope: Scope = "all"

    def describe(self) -> str:
        return "row count"


@dataclass(frozen=True)
class FileCount(Probe[int]):
    """Number of data files of a lake dataset."""

    scope: Scope = "all"

    def describe(self) -> str:
        return "file count"


@dataclass(frozen=True)
class ByteSize(Probe[int]):
    """Total size in bytes of a lake dataset's data files."""

    scope: Scope = "all"

    def describe(self) -> str:
        return "size in bytes"


@dataclass(frozen=True)
class Newest(Probe[datetime | None]):
    """When the newest data landed: the newest object, in the newest partition when partitioned."""

    def describe(self) -> str:
        return "newest object"


@dataclass(frozen=True)
class SchemaVariants(Probe[Mapping[str, list[Column]]]):
    """Files whose columns differ from the dataset's (lake datasets): file -> its columns."""

    def describe(self) -> str:
        return "schemas of files"


@dataclass(frozen=True)
class MaxValue(Probe[object]):
    """Largest value of a column in the dataset's scope (freshness columns)."""

    column: str

    def describe(self) -> str:
        return f"max({self.column})"


@dataclass(frozen=True)
class Columns(Probe[list[Column]]):
    """The dataset's columns and their native type names, in order."""

    def describe(self) -> str:
        return "columns"


@dataclass(frozen=True)
class ScalarQuery(Probe[object]):
    """A user statement returning one number (metric checks); not scoped by the dataset's `where`."""

    sql: str

    def describe(self) -> str:
        return "metric statement"


@dataclass(frozen=True)
class Aggregate(Probe[object]):
    """An aggregate expression over the dataset's rows in its `where` scope (a metric's `expression`): one
    more column of the dataset's fused scan, where a `ScalarQuery` reads its tables again."""

    expression: str

    def describe(self) -> str:
        return f"metric expression {self.expression}"


@dataclass(frozen=True)
class Bucket:
    """One bucket of a `BucketCounts` answer: rows whose timestamp falls in [start, start + bucket)."""

    start: datetime  # UTC
    rows: int
    newest: datetime | None  # the largest timestamp in it (UTC), the bucket's last load


BucketSize = Literal["1h", "1d"]


@dataclass(frozen=True)
class BucketCounts(Probe[tuple[Bucket, ...]]):
    """Rows per UTC hour or day of a timestamp column from `since` on, in the dataset's `where` (learned
    baselines with `by:`): one grouped statement, oldest bucket first, empty buckets left out."""

    column: str
    bucket: BucketSize
    since: datetime  # UTC, a bucket boundary

    def describe(self) -> str:
        return f"rows per {self.bucket} of {self.column}"


@dataclass(frozen=True)
class TableState:
    """What the engine keeps of a table without reading it (a `TableStats` answer)."""

    rows: int | None  # an estimate on most engines
    bytes: int | None
    signature: str | None  # changes whenever the engine's counters say the table changed; None: a view
    modified_at: datetime | None  # where the engine keeps it (Snowflake, BigQuery); else None


@dataclass(frozen=True)
class TableStats(Probe[TableState]):
    """The table's statistics from the engine's catalog: one statement answers it for every table of a
    source (metadata-first checks of discovered tables); the table itself is not read."""

    def describe(self) -> str:
        return "table statistics"


@dataclass(frozen=True)
class Observed:
    """A probe's answer: a value, or the reason there is none, with the statement that produced it."""

    value: Any = None
    error: str | None = None
    reason: Reason = Reason.STATEMENT  # of the error
    statement: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # merged into the results that used it
    followups: tuple[str, ...] = ()  # statements run after `statement` for this answer (failing-row samples)
    # A short read-only statement a person can paste and run to see this answer alone (the fused `statement`
    # answers every probe of the dataset at once): `SELECT count(*) FROM t WHERE ...`; None: there is none.
    query: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Validation(Probe[QualityReport]):
    """A Pandera schema's rules over the dataset: counted in the warehouse where SQL can, else on a sample."""

    plan: QualityPlan

    def describe(self) -> str:
        return f"quality rules of {self.plan.ref}"


@dataclass(frozen=True)
class ColumnProfiles(Probe[ProfileReport]):
    """Per column, in the dataset's `where`: NULLs, distinct values, min/max/mean of numbers (never of a
    `pii` column), lengths of strings. Over every row in scope, fused with the dataset's other aggregates;
    or over a `sample` fraction of the table, a statement of its own."""

    columns: tuple[str, ...] | None  # None: the table's, in order, the first `max_columns`
    max_columns: int
    sample: float | None = None
    pii: frozenset[str] = frozenset()  # casefolded names

    def describe(self) -> str:
        return "column profiles"


class Answers:
    """What a source answered a check's probes with, each value typed by its probe."""

    def __init__(self, values: Mapping[Probe[Any], object]) -> None:
        self._values = values

    def __getitem__(self, probe: Probe[T]) -> T:
        return cast(T, self._values[probe])

    def get(self, probe: Probe[T], default: D) -> T | D:
        return cast(T, self._values[probe]) if probe in self._values else default

    def one(self, kind: type[Probe[T]]) -> T:
        """The answer of the one probe of this type (one whose fields the kind cannot rebuild cheaply)."""
        [value] = [value for probe, value in self._values.items() if type(probe) is kind]
        return cast(T, value)
