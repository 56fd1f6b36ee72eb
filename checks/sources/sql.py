"""The SQL source: answers a dataset's probes with two statements, read-only and bounded in time.

Per `observe()` call, one metadata statement reads the table's columns (and proves the table exists),
then one fused aggregate statement answers every other probe, the way Soda fuses its metrics. When
the fused statement fails, each probe is re-run alone so only the bad one ends in error; unless it
timed out, as each part alone could take as long again. Rows per bucket of time (`BucketCounts`) need a
grouped statement of their own, one per probe, run after the fused one.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from checks.baselines.params import BUCKET_SECONDS
from checks.probes import (
    Aggregate,
    Bucket,
    BucketCounts,
    BucketSize,
    Column,
    ColumnProfiles,
    Columns,
    MaxValue,
    Observed,
    Probe,
    RowCount,
    ScalarQuery,
    TableState,
    TableStats,
    Validation,
)
from checks.sources import engines
from checks.sources.base import SourceError
from checks.sources.catalog import (
    COLUMNS_SQL,
    DEFAULT_COLUMNS_SQL,
    STATS_SQL,
    Cached,
    Catalog,
    CatalogTable,
    Key,
    catalog_table,
    columns_by_key,
    split_name,
)
from checks.sources.dialects import (
    Deadline,
    DialectProfile,
    EpochSeconds,
    error_codes,
    inline_values,
    profile_for,
)
from checks.sources.queries import bounded, columns_query, rendered
from checks.sources.settings import SqlSourceConfig
from monitor.core.clock import as_utc
from monitor.core.config.models import DatasetConfig
from monitor.core.distribution import missing_module
from monitor.core.failures import Reason
from monitor.core.humanize import closest, first_line, suggestion
from monitor.core.redact import Redactor, mask_url
from monitor.core.typefamilies import family_of

if TYPE_CHECKING:
    from checks.sources.sql_profile import ProfileQuery
    from checks.sources.sql_quality import QualityQuery

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
# SQLSTATE of "permission denied" (PostgreSQL, and the standard's class 42 for the others that use it).
DENIED_CODES = frozenset({"42501"})
# `:name` in user SQL is text, not a bind parameter: escape it for sa.text (PostgreSQL's `::` casts stay).
_BIND_LIKE = re.compile(r"(?<![:\w\\]):(?=\w)")
# Reasons of a statement that ended early (`_StatementFailed.final`): the next one would wait the same way.
ENDED_EARLY = frozenset({Reason.TIMEOUT, Reason.INTERRUPTED, Reason.UNREACHABLE})


T = TypeVar("T")


class _StatementFailed(Exception):
    """A statement failed; the message is one line, ready for `Observed.error`. `final`: running its
    parts one by one would fail (or wait) the same way, so they are not tried."""

    def __init__(self, message: str, final: bool = False, reason: Reason = Reason.STATEMENT) -> None:
        super().__init__(message)
        self.final, self.reason = final, reason

    def observed(self, statement: str | None = None) -> Observed:
        return Observed(error=str(self), reason=self.reason, statement=statement)


class _Session:
    """The connection of one dataset run, checked out at its first statement and shared by the rest, so they
    are one transaction; leaving the block rolls it back and returns the connection to the pool."""

    def __init__(self, connect: Callable[[], Connection]) -> None:
        self._connect = connect
        self._conn: Connection | None = None

    def __call__(self) -> Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            _roll_back(self._conn)  # first: a rollback failing inside close() would keep the connection
            self._conn.close()


@dataclass(frozen=True)
class Table:
    """A table as the catalog spells it, with its columns in order."""

    schema: str | None
    name: str
    columns: list[Column]


def user_sql(sql: str) -> sa.TextClause:
    """User SQL as a text clause embeddable in a larger statement: no trailing `;`, comments closed.

    The config refuses any other `;` (monitor/core/config/types.py), so what embeds it stays one statement.
    """
    text = sql.strip().rstrip(";").rstrip()
    if "--" in text.rsplit("\n", 1)[-1]:
        text += "\n"  # a trailing line comment would swallow the closing parenthesis
    return sa.text(_BIND_LIKE.sub(r"\\:", text))


def condition(where: str) -> sa.TextClause:
    """A dataset's `where` in parentheses: an `OR` in it cannot widen what the rest of the statement adds."""
    return sa.text(f"({user_sql(where).text})")


class SqlSource:
    """A warehouse reached through SQLAlchemy; one engine (and pool) per source, shared in the process."""

    def __init__(self, name: str, config: SqlSourceConfig, base_dir: Path, redact: Redactor) -> None:
        self.name = name
        self.max_concurrency = config.max_concurrency
        self.requests: Counter[str] = Counter()
        self._timeout = config.query_timeout
        self._work_mem = config.work_mem
        self._lock = threading.Lock()
        self._deadlines: set[Deadline] = set()  # of the statements running now
        self._closed = False
        try:
            url = sa.make_url(config.url)
        except (sa.exc.ArgumentError, ValueError):  # ValueError: a bad port, an unclosed [IPv6] host, ...
            shown = redact(mask_url(config.url))
            raise SourceError(f"source {name}: not a valid SQLAlchemy URL: {shown}", Reason.SETUP) from None
        self._backend = url.get_backend_name()
        self._profile: DialectProfile = profile_for(self._backend)
        self._catalog: Cached[Catalog] = Cached()
        self._columns: Cached[dict[Key, list[Column]]] = Cached()
        resolved = self._profile.resolve(url, base_dir)
        self._label, self._redact = self._shown(config.url, resolved, redact)
        connect_timeout = min(self._timeout, CONNECT_TIMEOUT)
        self._url, connect_args = self._profile.open_options(
            resolved, self._timeout, connect_timeout, config.read_files, config.memory_limit
        )
        self._engine = self._create_engine(connect_args, self._profile.is_local_file(resolved))
        # Statements are shown with literal values and single percent signs: compile them for a
        # "named" paramstyle, which does not double `%` as the pyformat drivers need.
        dialect_class: Any = type(self._engine.dialect)
        self._display_dialect: Dialect = dialect_class(paramstyle="named")

    def _shown(self, raw: str, resolved: URL, redact: Redactor) -> tuple[str, Redactor]:
        """The label of the source and the redactor of its messages, which also masks the URL's password.

        A URL holding a secret from the environment (perhaps all of it) is shown as its redacted raw
        text: the parsed URL renders differently (resolved path, re-encoded query), so the redactor would
        no longer recognise the secret in it. For the same reason a local file's resolved path is masked.
        """
        hidden = [resolved.password]
        label = redact(raw)
        if label == Redactor()(raw):
            label = redact(resolved.render_as_string(hide_password=True))
        elif self._profile.is_local_file(resolved):
            hidden.append(resolved.database)
        return label, redact.extended(hidden)

    def _create_engine(self, connect_args: dict[str, Any], local_file: bool) -> sa.Engine:
        """The process's pooled engine for this source (see engines.py); for a local database file, one whose
        connections close when released: an open DuckDB file is locked, and the pipeline that loads it must
        be able to write between runs."""
        try:
            dialect_class: Any = self._url.get_dialect()
            pool_class = sa.pool.NullPool if local_file else dialect_class.get_pool_class(self._url)
            alive = None if local_file else self._profile.alive
            taken = sa.util.get_cls_kwargs(dialect_class)
            options: dict[str, Any] = {key: value for key, value in self._profile.engine_args if key in taken}
            options.update(poolclass=pool_class, pool_pre_ping=not local_file and alive is None)
            if issubclass(pool_class, sa.pool.QueuePool):
                options.update(pool_size=self.max_concurrency, max_overflow=0)
            return engines.acquire(self._url, connect_args, options, alive)
        except (sa.exc.NoSuchModuleError, ImportError) as error:
            why = missing_module(error) if isinstance(error, ModuleNotFoundError) else str(error)
            message = f"source {self.name}: cannot load the driver for {self._label}: {why}"
            raise SourceError(self._redact(message), Reason.SETUP) from None

    # --- the Source protocol -----------------------------------------------------------------------

    def describe(self) -> str:
        return self._label

    def close(self) -> None:
        with self._lock:
            closed, self._closed = self._closed, True
        if not closed:  # the engine is shared: let go of it once
            engines.release(self._engine)

    def ping(self) -> None:
        try:
            with _Session(self._connect) as session:
                self._run(session(), sa.select(sa.literal(1)))
        except _StatementFailed as failure:
            raise SourceError(self._redact(str(failure))) from None

    def locate(self, dataset: DatasetConfig) -> str:
        if not dataset.table:
            raise SourceError(f"dataset has no table for source {self.name}")
        try:
            with _Session(self._connect) as session:
                conn = session()
                found, _ = self._table(conn, dataset.table)
                problem = None if isinstance(found, str) else self._where_problem(conn, found, dataset.where)
        except _StatementFailed as failure:
            raise SourceError(self._redact(str(failure))) from None
        if isinstance(found, str) or problem:
            raise SourceError(self._redact(found if isinstance(found, str) else str(problem)))
        return f"table {_qualified(found)}, {len(found.columns)} columns"

    def observe(self, dataset: DatasetConfig, probes: Collection[Probe[Any]]) -> dict[Probe[Any], Observed]:
        wanted = list(dict.fromkeys(probes))  # equal probes of two checks are fetched once
        # Statistics always come from the catalog; columns too when nothing else needs the table itself.
        scanned = [probe for probe in wanted if not isinstance(probe, TableStats)]
        only_columns = scanned == [Columns()] and self._backend in STATS_SQL
        from_catalog = [probe for probe in wanted if probe not in scanned or only_columns]
        scanned = [probe for probe in scanned if probe not in from_catalog]
        with _Session(self._connect) as session:  # the run's statements: one connection, one transaction
            observed = self._from_catalog(session, dataset, from_catalog) if from_catalog else {}
            if scanned:
                try:
                    observed.update(self._observe(session(), dataset, scanned))
                except _StatementFailed as failure:
                    observed.update(dict.fromkeys(scanned, failure.observed()))
        return {probe: self._redacted(observed[probe]) for probe in wanted}

    def catalog(self) -> Catalog:
        """Every table and view of the source with what the engine keeps of it: one statement, its answer
        shared for a minute (discovery, every metadata-first check of a run); SourceError if unreadable."""
        try:
            with _Session(self._connect) as session:
                return self._catalog.get(lambda: self._read_catalog(session())).value
        except _StatementFailed as failure:
            raise SourceError(self._redact(str(failure)), failure.reason) from None

    def columns(self) -> dict[Key, list[Column]]:
        """The columns of every table and view by `Key`, in order: one statement, shared like the catalog's
        (`demon init` looks for load-time columns in them); SourceError if unreadable."""
        try:
            with _Session(self._connect) as session:
                return self._columns.get(lambda: self._read_columns(session())).value
        except _StatementFailed as failure:
            raise SourceError(self._redact(str(failure)), failure.reason) from None

    # --- the catalog -------------------------------------------------------------------------------

    def _read_catalog(self, conn: Connection) -> tuple[Catalog, str]:
        sql = STATS_SQL.get(self._backend)
        default_schema = conn.dialect.default_schema_name
        if sql is None:  # an engine without statistics demon reads: the names alone
            unknown = TableState(None, None, None, None)
            tables = [CatalogTable(schema, name, False, True, unknown)
                      for schema, name in self._table_names(conn)]
            shown = "-- table names (no statistics read here)"
            return Catalog(tables, default_schema, statistics=False), shown
        statement = sa.text(sql)
        rows = self._run(conn, statement)
        tables = sorted((catalog_table(row) for row in rows), key=lambda table: (table.schema, table.name))
        return Catalog(tables, default_schema), self._display(statement)

    def _read_columns(self, conn: Connection) -> tuple[dict[Key, list[Column]], str]:
        statement = sa.text(COLUMNS_SQL.get(self._backend, DEFAULT_COLUMNS_SQL))
        return columns_by_key(self._run(conn, statement)), self._display(statement)

    def _not_in(self, catalog: Catalog, name: str) -> str:
        """`table X not found`, naming the nearest tables of the catalog (as `_not_found` does)."""
        schema, table = catalog.key_of(name)
        if (schema, table) in catalog.ambiguous:
            alike = ", ".join(sorted(item.qualified for item in catalog.tables
                                     if item.key == (schema, table)))
            return f"table {name} not found in source {self.name} (ambiguous: {alike})"
        near = {item.key: item.qualified for item in catalog.tables
                if item.key[0] == schema or item.key[1] == table}
        close = set(closest(table, {key[1] for key in near}, n=3))
        found = [near[key] for key in sorted(near) if key[1] in close]
        return f"table {name} not found in source {self.name}{suggestion(found[:3])}"

    def _from_catalog(
        self, session: _Session, dataset: DatasetConfig, probes: list[Probe[Any]]
    ) -> dict[Probe[Any], Observed]:
        """Statistics and columns of the dataset's table from the source-wide snapshots, read (when they are
        stale) in the dataset run's transaction."""
        try:
            snapshot = self._catalog.get(lambda: self._read_catalog(session()))
            catalog = snapshot.value
            key = catalog.key_of(dataset.table or "")
            found = catalog.table(key)
            if found is None:
                missing = self._not_in(catalog, dataset.table or "")
                return dict.fromkeys(probes, Observed(error=missing, reason=Reason.MISSING,
                                                      statement=snapshot.statement))
            observed: dict[Probe[Any], Observed] = {}
            for probe in probes:
                if isinstance(probe, TableStats):
                    observed[probe] = Observed(value=found.state, statement=snapshot.statement)
                else:
                    columns = self._columns.get(lambda: self._read_columns(session()))
                    observed[probe] = Observed(value=columns.value.get(key, []), statement=columns.statement,
                                               query=self._columns_query(found.schema, found.name))
            return observed
        except _StatementFailed as failure:
            return dict.fromkeys(probes, failure.observed())

    # --- statements --------------------------------------------------------------------------------

    def _connect(self) -> Connection:
        try:
            return self._engine.connect()
        except Exception as error:
            raise _StatementFailed(
                f"cannot connect to source {self.name} ({self._label}): "
                + self._profile.explained(connect_reason(error)),
                reason=Reason.UNREACHABLE,
            ) from error

    def _run(self, conn: Connection, statement: sa.Executable, scan: bool = False) -> list[tuple[Any, ...]]:
        """One statement in the connection's read-only, time-bounded transaction; its rows. `scan`: it reads
        the dataset's rows (sorting or hashing them, perhaps), and gets the source's `work_mem`."""
        if self._profile.inline_values:
            statement = inline_values(statement)
        return self._in_transaction(conn, lambda: [tuple(row) for row in conn.execute(statement)], scan)

    def _in_transaction(self, conn: Connection, work: Callable[[], T], scan: bool = False) -> T:
        """`work` in the transaction of the dataset run, begun by its first statement and rolled back when
        the run's connection closes: one BEGIN and one ROLLBACK a run, not one of each per statement.

        Nothing is committed, ever, and the rollback also undoes any session-wide SET a metric made (say
        `set_config('default_transaction_read_only', 'off', false)`) before the next run has the connection.
        A failed statement rolls the transaction back at once: PostgreSQL and DuckDB refuse every later
        statement of a failed transaction, and the parts re-run alone need a clean one (no savepoints).
        `work_mem` is set (`SET LOCAL`, for the rest of the transaction) before each scan, only when given.
        """
        with self._lock:
            self.requests["statement"] += 1
        deadline: Deadline | None = None
        try:
            deadline = self._profile.deadline(conn.connection.driver_connection, self._timeout)
            if not conn.in_transaction():
                conn.begin()
                for setup in self._profile.transaction_setup(self._timeout):
                    conn.exec_driver_sql(setup)
            for setup in self._profile.memory_setup(self._work_mem) if scan else []:
                conn.exec_driver_sql(setup)
            with self._running(deadline):
                return work()
        except Exception as error:
            _roll_back(conn)
            raise self._failure(error, deadline) from error

    def _failure(self, error: Exception, deadline: Deadline | None) -> _StatementFailed:
        """A failed statement, one line: ended early (timed out, interrupted, server silent: its parts are
        not tried again), the connection lost (reconnecting is for the next run), or the statement's own."""
        driver_error = getattr(error, "orig", None) or error
        early = self._profile.ended_early(driver_error, deadline, self._timeout) if deadline else None
        if early:
            return _StatementFailed(early[1], final=True, reason=early[0])
        if getattr(error, "connection_invalidated", False) or deadline is None:
            why = first_line(error).removeprefix("connection failed: ")
            lost = f"lost the connection to source {self.name}: {why}"
            return _StatementFailed(lost, final=True, reason=Reason.UNREACHABLE)
        denied = DENIED_CODES & error_codes(driver_error)
        message = self._profile.explained(first_line(error))
        return _StatementFailed(message, reason=Reason.DENIED if denied else Reason.STATEMENT)

    @contextmanager
    def _running(self, deadline: Deadline) -> Iterator[None]:
        """The statement runs under its deadline, which `interrupt()` can fire early."""
        with self._lock:
            self._deadlines.add(deadline)
        try:
            with deadline:
                yield
        finally:
            with self._lock:
                self._deadlines.discard(deadline)

    def interrupt(self) -> None:
        with self._lock:
            running = list(self._deadlines)
        for deadline in running:
            deadline.stop()

    def _display(self, statement: sa.ClauseElement) -> str:
        """The statement with its values inline; with `:name` placeholders for values that have no SQL
        literal form in the dialect (a rule's bound of a type SQLAlchemy cannot render)."""
        try:
            compiled = statement.compile(
                dialect=self._display_dialect, compile_kwargs={"literal_binds": True}
            )
        except (sa.exc.CompileError, NotImplementedError):
            compiled = statement.compile(dialect=self._display_dialect)
        return str(compiled).strip()

    def _redacted(self, observed: Observed) -> Observed:
        return Observed(
            value=observed.value,
            error=self._redact(observed.error) if observed.error is not None else None,
            reason=observed.reason,
            statement=self._redact(observed.statement) if observed.statement is not None else None,
            followups=tuple(self._redact(statement) for statement in observed.followups),
            query=self._redact(observed.query) if observed.query is not None else None,
        )

    def _query(self, statement: sa.ClauseElement) -> str | None:
        """A statement as a person pastes it (`queries.rendered`) in this source's dialect."""
        return rendered(statement, self._display_dialect)

    def _columns_query(self, schema: str | None, table: str) -> str | None:
        """information_schema's columns of the table; none where the engine has no information_schema."""
        return self._query(columns_query(schema, table)) if self._profile.columns_sql is not None else None

    def _alone(self, probe: Probe[Any], table: Table | None, where: str | None, part: Part) -> str | None:
        """A fused probe's own statement: its aggregate over the dataset's rows, or a metric as written."""
        if isinstance(probe, ScalarQuery):
            return bounded(probe.sql)  # normalised by the config (`SelectSql`)
        return self._query(fused_statement(table, where, [part])) if table is not None else None

    # --- probes ------------------------------------------------------------------------------------

    def _observe(
        self, conn: Connection, dataset: DatasetConfig, probes: list[Probe[Any]]
    ) -> dict[Probe[Any], Observed]:
        if not dataset.table:
            tableless = Observed(error=f"dataset has no table for source {self.name}", reason=Reason.SETUP)
            return dict.fromkeys(probes, tableless)
        found, metadata_statement = self._table(conn, dataset.table)
        if isinstance(found, str):  # metrics name their own tables: they run all the same
            metrics: dict[Probe[Any], Part] = {probe: _metric(probe.sql) for probe in probes
                                          if isinstance(probe, ScalarQuery)}
            missing = Observed(error=found, reason=Reason.MISSING, statement=metadata_statement)
            ran = self._aggregate(conn, None, None, metrics) if metrics else {}
            answers = {probe: replace(answer, query=self._alone(probe, None, None, metrics[probe]))
                       for probe, answer in ran.items()}
            return {probe: answers.get(probe, missing) for probe in probes}
        observed: dict[Probe[Any], Observed] = {}
        aggregates: dict[Probe[Any], Part] = {}
        validations = [probe for probe in probes if isinstance(probe, Validation)]
        grouped = [probe for probe in probes if isinstance(probe, BucketCounts)]
        for probe in probes:
            if isinstance(probe, Validation | BucketCounts | ColumnProfiles):
                continue
            answer = self._plan(probe, found, dataset.table, metadata_statement)
            if isinstance(answer, Observed):
                observed[probe] = answer
            else:
                aggregates[probe] = answer
        queries = self._quality_queries(found, dataset.where, validations, metadata_statement, observed)
        for query in queries.values():
            aggregates.update(query.aggregates())
        profiles = self._profile_queries(found, probes, metadata_statement, observed)
        for profile in profiles.values():
            aggregates.update(profile.fused_parts())
        answers = self._aggregate(conn, found, dataset.where, aggregates) if aggregates else {}
        observed.update(
            (probe, replace(answer, query=self._alone(probe, found, dataset.where, aggregates[probe])))
            for probe, answer in answers.items() if probe in probes
        )
        observed.update(self._bucket_counts(conn, found, dataset, grouped, metadata_statement, answers))
        observed.update(self._profiles(conn, dataset.where, profiles, answers))
        fetched: dict[str, list[tuple[Any, ...]]] = {}  # two checks sampling the same rows read them once
        for probe, query in queries.items():
            followups: list[str] = []

            def run(
                statement: sa.Select[Any], display: sa.Select[Any] | None, shown: list[str] = followups
            ) -> list[tuple[Any, ...]]:
                shown.append(self._display(display if display is not None else statement))
                key = self._display(statement)
                if key not in fetched:
                    fetched[key] = self._run(conn, statement, scan=True)
                return fetched[key]

            observed[probe] = replace(query.finish(answers, run, self._query), followups=tuple(followups))
        return observed

    def _bucket_counts(
        self,
        conn: Connection,
        table: Table,
        dataset: DatasetConfig,
        probes: list[BucketCounts],
        metadata_statement: str,
        fused: dict[Probe[Any], Observed],
    ) -> dict[Probe[Any], Observed]:
        """A grouped statement per probe, each in the run's read-only transaction; none once
        a statement ended early (timed out, interrupted, connection lost): it would wait as long again."""
        ended = _ended_early(fused.values())
        observed: dict[Probe[Any], Observed] = {}
        for probe in probes:
            statement = self._grouped(probe, table, dataset.where, metadata_statement)
            if isinstance(statement, Observed):
                observed[probe] = statement
            elif ended is not None:
                observed[probe] = replace(ended, statement=self._display(statement))
            else:
                observed[probe] = self._count_buckets(conn, statement, probe.bucket)
                ended = _ended_early([observed[probe]])
        return observed

    def _count_buckets(self, conn: Connection, statement: sa.Select[Any], bucket: BucketSize) -> Observed:
        text = self._display(statement)
        try:
            rows = self._run(conn, statement, scan=True)
        except _StatementFailed as failure:
            return failure.observed(text)
        seconds = int(BUCKET_SECONDS[bucket])
        return Observed(value=tuple(_bucket(row, seconds) for row in rows), statement=text,
                        query=self._query(statement))

    def _grouped(
        self, probe: BucketCounts, table: Table, where: str | None, metadata_statement: str
    ) -> sa.Select[Any] | Observed:
        """The statement answering a `BucketCounts` probe; or why there is none, from the reflected columns
        alone, before anything runs."""
        epoch = self._profile.epoch_seconds
        if epoch is None:
            backend = self._url.get_backend_name()
            cannot = f"source {self.name} ({backend}) cannot count rows per bucket of time: `by:` needs"
            cannot += " PostgreSQL or DuckDB"
            return Observed(error=cannot, reason=Reason.SETUP)
        name = find_column(table.columns, probe.column)
        column = next((column for column in table.columns if column.name == name), None)
        if column is None:
            error = missing_column(probe.column, _qualified(table), table.columns)
            return Observed(error=error, reason=Reason.MISSING, statement=metadata_statement)
        family = family_of(column.type_name)
        if family not in ("timestamp", "date"):
            shown = column.type_name if family == "other" else family
            error = f"{column.name} is not a timestamp ({shown}): `by` needs a timestamp or date column"
            return Observed(error=error, reason=Reason.SETUP, statement=metadata_statement)
        return bucket_statement(table, where, column, probe, epoch)

    def _profile_queries(
        self,
        table: Table,
        probes: list[Probe[Any]],
        metadata_statement: str,
        observed: dict[Probe[Any], Observed],
    ) -> dict[Probe[Any], ProfileQuery]:
        """A query per column-profile probe; a probe naming a column the table lacks is answered with why."""
        wanted = [probe for probe in probes if isinstance(probe, ColumnProfiles)]
        if not wanted:
            return {}
        from checks.sources.sql_profile import ProfileQuery, flavor_for

        flavor = flavor_for(self._url.get_backend_name())
        queries: dict[Probe[Any], ProfileQuery] = {}
        for probe in wanted:
            query = ProfileQuery(probe, table, flavor)
            error = query.missing_error()
            if error is not None:
                observed[probe] = Observed(error=error, reason=Reason.MISSING, statement=metadata_statement)
            else:
                queries[probe] = query
        return queries

    def _profiles(
        self, conn: Connection, where: str | None, queries: dict[Probe[Any], ProfileQuery],
        fused: dict[Probe[Any], Observed],
    ) -> dict[Probe[Any], Observed]:
        """Each profile from the fused statement's answers, or from a sampled statement of its own (none once
        a statement ended early: it would wait as long again)."""
        observed: dict[Probe[Any], Observed] = {}
        for probe, query in queries.items():
            statement = query.sampled(where)
            ended = _ended_early([*fused.values(), *observed.values()])
            if statement is None:
                observed[probe] = query.report(fused)
            elif isinstance(statement, Observed):
                observed[probe] = statement
            elif ended is not None:
                observed[probe] = replace(ended, statement=self._display(statement))
            else:
                text = self._display(statement)
                try:
                    observed[probe] = query.from_row(self._run(conn, statement, scan=True)[0], text)
                except _StatementFailed as failure:
                    observed[probe] = failure.observed(text)
        return observed

    def _quality_queries(
        self,
        table: Table,
        where: str | None,
        probes: list[Validation],
        metadata_statement: str,
        observed: dict[Probe[Any], Observed],
    ) -> dict[Probe[Any], QualityQuery]:
        """A query per quality probe; a probe whose required columns are missing is answered with why."""
        if not probes:
            return {}
        from checks.quality.sql import flavor_for
        from checks.sources.sql_quality import QualityQuery

        flavor = flavor_for(self._url.get_backend_name())
        queries: dict[Probe[Any], QualityQuery] = {}
        for probe in probes:
            query = QualityQuery(probe.plan, table, where, flavor)
            error = query.missing_error()
            if error is not None:
                observed[probe] = Observed(error=error, reason=Reason.MISSING, statement=metadata_statement)
            else:
                queries[probe] = query
        return queries

    def _plan(
        self, probe: Probe[Any], table: Table, name: str, metadata_statement: str
    ) -> Observed | ColumnElement[Any]:
        """The aggregate expression answering a probe, or its answer when no aggregate is needed; `name`: the
        table as the dataset names it."""
        columns = table.columns
        match probe:
            case Columns():
                query = self._columns_query(table.schema, table.name)
                return Observed(value=columns, statement=metadata_statement, query=query)
            case RowCount():
                return sa.func.count()
            case MaxValue(column=wanted):
                found = find_column(columns, wanted)
                if found is None:
                    error = missing_column(wanted, name, columns)
                    return Observed(error=error, reason=Reason.MISSING, statement=metadata_statement)
                return sa.func.max(sa.column(found))
            case ScalarQuery(sql=sql):
                return _metric(sql)
            case Aggregate(expression=expression):
                return sa.literal_column(f"({expression})")
        unanswerable = f"source {self.name} (sql) cannot answer {probe.describe()}"
        return Observed(error=unanswerable, reason=Reason.SETUP)

    def _aggregate(
        self, conn: Connection, table: Table | None, where: str | None, aggregates: dict[Probe[Any], Part]
    ) -> dict[Probe[Any], Observed]:
        """The fused statement; if it fails, each probe alone so only the bad one ends in error, and an
        invalid `where` fails only what it scopes (metrics are not), saying so.

        Not after a timeout: every part alone could take as long again, each with a full query_timeout.
        `table` is None when only metrics are asked (they name their own tables).
        """
        probes = list(aggregates)
        statement = fused_statement(table, where, [aggregates[probe] for probe in probes])
        text = self._display(statement)
        try:
            row = self._run(conn, statement, scan=True)[0]
        except _StatementFailed as failure:
            if failure.final:
                error = shared_error(str(failure), probes)
                return dict.fromkeys(probes, Observed(error=error, reason=failure.reason, statement=text))
            scoped = [probe for probe in probes if not isinstance(probe, ScalarQuery)]  # metrics: own tables
            problem = self._where_problem(conn, table, where) if table is not None and scoped else None
            if problem is not None:
                answers = dict.fromkeys(scoped, Observed(error=problem, statement=text))  # a STATEMENT
                metrics = {probe: aggregates[probe] for probe in probes if probe not in answers}
                return answers | (self._aggregate(conn, None, None, metrics) if metrics else {})
            if len(probes) == 1:
                return {probes[0]: failure.observed(text)}
            return {
                probe: answer
                for probe in probes
                for answer in self._aggregate(conn, table, where, {probe: aggregates[probe]}).values()
            }
        return {probe: Observed(value=value, statement=text)
                for probe, value in zip(probes, row, strict=True)}

    def _where_problem(self, conn: Connection, table: Table, where: str | None) -> str | None:
        """Why the dataset's `where` cannot scope its table (a statement that reads no rows), or None."""
        if not where:
            return None
        probe = sa.select(sa.literal(1)).select_from(_table_clause(table)).where(condition(where)).limit(0)
        try:
            self._run(conn, probe)
        except _StatementFailed as failure:
            return f"the dataset's where is not valid: {failure}"
        return None

    def _table(self, conn: Connection, name: str) -> tuple[Table | str, str]:
        """The table a dataset names, or why there is none; and the statement that looked it up.

        Names match case-insensitively, as DuckDB's and PostgreSQL's unquoted names do; an exact match
        wins, and two tables differing only in case are not guessed between.
        """
        _, schema_part, table = split_name(name)
        schema = schema_part or ""
        if self._profile.columns_sql is None:
            return self._reflected_table(conn, schema or None, table)
        dialect = conn.dialect
        statement = sa.text(self._profile.columns_sql).bindparams(table=table)
        tables: dict[tuple[str, str], list[Column]] = {}
        for row in self._run(conn, statement):
            key = (_normalize(dialect, str(row[0])), _normalize(dialect, str(row[1])))
            tables.setdefault(key, []).append(Column(_normalize(dialect, str(row[2])), str(row[3])))
        text = self._display(statement)
        schema = schema or dialect.default_schema_name or ""
        wanted = (schema, table) if schema else (table,)
        found = best_matches(list(tables), lambda key: key[-len(wanted):], wanted)
        if len(found) == 1:
            return Table(*found[0], tables[found[0]]), text
        if found:
            ambiguous = ", ".join(sorted(".".join(key) for key in found))
            return f"table {name} not found in source {self.name} (ambiguous: {ambiguous})", text
        return self._not_found(conn, name), text

    def _reflected_table(self, conn: Connection, schema: str | None, table: str) -> tuple[Table | str, str]:
        def reflect() -> list[Column]:
            try:
                reflected = sa.inspect(conn).get_columns(table, schema=schema)
            except sa.exc.NoSuchTableError:
                return []
            return [Column(str(c["name"]), c["type"].compile(dialect=conn.dialect)) for c in reflected]

        label = f"{schema}.{table}" if schema else table
        columns = self._in_transaction(conn, reflect)
        found = Table(schema, table, columns) if columns else self._not_found(conn, label)
        return found, f"-- columns of {label} by SQLAlchemy reflection"

    def _not_found(self, conn: Connection, name: str) -> str:
        """`table X not found`, naming the nearest tables the source has (a second look-up, only now):
        tables of the same schema with a similar name, and tables of that name in other schemas."""
        try:
            names = self._table_names(conn)
        except _StatementFailed:
            names = []
        schema, _, table = name.lower().rpartition(".")
        near = [(s, t) for s, t in names if not schema or s.lower() == schema or t.lower() == table]
        close = {t.lower() for t in closest(table, {t for _, t in near}, n=3)}
        found = [f"{s}.{t}" for s, t in sorted(near) if t.lower() in close]
        return f"table {name} not found in source {self.name}{suggestion(found[:3])}"

    def _table_names(self, conn: Connection) -> list[tuple[str, str]]:
        if self._profile.tables_sql is None:
            names = self._in_transaction(
                conn, lambda: sa.inspect(conn).get_table_names() + sa.inspect(conn).get_view_names()
            )
            return [("main", name) for name in names]
        rows = self._run(conn, sa.text(self._profile.tables_sql))
        return [(str(schema), str(table)) for schema, table in rows]


# An aggregate over the dataset's rows, or a scalar subquery: a metric statement (naming its own tables) or a
# quality rule's grouping (scoped by the dataset's `where` within).
Part = ColumnElement[Any]


def _metric(sql: str) -> sa.ScalarSelect[Any]:
    """A metric statement as a scalar subquery of the fused statement."""
    return user_sql(sql).columns(sa.column("value")).scalar_subquery()


def fused_statement(table: Table | None, where: str | None, parts: Sequence[Part]) -> sa.Select[Any]:
    """One statement answering every part, `demon_p<i>` the i-th; identifiers quoted by SQLAlchemy.

    Aggregates read `"schema"."table" WHERE <where>`. Scalar subqueries (metric statements, naming their own
    tables and ignoring `where`; quality groupings, scoped within) read their own FROM: alone they need no
    other; beside aggregates they select from those aggregates' derived table, so an unqualified name in a
    metric can never bind to a column of the dataset's table (a correlated subquery), only fail:
    `SELECT demon_agg.demon_p0, (<metric>) AS demon_p1 FROM (SELECT count(*) AS demon_p0 FROM t) demon_agg`.
    """
    labels = [f"demon_p{index}" for index in range(len(parts))]
    labelled = [part.label(label) for label, part in zip(labels, parts, strict=True)]
    metric = [isinstance(part, sa.ScalarSelect) for part in parts]
    scoped = [column for column, own in zip(labelled, metric, strict=True) if not own]
    if not scoped:
        return sa.select(*labelled)
    assert table is not None, "only metrics run without the dataset's table"
    aggregates = sa.select(*scoped).select_from(_table_clause(table))
    if where:
        aggregates = aggregates.where(condition(where))
    if len(scoped) == len(parts):
        return aggregates
    derived = aggregates.subquery("demon_agg")
    return sa.select(*(
        column if own else derived.c[column.name] for column, own in zip(labelled, metric, strict=True)
    ))


def bucket_statement(
    table: Table, where: str | None, column: Column, probe: BucketCounts, epoch: EpochSeconds
) -> sa.Select[Any]:
    """Rows and the newest value per UTC bucket of a timestamp or date column, from `probe.since` on.

    A bucket is `floor(epoch seconds / bucket seconds)`: epoch seconds are absolute for a `timestamptz` and
    nominal for a `timestamp` (naive = UTC), so the session's TimeZone moves no row to another bucket, as it
    would with `date_trunc` of a `timestamptz`. A date is cast to a timestamp first, pinning that nominal
    reading rather than leaving the choice to an implicit cast (to `timestamptz`, in the session's zone, is
    PostgreSQL's preferred one). The column is compared with `since` as a value of its own type, so an index
    on it serves the range.
    """
    value: ColumnElement[Any] = sa.column(column.name)
    timestamp = sa.cast(value, sa.DateTime()) if family_of(column.type_name) == "date" else value
    seconds: ColumnElement[Any] = sa.literal_column(str(int(BUCKET_SECONDS[probe.bucket])))
    bucket = sa.func.floor(epoch(timestamp) / seconds).label("bucket")
    statement = sa.select(bucket, sa.func.count().label("rows"), sa.func.max(value).label("newest"))
    statement = statement.select_from(_table_clause(table))
    if where:
        statement = statement.where(condition(where))
    statement = statement.where(value >= _lower_bound(column.type_name, probe.since))
    return statement.group_by(bucket).order_by(bucket)


def _lower_bound(type_name: str, since: datetime) -> sa.BindParameter[Any]:
    """`since` as a value of the column's own type, so the bare column is compared (an index on it serves the
    range) and nothing is read in the session's time zone, as a `timestamp` compared with a `timestamptz` is.
    For a date column, the first day whose midnight is not before `since`."""
    moment = as_utc(since)
    if family_of(type_name) == "date":
        day = moment.date() if moment.time() == time() else moment.date() + timedelta(days=1)
        return sa.bindparam("since", day, type_=sa.Date())
    if _zoned(type_name):
        return sa.bindparam("since", moment, type_=sa.DateTime(timezone=True))
    return sa.bindparam("since", moment.replace(tzinfo=None), type_=sa.DateTime())


def _zoned(type_name: str) -> bool:
    """A timestamp type holding instants: `timestamp with time zone` (PostgreSQL, DuckDB), `timestamptz`."""
    name = " ".join(type_name.lower().split())
    return "with time zone" in name or name.startswith("timestamptz")


def _roll_back(conn: Connection) -> None:
    """End a failed statement's transaction; on a lost connection there is nothing left to end."""
    with suppress(sa.exc.SQLAlchemyError):
        conn.rollback()


def _ended_early(answers: Iterable[Observed]) -> Observed | None:
    return next((answer for answer in answers if not answer.ok and answer.reason in ENDED_EARLY), None)


def _bucket(row: tuple[Any, ...], seconds: int) -> Bucket:
    start, rows, newest = row
    return Bucket(datetime.fromtimestamp(int(start) * seconds, UTC), int(rows), as_utc(newest))


def _table_clause(table: Table) -> sa.TableClause:
    return sa.table(table.name, schema=table.schema)


def _qualified(table: Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def best_matches(
    candidates: Sequence[T], name: Callable[[T], tuple[str, ...]], wanted: tuple[str, ...]
) -> list[T]:
    """The candidates whose name is `wanted`: the exact matches if any, else the case-insensitive ones."""
    folded = [candidate for candidate in candidates if _folded(name(candidate)) == _folded(wanted)]
    return [candidate for candidate in folded if name(candidate) == wanted] or folded


def find_column(columns: list[Column], wanted: str) -> str | None:
    """The column's real name: an exact match, else the only case-insensitive one."""
    found = best_matches([column.name for column in columns], lambda name: (name,), (wanted,))
    return found[0] if len(found) == 1 else None


def shared_error(error: str, probes: list[Probe[Any]]) -> str:
    """The error of a statement, saying which probes it answered when it answered several."""
    if len(probes) == 1:
        return error
    parts = ", ".join(probe.describe() for probe in probes)
    return f"{error} (one statement for {len(probes)} probes: {parts})"


def missing_column(wanted: str, table: str, columns: list[Column]) -> str:
    names = [column.name for column in columns]
    listed = ", ".join(names[:MAX_LISTED_COLUMNS])
    more = f" and {len(names) - MAX_LISTED_COLUMNS} more" if len(names) > MAX_LISTED_COLUMNS else ""
    return f"column {wanted} not found in {table} (columns: {listed}{more})"


def connect_reason(error: BaseException) -> str:
    message = str(getattr(error, "orig", None) or error)
    reasons = (reason for pattern, reason in _CONNECT_REASONS if pattern.search(message))
    return next(reasons, first_line(error))


def _folded(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name.lower() for name in names)


def _normalize(dialect: Dialect, name: str) -> str:
    """Catalog names as SQLAlchemy spells them (`ORDERS` on Snowflake and Oracle is `orders`)."""
    return (dialect.normalize_name(name) or name) if dialect.requires_name_normalize else name
