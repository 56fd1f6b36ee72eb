"""The SQL source: answers a dataset's probes with two statements, read-only and bounded in time.

Per `observe()` call, one metadata statement reads the table's columns (and proves the table exists),
then one fused aggregate statement answers every other probe, the way Soda fuses its metrics. When
the fused statement fails, each probe is re-run alone so only the bad one ends in error.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from checks.probes import Column, Columns, MaxValue, Observed, Probe, RowCount, ScalarQuery
from checks.sources.base import SourceError
from checks.sources.dialects import DialectProfile, profile_for
from monitor.config.models import DatasetConfig, SqlSourceConfig
from monitor.config.types import format_duration
from monitor.redact import Redactor, mask_url

CONNECT_TIMEOUT = 10.0  # seconds, at most: an unreachable host fails fast even with a long query_timeout
MAX_LISTED_COLUMNS = 20

# A short reason for the usual ways a connection fails; anything else shows the driver's first line.
_CONNECT_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), reason)
    for pattern, reason in (
        (r"connection refused", "connection refused"),
        (r"timeout expired|timed out", "connection timed out"),
        (r"authentication failed|access denied|password", "authentication failed"),
        (r"could not translate host name|name or service not known|nodename nor servname", "unknown host"),
    )
)
# `:name` in user SQL is text, not a bind parameter: escape it for sa.text (PostgreSQL's `::` casts stay).
_BIND_LIKE = re.compile(r"(?<![:\w\\]):(?=\w)")


T = TypeVar("T")


class _StatementFailed(Exception):
    """A statement failed; the message is one line, ready for `Observed.error`."""


def first_line(error: BaseException) -> str:
    """The first non-empty line of a driver error (SQLAlchemy wraps it in `orig`)."""
    text = str(getattr(error, "orig", None) or error)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)


def user_sql(sql: str) -> sa.TextClause:
    """User SQL as a text clause embeddable in a larger statement: no trailing `;`, comments closed."""
    text = sql.strip().rstrip(";").rstrip()
    if "--" in text.rsplit("\n", 1)[-1]:
        text += "\n"  # a trailing line comment would swallow the closing parenthesis
    return sa.text(_BIND_LIKE.sub(r"\\:", text))


class SqlSource:
    """A warehouse reached through SQLAlchemy; one engine (and pool) per source."""

    def __init__(self, name: str, config: SqlSourceConfig, base_dir: Path, redact: Redactor) -> None:
        self.name = name
        self.max_concurrency = config.max_concurrency
        self.requests: Counter[str] = Counter()
        self._timeout = config.query_timeout
        self._lock = threading.Lock()
        try:
            url = sa.make_url(config.url)
        except sa.exc.ArgumentError:
            shown = redact(mask_url(config.url))
            raise SourceError(f"source {name}: not a valid SQLAlchemy URL: {shown}") from None
        self._redact = redact.extended([url.password])
        self._profile: DialectProfile = profile_for(url.get_backend_name())
        resolved = self._profile.resolve(url, base_dir)
        self._label = self._redact(resolved.render_as_string(hide_password=True))
        self._url, connect_args = self._profile.open_options(resolved, min(self._timeout, CONNECT_TIMEOUT))
        self._engine = self._create_engine(connect_args)
        # Statements are shown with literal values and single percent signs: compile them for a
        # "named" paramstyle, which does not double `%` as the pyformat drivers need.
        dialect_class: Any = type(self._engine.dialect)
        self._display_dialect: Dialect = dialect_class(paramstyle="named")

    def _create_engine(self, connect_args: dict[str, Any]) -> sa.Engine:
        try:
            dialect_class: Any = self._url.get_dialect()
            pool_class = dialect_class.get_pool_class(self._url)
            sizing = (
                {"pool_size": self.max_concurrency, "max_overflow": 0}
                if issubclass(pool_class, sa.pool.QueuePool)
                else {}
            )
            return sa.create_engine(self._url, pool_pre_ping=True, connect_args=connect_args, **sizing)
        except (sa.exc.NoSuchModuleError, ImportError) as error:
            message = f"source {self.name}: cannot load the driver for {self._label}: {error}"
            raise SourceError(self._redact(message)) from None

    # --- the Source protocol -----------------------------------------------------------------------

    def describe(self) -> str:
        return self._label

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> None:
        try:
            with self._connect() as conn:
                self._run(conn, sa.select(sa.literal(1)))
        except _StatementFailed as failure:
            raise SourceError(self._redact(str(failure))) from None

    def observe(self, dataset: DatasetConfig, probes: Collection[Probe]) -> dict[Probe, Observed]:
        wanted = list(dict.fromkeys(probes))  # equal probes of two checks are fetched once
        if not wanted:
            return {}
        try:
            with self._connect() as conn:
                observed = self._observe(conn, dataset, wanted)
        except _StatementFailed as failure:
            observed = dict.fromkeys(wanted, Observed(error=str(failure)))
        return {probe: self._redacted(observed[probe]) for probe in wanted}

    # --- statements --------------------------------------------------------------------------------

    def _connect(self) -> Connection:
        try:
            return self._engine.connect()
        except Exception as error:
            raise _StatementFailed(
                f"cannot connect to source {self.name} ({self._label}): {connect_reason(error)}"
            ) from error

    def _run(self, conn: Connection, statement: sa.Executable) -> list[tuple[Any, ...]]:
        """One statement in its own read-only, time-bounded transaction; its rows."""
        return self._in_transaction(conn, lambda: [tuple(row) for row in conn.execute(statement)])

    def _in_transaction(self, conn: Connection, work: Callable[[], T]) -> T:
        with self._lock:
            self.requests["statement"] += 1
        deadline = self._profile.deadline(conn.connection.driver_connection, self._timeout)
        try:
            with conn.begin():
                for setup in self._profile.transaction_setup(self._timeout):
                    conn.exec_driver_sql(setup)
                with deadline:
                    return work()
        except Exception as error:
            if self._profile.is_timeout(getattr(error, "orig", None) or error, deadline):
                raise _StatementFailed(f"query timed out after {format_duration(self._timeout)}") from error
            raise _StatementFailed(first_line(error)) from error

    def _display(self, statement: sa.ClauseElement) -> str:
        compiled = statement.compile(dialect=self._display_dialect, compile_kwargs={"literal_binds": True})
        return str(compiled).strip()

    def _redacted(self, observed: Observed) -> Observed:
        return Observed(
            value=observed.value,
            error=self._redact(observed.error) if observed.error is not None else None,
            statement=self._redact(observed.statement) if observed.statement is not None else None,
        )

    # --- probes ------------------------------------------------------------------------------------

    def _observe(
        self, conn: Connection, dataset: DatasetConfig, probes: list[Probe]
    ) -> dict[Probe, Observed]:
        if not dataset.table:
            return dict.fromkeys(probes, Observed(error=f"dataset has no table for source {self.name}"))
        schema, _, table = dataset.table.rpartition(".")
        columns, metadata_statement = self._columns(conn, schema or None, table)
        if not columns:
            missing = f"table {dataset.table} not found in source {self.name}"
            return dict.fromkeys(probes, Observed(error=missing, statement=metadata_statement))
        observed: dict[Probe, Observed] = {}
        aggregates: dict[Probe, ColumnElement[Any]] = {}
        for probe in probes:
            answer = self._plan(probe, columns, dataset.table, metadata_statement)
            if isinstance(answer, Observed):
                observed[probe] = answer
            else:
                aggregates[probe] = answer
        if aggregates:
            observed.update(self._aggregate(conn, schema or None, table, dataset.where, aggregates))
        return observed

    def _plan(
        self, probe: Probe, columns: list[Column], table: str, metadata_statement: str
    ) -> Observed | ColumnElement[Any]:
        """The aggregate expression answering a probe, or its answer when no aggregate is needed."""
        match probe:
            case Columns():
                return Observed(value=columns, statement=metadata_statement)
            case RowCount():
                return sa.func.count()
            case MaxValue(column=wanted):
                found = find_column(columns, wanted)
                if found is None:
                    error = missing_column(wanted, table, columns)
                    return Observed(error=error, statement=metadata_statement)
                return sa.func.max(sa.column(found))
            case ScalarQuery(sql=sql):
                return user_sql(sql).columns(sa.column("value")).scalar_subquery()
        return Observed(error=f"source {self.name} (sql) cannot answer {probe.describe()}")

    def _aggregate(
        self, conn: Connection, schema: str | None, table: str, where: str | None,
        aggregates: dict[Probe, ColumnElement[Any]],
    ) -> dict[Probe, Observed]:
        """The fused statement; if it fails, each probe alone so only the bad one ends in error."""
        probes = list(aggregates)
        statement = fused_statement(schema, table, where, [aggregates[probe] for probe in probes])
        text = self._display(statement)
        try:
            row = self._run(conn, statement)[0]
        except _StatementFailed as failure:
            if len(probes) == 1:
                return {probes[0]: Observed(error=str(failure), statement=text)}
            return {
                probe: answer
                for probe in probes
                for answer in self._aggregate(conn, schema, table, where, {probe: aggregates[probe]}).values()
            }
        return {probe: Observed(value=row[index], statement=text) for index, probe in enumerate(probes)}

    def _columns(self, conn: Connection, schema: str | None, table: str) -> tuple[list[Column], str]:
        """The table's columns in order (empty when it does not exist) and the statement that read them."""
        if not self._profile.information_schema:
            return self._reflected_columns(conn, schema, table)
        dialect = conn.dialect
        schema = schema or dialect.default_schema_name
        statement = columns_statement(
            _denormalize(dialect, schema) if schema else None, _denormalize(dialect, table)
        )
        rows = self._run(conn, statement)
        columns = [Column(_normalize(dialect, str(row[0])), str(row[1])) for row in rows]
        return columns, self._display(statement)

    def _reflected_columns(
        self, conn: Connection, schema: str | None, table: str
    ) -> tuple[list[Column], str]:
        def reflect() -> list[Column]:
            try:
                reflected = sa.inspect(conn).get_columns(table, schema=schema)
            except sa.exc.NoSuchTableError:
                return []
            return [Column(str(c["name"]), c["type"].compile(dialect=conn.dialect)) for c in reflected]

        label = f"{schema}.{table}" if schema else table
        return self._in_transaction(conn, reflect), f"-- columns of {label} by SQLAlchemy reflection"


def fused_statement(
    schema: str | None, table: str, where: str | None, expressions: list[ColumnElement[Any]]
) -> sa.Select[Any]:
    """`SELECT <expr> AS p0, ... FROM "schema"."table" WHERE <where>`; identifiers quoted by SQLAlchemy."""
    statement = sa.select(*(expression.label(f"p{index}") for index, expression in enumerate(expressions)))
    if all(isinstance(expression, sa.ScalarSelect) for expression in expressions):
        return statement  # metric statements alone: they name their own tables and ignore `where`
    statement = statement.select_from(sa.table(table, schema=schema))
    return statement.where(user_sql(where)) if where else statement


def columns_statement(schema: str | None, table: str) -> sa.TextClause:
    """The columns of a table from information_schema, which DuckDB, PostgreSQL and most warehouses have."""
    in_schema = "table_schema = :schema AND " if schema else ""
    statement = sa.text(
        f"SELECT column_name, data_type FROM information_schema.columns"
        f" WHERE {in_schema}table_name = :table ORDER BY ordinal_position"
    )
    return statement.bindparams(table=table, **({"schema": schema} if schema else {}))


def find_column(columns: list[Column], wanted: str) -> str | None:
    """The column's real name: an exact match, else the only case-insensitive one."""
    names = [column.name for column in columns]
    if wanted in names:
        return wanted
    folded = [name for name in names if name.lower() == wanted.lower()]
    return folded[0] if len(folded) == 1 else None


def missing_column(wanted: str, table: str, columns: list[Column]) -> str:
    names = [column.name for column in columns]
    listed = ", ".join(names[:MAX_LISTED_COLUMNS])
    more = f" and {len(names) - MAX_LISTED_COLUMNS} more" if len(names) > MAX_LISTED_COLUMNS else ""
    return f"column {wanted} not found in {table} (columns: {listed}{more})"


def connect_reason(error: BaseException) -> str:
    message = str(getattr(error, "orig", None) or error)
    reasons = (reason for pattern, reason in _CONNECT_REASONS if pattern.search(message))
    return next(reasons, first_line(error))


def _denormalize(dialect: Dialect, name: str) -> str:
    """Names as the catalog stores them (upper case on Snowflake and Oracle)."""
    return (dialect.denormalize_name(name) or name) if dialect.requires_name_normalize else name


def _normalize(dialect: Dialect, name: str) -> str:
    return (dialect.normalize_name(name) or name) if dialect.requires_name_normalize else name
