"""What a warehouse already knows of every table, read for all of them at once: discovery's list of tables,
and the metadata-first checks' row counts, change counters and columns.

One statement reads the statistics of every table of a source (the engine keeps them anyway: no table is
scanned), one more the columns of every table. A snapshot serves every dataset of the source for
`MAX_AGE` seconds, so a run of thousands of discovered tables costs two statements, not thousands.
Per engine, the statement is data (`STATS_SQL`); rows: schema, table, is_view, readable, rows, bytes,
signature (text that changes whenever the engine's counters say the table changed), modified_at.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from checks.probes import Column, TableState
from checks.sources.dialects import pg_catalog_columns

MAX_AGE = 60.0  # seconds a snapshot answers for: jobs of one scheduled tick share it

# PostgreSQL keeps no modification time: the insert/update/delete counters and the relation's file node (a
# TRUNCATE or a rewrite changes it) make the signature; rows are the live-tuple estimate, else reltuples;
# bytes the pages VACUUM and ANALYZE last counted (pg_total_relation_size, exact, took 3/4 of the statement).
_PG_STATS = (
    "SELECT n.nspname, c.relname, c.relkind IN ('v', 'm'),"
    " has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT'),"
    " COALESCE(s.n_live_tup, NULLIF(c.reltuples, -1)::bigint),"
    " CASE WHEN c.relkind IN ('r', 'm') THEN c.relpages::bigint * current_setting('block_size')::bigint END,"
    " CASE WHEN c.relkind <> 'v' THEN concat_ws(':', c.relfilenode, s.n_tup_ins, s.n_tup_upd, s.n_tup_del,"
    " s.n_live_tup) END,"
    " CAST(NULL AS timestamptz)"
    " FROM pg_catalog.pg_class AS c"
    " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
    " LEFT JOIN pg_catalog.pg_stat_user_tables AS s ON s.relid = c.oid"
    " WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
    " AND n.nspname NOT LIKE 'pg_temp%'"
)
# DuckDB keeps a row estimate per table and nothing that says when it changed: the signature is the estimate.
_DUCKDB_STATS = (
    "SELECT schema_name, table_name, false, true, estimated_size, CAST(NULL AS BIGINT),"
    " CAST(estimated_size AS VARCHAR) || ':' || CAST(column_count AS VARCHAR), CAST(NULL AS TIMESTAMPTZ)"
    " FROM duckdb_tables() WHERE NOT internal AND NOT temporary AND database_name = current_database()"
    " UNION ALL SELECT schema_name, view_name, true, true, NULL, NULL, NULL, NULL"
    " FROM duckdb_views() WHERE NOT internal AND NOT temporary AND database_name = current_database()"
)
# Not run in demon's tests (no such servers here); from each engine's documentation.
_SNOWFLAKE_STATS = (
    "SELECT table_schema, table_name, table_type = 'VIEW', true, row_count, bytes,"
    " TO_VARCHAR(last_altered), last_altered"
    " FROM information_schema.tables WHERE table_schema <> 'INFORMATION_SCHEMA'"
)
_REDSHIFT_STATS = (
    'SELECT "schema", "table", false, true, tbl_rows, size * 1048576,'
    " CAST(tbl_rows AS VARCHAR) || ':' || CAST(size AS VARCHAR), CAST(NULL AS TIMESTAMP)"
    " FROM svv_table_info"
)
_BIGQUERY_STATS = (  # the default dataset's tables (a BigQuery dataset is demon's schema)
    "SELECT dataset_id, table_id, type = 2, true, row_count, size_bytes, CAST(last_modified_time AS STRING),"
    " TIMESTAMP_MILLIS(last_modified_time) FROM __TABLES__"
)
STATS_SQL: dict[str, str] = {
    "postgresql": _PG_STATS,
    "duckdb": _DUCKDB_STATS,
    "snowflake": _SNOWFLAKE_STATS,
    "redshift": _REDSHIFT_STATS,
    "bigquery": _BIGQUERY_STATS,
}

# The columns of every table: PostgreSQL's catalog (as for one table, see dialects.PG_CATALOG_COLUMNS), or
# information_schema elsewhere. Rows: schema, table, column, type name; in column order.
_PG_COLUMNS = pg_catalog_columns(
    "NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
)
_INFORMATION_SCHEMA_COLUMNS = (
    "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
    " WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
    " ORDER BY table_schema, table_name, ordinal_position"
)
COLUMNS_SQL: dict[str, str] = {"postgresql": _PG_COLUMNS}
DEFAULT_COLUMNS_SQL = _INFORMATION_SCHEMA_COLUMNS

Key = tuple[str, str]  # (schema, table), lower-case: how names are matched


@dataclass(frozen=True)
class CatalogTable:
    """One table or view as the catalog lists it, with what the engine keeps of it."""

    schema: str
    name: str
    view: bool
    readable: bool  # the role may read it (PostgreSQL: USAGE on the schema and SELECT on the table)
    state: TableState

    @property
    def key(self) -> Key:
        return (self.schema.lower(), self.name.lower())

    @property
    def qualified(self) -> str:
        """`schema.table` as a dataset's `table` names it: a part holding a dot or a quote is quoted."""
        return f"{_quoted(self.schema)}.{_quoted(self.name)}"


def _quoted(part: str) -> str:
    return '"{}"'.format(part.replace('"', '""')) if "." in part or '"' in part else part


@dataclass(frozen=True)
class Catalog:
    """Every table and view of a source, and the schema a name without one is in."""

    tables: list[CatalogTable]
    default_schema: str | None
    statistics: bool = True  # False: an engine whose statistics demon does not read (names only)

    @cached_property
    def _by_key(self) -> dict[Key, CatalogTable]:
        return {table.key: table for table in self.tables}

    @cached_property
    def ambiguous(self) -> frozenset[Key]:
        """Keys of tables whose names differ only in case (`"Orders"` and `orders`): never guessed between."""
        seen = Counter(table.key for table in self.tables)
        return frozenset(key for key, count in seen.items() if count > 1)

    def key_of(self, name: str) -> Key:
        """The key of a dataset's `table` (`t`, `s.t` or `"db"."s"."t"`; the database is the source's own)."""
        _, schema, table = split_name(name)
        return ((schema or self.default_schema or "").lower(), table.lower())

    def table(self, key: Key) -> CatalogTable | None:
        return None if key in self.ambiguous else self._by_key.get(key)


def catalog_table(row: Sequence[Any]) -> CatalogTable:
    schema, name, view, readable, rows, size, signature, modified_at = row
    state = TableState(
        rows=None if rows is None else int(rows),
        bytes=None if size is None else int(size),
        signature=None if signature is None else str(signature),
        modified_at=modified_at,
    )
    return CatalogTable(str(schema), str(name), bool(view), bool(readable), state)


T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """What one catalog statement said, the statement as shown, and when (monotonic seconds)."""

    value: T
    statement: str
    taken: float


class Cached(Generic[T]):
    """A snapshot read at most once per `max_age` seconds; threads asking meanwhile wait for the one read.
    A failed read is remembered as long: a source that is down costs one attempt, not one per table."""

    def __init__(self, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot[T] | None = None
        self._failure: tuple[Exception, float] | None = None

    def get(self, read: Callable[[], tuple[T, str]]) -> Snapshot[T]:
        with self._lock:
            now = self._clock()
            if self._failure is not None and now - self._failure[1] <= self._max_age:
                raise self._failure[0].with_traceback(None)  # not a traceback grown by every asker
            if self._snapshot is None or now - self._snapshot.taken > self._max_age:
                try:
                    value, statement = read()
                except Exception as error:
                    self._failure = (error, now)
                    raise
                self._snapshot, self._failure = Snapshot(value, statement, now), None
            return self._snapshot


def columns_by_key(rows: Sequence[Sequence[Any]]) -> dict[Key, list[Column]]:
    found: dict[Key, list[Column]] = {}
    for schema, table, column, type_name in rows:
        key = (str(schema).lower(), str(table).lower())
        found.setdefault(key, []).append(Column(str(column), str(type_name)))
    return found


def split_name(name: str) -> tuple[str | None, str | None, str]:
    """A dataset's table as (database, schema, table): `t`, `s.t` or `db.s.t`, each part maybe quoted
    (dbt writes `"db"."schema"."table"`). Dots inside quotes belong to the name."""
    parts: list[str] = []
    current, quoted, index = "", False, 0
    while index < len(name):
        char = name[index]
        if char == '"' and quoted and name[index + 1:index + 2] == '"':
            current += '"'
            index += 1
        elif char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    parts.append(current)
    padded: list[str | None] = [None] * (3 - len(parts)) + list(parts[-3:])
    return padded[0], padded[1], padded[2] or ""
