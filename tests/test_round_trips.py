"""What PostgreSQL itself sees of demon (`log_statement = all` for demon's role, read from the server's log):
connection set-up once per process and source, one transaction per dataset run, no savepoints, and still
read-only and bounded in time."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandera.pandas as pa
import pytest
import sqlalchemy as sa

from checks.probes import Columns, RowCount, ScalarQuery
from checks.sources import open_source
from checks.sources.settings import SqlSourceConfig
from monitor.core.config.models import DatasetConfig
from monitor.core.redact import Redactor
from tests.daemon_support import wait_for
from tests.pgserver import PostgresServer
from tests.warehouse import execute, write_config

ROWS = [
    "CREATE SCHEMA shop",
    "CREATE TABLE shop.orders (id integer, amount numeric(12, 2), loaded_at timestamp)",
    "INSERT INTO shop.orders SELECT g, g * 0.5, now() AT TIME ZONE 'UTC' FROM generate_series(1, 100) g",
    "CREATE SEQUENCE shop.seq",
]
CHECKS = (
    "      - volume: {min: 1}\n"
    "      - freshness: {column: loaded_at, fail_after: 1d}\n"
    "      - schema: {columns: {id: integer, amount: decimal, loaded_at: timestamp}}\n"
    "      - quality: {schema: orders.yml}\n"  # one rule fails: its sample is one more statement
    "      - metric: {name: negative, max: 0, sql: 'SELECT count(*) FROM shop.orders WHERE amount < 0'}\n"
)
# SQLAlchemy's dialect initialisation, on the first connection of the process to the source.
SET_UP = ["BEGIN", "select pg_catalog.version()", "select current_schema()",
          "show transaction isolation level", "show standard_conforming_strings", "ROLLBACK"]
ORDERS = DatasetConfig(source="warehouse", table="shop.orders")

Seen = Callable[[], list[str]]


@pytest.fixture
def counted(postgres: PostgresServer, postgres_url: str) -> tuple[str, Seen]:
    """A URL to the test's database as a role whose every statement the server logs, and what the server
    logged of that role since the fixture began."""
    url = sa.make_url(postgres_url)
    role = f"counted_{url.database}"
    postgres.psql(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'pw'")
    postgres.psql(f"ALTER ROLE {role} SET log_statement = 'all'")  # no other role logs its statements
    start = postgres.log.stat().st_size
    url_of_role = url.set(username=role, password="pw").render_as_string(hide_password=False)
    return url_of_role, lambda: postgres.logged_since(start)


def check(config: Path) -> dict[str, dict[str, object]]:
    """`demon check` in a process of its own, as a user runs it; its results by check."""
    done = subprocess.run([sys.executable, "-m", "monitor", "check", "-c", str(config), "--format", "json"],
                          capture_output=True, text=True, timeout=300, cwd=config.parent, check=False)
    return {result["check"]: result for result in json.loads(done.stdout)["results"]}


def config(tmp_path: Path, url: str, checks: str) -> Path:
    columns = {"id": pa.Column(int, unique=True), "amount": pa.Column(float, pa.Check.ge(1))}
    schema = pa.DataFrameSchema(columns)
    (tmp_path / "orders.yml").write_text(schema.to_yaml() or "")
    return write_config(tmp_path, url, f"  orders:\n    source: warehouse\n    table: shop.orders\n"
                                       f"    checks:\n{checks}")


def test_demon_check_of_one_dataset_is_eleven_statements_on_the_server(
    tmp_path: Path, counted: tuple[str, Seen]
) -> None:
    url, seen = counted
    execute(url, ROWS)
    before = len(seen())
    results = check(config(tmp_path, url, CHECKS))
    assert {name: result["outcome"] for name, result in results.items()} == {
        "orders.volume": "pass", "orders.freshness": "pass", "orders.schema": "pass",
        "orders.quality": "fail", "orders.metric.negative": "pass",
    }
    statements = seen()[before:]
    assert statements[:6] == SET_UP
    run = statements[6:]
    assert (run[0], run[-1]) == ("BEGIN", "ROLLBACK")  # the dataset run: one transaction
    assert ["pg_catalog.pg_attribute" in run[1], "demon_agg" in run[2], "LIMIT" in run[3]] == [True] * 3
    assert len(statements) == 11, statements
    assert not [statement for statement in statements if "SAVEPOINT" in statement.upper()]


def test_a_write_in_a_metric_still_fails_as_read_only_and_its_retry_needs_no_savepoint(
    tmp_path: Path, counted: tuple[str, Seen]
) -> None:
    url, seen = counted
    execute(url, ROWS)
    before = len(seen())
    write = "      - metric: {name: write, min: 0, sql: \"SELECT nextval('shop.seq')\"}\n"
    results = check(config(tmp_path, url, "      - volume: {min: 1}\n" + write))
    assert results["orders.volume"]["outcome"] == "pass"  # re-run alone after the fused statement failed
    assert results["orders.metric.write"]["outcome"] == "error"
    assert "read-only transaction" in str(results["orders.metric.write"]["message"])
    statements = seen()[before:]
    assert not [statement for statement in statements if "SAVEPOINT" in statement.upper()]
    # The failed fused statement ends its transaction; the parts re-run in a new one.
    run = statements[len(SET_UP):]
    assert [run[0], run[3], run[4], run[-1]] == ["BEGIN", "ROLLBACK", "BEGIN", "ROLLBACK"]
    assert len(run) == 8, run  # metadata, fused, then count and metric alone
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT nextval('shop.seq')")).scalar() == 1  # never advanced by demon
    engine.dispose()


def test_sources_opened_again_share_the_set_up_and_a_dropped_connection_costs_no_error(
    tmp_path: Path, postgres: PostgresServer, counted: tuple[str, Seen]
) -> None:
    """As discovery and then the run do, and a daemon's reloads: the second source reuses the engine."""
    url, seen = counted
    execute(url, ROWS)
    before = len(seen())
    settings = SqlSourceConfig(kind="sql", url=url, max_concurrency=1)
    probes = [RowCount(), Columns(), ScalarQuery("SELECT 1")]
    first = open_source("warehouse", settings, tmp_path, Redactor())
    assert first.observe(ORDERS, probes)[RowCount()].value == 100
    first.close()
    second = open_source("warehouse", settings, tmp_path, Redactor())
    assert second.observe(ORDERS, probes)[RowCount()].value == 100
    # The server ends the pooled connection between runs (a restart, an idle timeout): found without a ping.
    role = sa.make_url(url).username
    postgres.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
    backends = f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"
    wait_for(lambda: postgres.psql(backends) == "0\n", what="the backend gone")
    assert second.observe(ORDERS, probes)[RowCount()].value == 100
    second.close()
    statements = seen()[before:]
    assert statements[:6] == SET_UP
    runs = statements[6:]
    assert len(runs) == 3 * 4, runs  # each run: BEGIN, metadata, fused, ROLLBACK
    assert runs[::4] == ["BEGIN"] * 3 and runs[3::4] == ["ROLLBACK"] * 3
