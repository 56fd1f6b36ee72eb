"""Column profiles (`profile`) end to end on real DuckDB files and the real PostgreSQL: what is counted, the
sampled statement, the bounds, the config's refusals, and the learned baselines catching a column that is
suddenly 40% NULL, across runs with an injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.app.cli import main
from monitor.app.config import ConfigError, load_config
from monitor.app.runner import Runner
from monitor.core.config.models import Config
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore
from tests.warehouse import execute

START = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
PEOPLE = [
    "CREATE TABLE people (id integer, email text, amount numeric(10, 2), salary integer, region text,"
    " active boolean, joined timestamp)",
    "INSERT INTO people SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE 'u' || i || '@x.io' END,"
    " (i % 100) + 0.5, 1000 + i, CASE i % 3 WHEN 0 THEN 'eu' WHEN 1 THEN 'us' ELSE 'apac' END, i % 2 = 0,"
    " TIMESTAMP '2026-11-01 00:00:00' FROM generate_series(0, 999) AS t(i)",
]


def config_file(directory: Path, url: str, checks: str, extra: str = "") -> Path:
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        f"sources:\n  warehouse: {{kind: sql, url: '{url}'}}\n"
        "datasets:\n"
        f"  people:\n    source: warehouse\n    table: people\n    pii_columns: [salary]\n{extra}"
        f"    checks:\n{checks}"
        "state: {url: 'sqlite:///state.db'}\n"
    )
    return path


def check_json(path: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["check", "-c", str(path), "--format", "json"], catch_exceptions=False)
    assert result.exit_code in (0, 1, 3), result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return {item["check"]: item for item in found["results"]}


def run_at(config: Config, store: StateStore | None, at: datetime) -> dict[str, Result]:
    runner = Runner(config, store, clock=lambda: at)
    try:
        run_id = store.start_run("check") if store is not None else None
        found = {result.check: result for result in runner.run(config.checks, run_id)}
    finally:
        runner.close()
    assert not runner.store_errors, runner.store_errors
    return found


@pytest.fixture
def people(warehouse_url: str) -> str:
    execute(warehouse_url, PEOPLE)
    return warehouse_url


def test_each_column_is_profiled_in_the_where_scope_and_pii_columns_show_no_values(
    tmp_path: Path, people: str
) -> None:
    path = config_file(tmp_path, people, "      - profile: {}\n", "    where: id < 900\n")
    result = check_json(path)["people.profile"]
    assert result["outcome"] == "pass" and result["unit"] == "anomalies" and result["value"] == 0
    assert result["message"] == "learning: 0 of 14 points (7 columns over 900 rows)"
    details = result["details"]
    columns = details["columns"]
    assert details["rows"] == 900 and details["sample"] is None and details["left_out"] == []
    assert list(columns) == ["id", "email", "amount", "salary", "region", "active", "joined"]
    email, amount, salary, region = (columns[name] for name in ("email", "amount", "salary", "region"))
    assert email["nulls"] == 90 and email["null_fraction"] == pytest.approx(0.1)
    assert amount == {"family": "decimal", "nulls": 0, "null_fraction": 0.0, "distinct": amount["distinct"],
                      "min": 0.5, "max": 99.5, "mean": pytest.approx(50.0)}
    assert region["distinct"] == 3 and region["max_length"] == 4
    assert region["avg_length"] == pytest.approx((300 * 2 + 300 * 2 + 300 * 4) / 900)
    assert columns["active"]["distinct"] == 2 and "min" not in columns["active"]
    assert "avg_length" not in columns["joined"] and "mean" not in columns["joined"]
    # a pii column's values never show: no min, max or mean, only how often it is NULL and how distinct
    assert salary["family"] == "integer" and not {"min", "max", "mean"} & set(salary)
    assert salary["null_fraction"] == 0.0
    assert not any(f"{aggregate}(salary)" in result["statements"][0] for aggregate in ("min", "max", "avg"))
    if people.startswith("postgresql"):  # exact on PostgreSQL, approximate (HyperLogLog) on DuckDB
        assert email["distinct"] == 810 and amount["distinct"] == 100
        assert "count(DISTINCT email)" in result["statements"][0]
    else:
        assert 0.6 * 810 <= email["distinct"] <= 1.4 * 810
        assert "approx_count_distinct(email)" in result["statements"][0]


def test_the_profile_joins_the_datasets_one_fused_statement(tmp_path: Path, people: str) -> None:
    checks = (
        "      - volume: {min: 1}\n"
        "      - freshness: {column: joined, fail_after: 3650d}\n"
        "      - metric: {name: seven, sql: SELECT 7, max: 10}\n"
        "      - profile: {columns: [email, amount]}\n"
    )
    config = load_config(config_file(tmp_path, people, checks))
    runner = Runner(config, None, clock=lambda: START)
    source = runner.source("warehouse")
    source.ping()
    before = source.requests["statement"]
    try:
        results = {result.check: result for result in runner.run(config.checks)}
    finally:
        runner.close()
    assert source.requests["statement"] - before == 2  # the columns, then one statement for every check
    assert {result.outcome for result in results.values()} == {Outcome.PASS}
    fused = results["people.profile"].statements[-1]
    assert all(fused in result.statements for result in results.values())
    assert "count(*)" in fused and "max(joined)" in fused and "SELECT 7" in fused
    assert "avg(amount)" in fused and "count(email)" in fused and "region" not in fused
    assert fused.count("count(*)") == 1  # the rows counted once, for volume and the profile


def test_a_sampled_profile_runs_a_sampled_statement_of_its_own(tmp_path: Path, people: str) -> None:
    checks = "      - volume: {min: 1}\n      - profile: {sample: 100%}\n"
    results = check_json(config_file(tmp_path, people, checks, "    where: id < 900\n"))
    profile = results["people.profile"]
    sampled = profile["statements"][-1]
    assert "TABLESAMPLE system(100" in sampled and "id < 900" in sampled
    assert sampled not in results["people.volume"]["statements"]
    assert profile["details"]["sample"] == 1.0 and profile["details"]["rows"] == 900
    assert profile["details"]["columns"]["amount"]["max"] == 99.5
    assert "of a 100% sample" in profile["message"]


def test_a_sample_reads_part_of_a_large_table(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, [
        "CREATE TABLE people (id integer, amount double precision)",
        "INSERT INTO people SELECT i, i % 7 FROM generate_series(0, 199999) AS t(i)",
    ])
    path = config_file(tmp_path, warehouse_url, "      - profile: {sample: 10%}\n")
    profile = check_json(path)["people.profile"]
    assert profile["outcome"] == "pass", profile["message"]
    assert 0 < profile["details"]["rows"] < 100_000  # about 20,000: a tenth of the pages or vectors
    assert profile["details"]["columns"]["amount"]["max"] == 6


def test_max_columns_bounds_the_profile(tmp_path: Path, people: str) -> None:
    path = config_file(tmp_path, people, "      - profile: {max_columns: 2}\n")
    profile = check_json(path)["people.profile"]
    assert list(profile["details"]["columns"]) == ["id", "email"]
    assert profile["details"]["left_out"] == ["amount", "salary", "region", "active", "joined"]
    assert "(2 columns over 1,000 rows; 5 more columns past max_columns)" in profile["message"]
    assert "amount" not in profile["statements"][-1]


def test_a_column_that_does_not_exist_is_an_error_naming_the_nearest(tmp_path: Path, people: str) -> None:
    checks = "      - volume: {min: 1}\n      - profile: {columns: [email, amuont]}\n"
    results = check_json(config_file(tmp_path, people, checks))
    profile = results["people.profile"]
    assert profile["outcome"] == "error" and profile["reason"] == "missing"
    assert "column amuont not found in " in profile["message"]
    assert profile["message"].endswith("people (did you mean amount?)")
    assert results["people.volume"]["outcome"] == "pass"  # the others still run


def test_a_column_named_in_another_case_is_found(tmp_path: Path, people: str) -> None:
    path = config_file(tmp_path, people, "      - profile: {columns: [EMAIL]}\n")
    profile = check_json(path)["people.profile"]
    assert profile["outcome"] == "pass" and list(profile["details"]["columns"]) == ["email"]


LEARN = "      - profile:\n          anomaly: {min_training: 5, seasonality: none}\n"


def test_the_profile_learns_then_catches_a_column_suddenly_40_percent_null(
    tmp_path: Path, people: str, store: StateStore
) -> None:
    execute(people, ["UPDATE people SET email = 'u' || id || '@x.io'"])  # never NULL while it learns
    config = load_config(config_file(tmp_path, people, LEARN))
    at = START
    seen = []
    for _ in range(5):
        seen.append(run_at(config, store, at)["people.profile"])
        at += HOUR
    assert [result.outcome for result in seen] == [Outcome.PASS] * 5
    assert [result.message.split(" (")[0] for result in seen] == [
        f"learning: {count} of 5 points" for count in range(5)
    ]

    normal = run_at(config, store, at)["people.profile"]
    assert normal.outcome is Outcome.PASS and normal.value == 0, normal.message
    judged = normal.all_details["series"]["judged"]
    assert normal.message == f"no anomaly in {judged} series (7 columns over 1,000 rows)"
    assert judged >= 7 + 3  # a null fraction per column, the numbers' ranges and means, the strings' lengths

    execute(people, ["UPDATE people SET email = NULL WHERE id % 5 IN (1, 3)"])
    broken = run_at(config, store, at + HOUR)["people.profile"]
    assert broken.outcome is Outcome.FAIL and broken.unit == "anomalies" and broken.value
    assert "email: 40% null, expected at most 1%" in broken.message
    first = broken.all_details["anomalies"][0]
    assert (first["column"], first["statistic"], first["outcome"]) == ("email", "null_fraction", "fail")
    assert first["value"] == pytest.approx(0.4) and first["expected_max"] == pytest.approx(0.01)
    assert first["trained"] == "6 points"

    execute(people, ["UPDATE people SET email = 'u' || id || '@x.io'"])
    fixed = run_at(config, store, at + 2 * HOUR)["people.profile"]
    assert fixed.outcome is Outcome.PASS, fixed.message  # the flagged run trained nothing


def test_the_message_names_the_worst_few_and_counts_the_rest(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, [
        "CREATE TABLE people (a double, b double, c double, d double, e double)",
        "INSERT INTO people SELECT 100, 100, 100, 100, 100 FROM generate_series(1, 50)",
    ])
    config = load_config(config_file(tmp_path, url, LEARN))
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        for run in range(6):
            run_at(config, store, START + run * HOUR)
        execute(url, ["UPDATE people SET a = 5000, b = 4000, c = 3000, d = 2000, e = 1000"])
        result = run_at(config, store, START + 6 * HOUR)["people.profile"]
    assert result.outcome is Outcome.FAIL and result.value == 15  # min, max and mean of each column
    assert result.message.startswith("15 anomalies: a: ")
    assert result.message.count("expected") == 3
    assert "; and 12 more (5 columns over 50 rows)" in result.message
    assert len(result.message) < 300
    assert len(result.all_details["anomalies"]) == 15


def test_without_a_store_the_profile_judges_nothing_and_keeps_nothing(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, ["CREATE TABLE people (a double)", "INSERT INTO people VALUES (1), (NULL)"])
    config = load_config(config_file(tmp_path, url, LEARN))
    result = run_at(config, None, START)["people.profile"]
    assert result.outcome is Outcome.PASS and result.message.startswith("learning: 0 of 5 points")


def test_an_empty_table_has_nothing_to_profile(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, ["CREATE TABLE people (a double, b text)"])
    result = check_json(config_file(tmp_path, url, "      - profile: {}\n"))["people.profile"]
    assert result["outcome"] == "pass" and result["message"] == "no rows to profile (2 columns over 0 rows)"


@pytest.mark.parametrize(("entry", "expected"), [
    ("{anomaly: {by: joined}}", "checks[0].profile.anomaly.by: a profile is judged once a run: `by` applies"),
    ("{sample: 0%}", "checks[0].profile.sample: expected a percentage above 0% and at most 100%"),
    ("{sample: 150%}", "profile.sample: expected a percentage above 0% and at most 100%, like 10%, got 150%"),
    ("{sample: 10}", "checks[0].profile.sample: expected a percentage like 50%, got 10"),
    ("{columns: [email, Email]}", "checks[0].profile: columns: 'Email' is listed twice"),
    ("{columns: [a, b, c], max_columns: 2}", "columns: 3 listed, more than max_columns (2)"),
    ("{max_columns: 0}", "checks[0].profile.max_columns"),
    ("{column: [email]}", "checks[0].profile.column: unknown key 'column' (did you mean 'columns'?)"),
])
def test_bad_profile_configs_are_refused_with_the_field_and_why(
    tmp_path: Path, entry: str, expected: str
) -> None:
    path = config_file(tmp_path, "duckdb:///w.duckdb", f"      - profile: {entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)


def test_a_lake_dataset_cannot_be_profiled(tmp_path: Path) -> None:
    (tmp_path / "lake" / "people").mkdir(parents=True)
    path = tmp_path / "demon.yml"
    path.write_text(
        "version: 1\nsources:\n  lake: {kind: files, root: lake}\n"
        "datasets:\n  people:\n    source: lake\n    path: people/\n    format: parquet\n"
        "    checks:\n      - profile: {}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    why = "profile checks count in the warehouse: they need a dataset on a sql source"
    assert f"datasets.people.checks[0].profile: {why}" in str(caught.value)


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_feedback_and_backtest_reach_the_series_of_a_profile(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, [
        "CREATE TABLE people (id integer, email text)",
        "INSERT INTO people SELECT i, 'u' || i FROM generate_series(1, 100) AS t(i)",
    ])
    path = config_file(tmp_path, url, LEARN)
    config = load_config(path)
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        for run in range(6):
            run_at(config, store, START + run * HOUR)
        execute(url, ["UPDATE people SET email = NULL WHERE id % 5 IN (1, 3)"])
        broken_at = START + 6 * HOUR
        assert run_at(config, store, broken_at)["people.profile"].outcome is Outcome.FAIL

    refused = cli("backtest", "people.profile", "-c", str(path), code=2)
    assert "people.profile learns one series per column statistic: name one" in refused
    assert "people.profile/email.null_fraction" in refused
    backtest = ["backtest", "people.profile/email.null_fraction", "-c", str(path), "--days", "3650"]
    shown = json.loads(cli(*backtest, "--format", "json"))
    assert shown["check"] == "people.profile/email.null_fraction" and len(shown["points"]) == 7
    assert [point["outcome"] for point in shown["points"]][-2:] == ["pass", "fail"]
    assert shown["points"][-1]["value"] == pytest.approx(40.0)  # the series learns in percent

    said = cli("feedback", "people.profile", "--expected", "-c", str(path))
    assert f"the point at {broken_at:%Y-%m-%dT%H:%M:%SZ} is expected" in said
    with StateStore.open("sqlite:///state.db", tmp_path) as store:  # judged again, the point passes
        again = run_at(config, store, broken_at)["people.profile"]
    assert again.outcome is Outcome.PASS, again.message
    listed = cli("feedback", "people.profile", "--list", "-c", str(path))
    assert listed.startswith(f"feedback 1 on people.profile: the point at {broken_at:%Y-%m-%dT%H:%M:%SZ}")
