"""What each SQL dialect needs so that demon's statements stay read-only and bounded in time.

The SQL source itself is dialect-neutral; every difference between databases lives in a small
`DialectProfile`, looked up by SQLAlchemy's backend name, with a generic default for the rest.
"""

from __future__ import annotations

import atexit
import math
import os
import select
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import registry
from sqlalchemy.engine import URL
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, ClauseElement, ColumnElement

from monitor.core.config.types import format_duration
from monitor.core.failures import Reason

# Attributes where drivers keep an error's code: SQLSTATE (psycopg, psycopg2, Snowflake), MySQL and
# Snowflake error numbers, Trino error names. The first argument of a MySQL error is its number too.
_ERROR_CODE_ATTRIBUTES = ("sqlstate", "pgcode", "errno", "error_name")


def error_codes(error: BaseException) -> frozenset[str]:
    """Every code a driver error carries, as strings, to compare with a profile's codes."""
    codes = {getattr(error, attribute, None) for attribute in _ERROR_CODE_ATTRIBUTES}
    if error.args and isinstance(error.args[0], int):
        codes.add(error.args[0])
    return frozenset(str(code) for code in codes if code is not None)


Stop = Callable[[Any], None]  # stops what runs on a driver connection; safe to call from another thread


def interrupt(driver_connection: Any) -> None:
    """sqlite3's and DuckDB's `interrupt()` (duckdb-sqlalchemy's ConnectionWrapper hands it straight to the
    DuckDBPyConnection): the statement ends with an error, the connection stays usable."""
    driver_connection.interrupt()


def abandon(driver_connection: Any) -> None:
    """Shut a psycopg connection's socket down: a server that stopped answering (a frozen process, a
    dead host behind a live route) can cancel nothing, so the statement waiting on it ends at once with a
    connection error, and the connection is thrown away. The socket stays open until psycopg closes it."""
    with socket.socket(fileno=os.dup(driver_connection.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


class Deadline:
    """Stops the statement running on a driver connection once `seconds` have passed, or at once on
    `stop()` (Ctrl-C). Without a `stop` function it never fires.

    The lock makes sure a stop only lands while the guarded statement runs, never on the next one.
    """

    def __init__(self, driver_connection: Any, seconds: float, stop: Stop | None = None) -> None:
        self.fired = self.stopped = False
        self._connection = driver_connection
        self._stop_action = stop
        self._active = True
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire) if stop is not None else None

    def __enter__(self) -> Deadline:
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._active = False
        if self._timer is not None:
            self._timer.cancel()

    def stop(self) -> None:
        """Stop the statement now, not as a timeout (the command is being interrupted)."""
        self._fire(interrupted=True)

    def _fire(self, interrupted: bool = False) -> None:
        with self._lock:
            if self._active and self._stop_action is not None and not (self.fired or self.stopped):
                self.stopped, self.fired = interrupted, not interrupted
                self._stop_action(self._connection)


def idle_and_open(driver_connection: Any) -> bool:
    """Whether a pooled psycopg connection is still usable, told without a round trip (SQLAlchemy's
    `pool_pre_ping` costs one per checkout): the server sends an idle session nothing unless it ends it (a
    restart, `pg_terminate_backend`, `idle_session_timeout`: an error, then EOF), and a peer that keepalives
    found dead makes the socket readable too. A readable idle socket is a dead connection."""
    if driver_connection.closed or driver_connection.broken:
        return False
    poller = select.poll()
    poller.register(driver_connection.fileno(), select.POLLIN)
    return not poller.poll(0)


OpenReadOnly = Callable[[URL], tuple[URL, dict[str, Any]]]
# Seconds since 1970-01-01 UTC of a timestamp column's value, a naive timestamp read as UTC.
EpochSeconds = Callable[[ColumnElement[Any]], ColumnElement[Any]]


def extract_epoch(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """`EXTRACT(EPOCH FROM value)`: on PostgreSQL and DuckDB the instant of a `timestamptz` and the nominal
    value of a `timestamp` (so UTC by the spec's reading), whatever the session's TimeZone."""
    return sa.extract("epoch", value)

# The columns of every table named like :table in any schema, case-insensitively (DuckDB and PostgreSQL
# fold unquoted names), so the source can prefer an exact match and use the catalog's own spelling.
# Rows: schema, table, column, type name; ordered by table, then column position.
INFORMATION_SCHEMA_COLUMNS = (
    "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
    " WHERE lower(table_name) = lower(:table) ORDER BY table_schema, table_name, ordinal_position"
)
# PostgreSQL's information_schema.columns only lists columns the user may read, so a table without grants
# would look missing and a column-level grant would hide columns: read the catalog instead, where every
# table is visible; reading an unreadable table then fails with the server's "permission denied".
# Domains show as their base type, as information_schema does.
def pg_catalog_columns(tables: str) -> str:
    """The columns of the tables the condition `tables` selects (over `c`, pg_class, and `n`, its schema)."""
    return (
        "SELECT n.nspname, c.relname, a.attname, format_type("
        "CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END,"
        " CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END)"
        " FROM pg_catalog.pg_attribute AS a"
        " JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid"
        f" WHERE {tables} AND c.relkind IN ('r', 'v', 'm', 'f', 'p')"
        " AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY n.nspname, c.relname, a.attnum"
    )


PG_CATALOG_COLUMNS = pg_catalog_columns("lower(c.relname) = lower(:table)")


# Every table and view (schema, name), for naming the nearest ones when a dataset's table is not found.
INFORMATION_SCHEMA_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables"
    " WHERE table_schema NOT IN ('information_schema', 'pg_catalog')"
)
PG_CATALOG_TABLES = (
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class AS c"
    " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
)


# Values whose SQL literal is exact (a float's or a Decimal's literal may be read as another number).
_EXACT_LITERALS = (str, int, date)  # bool is an int, datetime a date


def inline_values(statement: sa.Executable) -> sa.Executable:
    """The statement with its bound values of exact literal form rendered into its text at execution
    (`literal_execute`), the rest left bound.

    DuckDB's Python client imports pandas, numpy and pyarrow the first time it converts a bound value
    (other than None) to look for their types: half a second of imports that a SQL-only `demon check`
    does not otherwise need.
    """

    def inline(bind: BindParameter[Any]) -> None:
        # A value of a type SQLAlchemy does not know (pandas' Timestamp, numpy's str_: subclasses of the
        # exact ones) has no literal form: it stays bound.
        known = not isinstance(bind.type, sa.types.NullType)
        if isinstance(bind.value, _EXACT_LITERALS) and bind.callable is None and known:
            bind.literal_execute = True

    clause = cast(ClauseElement, statement)  # every statement demon runs is one
    return cast(sa.Executable, visitors.cloned_traverse(clause, {}, {"bindparam": inline}))


# SQLAlchemy finds a dialect it does not ship by scanning every installed distribution's entry points (~20 ms
# on the first engine); DuckDB's, a dependency of demon, is registered by the name its entry point gives.
registry.register("duckdb", "duckdb_sqlalchemy", "Dialect")


def _duckdb_read_only(url: URL) -> tuple[URL, dict[str, Any]]:
    return url, {"read_only": True}


def _duckdb_sandbox(url: URL, read_files: bool, memory_limit: str | None) -> dict[str, Any]:
    """DuckDB confined to its own database: no other files (read_csv, COPY ... TO, ATTACH), no extensions
    installed or loaded on the fly (INSTALL downloads), and none of that turned back on by a SET; its memory
    bounded by `memory_limit`, if given, past which (or past DuckDB's own, 80% of RAM) it spills to
    `spill_folder`, not to its default beside the database (demon writes nothing where it watches).
    """
    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if not read_files:
        config["enable_external_access"] = False
    # after enable_external_access: DuckDB refuses a temp_directory set before it
    config["temp_directory"] = spill_folder(str(url.database))
    if memory_limit:
        config["memory_limit"] = memory_limit
    return {"config": {**config, "lock_configuration": True}}


_spill_folders: dict[str, str] = {}
_spill_lock = threading.Lock()


def spill_folder(database: str) -> str:
    """This process's folder for what DuckDB spills of `database`, made on first use and removed at exit.

    Private (mkdtemp: mode 0700, a name nobody guesses or takes first: spilled pages are table data) and the
    process's own: a DuckDB closing deletes every `duckdb_temp_*` file of its folder, another's included.
    """
    with _spill_lock:
        if database not in _spill_folders:
            folder = _spill_folders[database] = tempfile.mkdtemp(prefix="demon-duckdb-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return _spill_folders[database]


def _sqlite_read_only(url: URL) -> tuple[URL, dict[str, Any]]:
    """SQLite's URI form with mode=ro: never creates a missing file, never writes."""
    database = f"file:{quote(url.database or '')}"
    return url.set(database=database, query={**url.query, "uri": "true", "mode": "ro"}), {}


@dataclass(frozen=True)
class DialectProfile:
    """How to keep one dialect's statements read-only and time-bounded, and how to open it."""

    read_only_sql: str | None = None  # first statement of every transaction
    timeout_sql: str | None = None  # next statement of every transaction; formatted with {ms} and {seconds}
    # libpq `options` for every connection instead (no statements per transaction), kept after the URL's
    # own `options`; formatted like timeout_sql
    session_options: str | None = None
    # How demon stops a statement itself: at its timeout where the server has none (DuckDB, SQLite), else
    # WATCHDOG_GRACE later, when the server's own timeout did not end it (a frozen PostgreSQL backend).
    client_stop: Stop | None = None
    connect_args: tuple[tuple[str, Any], ...] = ()  # fixed driver settings (TCP keepalives, ...)
    # create_engine() keywords, each passed only where the driver's dialect takes it
    engine_args: tuple[tuple[str, Any], ...] = ()
    # whether a pooled connection is still usable, at no round trip; None: SQLAlchemy's pre-ping (one)
    alive: Callable[[Any], bool] | None = None
    timeout_codes: frozenset[str] = frozenset()  # driver error codes that mean "statement timeout"
    columns_sql: str | None = INFORMATION_SCHEMA_COLUMNS  # see there; None: SQLAlchemy reflection
    tables_sql: str | None = INFORMATION_SCHEMA_TABLES  # see there; None: SQLAlchemy reflection
    file_database: bool = False  # the URL's database is a local file, relative to the config's folder
    remote_prefixes: tuple[str, ...] = ()  # databases that are not local files despite file_database
    open_read_only: OpenReadOnly | None = None  # how to open a local file read-only
    # connect_args confining an embedded engine (not a remote one) to its database and memory; given its URL,
    # `read_files` and `memory_limit`
    sandbox: Callable[[URL, bool, str | None], dict[str, Any]] | None = None
    connect_timeout_arg: str | None = None  # the driver's connect() keyword for a timeout in seconds
    epoch_seconds: EpochSeconds | None = None  # for rows per UTC hour or day; None: the dialect cannot bucket
    inline_values: bool = False  # send simple bound values as literals (see `inline_values`)
    work_mem_sql: str | None = None  # sets the memory of one transaction's sorts and hashes, given {size}
    out_of_memory: str | None = None  # in the driver's message when a statement outgrew the source's memory

    def transaction_setup(self, timeout: float) -> list[str]:
        """Statements that make a transaction read-only and bound its statements to `timeout` seconds."""
        timeout_sql = self.timeout_sql.format(**_time_limits(timeout)) if self.timeout_sql else None
        return [sql for sql in (self.read_only_sql, timeout_sql) if sql]

    def explained(self, message: str) -> str:
        """A driver's one-line message, with what to do about it where that is the source's to change."""
        if self.out_of_memory and self.out_of_memory in message:
            return f"{message} (raise the source's memory_limit)"
        return message

    def memory_setup(self, work_mem: str | None) -> list[str]:
        """Statements giving a transaction's sorts and hashes `work_mem` (`256MB`, validated), if any."""
        return [self.work_mem_sql.format(size=work_mem)] if work_mem and self.work_mem_sql else []

    @property
    def server_timeout(self) -> bool:
        return bool(self.timeout_sql or self.session_options)

    def deadline(self, driver_connection: Any, timeout: float) -> Deadline:
        """demon's own deadline of a statement (one that never fires where the dialect has no way to stop)."""
        seconds = timeout + WATCHDOG_GRACE if self.server_timeout else timeout
        return Deadline(driver_connection, seconds, self.client_stop)

    def ended_early(
        self, error: BaseException, deadline: Deadline, timeout: float
    ) -> tuple[Reason, str] | None:
        """Why a statement ended before it could finish (interrupted, timed out, server gone silent), or
        None for an error of the statement itself."""
        if deadline.stopped:
            return Reason.INTERRUPTED, "interrupted"
        if deadline.fired and self.server_timeout:
            waited = format_duration(timeout + WATCHDOG_GRACE)
            silent = f"the server stopped answering: no reply within {waited}, the connection was dropped"
            return Reason.TIMEOUT, silent
        if deadline.fired or self.timeout_codes & error_codes(error):
            return Reason.TIMEOUT, f"query timed out after {format_duration(timeout)}"
        return None

    def is_local_file(self, url: URL) -> bool:
        database = url.database or ""
        in_memory = not database or database.startswith(":memory:")
        return self.file_database and not in_memory and not self.is_remote(url)

    def resolve(self, url: URL, base_dir: Path) -> URL:
        """Local database files named relative to `base_dir` (the config file's folder)."""
        if not self.is_local_file(url):
            return url
        path = Path(url.database or "").expanduser()
        return url if path.is_absolute() else url.set(database=str(base_dir / path))

    def is_remote(self, url: URL) -> bool:
        return (url.database or "").startswith(self.remote_prefixes)

    def open_options(
        self,
        url: URL,
        query_timeout: float,
        connect_timeout: float,
        read_files: bool = False,
        memory_limit: str | None = None,
    ) -> tuple[URL, dict[str, Any]]:
        """The URL and connect_args to open a resolved URL with: read-only, confined to its database (unless
        `read_files`) and an embedded engine to `memory_limit`, statements and connects timed."""
        connect_args: dict[str, Any] = dict(self.connect_args)
        if self.connect_timeout_arg:
            connect_args[self.connect_timeout_arg] = max(1, math.ceil(connect_timeout))
        if self.session_options:
            ours = self.session_options.format(**_time_limits(query_timeout))
            url, connect_args["options"] = _with_options(url, ours)
        if self.open_read_only is not None and self.is_local_file(url):
            url, read_only_args = self.open_read_only(url)
            connect_args.update(read_only_args)
        if self.sandbox is not None and not self.is_remote(url):
            connect_args.update(self.sandbox(url, read_files, memory_limit))
        return url, connect_args


def _time_limits(timeout: float) -> dict[str, int]:
    """A timeout in whole milliseconds and seconds (at least 1: 0 means "no limit" to most databases)."""
    return {"ms": max(1, math.ceil(timeout * 1000)), "seconds": max(1, math.ceil(timeout))}


def _with_options(url: URL, ours: str) -> tuple[URL, str]:
    """The URL without its `options` query, and those options followed by ours (the last `-c` wins)."""
    given = url.query.get("options", ())
    theirs = [given] if isinstance(given, str) else list(given)
    return url.difference_update_query(["options"]), " ".join([*theirs, ours])


WATCHDOG_GRACE = 10.0  # seconds past its own timeout a server has to end a statement, before demon does
# libpq: probe an idle connection after 10 s, give up on a peer that stays silent for 3 probes, and drop a
# connection whose sent data goes unacknowledged for 30 s (a host that vanished mid-statement).
PG_TCP = (("keepalives", 1), ("keepalives_idle", 10), ("keepalives_interval", 5), ("keepalives_count", 3),
          ("tcp_user_timeout", 30_000))
GENERIC = DialectProfile()
PROFILES: dict[str, DialectProfile] = {
    "duckdb": DialectProfile(
        client_stop=interrupt, file_database=True, remote_prefixes=("md:", "motherduck:"),
        open_read_only=_duckdb_read_only, sandbox=_duckdb_sandbox, epoch_seconds=extract_epoch,
        inline_values=True, out_of_memory="Out of Memory Error",
    ),
    "sqlite": DialectProfile(
        client_stop=interrupt, columns_sql=None, tables_sql=None, file_database=True,
        open_read_only=_sqlite_read_only,
    ),
    "postgresql": DialectProfile(
        session_options="-c default_transaction_read_only=on -c statement_timeout={ms}",
        timeout_codes=frozenset({"57014"}), columns_sql=PG_CATALOG_COLUMNS, tables_sql=PG_CATALOG_TABLES,
        connect_timeout_arg="connect_timeout", client_stop=abandon, connect_args=PG_TCP,
        epoch_seconds=extract_epoch, alive=idle_and_open, work_mem_sql="SET LOCAL work_mem = '{size}'",
        # no hstore type look-up: a SAVEPOINT and a query on psycopg's first connection, one per connection
        # on psycopg2's; an hstore value then reads as its text
        engine_args=(("use_native_hstore", False),),
    ),
    "redshift": DialectProfile(
        timeout_sql="SET statement_timeout TO {ms}", timeout_codes=frozenset({"57014"}),
    ),
    "mysql": DialectProfile(
        read_only_sql="START TRANSACTION READ ONLY", timeout_sql="SET SESSION max_execution_time = {ms}",
        timeout_codes=frozenset({"3024"}), connect_timeout_arg="connect_timeout",
    ),
    "snowflake": DialectProfile(
        timeout_sql="ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {seconds}",
        timeout_codes=frozenset({"630", "57014"}), connect_timeout_arg="login_timeout",
    ),
    "trino": DialectProfile(
        timeout_sql="SET SESSION query_max_run_time = '{seconds}s'",
        timeout_codes=frozenset({"EXCEEDED_TIME_LIMIT"}),
    ),
}


def profile_for(backend: str) -> DialectProfile:
    """The profile of a SQLAlchemy backend name (`postgresql`, `duckdb`, ...); the generic one if unknown."""
    return PROFILES.get(backend, GENERIC)
