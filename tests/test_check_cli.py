"""`demon check` end to end on real DuckDB files and a real PostgreSQL server."""

from __future__ import annotations

import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from monitor.app.cli import main
from tests.daemon_support import wait_for
from tests.promserver import Pushgateway
from tests.warehouse import execute, write_config

Run = Callable[..., Result]




def interval(spec: str) -> str:
    """An interval literal both dialects accept (`now() - INTERVAL '3 hours'`)."""
    return f"INTERVAL '{spec}'"


def seed(url: str) -> None:
    """Three tables of known shape: fresh, 3h old (warn) and 7h old (fail)."""
    statements = ["CREATE SCHEMA IF NOT EXISTS analytics"]
    for name, age in (("fresh", "30 minutes"), ("late", "3 hours"), ("stale", "7 hours")):
        statements += [
            f"CREATE TABLE analytics.{name} (id INTEGER, amount NUMERIC(12,2), label VARCHAR(20), "
            "loaded_at TIMESTAMP WITH TIME ZONE, loaded_naive TIMESTAMP)",
            f"INSERT INTO analytics.{name} SELECT g, g * 1.5, 'x', now() - {interval(age)}, "
            f"(now() AT TIME ZONE 'UTC') - {interval(age)} FROM generate_series(1, 100) AS t(g)",
        ]
    execute(url, statements)


FRESHNESS = "      - freshness: {{column: {column}, warn_after: 2h, fail_after: 6h}}\n"


def datasets_block(column: str = "loaded_at") -> str:
    block = ""
    for name in ("fresh", "late", "stale"):
        block += f"  {name}:\n    source: warehouse\n    table: analytics.{name}\n"
        block += f"    tags: [{name}]\n    checks:\n"
        block += FRESHNESS.format(column=column)
    return block


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, [*args], env=env, catch_exceptions=False)

    return run


def check_json(cli: Run, config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("check", "-c", str(config), "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def outcomes(document: dict[str, Any]) -> dict[str, str]:
    return {r["check"]: r["outcome"] for r in document["results"]}


@pytest.mark.parametrize("column", ["loaded_at", "loaded_naive"])
def test_freshness_pass_warn_fail(cli: Run, tmp_path: Path, warehouse_url: str, column: str) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, datasets_block(column))
    code, document = check_json(cli, config)
    assert outcomes(document) == {
        "fresh.freshness": "pass",
        "late.freshness": "warn",
        "stale.freshness": "fail",
    }
    assert code == 1
    late = next(r for r in document["results"] if r["check"] == "late.freshness")
    assert late["value"] == pytest.approx(3 * 3600, abs=120)
    assert late["thresholds"] == {"warn_after": 7200.0, "fail_after": 21600.0}
    assert document["summary"] == {"pass": 1, "warn": 1, "fail": 1, "error": 0}


def test_non_utc_postgres_session_gives_the_same_ages(cli: Run, tmp_path: Path, postgres_url: str) -> None:
    seed(postgres_url)
    new_york = postgres_url + "?options=-c%20TimeZone%3DAmerica/New_York"
    block = "".join(
        f"  {name}_{col}:\n    source: warehouse\n    table: analytics.late\n    checks:\n"
        + FRESHNESS.format(column=col)
        for name, col in (("aware", "loaded_at"), ("naive", "loaded_naive"))
    )
    ages = []
    for url in (postgres_url, new_york):
        _, document = check_json(cli, write_config(tmp_path, url, block))
        ages += [r["value"] for r in document["results"]]
    assert max(ages) - min(ages) < 60, ages


def test_selection_by_glob_and_tag(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, datasets_block())
    _, by_glob = check_json(cli, config, "--select", "f*")
    assert list(outcomes(by_glob)) == ["fresh.freshness"]
    _, by_tag = check_json(cli, config, "--tag", "late", "--tag", "stale")
    assert list(outcomes(by_tag)) == ["late.freshness", "stale.freshness"]
    nothing = cli("check", "-c", str(config), "--select", "nope*")
    assert nothing.exit_code == 2
    assert "no check matches" in nothing.stderr


def all_kinds_block(table: str = "analytics.fresh") -> str:
    return (
        f"  orders:\n    source: warehouse\n    table: {table}\n    checks:\n"
        "      - freshness: {column: loaded_at, fail_after: 1h}\n"
        "      - volume: {min: 10, warn_min: 200, max_drop: 50%}\n"
        "      - schema:\n"
        "          columns: {id: integer, amount: decimal, label: string, loaded_at: timestamp}\n"
        "      - metric: {name: total, sql: 'SELECT sum(amount) FROM analytics.fresh', max: 100000}\n"
        "      - metric:\n          name: negatives\n          max: 0\n"
        "          sql: SELECT count(*) FROM analytics.fresh WHERE amount < 0\n"
    )


def test_every_kind_in_one_fused_statement(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, all_kinds_block())
    code, document = check_json(cli, config)
    assert outcomes(document) == {
        "orders.freshness": "pass",
        "orders.volume": "warn",
        "orders.schema": "pass",
        "orders.metric.total": "pass",
        "orders.metric.negatives": "pass",
    }
    assert code == 0  # warnings alone exit 0
    fused = {s for r in document["results"] if r["kind"] != "schema" for s in r["statements"]}
    assert len(fused) == 1, fused
    statement = fused.pop()
    assert "count(*)" in statement.lower() and "sum(amount)" in statement.lower()
    assert cli("check", "-c", str(config), "--warn-is-failure").exit_code == 1


def test_one_bad_part_of_a_fused_statement_errors_alone(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    block = all_kinds_block() + "      - metric: {name: broken, sql: 'SELECT count(*) FROM analytics.nope'}\n"
    code, document = check_json(cli, write_config(tmp_path, warehouse_url, block))
    got = outcomes(document)
    assert got.pop("orders.metric.broken") == "error"
    assert set(got.values()) <= {"pass", "warn"}
    broken = next(r for r in document["results"] if r["check"] == "orders.metric.broken")
    assert "nope" in broken["message"]
    assert code == 3


def test_volume_drop_against_last_successful_run(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, all_kinds_block())
    _, first = check_json(cli, config, "--select", "orders.volume")
    assert "no baseline" in first["results"][0]["message"]
    execute(warehouse_url, ["DELETE FROM analytics.fresh WHERE id > 30"])
    code, second = check_json(cli, config, "--select", "orders.volume")
    assert second["results"][0]["outcome"] == "fail"
    assert second["results"][0]["details"]["change"] == pytest.approx(-0.7)
    assert code == 1
    # a failed run is no baseline: the next run still compares with the last good one
    _, third = check_json(cli, config, "--select", "orders.volume")
    assert third["results"][0]["details"]["baseline"] == 100


def test_schema_change_is_detected_once(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    block = "  t:\n    source: warehouse\n    table: analytics.fresh\n    checks:\n"
    block += "      - schema: {on_drift: warn}\n"
    config = write_config(tmp_path, warehouse_url, block)
    runs = []
    for step in range(3):
        if step == 1:
            execute(warehouse_url, ["ALTER TABLE analytics.fresh ADD COLUMN extra INTEGER"])
        _, document = check_json(cli, config)
        runs.append(document["results"][0])
    assert [r["outcome"] for r in runs] == ["pass", "warn", "pass"]
    assert runs[1]["details"]["drift"]["added"] == ["extra"]


def test_table_dropped_between_runs_is_an_error(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, all_kinds_block())
    assert check_json(cli, config)[0] == 0
    execute(warehouse_url, ["DROP TABLE analytics.fresh"])
    code, document = check_json(cli, config)
    assert set(outcomes(document).values()) == {"error"}
    freshness = document["results"][0]
    assert "analytics.fresh" in freshness["message"] and "not found" in freshness["message"]
    assert code == 3


def test_slow_query_is_stopped_by_query_timeout(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    slow = (
        "SELECT count(*) FROM range(100000000000)"
        if warehouse_url.startswith("duckdb")
        else "SELECT count(*) FROM pg_sleep(120)"
    )
    block = (
        "  t:\n    source: warehouse\n    table: analytics.fresh\n    checks:\n"
        "      - volume: {min: 1}\n"
        f"      - metric: {{name: slow, sql: '{slow}'}}\n"
    )
    config = write_config(tmp_path, warehouse_url, block, source_extra="    query_timeout: 1s\n")
    code, document = check_json(cli, config)
    # a timed-out statement is not re-run part by part: every check it served says so
    assert outcomes(document) == {"t.volume": "error", "t.metric.slow": "error"}
    assert all("timed out after 1s" in r["message"] for r in document["results"])
    assert document["results"][1]["duration_seconds"] < 60
    assert code == 3


def test_unreachable_source_is_an_error_with_the_password_masked(cli: Run, tmp_path: Path) -> None:
    url = "postgresql+psycopg://demon:hunter22@127.0.0.1:9/nowhere"
    config = write_config(tmp_path, url, all_kinds_block())
    code, document = check_json(cli, config)
    assert code == 3
    assert set(outcomes(document).values()) == {"error"}
    text = json.dumps(document)
    assert "hunter22" not in text
    assert "cannot connect" in document["results"][0]["message"]


def test_junit_output_is_parseable(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, datasets_block())
    result = cli("check", "-c", str(config), "--format", "junit")
    assert result.exit_code == 1
    suite = ET.fromstring(result.stdout).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    stale = cases["stale.freshness"].find("failure")
    assert stale is not None and "7h" in (stale.get("message") or "")
    late = cases["late.freshness"].find("system-out")
    assert late is not None and (late.text or "").startswith("WARN")


def test_table_output_is_plain_when_not_a_terminal(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    result = cli("check", "-c", str(write_config(tmp_path, warehouse_url, datasets_block())))
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["PASS", "fresh.freshness"]
    assert lines[-1] == "3 checks: 1 pass, 1 warn, 1 fail, 0 error"
    assert "\x1b[" not in result.stdout


def test_history_shows_recent_results(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, datasets_block())
    for _ in range(2):
        cli("check", "-c", str(config))
    result = cli("history", "late.freshness", "-c", str(config), "--format", "json")
    assert result.exit_code == 0
    history = json.loads(result.stdout)["results"]
    assert [r["outcome"] for r in history] == ["warn", "warn"]
    assert history[0]["started_at"] >= history[1]["started_at"]
    unknown = cli("history", "nope.freshness", "-c", str(config))
    assert unknown.exit_code == 2


def test_invalid_config_exits_2_naming_file_line_and_field(cli: Run, tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "duckdb:///x.duckdb", datasets_block().replace("warn_after: 2h", "warn_after: 2x")
    )
    result = cli("check", "-c", str(config))
    assert result.exit_code == 2
    assert "demon.yml:12: datasets.fresh.checks[0].freshness.warn_after: expected a duration" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("valid", "code"), [(True, 3), (False, 2)])
def test_check_leaves_garbage_collection_as_found(cli: Run, tmp_path: Path, valid: bool, code: int) -> None:
    """`check` pauses garbage collection while it starts and freezes what start-up made once the checks run:
    a process that goes on (this one) collects as before, whether the checks ran (on a missing table) or
    not (a config refused)."""
    block = datasets_block() if valid else datasets_block().replace("warn_after: 2h", "warn_after: 2x")
    config = write_config(tmp_path, "duckdb:///x.duckdb", block)
    assert cli("check", "-c", str(config)).exit_code == code
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_unset_environment_variable_exits_2_naming_it(cli: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path, "${DEMON_TEST_UNSET_URL}", datasets_block())
    result = cli("check", "-c", str(config))
    assert result.exit_code == 2
    assert "DEMON_TEST_UNSET_URL" in result.stderr


def test_validate_with_connect(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    good = cli("validate", "--connect", "-c", str(write_config(tmp_path, warehouse_url, datasets_block())))
    assert good.exit_code == 0, good.output
    assert "warehouse: ok" in good.stdout
    assert "s3cret-pw" not in good.stdout
    bad_url = "postgresql+psycopg://demon:hunter22@127.0.0.1:9/nowhere"
    bad = cli("validate", "--connect", "-c", str(write_config(tmp_path, bad_url, datasets_block())))
    assert bad.exit_code == 3
    assert "warehouse: FAILED" in bad.stdout
    assert "hunter22" not in bad.stdout


def test_schema_command_prints_json_schema(cli: Run) -> None:
    result = cli("schema")
    schema = json.loads(result.stdout)
    assert {"version", "sources", "datasets"} <= set(schema["properties"])


def test_console_script_help_and_exit_code(tmp_path: Path) -> None:
    demon = Path(sys.executable).with_name("demon")
    assert "check" in subprocess.run([demon, "--help"], capture_output=True, text=True, check=True).stdout
    missing = subprocess.run(
        [demon, "check", "-c", str(tmp_path / "nope.yml")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "nope.yml" in missing.stderr


def test_each_kind_reaches_each_outcome(cli: Run, tmp_path: Path, warehouse_url: str) -> None:
    seed(warehouse_url)
    count = "SELECT count(*) FROM analytics.fresh"
    block = (
        "  orders:\n    source: warehouse\n    table: analytics.fresh\n    checks:\n"
        "      - volume: {name: ok, min: 1}\n"
        "      - volume: {name: low, warn_min: 200}\n"
        "      - volume: {name: tiny, min: 1000}\n"
        "      - schema: {name: ok, columns: {id: integer, label: string}}\n"
        "      - schema: {name: strict, columns: {id: integer}, allow_extra: false}\n"
        f"      - metric: {{name: ok, sql: '{count}', max: 100}}\n"
        f"      - metric: {{name: high, sql: '{count}', warn_max: 50}}\n"
        f"      - metric: {{name: over, sql: '{count}', max: 50, warn_max: 10}}\n"
        "      - metric: {name: broken, sql: 'SELECT count(*) FROM analytics.missing'}\n"
    )
    code, document = check_json(cli, write_config(tmp_path, warehouse_url, block))
    assert outcomes(document) == {
        "orders.volume.ok": "pass",
        "orders.volume.low": "warn",
        "orders.volume.tiny": "fail",
        "orders.schema.ok": "pass",
        "orders.schema.strict": "fail",
        "orders.metric.ok": "pass",
        "orders.metric.high": "warn",
        "orders.metric.over": "fail",
        "orders.metric.broken": "error",
    }
    strict = next(r for r in document["results"] if r["check"] == "orders.schema.strict")
    assert strict["details"]["unexpected"] == ["amount", "label", "loaded_at", "loaded_naive"]
    assert code == 1  # a fail outranks an error


def test_results_that_cannot_be_stored_are_still_printed_and_exit_3(
    cli: Run, tmp_path: Path, warehouse_url: str
) -> None:
    seed(warehouse_url)
    config = write_config(tmp_path, warehouse_url, datasets_block())
    assert cli("check", "-c", str(config), "--select", "fresh*").exit_code == 0  # creates the store
    state = tmp_path / ".demon" / "state.db"
    with sqlite3.connect(state) as conn:  # a real write failure, inside the store's own transaction
        conn.execute(
            "CREATE TRIGGER full BEFORE INSERT ON results BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    result = cli("check", "-c", str(config), "--select", "fresh*", "--format", "json")
    assert json.loads(result.stdout)["summary"]["pass"] == 1
    assert "results not stored" in result.stderr and "disk full" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.exit_code == 3


def test_a_state_store_that_cannot_be_opened_exits_3_without_traceback(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the store's folder should be")
    config = write_config(tmp_path, "duckdb:///w.duckdb", datasets_block())
    config.write_text(config.read_text().replace(".demon/state.db", "blocker/state.db"))
    for command in (["check"], ["history", "fresh.freshness"]):
        result = cli(*command, "-c", str(config))
        assert result.exit_code == 3, result.output
        assert "state store" in result.stderr and "Traceback" not in result.stderr


def test_junit_is_well_formed_when_messages_carry_control_characters(cli: Run, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    seed(url)
    block = (
        "  t:\n    source: warehouse\n    table: analytics.fresh\n    checks:\n"
        "      - metric: {name: odd, sql: 'SELECT CAST(chr(27) || chr(1) AS INTEGER)'}\n"
    )
    result = cli("check", "-c", str(write_config(tmp_path, url, block)), "--format", "junit")
    assert result.exit_code == 3
    error = ET.fromstring(result.stdout).find("testsuite/testcase/error")
    assert error is not None and "\x1b" not in (error.get("message") or "")


def holds_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open: `demon check` opens a DuckDB file when a dataset connects."""
    try:
        return any(fd.resolve() == path.resolve() for fd in Path(f"/proc/{pid}/fd").iterdir())
    except FileNotFoundError:  # a descriptor closed while we looked
        return False


def test_interrupt_cancels_queued_datasets_and_exits_130(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    seed(url)
    slow = "SELECT count(*) FROM range(100000000000)"
    block = "".join(
        f"  d{i}:\n    source: warehouse\n    table: analytics.fresh\n    checks:\n"
        f"      - metric: {{name: slow, sql: '{slow}'}}\n"
        for i in range(4)
    )
    config = write_config(
        tmp_path, url, block, source_extra="    query_timeout: 3s\n    max_concurrency: 1\n"
    )
    demon = str(Path(sys.executable).with_name("demon"))
    process = subprocess.Popen([demon, "check", "-c", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        # The first dataset has connected: its 3-second statement runs, the three others wait their turn.
        wait_for(lambda: holds_open(process.pid, tmp_path / "w.duckdb") or process.poll() is not None,
                 what="the first dataset to connect")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    with sqlite3.connect(tmp_path / ".demon" / "state.db") as conn:
        stored = [row[0] for row in conn.execute("SELECT check_id FROM results ORDER BY id")]
    # The running dataset ends (its statement times out) and is stored; the queued ones never ran.
    assert 1 <= len(stored) < 4, stored
    assert stored == [f"d{i}.metric.slow" for i in range(len(stored))]


def test_duckdb_sessions_in_other_time_zones_give_the_same_ages(tmp_path: Path) -> None:
    """DuckDB's session time zone follows the OS (TZ): aware, naive and date columns must not move."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    seed(url)
    block = "".join(
        f"  {name}:\n    source: warehouse\n    table: analytics.late\n    checks:\n"
        + FRESHNESS.format(column=column)
        for name, column in (("aware", "loaded_at"), ("naive", "loaded_naive"))
    )
    config = write_config(tmp_path, url, block)
    demon = str(Path(sys.executable).with_name("demon"))
    ages: dict[str, list[float]] = {}
    for zone in ("UTC", "America/New_York", "Asia/Tokyo"):
        env = {**os.environ, "TZ": zone}
        done = subprocess.run(
            [demon, "check", "-c", str(config), "-f", "json"], capture_output=True, text=True, env=env
        )
        for result in json.loads(done.stdout)["results"]:
            ages.setdefault(result["check"], []).append(result["value"])
    # The three runs are seconds apart (a minute or more on a loaded machine); a time zone would move the
    # ages by hours.
    for check_id, values in ages.items():
        assert max(values) - min(values) < 600, (check_id, values)
        assert values[0] == pytest.approx(3 * 3600, abs=600)


def test_names_in_any_script_reach_results_history_junit_and_the_pushgateway(
    cli: Run, tmp_path: Path, pushgateway: Pushgateway
) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, ["CREATE TABLE ventes (id INTEGER)", "INSERT INTO ventes VALUES (1), (2)"])
    block = "  données:\n    source: warehouse\n    table: ventes\n    checks:\n"
    block += "      - volume: {min: 1, name: écart}\n"
    config = write_config(tmp_path, url, block)
    config.write_text(config.read_text() + f"metrics:\n  pushgateway: {pushgateway.url}\n")
    check_id = "données.volume.écart"

    code, document = check_json(cli, config, "--push", "--select", "donn*")
    assert (code, outcomes(document)) == (0, {check_id: "pass"})
    pushed = {(group["labels"]["dataset"], group["labels"].get("check")) for group in pushgateway.groups()}
    assert pushed == {("données", check_id), ("données", None)}
    history = cli("history", check_id, "-c", str(config), "--format", "json")
    assert [result["value"] for result in json.loads(history.stdout)["results"]] == [2.0]
    junit = ET.fromstring(cli("check", "-c", str(config), "--format", "junit").stdout)
    cases = [(case.get("classname"), case.get("name")) for case in junit.iter("testcase")]
    assert cases == [("données", check_id)]
