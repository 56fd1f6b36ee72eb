"""Helpers of the quality property tests: a table in a real warehouse, demon's counts and Pandera's.

The two counts come from independent paths on the same rows: demon compiles each one-rule schema to
SQL and counts in the warehouse through its read-only SqlSource; Pandera validates the table pulled
whole into pandas (`SELECT *`) with that same schema. One example puts a few rules (`Case`s), each on
its own columns, in one table: demon counts them in one fused statement, as it does a dataset's checks,
and each must still count alone what Pandera finds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa
import sqlalchemy as sa
from hypothesis import strategies as st

from checks.probes import Validation
from checks.quality.plan import build_plan
from checks.sources.settings import SqlSourceConfig
from checks.sources.sql import SqlSource
from monitor.core.config.models import DatasetConfig
from monitor.core.evidence import QualityReport, RuleResult
from monitor.core.redact import Redactor

Kind = Literal["integer", "float", "string"]
KINDS: tuple[Kind, ...] = ("integer", "float", "string")
TABLE = "quality_t"
MAX_ROWS = 30
# FLOAT8 and BIGINT are spelled alike in DuckDB and PostgreSQL.
SQL_TYPES: dict[Kind, str] = {"integer": "BIGINT", "float": "FLOAT8", "string": "VARCHAR"}
# PostgreSQL's strings in a linguistic order ('a' < 'A' < 'b', 'é' < 'f'), as most databases have them,
# not in the test server's code-point default (C.UTF-8): demon must compare strings as Python does.
STRING_COLLATIONS = {"postgresql": ' COLLATE "en-x-icu"'}
UNPREPARED = {"prepare_threshold": None}  # psycopg: never prepare the writer's statements

# Characters of generated strings: ASCII letters and LIKE/escape characters, an accent precomposed and
# as a combining mark, an emoji (outside the BMP), CJK, a non-ASCII letter, spaces and line breaks.
# No NUL: PostgreSQL text cannot hold it.
ALPHABET = ("a", "b", "c", "x", "y", "A", "1", "2", "é", "e", "\u0301", "😀", "中", "文", "ß", " ", "\n",
            "\r", "%", "_", "/", "\\", ".", "~")
UNICODE_DIGITS = ("\u0663", "\u0661")  # Arabic-Indic three and one: Python's `\d` matches them
WORDS = ("", "a", "ab", "abc", "x.y", "x\ny", "é", "e\u0301", "😀😀", "中文", "A", "a ", "ab\n", "12",
         "1\u0663")
SPECIAL_FLOATS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 1.5, -1.5)

Row = tuple[Any, ...]


def texts(alphabet: Sequence[str] = ALPHABET + UNICODE_DIGITS) -> st.SearchStrategy[str]:
    """Short strings, often one of a few fixed words (so that values repeat and meet the bounds)."""
    words = [word for word in WORDS if all(char in alphabet for char in word)]
    return st.one_of(st.sampled_from(words), st.text(st.sampled_from(alphabet), max_size=5))


def plain_values(kind: Kind, strings: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    """Non-null values of a column kind (NaN is a float's null to Pandera, so it is drawn here too)."""
    if kind == "integer":
        return st.integers(-3, 3)
    if kind == "float":
        return st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(-4, 4), st.floats(width=64))
    return strings if strings is not None else texts()


def cells(
    kind: Kind, seeds: Sequence[Any] = (), strings: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[Any]:
    """A column's cells: NULLs, the rule's own boundary values (`seeds`) and anything else of the kind."""
    options = [st.none(), plain_values(kind, strings)]
    if seeds:
        options.append(st.sampled_from(list(seeds)))
    return st.one_of(*options)


def is_null(value: Any) -> bool:
    """Null to pandas: None, and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _unchanged(rows: list[Row]) -> list[Row]:
    return rows


@dataclass(frozen=True)
class Case:
    """One rule of an example, on columns of its own.

    `schema` builds the one-rule schema on the names the table gives those columns; `adjust` edits the
    case's part of the drawn rows (its cells only) where a known difference must be stepped around.
    """

    label: str  # shown by Hypothesis, and in a failure
    check: str  # Pandera's name of the rule's check
    kinds: tuple[Kind, ...]
    cells: tuple[st.SearchStrategy[Any], ...]
    schema: Callable[[Sequence[str]], Any] = field(repr=False)
    adjust: Callable[[list[Row]], list[Row]] = field(default=_unchanged, repr=False)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How Hypothesis shows a drawn case: by its label."""
        printer.text(f"<{self.label}>")


def one_column_case(
    label: str, check: str, kind: Kind, column_cells: st.SearchStrategy[Any], **options: Any
) -> Case:
    """A case of one untyped, nullable column; `options` are Pandera Column arguments (checks, unique)."""
    settings = {"nullable": True, **options}
    return Case(
        label, check, (kind,), (column_cells,),
        lambda names: pa.DataFrameSchema({names[0]: pa.Column(None, **settings)}),
    )


class Warehouse:
    """One database for a whole test function; its one table is dropped and rebuilt per example.

    The writer is SQLAlchemy on the same URL; demon reads through its own SqlSource. A DuckDB file
    admits no read-only connection beside a writable one in one process, so there every connection is
    closed once used (NullPool for the writer; the source's pool emptied after each observation).
    """

    def __init__(self, backend: str, url: str, base_dir: Path) -> None:
        self.backend = backend
        self._local = local = backend == "duckdb"
        # psycopg prepares a statement run five times on a connection, and PostgreSQL then refuses it once
        # the table is rebuilt with other types ("cached plan must not change result type").
        self._writer = sa.create_engine(
            url, poolclass=sa.NullPool if local else sa.QueuePool, connect_args={} if local else UNPREPARED
        )
        self._source = SqlSource("warehouse", SqlSourceConfig(kind="sql", url=url), base_dir, Redactor())

    def close(self) -> None:
        self._source.close()
        self._writer.dispose()

    def _type(self, kind: Kind) -> str:
        return SQL_TYPES[kind] + (STRING_COLLATIONS.get(self.backend, "") if kind == "string" else "")

    def load(self, kinds: Sequence[Kind], rows: Sequence[Row]) -> Any:
        """Rebuild the table (columns c0, c1, ...) with `rows`; return it pulled whole (`SELECT *`)
        into pandas, as the driver hands the values over."""
        names = [f"c{index}" for index in range(len(kinds))]
        columns = ", ".join(f"{name} {self._type(kind)}" for name, kind in zip(names, kinds, strict=True))
        table = sa.table(TABLE, *(sa.column(name) for name in names))
        with self._writer.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
            conn.execute(sa.text(f"CREATE TABLE {TABLE} ({columns})"))
            if rows:  # one statement: DuckDB's executemany costs about a millisecond a row
                conn.execute(table.insert().values([dict(zip(names, row, strict=True)) for row in rows]))
            pulled = conn.execute(sa.text(f"SELECT * FROM {TABLE}"))
            return pd.DataFrame([tuple(row) for row in pulled], columns=list(pulled.keys()))

    def demon_results(self, schemas: Sequence[Any]) -> list[RuleResult]:
        """The result of each one-rule schema, all counted in one observation by demon's SQL source."""
        plans = [
            build_plan(schema, f"properties:case{index}", sample=MAX_ROWS, scope="all", pii=())
            for index, schema in enumerate(schemas)
        ]
        for plan in plans:
            assert len(plan.rules) == 1, plan.rules
            assert plan.residual is None, "the rule must be compiled to SQL, not run on a sample"
        probes = [Validation(plan) for plan in plans]
        try:
            answers = self._source.observe(DatasetConfig(source="warehouse", table=TABLE), probes)
        finally:
            if self._local:
                self._source.close()
        return [_only_result(answers[probe]) for probe in probes]


def _only_result(answer: Any) -> RuleResult:
    assert answer.ok, answer.error
    report = answer.value
    assert isinstance(report, QualityReport)
    (result,) = report.rules
    assert isinstance(result, RuleResult)
    assert result.mode == "in_warehouse" and result.error is None, result
    return result


def error_check_name(error: Any) -> str:
    """Pandera's name of the check an error is about: a Check's name, or the core check's string."""
    check = error.check
    return check if isinstance(check, str) else str(check.name)


def pandera_failing(schema: Any, frame: Any, check: str) -> int:
    """Failing rows Pandera finds for `check`: the False entries of its output when it keeps one (built-in
    checks), else the distinct row labels of its failure cases (nullability, uniqueness)."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        found = list(errors.schema_errors)
    else:
        return 0
    names = {error_check_name(error) for error in found}
    assert names == {check}, f"a one-rule schema failed other checks: {names}"
    (error,) = found
    output = error.check_output
    if output is not None:
        return int((~output.astype(bool)).sum())
    return len(set(error.failure_cases["index"]))


def case_rows(cases: Sequence[Case], max_size: int = MAX_ROWS) -> st.SearchStrategy[list[Row]]:
    """Rows of a table holding every case's columns, side by side, each case's part adjusted."""
    columns = [column for case in cases for column in case.cells]
    return st.lists(st.tuples(*columns), max_size=max_size).map(lambda rows: _adjusted(cases, rows))


def _adjusted(cases: Sequence[Case], rows: list[Row]) -> list[Row]:
    parts: list[list[Row]] = []
    start = 0
    for case in cases:
        width = len(case.kinds)
        parts.append(case.adjust([row[start:start + width] for row in rows]))
        start += width
    lengths = {len(part) for part in parts}
    size = min(lengths) if lengths else 0  # an adjustment may drop rows: keep the rows all parts kept
    return [sum((part[index] for part in parts), ()) for index in range(size)]


def assert_same_counts(warehouse: Warehouse, cases: Sequence[Case], rows: Sequence[Row]) -> None:
    """Each case's failing rows as demon counts them in the warehouse are those Pandera finds."""
    names: list[list[str]] = []
    for case in cases:
        start = sum(len(found) for found in names)
        names.append([f"c{start + offset}" for offset in range(len(case.kinds))])
    frame = warehouse.load([kind for case in cases for kind in case.kinds], rows)
    schemas = [case.schema(columns) for case, columns in zip(cases, names, strict=True)]
    results = warehouse.demon_results(schemas)
    found = [(result.rows, result.failing) for result in results]
    expected = [
        (len(rows), pandera_failing(schema, frame, case.check))
        for case, schema in zip(cases, schemas, strict=True)
    ]
    differing = [
        f"{case.label} on {', '.join(columns)}: demon {got[1]} failing, Pandera {wanted[1]}"
        for case, columns, got, wanted in zip(cases, names, found, expected, strict=True)
        if got != wanted
    ]
    assert found == expected, f"{warehouse.backend}: " + "; ".join(differing)
