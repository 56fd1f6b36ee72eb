"""What a new user meets in the first hour, tried as one would: history with times, did-you-mean outside
the config file, `validate --connect` finding every table and prefix and naming missing drivers, a `where`
that names itself, `--failures-only`, SQL type names in schema checks, and a demo that leaves incidents."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from monitor.app.cli import main
from monitor.app.config import load_config
from tests.warehouse import execute, write_config

TABLES = [
    "CREATE SCHEMA analytics",
    "CREATE TABLE analytics.fact_orders (id BIGINT, amount DECIMAL(12, 2), loaded_at TIMESTAMP)",
    "INSERT INTO analytics.fact_orders SELECT i, i * 1.5, now() FROM range(10) t(i)",
    "CREATE TABLE analytics.dim_customers (id INTEGER, name VARCHAR)",
]


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def demon_without(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`demon ARGS` in a process where `module` cannot be imported, as if its extra were not installed."""
    code = f"import sys; sys.modules[{module!r}] = None; from monitor.app.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, check=False)


def checked(config: str, *args: str) -> dict[str, dict[str, Any]]:
    """`demon check --format json`'s results by check id."""
    document = json.loads(cli("check", "-c", config, "--format", "json", *args).stdout)
    return {result["check"]: result for result in document["results"]}


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    execute(url, TABLES)
    return url


def orders(table: str = "analytics.fact_orders", where: str = "", extra: str = "") -> str:
    scope = f"    where: {where}\n" if where else ""
    return (f"  fact_orders:\n    source: warehouse\n    table: {table}\n{scope}    tags: [finance]\n"
            "    checks:\n      - volume: {min: 5}\n      - freshness: {column: loaded_at, fail_after: 1h}\n"
            "      - metric: {name: total, sql: SELECT count(*) FROM analytics.fact_orders, min: 1}\n"
            + extra)


# --- demon history -------------------------------------------------------------------------------------


def test_history_shows_when_each_run_started_and_counts_runs(tmp_path: Path, warehouse: str) -> None:
    config = str(write_config(tmp_path, warehouse, orders()))
    for _ in range(2):
        cli("check", "-c", config)
    shown = cli("history", "fact_orders.volume", "-c", config)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert len(lines) == 3 and lines[-1] == "2 runs: 2 pass, 0 warn, 0 fail, 0 error"
    for line in lines[:2]:
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  PASS  10 rows  10 rows$", line), line
    started = [r["started_at"] for r in json.loads(cli("history", "fact_orders.volume", "-c", config,
                                                        "--format", "json").stdout)["results"]]
    assert [line[:19] for line in lines[:2]] == [at[:19].replace("T", " ") for at in started]


def test_history_of_a_misspelt_check_says_which_was_meant(tmp_path: Path, warehouse: str) -> None:
    config = str(write_config(tmp_path, warehouse, orders()))
    missed = cli("history", "fact_orders.volum", "-c", config)
    assert missed.exit_code == 2
    assert missed.stderr == (f"demon: no check 'fact_orders.volum' in {config} and no history for it"
                             " (did you mean 'fact_orders.volume'?)\n")
    unlike = cli("history", "zzz", "-c", config)
    assert unlike.exit_code == 2 and "did you mean" not in unlike.stderr


# --- --select and --tag --------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "problem"), [
    (["--select", "fact_order.*"],
     "--select 'fact_order.*' matches no check (did you mean 'fact_orders.*'?)"),
    (["--select", "fact_orders.volum"],
     "--select 'fact_orders.volum' matches no check (did you mean 'fact_orders.volume'?)"),
    (["--tag", "finanse"], "--tag 'finanse': no dataset has this tag (did you mean 'finance'?)"),
    (["--select", "nothing_like_it"], "--select 'nothing_like_it' matches no check"),
])
def test_a_selection_that_matches_nothing_says_what_was_meant(
    tmp_path: Path, warehouse: str, args: list[str], problem: str
) -> None:
    config = str(write_config(tmp_path, warehouse, orders()))
    result = cli("check", "-c", config, *args)
    assert result.exit_code == 2
    assert result.stderr == f"demon: no check matches the selection\n  {problem}\n"


def test_a_glob_that_matches_nothing_beside_one_that_does_is_a_warning(
    tmp_path: Path, warehouse: str
) -> None:
    config = str(write_config(tmp_path, warehouse, orders()))
    result = cli("check", "-c", config, "--select", "fact_orders.volume", "--select", "fact_ordrs.*",
                 "--format", "json")
    assert result.exit_code == 0
    assert [r["check"] for r in json.loads(result.stdout)["results"]] == ["fact_orders.volume"]
    assert result.stderr == (
        "demon: warning: --select 'fact_ordrs.*' matches no check (did you mean 'fact_orders.*'?)\n")


# --- where, missing tables, type names -------------------------------------------------------------------


def test_a_bad_where_names_itself_and_spares_the_metric(tmp_path: Path, warehouse: str) -> None:
    config = str(write_config(tmp_path, warehouse, orders(where="'amount >'")))
    results = checked(config)
    for check in ("fact_orders.volume", "fact_orders.freshness"):
        assert results[check]["outcome"] == "error"
        assert results[check]["message"].startswith("the dataset's where is not valid: "), results[check]
    assert (results["fact_orders.metric.total"]["outcome"], results["fact_orders.metric.total"]["value"]) == (
        "pass", 10)


def test_a_misspelt_table_names_the_nearest_and_spares_the_metric(tmp_path: Path, warehouse: str) -> None:
    config = str(write_config(tmp_path, warehouse, orders(table="analytics.fact_order")))
    results = checked(config)
    assert results["fact_orders.volume"]["message"] == (
        "table analytics.fact_order not found in source warehouse (did you mean 'analytics.fact_orders'?)")
    assert results["fact_orders.metric.total"]["outcome"] == "pass"


def test_schema_columns_take_sql_type_names(tmp_path: Path, warehouse: str) -> None:
    schema = "      - schema: {columns: {id: bigint, amount: 'numeric(12,2)', loaded_at: timestamp}}\n"
    config = str(write_config(tmp_path, warehouse, orders(extra=schema)))
    [result] = checked(config, "--select", "*.schema").values()
    assert (result["outcome"], result["message"]) == ("pass", "3 columns as expected"), result
    wrong = write_config(tmp_path, warehouse, orders(extra=schema.replace("bigint", "bigintt")))
    refused = cli("validate", "-c", str(wrong))
    assert refused.exit_code == 2
    assert refused.stderr.endswith(
        ".schema.columns.id: expected a type family (integer, float, decimal, string, boolean, date,"
        " timestamp, binary, json, other) or a SQL type name like BIGINT, got 'bigintt'\n")


# --- --failures-only -------------------------------------------------------------------------------------


def test_failures_only_lists_what_did_not_pass_and_still_counts_everything(
    tmp_path: Path, warehouse: str
) -> None:
    failing = "      - volume: {name: big, min: 1000}\n"
    config = str(write_config(tmp_path, warehouse, orders(extra=failing)))
    table = cli("check", "-c", config, "--failures-only")
    assert table.exit_code == 1
    assert table.stdout.splitlines() == [
        "FAIL  fact_orders.volume.big  10 rows  10 rows, below min 1,000",
        "4 checks: 3 pass, 0 warn, 1 fail, 0 error",
    ]
    document = json.loads(cli("check", "-c", config, "--failures-only", "--format", "json").stdout)
    assert [r["check"] for r in document["results"]] == ["fact_orders.volume.big"]
    assert document["summary"] == {"pass": 3, "warn": 0, "fail": 1, "error": 0}
    junit = cli("check", "-c", config, "--failures-only", "--format", "junit").stdout
    assert 'tests="1"' in junit and "fact_orders.volume.big" in junit and "fact_orders.freshness" not in junit


# --- validate --connect ----------------------------------------------------------------------------------


def test_validate_connect_finds_every_table_and_prefix(tmp_path: Path, warehouse: str) -> None:
    lake = tmp_path / "lake" / "raw" / "orders"
    lake.mkdir(parents=True)
    (lake / "part-0.csv").write_text("id\n1\n")
    datasets = (orders() + orders(table="analytics.dim_customer").replace("fact_orders:", "customers:", 1)
                + "  raw_orders:\n    source: lake\n    path: raw/orders/\n    format: csv\n"
                "    checks:\n      - volume: {min: 1}\n"
                "  raw_order:\n    source: lake\n    path: raw/order/\n    format: csv\n"
                "    checks:\n      - volume: {min: 1}\n")
    config = write_config(tmp_path, warehouse, datasets,
                          source_extra=f"  lake:\n    kind: files\n    root: {tmp_path / 'lake'}\n")
    result = cli("validate", "--connect", "-c", str(config))
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{config}: valid (2 sources, 4 datasets")
    assert "    fact_orders: table analytics.fact_orders, 3 columns" in lines
    assert ("    customers: FAILED: table analytics.dim_customer not found in source warehouse"
            " (did you mean 'analytics.dim_customers'?)") in lines
    assert "    raw_orders: 1 csv file(s) under " + str(tmp_path / "lake") + "/raw/orders/" in lines
    assert ("    raw_order: FAILED: no csv files under " + str(tmp_path / "lake") + "/raw/order/"
            " (did you mean 'raw/orders/'?)") in lines
    assert result.stderr == "demon: not found or not reachable: customers, raw_order\n"


def test_validate_connect_names_the_extra_of_a_missing_driver(tmp_path: Path) -> None:
    url = "postgresql+psycopg://demon:pw@127.0.0.1:9/x"
    config = write_config(tmp_path, url, orders())
    result = demon_without("psycopg", "validate", "--connect", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert ("  warehouse: FAILED: source warehouse: cannot load the driver for "
            "postgresql+psycopg://demon:***@127.0.0.1:9/x: psycopg is not installed: "
            "pip install 'demon-data[postgres]'") in result.stdout
    checked = demon_without("psycopg", "check", "-c", str(config), "--format", "json", cwd=tmp_path)
    messages = {r["message"] for r in json.loads(checked.stdout)["results"]}
    assert messages == {"source warehouse: cannot load the driver for postgresql+psycopg://demon:***@127.0.0.1:9/x:"
                        " psycopg is not installed: pip install 'demon-data[postgres]'"}


def test_an_s3_source_without_boto3_names_the_extra(tmp_path: Path) -> None:
    config = tmp_path / "demon.yml"
    config.write_text("version: 1\nsources:\n  lake:\n    kind: s3\n    bucket: b\n"
                      "datasets:\n  d:\n    source: lake\n    path: d/\n    format: csv\n"
                      "    checks:\n      - volume: {min: 1}\n")
    result = demon_without("boto3", "check", "-c", str(config), "--format", "json", cwd=tmp_path)
    [checked] = json.loads(result.stdout)["results"]
    assert checked["message"] == "source lake: boto3 is not installed: pip install 'demon-data[s3]'"
    assert result.returncode == 3 and "Traceback" not in result.stderr


def test_validate_names_a_channel_whose_library_is_missing(tmp_path: Path, warehouse: str) -> None:
    config = write_config(tmp_path, warehouse, orders())
    config.write_text(config.read_text() + "alerting:\n  channels:\n    team:\n      kind: slack\n"
                      "      webhook_url: https://hooks.example/x\n")
    result = demon_without("slack_sdk", "validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"{config}: alerting.channels.team: slack_sdk is not installed: "
                             "pip install 'demon-data[slack]'\n")


def test_the_version_is_the_distributions(tmp_path: Path) -> None:
    from importlib.metadata import version

    from monitor.core import distribution

    assert cli("--version").stdout == f"demon, version {version('demon-data')}\n"
    assert distribution.version() == version(distribution.DISTRIBUTION)


# --- the demo ----------------------------------------------------------------------------------------------


def test_the_demo_opens_incidents_and_says_what_to_do_next(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    result = cli("demo", "--dir", str(directory), "--failures-only")
    assert result.exit_code == 0, result.output
    config = directory / "demon.yml"
    listed = [line for line in result.stdout.splitlines() if re.match(r"^(PASS|WARN|FAIL|ERROR) ", line)]
    assert listed and not any(line.startswith("PASS") for line in listed)
    assert "64 checks: 49 pass, 3 warn, 10 fail, 2 error" in result.stdout
    # 13 failing or erroring checks: the dropped table's two are one incident, and fact_orders' three
    # failing checks one notification.
    assert "Alerting: 11 incidents opened, 0 resolved; 9 notifications sent, to the console" in result.stdout
    assert f"demon incidents -c {config}" in result.stdout
    assert f"demon check -c {config} --failures-only" in result.stdout
    incidents = json.loads(cli("incidents", "-c", str(config), "--format", "json").stdout)["incidents"]
    assert len(incidents) == 11 and {i["outcome"] for i in incidents} <= {"fail", "error"}
    dropped = [i for i in incidents if i["dataset"] == "daily_revenue"]
    assert [(i["key"], i["root_id"]) for i in dropped] == [("dataset:daily_revenue", None)]
    assert {str(d.schedule) for d in load_config(config).datasets.values()} == {"every 1m"}


def test_a_datasets_statement_is_the_same_text_in_every_process(tmp_path: Path, warehouse: str) -> None:
    """Stored once, shared by every run: only if each process builds it alike (not in a set's order)."""
    extra = "      - schema: {}\n      - metric: {name: other, sql: SELECT 2, min: 0}\n"
    config = write_config(tmp_path, warehouse, orders(extra=extra))
    for seed in ("1", "2", "3"):
        seeded = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "monitor", "check", "-c", str(config)], cwd=tmp_path,
                       timeout=120, env=seeded, capture_output=True, check=False)
    with sqlite3.connect(tmp_path / ".demon" / "state.db") as conn:
        stored = [text for (text,) in conn.execute("SELECT text FROM statements")]
    assert len(stored) == 2, stored  # the metadata statement and the fused one
