"""Paste-able queries: a probe's answer as one short read-only statement a person can run at 3 a.m.

The fused statement a source runs answers every probe of a dataset at once, which nobody reads in a
notification. Each probe's own statement is built from the same SQLAlchemy selectables and rendered here,
values inline, in the source's dialect; a long one has its IN lists clipped, and one that stays long is
left out rather than cut mid-statement.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

MAX_QUERY = 600  # characters: a query a person reads before pasting it
KEPT_VALUES = 5  # values of an IN list kept when the query is too long

_LITERAL = r"'(?:[^']|'')*'|[^\s,()']+"  # a string (quotes doubled, as SQLAlchemy renders them) or a number
_IN_LIST = re.compile(rf"(?P<head>\bIN \()(?P<items>(?:{_LITERAL})(?:, (?:{_LITERAL})){{{KEPT_VALUES},}})\)")
_ITEM = re.compile(_LITERAL)


def rendered(statement: sa.ClauseElement, dialect: Dialect) -> str | None:
    """The statement with its values inline, bounded; None when a value has no literal form in the dialect
    (a placeholder would not run) or the statement stays too long."""
    try:
        text = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})).strip()
    except (sa.exc.CompileError, NotImplementedError):
        return None
    return bounded(text)


def bounded(text: str) -> str | None:
    """`text` if short enough; else with each long IN list cut to its first values and a comment saying how
    many more there are (run as is, it then returns more failing rows of `isin`, which the comment tells);
    None if that is still too long."""
    if len(text) <= MAX_QUERY:
        return text
    clipped = _IN_LIST.sub(_clip, text)
    return clipped if len(clipped) <= MAX_QUERY else None


def _clip(match: re.Match[str]) -> str:
    items = _ITEM.findall(match["items"])
    more = len(items) - KEPT_VALUES
    return f"{match['head']}{', '.join(items[:KEPT_VALUES])} /* and {more} more values */)"


def columns_query(schema: str | None, table: str) -> sa.Select[Any]:
    """The table's columns and types from information_schema, in order: what a schema check compares."""
    names: list[sa.ColumnClause[Any]] = [sa.column("column_name"), sa.column("data_type")]
    catalog = sa.table("columns", schema="information_schema")
    statement: sa.Select[Any] = sa.select(*names).select_from(catalog).where(sa.column("table_name") == table)
    if schema:
        statement = statement.where(sa.column("table_schema") == schema)
    return statement.order_by(sa.column("ordinal_position"))


# DuckDB's readers of a lake's formats, with the options that read the files as demon does.
_READERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "parquet": ("read_parquet", ()),
    "csv": ("read_csv", ("header = true",)),
    "jsonl": ("read_json", ("format = 'newline_delimited'",)),
}


def read_files(file_format: str, pattern: str) -> sa.TableValuedAlias:
    """DuckDB's table of the files matching `pattern` (`s3://bucket/prefix/**/*.parquet`)."""
    name, options = _READERS[file_format]
    reader = getattr(sa.func, name)(sa.literal(pattern), *map(sa.literal_column, options))
    table: sa.TableValuedAlias = reader.table_valued()
    return table


def duckdb_rendered(statement: sa.ClauseElement) -> str | None:
    """A statement as DuckDB runs it (a lake's query, pasted into the duckdb shell)."""
    return rendered(statement, _duckdb_dialect())


@cache
def _duckdb_dialect() -> Dialect:
    """Built once: looking the dialect up imports duckdb and its SQLAlchemy driver."""
    dialect: Any = sa.make_url("duckdb://").get_dialect()
    return cast(Dialect, dialect(paramstyle="named"))
