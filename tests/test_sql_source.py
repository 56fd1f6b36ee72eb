"""The SQL source against real DuckDB files and the real PostgreSQL: probes, fusing, errors, safety."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from checks.probes import Column, Columns, MaxValue, Observed, Probe, RowCount, ScalarQuery
from checks.sources import Source, SourceError, open_source
from checks.sources.dialects import GENERIC, PROFILES, Deadline, error_codes, profile_for
from checks.sources.sql import SqlSource, fused_statement, user_sql
from checks.typefamilies import family_of
from monitor.config.models import DatasetConfig, SqlSourceConfig
from monitor.redact import Redactor, mask_url
from tests.pgserver import free_port

SETUP = [
    "CREATE SCHEMA analytics",
    "CREATE TABLE analytics.fact_orders (id integer, amount numeric(12, 2), status varchar(20),"
    " loaded_at timestamp, loaded_tz timestamp with time zone)",
    "INSERT INTO analytics.fact_orders VALUES"
    " (1, 10.00, 'paid', '2024-03-01 10:00:00', '2024-03-01 10:00:00+00'),"
    " (2, -5.00, 'refunded', '2024-03-02 11:00:00', '2024-03-02 11:00:00+02'),"
    " (3, 20.00, 'paid', '2024-03-03 12:30:00', '2024-03-03 12:30:00+00')",
    "CREATE SEQUENCE analytics.seq",
]
COLUMNS = ["id", "amount", "status", "loaded_at", "loaded_tz"]
ORDERS = DatasetConfig(source="warehouse", table="analytics.fact_orders")
# Queries that would run for minutes: a trillion-row cross join, a one-minute sleep.
SLOW_SQL = {
    "duckdb": "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b",
    "postgresql": "SELECT count(*) FROM pg_sleep(60)",
}


@dataclass
class Warehouse:
    backend: str
    admin_url: str  # read-write, for building and inspecting the warehouse in tests
    config_url: str  # what demon.yml says (relative for DuckDB files)
    base_dir: Path

    def execute(self, *statements: str) -> None:
        engine = sa.create_engine(self.admin_url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def scalar(self, sql: str) -> Any:
        engine = sa.create_engine(self.admin_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql(sql).scalar()
        finally:
            engine.dispose()

    def source(self, redact: Redactor | None = None, **settings: Any) -> SqlSource:
        config = SqlSourceConfig(kind="sql", url=self.config_url, **settings)
        source = open_source("warehouse", config, self.base_dir, redact or Redactor())
        assert isinstance(source, SqlSource)
        return source


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "duckdb":
        (tmp_path / "data").mkdir()
        admin = f"duckdb:///{tmp_path}/data/w.duckdb"
        built = Warehouse("duckdb", admin, "duckdb:///data/w.duckdb", tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        built = Warehouse("postgresql", url, url, tmp_path)
    built.execute(*SETUP)
    return built


@pytest.fixture
def source(warehouse: Warehouse) -> Iterator[SqlSource]:
    opened = warehouse.source()
    yield opened
    opened.close()


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine sends to a driver while the test runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", record)


def probe_statements(seen: list[str]) -> list[str]:
    """The statements that answer probes, without the per-transaction SET ... settings."""
    return [statement for statement in seen if not statement.lstrip().upper().startswith("SET ")]


# --- probes ----------------------------------------------------------------------------------------


def test_every_probe_type(source: SqlSource) -> None:
    metric = ScalarQuery("SELECT count(*) FROM analytics.fact_orders WHERE amount < 0;")
    probes: list[Probe] = [RowCount(), MaxValue("loaded_at"), MaxValue("loaded_tz"), Columns(), metric]
    observed = source.observe(ORDERS, probes)

    assert list(observed) == probes
    assert all(answer.ok and answer.statement for answer in observed.values()), observed
    assert observed[RowCount()].value == 3
    assert observed[metric].value == 1
    columns = observed[Columns()].value
    assert [column.name for column in columns] == COLUMNS
    assert all(isinstance(column, Column) for column in columns)
    assert [family_of(column.type_name) for column in columns] == [
        "integer", "decimal", "string", "timestamp", "timestamp"
    ]


def test_timestamps_come_back_as_the_driver_gives_them(source: SqlSource) -> None:
    observed = source.observe(ORDERS, [MaxValue("loaded_at"), MaxValue("loaded_tz")])
    naive, aware = observed[MaxValue("loaded_at")].value, observed[MaxValue("loaded_tz")].value
    assert naive == datetime(2024, 3, 3, 12, 30) and naive.tzinfo is None
    assert aware.tzinfo is not None and aware == datetime(2024, 3, 3, 12, 30, tzinfo=UTC)


def test_probes_are_fused_into_one_aggregate_and_one_metadata_statement(
    source: SqlSource, statements: list[str]
) -> None:
    source.ping()  # first connection: the dialect's own setup queries are not ours
    statements.clear()
    before = source.requests["statement"]
    probes: list[Probe] = [
        RowCount(), MaxValue("loaded_at"), Columns(), ScalarQuery("SELECT 7"),
        RowCount(), MaxValue("loaded_at"), ScalarQuery("SELECT 7"),  # a second check asking the same
    ]
    observed = source.observe(ORDERS, probes)

    assert len(observed) == 4 and all(answer.ok for answer in observed.values())
    assert source.requests["statement"] - before == 2
    sent = probe_statements(statements)
    assert len(sent) == 2, sent
    assert "information_schema.columns" in sent[0]
    assert sent[1].count("count(*)") == 1 and sent[1].count("max(") == 1 and sent[1].count("SELECT 7") == 1
    aggregate = observed[RowCount()].statement
    assert {observed[probe].statement for probe in probes} == {aggregate, observed[Columns()].statement}
    assert aggregate is not None and "AS p2" in aggregate and "FROM analytics.fact_orders" in aggregate


def test_a_bad_metric_fails_alone(source: SqlSource) -> None:
    bad, good = ScalarQuery("SELEC broken FROM nowhere"), ScalarQuery("SELECT 42")
    observed = source.observe(ORDERS, [RowCount(), bad, good, MaxValue("loaded_at")])

    assert observed[RowCount()].value == 3
    assert observed[good].value == 42
    assert observed[MaxValue("loaded_at")].value == datetime(2024, 3, 3, 12, 30)
    error = observed[bad].error
    assert error is not None and "syntax error" in error.lower() and "\n" not in error
    assert "SELEC broken" in (observed[bad].statement or "")
    assert "count(*)" in (observed[RowCount()].statement or "")
    assert "broken" not in (observed[RowCount()].statement or "")


def test_a_metric_returning_several_rows_is_an_error(source: SqlSource) -> None:
    several = ScalarQuery("SELECT id FROM analytics.fact_orders")
    observed = source.observe(ORDERS, [several, RowCount()])
    assert observed[several].error and observed[RowCount()].value == 3


def test_a_missing_table_errors_every_probe_and_runs_nothing_else(
    source: SqlSource, statements: list[str]
) -> None:
    source.ping()
    statements.clear()
    dataset = DatasetConfig(source="warehouse", table="analytics.nope")
    probes: list[Probe] = [RowCount(), MaxValue("loaded_at"), Columns(), ScalarQuery("SELECT 1")]
    observed = source.observe(dataset, probes)

    errors = {answer.error for answer in observed.values()}
    assert errors == {"table analytics.nope not found in source warehouse"}
    assert len(probe_statements(statements)) == 1


def test_a_table_in_the_default_schema(warehouse: Warehouse) -> None:
    warehouse.execute("CREATE TABLE plain (n integer)", "INSERT INTO plain VALUES (1), (2)")
    source = warehouse.source()
    observed = source.observe(DatasetConfig(source="warehouse", table="plain"), [RowCount(), Columns()])
    source.close()
    assert observed[RowCount()].value == 2
    assert [column.name for column in observed[Columns()].value] == ["n"]


def test_a_missing_column_names_it_and_lists_the_columns(source: SqlSource) -> None:
    observed = source.observe(ORDERS, [MaxValue("updated_at"), RowCount()])
    assert observed[MaxValue("updated_at")].error == (
        "column updated_at not found in analytics.fact_orders"
        " (columns: id, amount, status, loaded_at, loaded_tz)"
    )
    assert observed[RowCount()].value == 3


def test_column_names_match_case_insensitively_when_unambiguous(warehouse: Warehouse) -> None:
    warehouse.execute('CREATE TABLE cased ("LoadedAt" integer)', "INSERT INTO cased VALUES (5)")
    source = warehouse.source()
    observed = source.observe(DatasetConfig(source="warehouse", table="cased"), [MaxValue("loadedat")])
    source.close()
    assert observed[MaxValue("loadedat")].value == 5


def test_ambiguous_column_case_is_not_guessed(postgres_url: str, tmp_path: Path) -> None:
    warehouse = Warehouse("postgresql", postgres_url, postgres_url, tmp_path)
    warehouse.execute('CREATE TABLE cased ("Dup" integer, "dup" integer)', "INSERT INTO cased VALUES (1, 2)")
    source = warehouse.source()
    dataset = DatasetConfig(source="warehouse", table="cased")
    observed = source.observe(dataset, [MaxValue("dup"), MaxValue("DUP")])
    source.close()
    assert observed[MaxValue("dup")].value == 2  # the exact match wins
    assert observed[MaxValue("DUP")].error == "column DUP not found in cased (columns: Dup, dup)"


def test_where_scopes_aggregates_but_not_metrics(source: SqlSource) -> None:
    dataset = DatasetConfig(source="warehouse", table="analytics.fact_orders", where="status = 'paid'")
    metric = ScalarQuery("SELECT count(*) FROM analytics.fact_orders")
    observed = source.observe(dataset, [RowCount(), MaxValue("amount"), metric])

    assert observed[RowCount()].value == 2
    assert observed[MaxValue("amount")].value == Decimal("20.00")
    assert observed[metric].value == 3
    assert "WHERE status = 'paid'" in (observed[RowCount()].statement or "")


def test_where_with_no_rows_still_answers(source: SqlSource) -> None:
    dataset = DatasetConfig(source="warehouse", table="analytics.fact_orders", where="1 = 0")
    observed = source.observe(dataset, [RowCount(), MaxValue("loaded_at"), ScalarQuery("SELECT 5")])
    assert [answer.value for answer in observed.values()] == [0, None, 5]


def test_a_bad_where_errors_the_scoped_probes(source: SqlSource) -> None:
    dataset = DatasetConfig(source="warehouse", table="analytics.fact_orders", where="no_such_column > 1")
    metric = ScalarQuery("SELECT 5")
    observed = source.observe(dataset, [RowCount(), metric])
    assert "no_such_column" in (observed[RowCount()].error or "")
    assert observed[metric].value == 5


def test_user_sql_is_verbatim(source: SqlSource) -> None:
    """Colons, percent signs and trailing comments in user SQL reach the database unchanged."""
    metric = ScalarQuery("SELECT length('a:b %s :c') -- a trailing comment\n;")
    observed = source.observe(ORDERS, [metric, RowCount()])
    assert observed[metric].value == 9
    assert "'a:b %s :c'" in (observed[metric].statement or "")


def test_an_unknown_probe_is_an_error(source: SqlSource) -> None:
    @dataclass(frozen=True)
    class Footers(Probe):
        pass

    observed = source.observe(ORDERS, [Footers(), RowCount()])
    assert observed[Footers()].error == "source warehouse (sql) cannot answer Footers"
    assert observed[RowCount()].value == 3


def test_no_probes_run_nothing(source: SqlSource) -> None:
    assert source.observe(ORDERS, []) == {}
    assert source.requests["statement"] == 0


def test_the_sql_source_follows_the_protocol(source: SqlSource, warehouse: Warehouse) -> None:
    typed: Source = source  # checked by mypy
    assert typed.name == "warehouse" and typed.max_concurrency == 4
    if warehouse.backend == "duckdb":
        assert typed.describe() == f"duckdb:///{warehouse.base_dir}/data/w.duckdb"
    else:
        assert typed.describe() == warehouse.admin_url.replace("s3cret-pw", "***")


def test_a_dataset_without_table(source: SqlSource) -> None:
    observed = source.observe(DatasetConfig(source="warehouse", path="raw/"), [RowCount()])
    assert observed[RowCount()].error == "dataset has no table for source warehouse"


def test_concurrent_observations(warehouse: Warehouse) -> None:
    source = warehouse.source(max_concurrency=2)
    results: list[dict[Probe, Observed]] = []

    def observe() -> None:
        results.append(source.observe(ORDERS, [RowCount(), MaxValue("id")]))

    threads = [threading.Thread(target=observe) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    source.close()
    assert [[answer.value for answer in result.values()] for result in results] == [[3, 3]] * 6
    assert source.requests["statement"] == 12


# --- time limits -----------------------------------------------------------------------------------


def test_a_timeout_really_stops_the_query(warehouse: Warehouse) -> None:
    source = warehouse.source(query_timeout="1s")
    slow = ScalarQuery(SLOW_SQL[warehouse.backend])
    started = time.monotonic()
    observed = source.observe(ORDERS, [RowCount(), slow])
    elapsed = time.monotonic() - started

    assert observed[slow].error == "query timed out after 1s"
    assert observed[RowCount()].value == 3  # re-run alone after the fused statement timed out
    assert elapsed < 30  # fused + alone: about 2 s; the queries would run for a minute or more
    assert source.observe(ORDERS, [RowCount()])[RowCount()].value == 3  # the pool is still usable
    source.close()


# --- connections -----------------------------------------------------------------------------------


def test_a_refused_connection_is_an_error_with_the_password_masked(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://demon:s3cret-pw@127.0.0.1:{port}/x"
    source = open_source("warehouse", SqlSourceConfig(kind="sql", url=url), tmp_path, Redactor())
    expected = f"cannot connect to source warehouse (postgresql+psycopg://demon:***@127.0.0.1:{port}/x): " \
               "connection refused"
    observed = source.observe(ORDERS, [RowCount(), Columns()])
    assert {answer.error for answer in observed.values()} == {expected}
    with pytest.raises(SourceError) as raised:
        source.ping()
    assert str(raised.value) == expected
    assert source.describe() == f"postgresql+psycopg://demon:***@127.0.0.1:{port}/x"


def test_a_wrong_password_is_reported_without_it(postgres_url: str, tmp_path: Path) -> None:
    url = postgres_url.replace("s3cret-pw", "wrong-password")
    source = open_source("warehouse", SqlSourceConfig(kind="sql", url=url), tmp_path, Redactor())
    error = source.observe(ORDERS, [RowCount()])[RowCount()].error
    assert error is not None and error.endswith(": authentication failed")
    assert "wrong-password" not in error


def test_ping_succeeds_on_a_reachable_source(source: SqlSource) -> None:
    source.ping()
    assert source.requests["statement"] == 1


def test_a_missing_duckdb_file_is_not_created(tmp_path: Path) -> None:
    config = SqlSourceConfig(kind="sql", url="duckdb:///missing.duckdb")
    source = open_source("warehouse", config, tmp_path, Redactor())
    error = source.observe(ORDERS, [RowCount()])[RowCount()].error
    assert error is not None and error.startswith(f"cannot connect to source warehouse (duckdb:///{tmp_path}/")
    assert "does not exist" in error
    assert not (tmp_path / "missing.duckdb").exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (SqlSourceConfig(kind="sql", url="not a url"),
         "source warehouse: not a valid SQLAlchemy URL: not a url"),
        (SqlSourceConfig(kind="sql", url="nosuchdb://u:pw-secret@h/d"),
         "source warehouse: cannot load the driver for nosuchdb://u:***@h/d"),
    ],
)
def test_sources_that_cannot_be_opened(config: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as raised:
        open_source("warehouse", config, tmp_path, Redactor())
    assert str(raised.value).startswith(message)
    assert "pw-secret" not in str(raised.value)


# --- read-only ------------------------------------------------------------------------------------


def test_metrics_cannot_write(warehouse: Warehouse) -> None:
    source = warehouse.source()
    writes = [
        ScalarQuery("SELECT nextval('analytics.seq')"),
        ScalarQuery("DELETE FROM analytics.fact_orders RETURNING 1"),
    ]
    observed = source.observe(ORDERS, [RowCount(), *writes])
    source.close()
    assert observed[RowCount()].value == 3
    for write in writes:
        assert observed[write].error, write
    assert "read-only" in (observed[writes[0]].error or "")
    assert warehouse.scalar("SELECT count(*) FROM analytics.fact_orders") == 3
    assert warehouse.scalar("SELECT nextval('analytics.seq')") == 1  # never advanced by demon


def test_a_function_with_side_effects_cannot_write_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    warehouse = Warehouse("postgresql", postgres_url, postgres_url, tmp_path)
    warehouse.execute(
        *SETUP,
        "CREATE FUNCTION analytics.sneaky() RETURNS integer LANGUAGE sql AS "
        "$$ INSERT INTO analytics.fact_orders (id) VALUES (99) RETURNING 1 $$",
    )
    source = warehouse.source()
    sneaky = ScalarQuery("SELECT analytics.sneaky()")
    observed = source.observe(ORDERS, [sneaky])
    source.close()
    assert "read-only transaction" in (observed[sneaky].error or "")
    assert warehouse.scalar("SELECT count(*) FROM analytics.fact_orders") == 3


# --- redaction -------------------------------------------------------------------------------------


def test_secrets_are_redacted_from_errors_and_statements(warehouse: Warehouse) -> None:
    source = warehouse.source(Redactor(["topsecret-value"]))
    leaky = ScalarQuery("SELECT CAST('topsecret-value' AS integer)")
    observed = source.observe(ORDERS, [leaky])[leaky]
    source.close()
    assert observed.error and observed.statement
    assert "topsecret-value" not in observed.error + observed.statement
    assert "***" in observed.statement


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://demon:s3cret@db:5432/x", "postgresql+psycopg://demon:***@db:5432/x"),
        ("postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"),
        ("postgresql://demon@db/x", "postgresql://demon@db/x"),
        ("duckdb:///warehouse.duckdb", "duckdb:///warehouse.duckdb"),
        ("snowflake://me:pw@acct/db?warehouse=w", "snowflake://me:***@acct/db?warehouse=w"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_redactor() -> None:
    redact = Redactor(["hunter22", "abc", ""]).extended(["p@ss/word", None])
    text = (
        "token hunter22 and abc; url https://bot:other-secret@hooks.example/x; "
        "dsn host=db password=letmein user=u; quoted p%40ss%2Fword and raw p@ss/word"
    )
    assert redact(text) == (
        "token *** and abc; url https://bot:***@hooks.example/x; "
        "dsn host=db password=*** user=u; quoted *** and raw ***"
    )
    assert Redactor()("nothing to hide") == "nothing to hide"


# --- SQLite: the reflection fallback and read-only URI ------------------------------------------------


def test_sqlite_uses_reflection_and_opens_read_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    admin = f"sqlite:///{tmp_path}/sub/w.db"
    warehouse = Warehouse("sqlite", admin, "sqlite:///sub/w.db", tmp_path)
    warehouse.execute("CREATE TABLE orders (id INTEGER, total NUMERIC(12, 2), at DATETIME)",
                      "INSERT INTO orders VALUES (1, 2.5, '2024-01-01 10:00:00')")
    source = warehouse.source()
    observed = source.observe(DatasetConfig(source="warehouse", table="orders"), [Columns(), RowCount()])
    missing = source.observe(DatasetConfig(source="warehouse", table="nope"), [RowCount()])
    source.close()

    assert observed[Columns()].value == [
        Column("id", "INTEGER"), Column("total", "NUMERIC(12, 2)"), Column("at", "DATETIME")
    ]
    assert observed[RowCount()].value == 1
    assert source.requests["statement"] == 3
    assert missing[RowCount()].error == "table nope not found in source warehouse"

    config = SqlSourceConfig(kind="sql", url="sqlite:///absent.db")
    absent = open_source("warehouse", config, tmp_path, Redactor())
    error = absent.observe(DatasetConfig(source="warehouse", table="t"), [RowCount()])[RowCount()].error
    assert error == (
        f"cannot connect to source warehouse (sqlite:///{tmp_path}/absent.db): unable to open database file"
    )
    assert not (tmp_path / "absent.db").exists()  # mode=ro never creates the file


def test_a_sqlite_timeout_interrupts(tmp_path: Path) -> None:
    warehouse = Warehouse("sqlite", f"sqlite:///{tmp_path}/w.db", "sqlite:///w.db", tmp_path)
    warehouse.execute("CREATE TABLE t (n INTEGER)")
    source = warehouse.source(query_timeout="1s")
    forever = ScalarQuery(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
    )
    started = time.monotonic()
    observed = source.observe(DatasetConfig(source="warehouse", table="t"), [forever])
    assert observed[forever].error == "query timed out after 1s"
    assert time.monotonic() - started < 30
    assert source.observe(DatasetConfig(source="warehouse", table="t"), [RowCount()])[RowCount()].value == 0
    source.close()


# --- dialect profiles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "setup"),
    [
        ("postgresql", ["SET TRANSACTION READ ONLY", "SET LOCAL statement_timeout = 1500"]),
        ("redshift", ["SET statement_timeout TO 1500"]),
        ("mysql", ["START TRANSACTION READ ONLY", "SET SESSION max_execution_time = 1500"]),
        ("snowflake", ["ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 2"]),
        ("trino", ["SET SESSION query_max_run_time = '2s'"]),
        ("duckdb", []),
        ("sqlite", []),
        ("oracle", []),
    ],
)
def test_transaction_setup_per_dialect(backend: str, setup: list[str]) -> None:
    assert profile_for(backend).transaction_setup(1.5) == setup


def test_unknown_dialects_get_the_generic_profile() -> None:
    assert profile_for("oracle") is GENERIC
    assert GENERIC.information_schema and not GENERIC.interrupt_on_timeout
    interrupted = {name for name, profile in PROFILES.items() if profile.interrupt_on_timeout}
    assert interrupted == {"duckdb", "sqlite"}


class DriverError(Exception):
    """Stands in for a driver exception class: drivers carry codes as attributes or first argument."""

    def __init__(self, *args: Any, **codes: Any) -> None:
        super().__init__(*args)
        for name, value in codes.items():
            setattr(self, name, value)


@pytest.mark.parametrize(
    ("backend", "error", "timeout"),
    [
        ("postgresql", DriverError("canceling statement due to statement timeout", sqlstate="57014"), True),
        ("postgresql", DriverError("syntax error", sqlstate="42601"), False),
        ("mysql", DriverError(3024, "maximum statement execution time exceeded"), True),
        ("mysql", DriverError(1064, "syntax"), False),
        ("snowflake", DriverError("reached its statement timeout", errno=630, sqlstate="57014"), True),
        ("trino", DriverError("Query exceeded maximum time limit", error_name="EXCEEDED_TIME_LIMIT"), True),
        ("duckdb", DriverError("INTERRUPT Error: Interrupted!"), False),  # only when our deadline fired
    ],
)
def test_timeout_errors_are_recognised(backend: str, error: Exception, timeout: bool) -> None:
    assert profile_for(backend).is_timeout(error, Deadline(None, 1.0)) is timeout


def test_error_codes() -> None:
    assert error_codes(DriverError(3024, "x")) == {"3024"}
    assert error_codes(DriverError("x", sqlstate="57014", errno=630)) == {"57014", "630"}
    assert error_codes(ValueError("plain")) == frozenset()


def test_a_deadline_fires_only_while_active() -> None:
    class Interruptible:
        interrupted = 0

        def interrupt(self) -> None:
            self.interrupted += 1

    connection = Interruptible()
    with Deadline(connection, 0.05) as deadline:
        time.sleep(0.5)
    assert deadline.fired and connection.interrupted == 1
    with Deadline(connection, 0.2) as quick:
        pass
    time.sleep(0.4)
    assert not quick.fired and connection.interrupted == 1


@pytest.mark.parametrize(
    ("url", "database", "connect_args"),
    [
        ("duckdb:///data/w.duckdb", "/base/data/w.duckdb", {"read_only": True}),
        ("duckdb:////abs/w.duckdb", "/abs/w.duckdb", {"read_only": True}),
        ("duckdb:///:memory:", ":memory:", {}),
        ("duckdb://", None, {}),
        ("duckdb:///md:analytics", "md:analytics", {}),
        ("sqlite:///rel/x.db", "file:/base/rel/x.db", {}),
        ("sqlite:///:memory:", ":memory:", {}),
        ("postgresql+psycopg://u:p@h/db", "db", {"connect_timeout": 10}),
        ("mysql+pymysql://u:p@h/db", "db", {"connect_timeout": 10}),
        ("oracle+oracledb://u:p@h/db", "db", {}),
    ],
)
def test_resolve_and_open_options(url: str, database: str | None, connect_args: dict[str, Any]) -> None:
    profile = profile_for(sa.make_url(url).get_backend_name())
    opened, args = profile.open_options(profile.resolve(sa.make_url(url), Path("/base")), 9.5)
    assert opened.database == database
    assert args == connect_args


def test_sqlite_files_open_through_a_read_only_uri() -> None:
    profile = profile_for("sqlite")
    resolved = profile.resolve(sa.make_url("sqlite:///my db.db"), Path("/b"))
    assert resolved.database == "/b/my db.db"
    opened, _ = profile.open_options(resolved, 5)
    assert isinstance(opened, URL)
    assert opened.database == "file:/b/my%20db.db"
    assert dict(opened.query) == {"uri": "true", "mode": "ro"}


# --- statement building ----------------------------------------------------------------------------


def test_identifiers_are_quoted_by_sqlalchemy() -> None:
    statement = fused_statement("Analytics", "order", "x > 1", [sa.func.max(sa.column("select"))])
    text = str(statement.compile(compile_kwargs={"literal_binds": True}))
    assert '"Analytics"."order"' in text and 'max("select")' in text and "WHERE x > 1" in text


def test_metric_only_statements_have_no_from() -> None:
    metric = user_sql("SELECT 1;").columns(sa.column("v")).scalar_subquery()
    statement = fused_statement("s", "t", "x > 1", [metric])
    assert str(statement.compile()).split() == ["SELECT", "(SELECT", "1)", "AS", "p0"]
