"""demon never writes to a source, never reads outside its data, and never shows a pii column's values, even
when the config's author tries: break-outs through `metric: sql:` and `where:`, DuckDB's file functions,
and database error messages that quote the data. On DuckDB and on a real PostgreSQL, as a role that can
write (so only demon stands between the config and the data)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from monitor.app.cli import main
from tests.warehouse import execute, write_config

ROWS = ["CREATE TABLE t (id INTEGER, email VARCHAR(100))",
        "INSERT INTO t VALUES (1, 'alice@example.com'), (2, 'bob@example.com')"]
NO_SEMICOLON = "expected one statement: ';' may not appear (even in a string literal: write chr(59))"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def count(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one())


def dataset(*checks: str, where: str = "", pii: str = "") -> str:
    lines = "".join(f"      - {check}\n" for check in checks)
    scope = f"    where: {json.dumps(where)}\n" if where else ""
    hidden = f"    pii_columns: [{pii}]\n" if pii else ""
    return f"  d:\n    source: warehouse\n    table: t\n{scope}{hidden}    checks:\n{lines}"


def metric(sql: str) -> str:
    return f"metric: {{name: m, sql: {json.dumps(sql)}, min: 0}}"


# --- 1 and 2: one statement, and only a SELECT ------------------------------------------------------------


BREAKOUTS = {
    "delete": "SELECT 1) AS x; COMMIT; BEGIN READ WRITE; DELETE FROM t WHERE id=1; COMMIT; SELECT (1",
    "timeout": "SELECT 1) AS x; SET statement_timeout=0; SELECT pg_sleep(8); SELECT (1",
    "copy": "SELECT 1) AS x; COPY (SELECT 42) TO 'warehouse.duckdb' (FORMAT csv); SELECT (1",
    "attach": "SELECT 1) AS x; ATTACH 'other.duckdb' AS o (READ_WRITE); DROP TABLE o.t; SELECT (1",
    "install": "SELECT 1) AS x; INSTALL httpfs; SELECT (1",
    "in a string": "SELECT count(*) FROM t WHERE email <> ';'",
}


@pytest.mark.parametrize("name", list(BREAKOUTS))
def test_a_metric_is_one_statement(tmp_path: Path, warehouse_url: str, name: str) -> None:
    execute(warehouse_url, ROWS)
    config = write_config(tmp_path, warehouse_url, dataset("volume: {min: 1}", metric(BREAKOUTS[name])))
    for command in ("validate", "check"):
        refused = cli(command, "-c", str(config))
        assert refused.exit_code == 2
        assert refused.stderr.startswith(
            f"{config}:12: datasets.d.checks[1].metric.sql: {NO_SEMICOLON}, got ")
    assert count(warehouse_url) == 2
    assert not (tmp_path / ".demon").exists()  # nothing ran: not even the state store was opened


def test_a_where_is_one_condition(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, ROWS)
    where = "id > 0; COMMIT; BEGIN READ WRITE; DELETE FROM t; COMMIT; SELECT 1 WHERE true"
    config = write_config(tmp_path, warehouse_url, dataset("volume: {min: 1}", where=where))
    refused = cli("check", "-c", str(config))
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"{config}:10: datasets.d.where: {NO_SEMICOLON}, got ")
    assert count(warehouse_url) == 2


@pytest.mark.parametrize("sql", ["DELETE FROM t", "UPDATE t SET id = 0", "COPY t TO 'out.csv'", "PRAGMA x"])
def test_a_metric_is_a_select(tmp_path: Path, warehouse_url: str, sql: str) -> None:
    config = write_config(tmp_path, warehouse_url, dataset(metric(sql)))
    refused = cli("validate", "-c", str(config))
    assert refused.exit_code == 2
    assert "metric.sql: expected one SELECT statement (SELECT, WITH, FROM or VALUES first)" in refused.stderr


def test_an_or_in_a_where_cannot_widen_the_scope(tmp_path: Path, warehouse_url: str) -> None:
    """demon puts the condition in parentheses: `id = 1 OR id = 2` scopes both rows, and no more."""
    execute(warehouse_url, ROWS)
    config = write_config(tmp_path, warehouse_url, dataset("volume: {min: 1}", where="id = 1 OR id = 2"))
    [result] = json.loads(cli("check", "-c", str(config), "--format", "json").stdout)["results"]
    assert result["value"] == 2
    assert "WHERE (id = 1 OR id = 2" in result["statements"][0]


def test_a_writing_cte_is_refused_by_the_database(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, ROWS)
    sql = "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone"
    config = write_config(tmp_path, warehouse_url, dataset(metric(sql)))
    [result] = json.loads(cli("check", "-c", str(config), "--format", "json").stdout)["results"]
    assert result["outcome"] == "error"
    assert count(warehouse_url) == 2


def test_a_postgresql_metric_cannot_lift_its_time_limit(tmp_path: Path, postgres_url: str) -> None:
    execute(postgres_url, ROWS)
    sql = "SELECT count(*) FROM (SELECT set_config('statement_timeout', '0', false)) s, pg_sleep(30)"
    config = write_config(tmp_path, postgres_url, dataset(metric(sql)),
                          source_extra="    query_timeout: 1s\n")
    [result] = json.loads(cli("check", "-c", str(config), "--format", "json").stdout)["results"]
    assert (result["outcome"], result["message"]) == ("error", "query timed out after 1s")


# --- 2: DuckDB stays inside its database ---------------------------------------------------------------


@pytest.fixture
def duckdb_file(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    execute(url, ROWS)
    return url


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM read_csv('/etc/passwd')",
    "SELECT CAST(column0 AS INTEGER) FROM read_csv('/etc/passwd', header = false) LIMIT 1",
    "SELECT count(*) FROM read_parquet('https://example.com/x.parquet')",
    "SELECT count(*) FROM duckdb_extensions() WHERE installed AND extension_name = 'httpfs'"
    " AND (SELECT count(*) FROM glob('/etc/*')) > 0",
])
def test_a_duckdb_metric_reads_no_file_but_its_database(tmp_path: Path, duckdb_file: str, sql: str) -> None:
    config = write_config(tmp_path, duckdb_file, dataset(metric(sql)))
    result = cli("check", "-c", str(config), "--format", "json")
    [checked] = json.loads(result.stdout)["results"]
    assert checked["outcome"] == "error", checked
    assert "disabled by configuration" in checked["message"]
    assert "root:" not in result.stdout  # nothing of the file's content, even in an error


def test_views_over_files_need_the_sources_read_files(tmp_path: Path, duckdb_file: str) -> None:
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "events.parquet")
    events = tmp_path / "events.parquet"
    execute(duckdb_file, [f"CREATE VIEW events AS SELECT * FROM read_parquet('{events}')"])
    block = dataset("volume: {min: 1}").replace("table: t", "table: events")
    confined = write_config(tmp_path, duckdb_file, block)
    [refused] = json.loads(cli("check", "-c", str(confined), "--format", "json").stdout)["results"]
    assert refused["outcome"] == "error" and "disabled by configuration" in refused["message"]
    opened = write_config(tmp_path, duckdb_file, block, source_extra="    read_files: true\n")
    [allowed] = json.loads(cli("check", "-c", str(opened), "--format", "json").stdout)["results"]
    assert (allowed["outcome"], allowed["value"]) == ("pass", 3)


def test_duckdb_settings_cannot_be_changed_back(tmp_path: Path, duckdb_file: str) -> None:
    sql = "SELECT count(*) FROM (SELECT set_config('enable_external_access', 'true', false))"
    config = write_config(tmp_path, duckdb_file, dataset(metric(sql)))
    [result] = json.loads(cli("check", "-c", str(config), "--format", "json").stdout)["results"]
    assert result["outcome"] == "error"
    assert "read_csv" not in result["message"]
    reading = metric("SELECT count(*) FROM read_csv('/etc/hostname')")
    after = write_config(tmp_path, duckdb_file, dataset(reading))
    [still] = json.loads(cli("check", "-c", str(after), "--format", "json").stdout)["results"]
    assert "disabled by configuration" in still["message"]


def test_the_pipeline_can_write_between_runs(tmp_path: Path, duckdb_file: str) -> None:
    """DuckDB lets one process write a file, and then nobody else open it: demon holds it only while a run
    reads it, so the loader's writes between runs succeed."""
    from monitor.app.config import load_config
    from monitor.app.runner import Runner

    config = load_config(write_config(tmp_path, duckdb_file, dataset("volume: {min: 1}")))
    runner = Runner(config, None)
    try:
        first = runner.run(config.checks)
        execute(duckdb_file, ["INSERT INTO t VALUES (3, 'carol@example.com')"])  # fails while demon holds it
        second = runner.run(config.checks)
    finally:
        runner.close()
    assert (first[0].value, second[0].value) == (2, 3)


# --- 3: pii columns never show, not even in a database's error ---------------------------------------------


def test_a_pii_value_in_a_database_error_is_never_shown(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, ROWS)
    cast = metric("SELECT max(CAST(email AS INTEGER)) FROM t")
    config = write_config(tmp_path, warehouse_url, dataset(cast, pii="email"))
    outputs = [cli("check", "-c", str(config), "--format", fmt).output for fmt in ("json", "table", "junit")]
    notified = subprocess.run([sys.executable, "-m", "monitor", "check", "--notify", "-c", str(config)],
                              capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    history = cli("history", "d.metric.m", "-c", str(config), "--format", "json").output
    stored = "\n".join(str(row) for row in sqlite3.connect(tmp_path / ".demon" / "state.db").execute(
        "SELECT message, details FROM results UNION ALL SELECT title, context FROM incidents"))
    [result] = json.loads(outputs[0])["results"]
    assert result["outcome"] == "error" and "…" in result["message"], result["message"]
    for shown in (*outputs, notified.stdout, notified.stderr, history, stored):
        assert "alice" not in shown and "bob" not in shown
    assert "[high] d.metric.m errored (opened)" in notified.stderr  # the notification went out, without it


def test_without_pii_columns_the_error_keeps_its_value(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, ROWS)
    cast = metric("SELECT max(CAST(email AS INTEGER)) FROM t")
    config = write_config(tmp_path, warehouse_url, dataset(cast))
    [result] = json.loads(cli("check", "-c", str(config), "--format", "json").stdout)["results"]
    assert "example.com" in result["message"]


def test_a_pii_value_in_a_quality_rules_error_is_never_shown(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, ROWS)
    (tmp_path / "rules.yml").write_text(
        "schema_type: dataframe\nversion: 0.35.0\ncolumns:\n  email:\n    dtype: str\n    nullable: false\n"
        "    checks:\n      greater_than: 0\n  id:\n    dtype: int64\n")
    config = write_config(tmp_path, warehouse_url, dataset("quality: {schema: rules.yml}", pii="email"))
    result = cli("check", "-c", str(config), "--format", "json")
    assert "alice" not in result.stdout and "bob" not in result.stdout
    [checked] = json.loads(result.stdout)["results"]
    assert checked["outcome"] in {"error", "fail"}, checked


def test_errors_are_bounded(tmp_path: Path, warehouse_url: str) -> None:
    long_name = "x" * 3000
    config = write_config(tmp_path, warehouse_url, dataset(metric(f"SELECT {long_name} FROM t")))
    [result] = json.loads(cli("check", "-c", str(config), "--format", "json").stdout)["results"]
    assert result["outcome"] == "error" and len(result["message"]) <= 500


def test_words_with_an_apostrophe_are_not_mistaken_for_quoted_values() -> None:
    from monitor.core.redact import error_text

    said = "column amount is string, the dataset's is float (1 of the dataset's files)"
    assert error_text(said, [], hide_values=True) == said
    assert error_text("Could not convert string 'bob@x.org' to INT32", [], True) == (
        "Could not convert string '…' to INT32")
    assert error_text('invalid input syntax for type integer: "bob@x.org"', [], True) == (
        'invalid input syntax for type integer: "…"')
