"""The SQL source against real DuckDB files and the real PostgreSQL: probes, fusing, errors, safety."""

from __future__ import annotations

import socket
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
from checks.sources.dialects import (
    GENERIC,
    INFORMATION_SCHEMA_COLUMNS,
    PROFILES,
    Deadline,
    abandon,
    error_codes,
    interrupt,
    profile_for,
    spill_folder,
)
from checks.sources.settings import SqlSourceConfig
from checks.sources.sql import SqlSource, Table, fused_statement, user_sql
from monitor.core.config.models import DatasetConfig
from monitor.core.failures import Reason
from monitor.core.redact import Redactor, mask_url
from monitor.core.typefamilies import family_of
from tests.pgserver import PostgresServer

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
CATALOG = {"duckdb": "information_schema.columns", "postgresql": "pg_catalog.pg_attribute"}
ORDERS = DatasetConfig(source="warehouse", table="analytics.fact_orders")
# Queries that would run for minutes: a trillion-row cross join, a one-minute sleep.
PG_OPTIONS = "-c default_transaction_read_only=on -c statement_timeout=1500"
PG_TCP = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
          "tcp_user_timeout": 30_000}
DUCKDB_SANDBOX: dict[str, Any] = {"config": {
    "autoinstall_known_extensions": False, "autoload_known_extensions": False,
    "enable_external_access": False, "lock_configuration": True,
}}
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
    source: SqlSource, warehouse: Warehouse, statements: list[str]
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
    sent = statements  # nothing else either: PostgreSQL sessions are read-only and bounded from the start
    assert len(sent) == 2, sent
    assert CATALOG[warehouse.backend] in sent[0]
    assert sent[1].count("count(*)") == 1 and sent[1].count("max(") == 1 and sent[1].count("SELECT 7") == 1
    aggregate = observed[RowCount()].statement
    assert {observed[probe].statement for probe in probes} == {aggregate, observed[Columns()].statement}
    assert aggregate is not None and "(SELECT 7) AS demon_p2" in aggregate
    assert "FROM analytics.fact_orders) AS demon_agg" in aggregate


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


def test_a_missing_table_errors_the_probes_on_it_and_metrics_still_run(
    source: SqlSource, statements: list[str]
) -> None:
    source.ping()
    statements.clear()
    dataset = DatasetConfig(source="warehouse", table="analytics.nope")
    metric = ScalarQuery("SELECT count(*) FROM analytics.fact_orders")
    probes: list[Probe] = [RowCount(), MaxValue("loaded_at"), Columns(), metric]
    observed = source.observe(dataset, probes)

    assert {observed[probe].error for probe in probes[:3]} == {
        "table analytics.nope not found in source warehouse"}
    assert observed[metric].value == 3  # it names its own table, which is there
    assert len(statements) == 3  # the metadata, the list of tables for a hint (none is close), the metric
    assert "demon_agg" not in statements[2]


@pytest.mark.parametrize(("table", "hint"), [
    ("analytics.fact_order", "'analytics.fact_orders'"),
    ("Analytics.FACT_ORDRES", "'analytics.fact_orders'"),
    ("fact_ordrs", "'analytics.fact_orders'"),
    ("main.fact_orders", "'analytics.fact_orders'"),  # the same name in another schema
])
def test_a_missing_table_names_the_nearest(warehouse: Warehouse, table: str, hint: str) -> None:
    warehouse.execute("CREATE TABLE analytics.dim_customers (id integer)")
    source = warehouse.source()
    try:
        observed = source.observe(DatasetConfig(source="warehouse", table=table), [RowCount()])
        with pytest.raises(SourceError) as missing:
            source.locate(DatasetConfig(source="warehouse", table=table))
    finally:
        source.close()
    assert observed[RowCount()].error == f"table {table} not found in source warehouse (did you mean {hint}?)"
    assert str(missing.value) == observed[RowCount()].error


def test_an_invalid_where_is_named_and_spares_the_metrics(source: SqlSource, warehouse: Warehouse) -> None:
    metric = ScalarQuery("SELECT count(*) FROM analytics.fact_orders")
    for where in ("amount >", "no_such_column > 1", "amount > 0) OR ("):
        dataset = DatasetConfig(source="warehouse", table="analytics.fact_orders", where=where)
        observed = source.observe(dataset, [RowCount(), MaxValue("loaded_at"), metric])
        assert observed[metric].value == 3, where
        for probe in (RowCount(), MaxValue("loaded_at")):
            error = observed[probe].error or ""
            assert error.startswith("the dataset's where is not valid: "), (where, error)
            assert "\n" not in error
        with pytest.raises(SourceError, match=r"^the dataset's where is not valid: "):
            source.locate(dataset)
    scoped = DatasetConfig(source="warehouse", table="analytics.FACT_ORDERS", where="id > 1")
    assert source.locate(scoped) == "table analytics.fact_orders, 5 columns"


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


def test_table_and_schema_names_match_case_insensitively(warehouse: Warehouse) -> None:
    warehouse.execute('CREATE SCHEMA "Sales"', 'CREATE TABLE "Sales"."CamelT" ("N" integer)',
                      'INSERT INTO "Sales"."CamelT" VALUES (4), (6)')
    source = warehouse.source()
    dataset = DatasetConfig(source="warehouse", table="sales.camelt")
    observed = source.observe(dataset, [RowCount(), MaxValue("n"), Columns()])
    source.close()
    assert observed[RowCount()].value == 2 and observed[MaxValue("n")].value == 6
    integer = "INTEGER" if warehouse.backend == "duckdb" else "integer"
    assert observed[Columns()].value == [Column("N", integer)]
    assert 'FROM "Sales"."CamelT"' in (observed[RowCount()].statement or "")  # the catalog's own names


def test_an_exact_table_name_wins_and_case_alone_is_not_guessed(postgres_url: str, tmp_path: Path) -> None:
    warehouse = Warehouse("postgresql", postgres_url, postgres_url, tmp_path)
    warehouse.execute('CREATE TABLE "CamelT" (n integer)', 'CREATE TABLE "CAMELT" (n integer)',
                      'INSERT INTO "CamelT" VALUES (1)')
    source = warehouse.source()
    exact = source.observe(DatasetConfig(source="warehouse", table="CamelT"), [RowCount()])
    folded = source.observe(DatasetConfig(source="warehouse", table="camelt"), [RowCount(), Columns()])
    source.close()
    assert exact[RowCount()].value == 1
    assert {answer.error for answer in folded.values()} == {
        "table camelt not found in source warehouse (ambiguous: public.CAMELT, public.CamelT)"
    }


def test_where_scopes_aggregates_but_not_metrics(source: SqlSource) -> None:
    dataset = DatasetConfig(source="warehouse", table="analytics.fact_orders", where="status = 'paid'")
    metric = ScalarQuery("SELECT count(*) FROM analytics.fact_orders")
    observed = source.observe(dataset, [RowCount(), MaxValue("amount"), metric])

    assert observed[RowCount()].value == 2
    assert observed[MaxValue("amount")].value == Decimal("20.00")
    assert observed[metric].value == 3
    assert "WHERE (status = 'paid')" in (observed[RowCount()].statement or "")


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


def test_metrics_cannot_see_the_dataset_table(source: SqlSource) -> None:
    """A metric's unqualified names never bind to the dataset's table through the fused statement."""
    stray = ScalarQuery("SELECT sum(amount) FROM (SELECT 1 AS a) one")
    legit = ScalarQuery("SELECT sum(amount) FROM analytics.fact_orders")
    observed = source.observe(ORDERS, [RowCount(), stray, MaxValue("id"), legit])
    assert "amount" in (observed[stray].error or "")
    assert observed[RowCount()].value == 3 and observed[MaxValue("id")].value == 3
    assert observed[legit].value == Decimal("25.00")


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

    # a timed-out statement is not re-run part by part, each with a full query_timeout
    assert {answer.error for answer in observed.values()} == {
        "query timed out after 1s (one statement for 2 probes: row count, metric statement)"
    }
    assert source.requests["statement"] == 2  # the columns, then the fused statement once
    assert elapsed < 30  # about 1 s; the query would run for a minute or more
    assert source.observe(ORDERS, [RowCount()])[RowCount()].value == 3  # the pool is still usable
    source.close()


def test_a_timed_out_metric_alone_says_just_that(warehouse: Warehouse) -> None:
    source = warehouse.source(query_timeout="1s")
    slow = ScalarQuery(SLOW_SQL[warehouse.backend])
    observed = source.observe(ORDERS, [slow, Columns()])
    source.close()
    assert observed[slow].error == "query timed out after 1s"
    assert observed[Columns()].ok


# --- connections -----------------------------------------------------------------------------------


def test_a_refused_connection_is_an_error_with_the_password_masked(postgres_url: str, tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: refused, and no other process can take it
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"postgresql+psycopg://demon:s3cret-pw@127.0.0.1:{port}/x"
        source = open_source("warehouse", SqlSourceConfig(kind="sql", url=url), tmp_path, Redactor())
        masked = f"postgresql+psycopg://demon:***@127.0.0.1:{port}/x"
        expected = f"cannot connect to source warehouse ({masked}): connection refused"
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
        (SqlSourceConfig(kind="sql", url="postgresql+psycopg://u:pw-secret@[::1/db"),  # make_url: ValueError
         "source warehouse: not a valid SQLAlchemy URL: postgresql+psycopg://u:***@[::1/db"),
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


def test_postgresql_sessions_start_read_only_and_bounded_keeping_the_urls_options(
    postgres_url: str, tmp_path: Path
) -> None:
    url = postgres_url + "?options=-c%20TimeZone%3DAmerica/New_York"
    warehouse = Warehouse("postgresql", postgres_url, url, tmp_path)
    warehouse.execute(*SETUP)
    source = warehouse.source(query_timeout="2s")
    names = ["TimeZone", "default_transaction_read_only", "statement_timeout"]
    settings = {name: ScalarQuery(f"SELECT current_setting('{name}')") for name in names}
    observed = source.observe(ORDERS, list(settings.values()))
    source.close()
    assert {name: observed[probe].value for name, probe in settings.items()} == {
        "TimeZone": "America/New_York", "default_transaction_read_only": "on", "statement_timeout": "2s"
    }


def test_a_metric_cannot_lift_the_limits_for_later_statements(postgres_url: str, tmp_path: Path) -> None:
    """A metric's session-wide SET dies with its transaction, which is always rolled back."""
    warehouse = Warehouse("postgresql", postgres_url, postgres_url, tmp_path)
    warehouse.execute(*SETUP)
    source = warehouse.source(query_timeout="1s", max_concurrency=1)  # one connection, reused
    lift = ScalarQuery("SELECT length(set_config('default_transaction_read_only', 'off', false)"
                       " || set_config('statement_timeout', '0', false))")
    write, slow = ScalarQuery("SELECT nextval('analytics.seq')"), ScalarQuery(SLOW_SQL["postgresql"])
    assert source.observe(ORDERS, [lift])[lift].value == 4
    assert "read-only transaction" in (source.observe(ORDERS, [write])[write].error or "")
    started = time.monotonic()
    assert source.observe(ORDERS, [slow])[slow].error == "query timed out after 1s"
    assert time.monotonic() - started < 30
    source.close()
    assert warehouse.scalar("SELECT nextval('analytics.seq')") == 1


# --- PostgreSQL privileges and catalog types -------------------------------------------------------


def reader(postgres: PostgresServer, postgres_url: str, *grants: str) -> str:
    """The URL of a new login role on the test's database that has only `grants` ({role} in each)."""
    url = sa.make_url(postgres_url)
    role = f"reader_{url.database}"
    postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'")
    for grant in grants:
        postgres.psql(grant.format(role=role), url.database or "")
    return url.set(username=role, password="reader-pw").render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("grants", "denied"),
    [
        ([], "permission denied for schema analytics"),
        (["GRANT USAGE ON SCHEMA analytics TO {role}"], "permission denied for table fact_orders"),
    ],
)
def test_an_unreadable_table_is_permission_denied_not_missing(
    postgres: PostgresServer, postgres_url: str, tmp_path: Path, grants: list[str], denied: str
) -> None:
    Warehouse("postgresql", postgres_url, postgres_url, tmp_path).execute(*SETUP)
    source = Warehouse("postgresql", postgres_url, reader(postgres, postgres_url, *grants), tmp_path).source()
    metric = ScalarQuery("SELECT 1")
    observed = source.observe(ORDERS, [RowCount(), MaxValue("id"), Columns(), metric])
    source.close()
    assert [column.name for column in observed[Columns()].value] == COLUMNS
    assert observed[RowCount()].error == observed[MaxValue("id")].error == denied
    assert observed[metric].value == 1


def test_a_column_grant_hides_no_column(postgres: PostgresServer, postgres_url: str, tmp_path: Path) -> None:
    Warehouse("postgresql", postgres_url, postgres_url, tmp_path).execute(*SETUP)
    url = reader(postgres, postgres_url, "GRANT USAGE ON SCHEMA analytics TO {role}",
                 "GRANT SELECT (id) ON analytics.fact_orders TO {role}")
    source = Warehouse("postgresql", postgres_url, url, tmp_path).source()
    observed = source.observe(ORDERS, [Columns(), RowCount(), MaxValue("id"), MaxValue("loaded_at")])
    source.close()
    assert [column.name for column in observed[Columns()].value] == COLUMNS  # no false "missing" column
    assert observed[RowCount()].value == 3 and observed[MaxValue("id")].value == 3
    assert observed[MaxValue("loaded_at")].error == "permission denied for table fact_orders"


# Declared type -> format_type's name -> family. Domains read as their base type, as information_schema did.
PG_TYPES = [
    ("varchar(20)", "character varying(20)", "string"),
    ("char(3)", "character(3)", "string"),
    ("text", "text", "string"),
    ('"char"', '"char"', "string"),
    ("uuid", "uuid", "string"),
    ("numeric(12, 2)", "numeric(12,2)", "decimal"),
    ("numeric", "numeric", "decimal"),
    ("money", "money", "decimal"),
    ("analytics.amount", "numeric(10,2)", "decimal"),
    ("smallint", "smallint", "integer"),
    ("integer", "integer", "integer"),
    ("bigint", "bigint", "integer"),
    ("real", "real", "float"),
    ("double precision", "double precision", "float"),
    ("boolean", "boolean", "boolean"),
    ("date", "date", "date"),
    ("timestamp", "timestamp without time zone", "timestamp"),
    ("timestamp(3) with time zone", "timestamp(3) with time zone", "timestamp"),
    ("timestamptz(0)", "timestamp(0) with time zone", "timestamp"),
    ("bytea", "bytea", "binary"),
    ("json", "json", "json"),
    ("jsonb", "jsonb", "json"),
    ("integer[]", "integer[]", "other"),
    ("varchar(5)[]", "character varying(5)[]", "other"),
    ("time", "time without time zone", "other"),
    ("interval", "interval", "other"),
    ("analytics.mood", "analytics.mood", "other"),
]


def test_postgresql_type_names_come_from_format_type(postgres_url: str, tmp_path: Path) -> None:
    warehouse = Warehouse("postgresql", postgres_url, postgres_url, tmp_path)
    columns = ", ".join(f"c{index} {declared}" for index, (declared, _, _) in enumerate(PG_TYPES))
    warehouse.execute("CREATE SCHEMA analytics", "CREATE DOMAIN analytics.amount AS numeric(10, 2)",
                      "CREATE TYPE analytics.mood AS ENUM ('ok', 'sad')",
                      f"CREATE TABLE analytics.typed ({columns})",
                      "ALTER TABLE analytics.typed DROP COLUMN c0")
    source = warehouse.source()
    observed = source.observe(DatasetConfig(source="warehouse", table="analytics.typed"), [Columns()])
    source.close()
    expected = [Column(f"c{index}", shown) for index, (_, shown, _) in enumerate(PG_TYPES)][1:]  # c0 dropped
    assert observed[Columns()].value == expected
    assert [family_of(shown) for _, shown, _ in PG_TYPES] == [family for _, _, family in PG_TYPES]


# --- redaction -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://secretuser:pw@127.0.0.1:1/db",
        "postgresql+psycopg://secretuser:pw@127.0.0.1:1/db?application_name=a/b",  # parsed: a%2Fb
        "duckdb:///secretuser/w.duckdb",  # parsed: resolved against the config's folder
    ],
)
def test_a_url_that_is_itself_a_secret_is_never_shown(url: str, tmp_path: Path) -> None:
    """A URL from the environment is masked whole: not even its user, host or path are printed."""
    source = open_source("warehouse", SqlSourceConfig(kind="sql", url=url), tmp_path, Redactor([url]))
    observed = source.observe(ORDERS, [RowCount(), Columns(), ScalarQuery("SELECT 1")])
    with pytest.raises(SourceError) as raised:
        source.ping()
    shown = [source.describe(), str(raised.value)]
    shown += [text for answer in observed.values() for text in (answer.error, answer.statement) if text]
    assert not [text for text in shown if "secretuser" in text], shown
    assert source.describe() == "***"
    assert str(raised.value).startswith("cannot connect to source warehouse (***): ")


def test_a_secret_url_still_works(postgres_url: str, tmp_path: Path) -> None:
    warehouse = Warehouse("postgresql", postgres_url, postgres_url, tmp_path)
    warehouse.execute(*SETUP)
    source = warehouse.source(Redactor([postgres_url]))
    assert source.describe() == "***"
    assert source.observe(ORDERS, [RowCount()])[RowCount()].value == 3
    source.close()


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
    misspelt = source.observe(DatasetConfig(source="warehouse", table="ordres"), [RowCount()])
    source.close()

    assert observed[Columns()].value == [
        Column("id", "INTEGER"), Column("total", "NUMERIC(12, 2)"), Column("at", "DATETIME")
    ]
    assert observed[RowCount()].value == 1
    assert source.requests["statement"] == 6  # columns and count; columns and table names, twice
    assert missing[RowCount()].error == "table nope not found in source warehouse"
    hint = "(did you mean 'main.orders'?)"
    assert misspelt[RowCount()].error == f"table ordres not found in source warehouse {hint}"

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
        ("postgresql", []),  # set once per connection instead: see test_resolve_and_open_options
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
    assert GENERIC.columns_sql == INFORMATION_SCHEMA_COLUMNS and GENERIC.client_stop is None
    assert {name for name, profile in PROFILES.items() if profile.columns_sql is None} == {"sqlite"}
    stops = {name: profile.client_stop for name, profile in PROFILES.items() if profile.client_stop}
    assert stops == {"duckdb": interrupt, "sqlite": interrupt, "postgresql": abandon}


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
    said = profile_for(backend).ended_early(error, Deadline(None, 1.0), 1.5)
    assert said == ((Reason.TIMEOUT, "query timed out after 1.5s") if timeout else None)


def test_error_codes() -> None:
    assert error_codes(DriverError(3024, "x")) == {"3024"}
    assert error_codes(DriverError("x", sqlstate="57014", errno=630)) == {"57014", "630"}
    assert error_codes(ValueError("plain")) == frozenset()


def test_a_deadline_fires_only_while_active() -> None:
    stopped = threading.Event()
    with Deadline("conn", 0.05, lambda connection: stopped.set()) as deadline:
        assert stopped.wait(60)
    assert deadline.fired and not deadline.stopped
    calls: list[str] = []
    with Deadline("conn", 0.01, calls.append) as quick:
        pass  # ends before its timer (most likely); either way the timer may not stop what runs next
    quick._fire()  # the timer firing late, after the statement ended
    assert calls in ([], ["conn"]) and len(calls) == int(quick.fired)
    with Deadline("conn", 3600, calls.append) as interrupted:
        interrupted.stop()
        interrupted.stop()
    assert interrupted.stopped and not interrupted.fired and calls.count("conn") == 1 + int(quick.fired)
    assert profile_for("duckdb").ended_early(RuntimeError("x"), interrupted, 1) == (
        Reason.INTERRUPTED, "interrupted")


@pytest.mark.parametrize(
    ("url", "database", "connect_args"),
    [
        ("duckdb:///data/w.duckdb", "/base/data/w.duckdb", {"read_only": True, **DUCKDB_SANDBOX}),
        ("duckdb:////abs/w.duckdb", "/abs/w.duckdb", {"read_only": True, **DUCKDB_SANDBOX}),
        ("duckdb:///:memory:", ":memory:", DUCKDB_SANDBOX),
        ("duckdb://", None, DUCKDB_SANDBOX),
        ("duckdb:///md:analytics", "md:analytics", {}),  # MotherDuck is reached over the network
        ("sqlite:///rel/x.db", "file:/base/rel/x.db", {}),
        ("sqlite:///:memory:", ":memory:", {}),
        ("postgresql+psycopg://u:p@h/db", "db", {"connect_timeout": 10, "options": PG_OPTIONS, **PG_TCP}),
        ("mysql+pymysql://u:p@h/db", "db", {"connect_timeout": 10}),
        ("oracle+oracledb://u:p@h/db", "db", {}),
    ],
)
def test_resolve_and_open_options(url: str, database: str | None, connect_args: dict[str, Any]) -> None:
    profile = profile_for(sa.make_url(url).get_backend_name())
    opened, args = profile.open_options(profile.resolve(sa.make_url(url), Path("/base")), 1.5, 9.5)
    assert opened.database == database
    if "config" in connect_args:  # a local DuckDB spills to demon's folder for it, never beside the database
        spilled = {"temp_directory": spill_folder(str(database))}
        connect_args = {**connect_args, "config": {**connect_args["config"], **spilled}}
    assert args == connect_args


def test_a_duckdb_source_that_reads_files_keeps_the_rest_of_its_sandbox() -> None:
    profile = profile_for("duckdb")
    _, args = profile.open_options(sa.make_url("duckdb:////w.duckdb"), 1.5, 9.5, read_files=True)
    sandbox = {**DUCKDB_SANDBOX["config"], "temp_directory": spill_folder("/w.duckdb")}
    del sandbox["enable_external_access"]
    assert args == {"read_only": True, "config": sandbox}


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ("?options=-c%20TimeZone%3DUTC", f"-c TimeZone=UTC {PG_OPTIONS}"),
        ("?options=-c%20a.x%3D1&options=-c%20a.y%3D2&sslmode=disable", f"-c a.x=1 -c a.y=2 {PG_OPTIONS}"),
        ("?sslmode=disable", PG_OPTIONS),
    ],
)
def test_postgresql_options_of_the_url_are_kept(query: str, options: str) -> None:
    """demon's settings come last, so a URL cannot turn read-only off."""
    profile = profile_for("postgresql")
    opened, args = profile.open_options(sa.make_url(f"postgresql+psycopg://u:p@h/db{query}"), 1.5, 60)
    assert args == {"connect_timeout": 60, "options": options, **PG_TCP}
    assert "options" not in opened.query and opened.query.get("sslmode", "disable") == "disable"


def test_sqlite_files_open_through_a_read_only_uri() -> None:
    profile = profile_for("sqlite")
    resolved = profile.resolve(sa.make_url("sqlite:///my db.db"), Path("/b"))
    assert resolved.database == "/b/my db.db"
    opened, _ = profile.open_options(resolved, 5, 5)
    assert isinstance(opened, URL)
    assert opened.database == "file:/b/my%20db.db"
    assert dict(opened.query) == {"uri": "true", "mode": "ro"}


# --- statement building ----------------------------------------------------------------------------


def test_identifiers_are_quoted_by_sqlalchemy() -> None:
    table = Table("Analytics", "order", [])
    statement = fused_statement(table, "x > 1", [sa.func.max(sa.column("select"))])
    text = str(statement.compile(compile_kwargs={"literal_binds": True}))
    assert '"Analytics"."order"' in text and 'max("select")' in text and "WHERE (x > 1)" in text


def test_metric_only_statements_have_no_from() -> None:
    metric = user_sql("SELECT 1;").columns(sa.column("v")).scalar_subquery()
    statement = fused_statement(None, None, [metric])
    assert str(statement.compile()).split() == ["SELECT", "(SELECT", "1)", "AS", "demon_p0"]
