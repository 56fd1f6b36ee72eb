"""Learned baselines end to end on a real DuckDB file and a SQLite state store: the runner with an injected
clock (a run every hour), the series kept in the store across runners, feedback through the real CLI, and the
backtest's JSON and plot."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from monitor.app.cli import main
from monitor.app.config import load_config
from monitor.app.runner import Runner
from monitor.core.config.models import Config
from monitor.core.results import Outcome, Result
from monitor.state.baselines import Baselines
from monitor.state.store import StateStore
from tests.daemon_support import Daemon, dataset, source, wait_for, write_config
from tests.warehouse import execute

Spawn = Callable[..., Daemon]

START = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)


def config_file(directory: Path, checks: str, where: str = "") -> Path:
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        f"sources:\n  warehouse: {{kind: sql, url: 'duckdb:///{directory / 'w.duckdb'}'}}\n"
        "datasets:\n"
        f"  orders:\n    source: warehouse\n    table: orders\n{where}    checks:\n{checks}"
        "state: {url: 'sqlite:///state.db'}\n"
    )
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, [
        "CREATE TABLE orders (id INTEGER, region TEXT, loaded_at TIMESTAMP)",
        "CREATE TABLE gauge (value DOUBLE)",
        "INSERT INTO gauge VALUES (100)",
    ])
    return url


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open("sqlite:///state.db", tmp_path) as opened:
        yield opened


def run_at(config: Config, store: StateStore, at: datetime) -> dict[str, Result]:
    runner = Runner(config, store, clock=lambda: at)
    try:
        found = {result.check: result for result in runner.run(config.checks, store.start_run("check"))}
    finally:
        runner.close()
    assert not runner.store_errors, runner.store_errors  # every result and point stored
    return found


def set_gauge(url: str, value: float) -> None:
    execute(url, [f"UPDATE gauge SET value = {value}"])


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


METRIC = (
    "      - metric:\n          name: level\n          sql: SELECT max(value) FROM gauge\n"
    "          anomaly: {min_training: 5, seasonality: none}\n"
)
NOISE = [100, 102, 98, 101, 99, 103, 97, 100, 101, 99]


def test_a_metric_learns_then_judges_and_a_flagged_point_never_trains(
    tmp_path: Path, warehouse: str, store: StateStore
) -> None:
    config = load_config(config_file(tmp_path, METRIC))
    at = START
    seen = []
    for value in NOISE[:5]:
        set_gauge(warehouse, value)
        seen.append(run_at(config, store, at)["orders.metric.level"])
        at += HOUR
    assert [r.outcome for r in seen] == [Outcome.PASS] * 5
    assert [r.message.split(", ", 1)[1] for r in seen] == [f"learning: {n} of 5 points" for n in range(5)]
    assert all("expected_min" not in r.thresholds for r in seen)

    set_gauge(warehouse, 101)
    normal = run_at(config, store, at)["orders.metric.level"]
    assert normal.outcome is Outcome.PASS, normal.message
    assert "expected" in normal.message and "(median 100 of 5 points)" in normal.message
    band = (normal.thresholds["expected_min"], normal.thresholds["expected_max"])
    assert band[0] < 101 < band[1]
    assert normal.all_details["learned"]["trained"] == 5

    set_gauge(warehouse, 1000)
    spike = run_at(config, store, at + HOUR)["orders.metric.level"]
    assert spike.outcome is Outcome.FAIL, spike.message
    assert spike.value == 1000 and spike.thresholds["expected_max"] < 1000

    set_gauge(warehouse, 100)
    after = run_at(config, store, at + 2 * HOUR)["orders.metric.level"]
    assert after.outcome is Outcome.PASS
    # the spike trained nothing: the band learnt from the six normal points only
    assert after.all_details["learned"]["trained"] == 6
    assert after.thresholds["expected_max"] < 200


def test_a_growing_table_is_judged_by_what_each_run_added(
    tmp_path: Path, warehouse: str, store: StateStore
) -> None:
    checks = "      - volume:\n          anomaly: {min_training: 4, seasonality: none}\n"
    config = load_config(config_file(tmp_path, checks))
    at, next_id = START, 0

    def load(rows: int) -> Result:
        nonlocal at, next_id
        execute(warehouse, [f"INSERT INTO orders SELECT {next_id} + i, 'eu', TIMESTAMP '2026-11-01' "
                            f"FROM range({rows}) t(i)"])
        next_id += rows
        at += HOUR
        return run_at(config, store, at)["orders.volume"]

    first = load(1000)
    assert first.outcome is Outcome.PASS and "the first run of the series" in first.message
    for rows in (100, 104, 96, 101, 99):
        found = load(rows)
        assert found.outcome is Outcome.PASS, found.message
    grown = load(102)  # the total keeps growing; what it added is usual
    assert grown.outcome is Outcome.PASS and "102 added since the last run" in grown.message
    total = grown.value
    assert total is not None and grown.thresholds["expected_min"] < total < grown.thresholds["expected_max"]
    stalled = load(3)  # a load that brought almost nothing
    assert stalled.outcome is Outcome.FAIL, stalled.message
    assert stalled.all_details["learned"]["value"] == 3


def test_a_changed_definition_starts_a_new_series(tmp_path: Path, warehouse: str, store: StateStore) -> None:
    at = START
    config = load_config(config_file(tmp_path, METRIC))
    for value in NOISE[:6]:
        set_gauge(warehouse, value)
        run_at(config, store, at)
        at += HOUR
    assert run_at(config, store, at)["orders.metric.level"].all_details["learned"]["learning"] is False
    changed = METRIC.replace("SELECT max(value) FROM gauge", "SELECT min(value) FROM gauge")
    config = load_config(config_file(tmp_path, changed))
    relearning = run_at(config, store, at + HOUR)["orders.metric.level"]
    assert relearning.message.endswith("learning: 0 of 5 points")
    # the band's own settings are no new series: the learnt points still count
    tuned = changed.replace("min_training: 5", "min_training: 1")
    config = load_config(config_file(tmp_path, tuned))
    assert run_at(config, store, at + 2 * HOUR)["orders.metric.level"].all_details["learned"]["trained"] == 1


def learn_metric(tmp_path: Path, warehouse: str, store: StateStore) -> tuple[Config, Path, datetime]:
    path = config_file(tmp_path, METRIC)
    config = load_config(path)
    at = START
    for value in NOISE[:6]:
        set_gauge(warehouse, value)
        run_at(config, store, at)
        at += HOUR
    return config, path, at


def test_feedback_of_each_kind_changes_the_next_judgement(
    tmp_path: Path, warehouse: str, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config, path, at = learn_metric(tmp_path, warehouse, store)
    set_gauge(warehouse, 130)  # a new normal the baseline does not know yet
    flagged = run_at(config, store, at)["orders.metric.level"]
    assert flagged.outcome is Outcome.FAIL
    said = cli("feedback", "-c", str(path), "orders.metric.level", "--expected", "--reason", "price change")
    assert "is expected: it passes and trains the baseline (price change)" in said
    assert "--undo 1" in said
    set_gauge(warehouse, 100)
    trained = run_at(config, store, at + HOUR)["orders.metric.level"]
    assert trained.all_details["learned"]["trained"] == 7  # the six normal points and the one marked

    listed = cli("feedback", "-c", str(path), "--list")
    assert listed.startswith("feedback 1 on orders.metric.level: the point at ")
    replacing = cli("feedback", "-c", str(path), "orders.metric.level", "--anomaly", "--at", at.isoformat())
    assert replacing.startswith("replaces: feedback 1 on orders.metric.level: the point at ")
    assert "feedback 2 on orders.metric.level" in replacing
    assert cli("feedback", "-c", str(path), "--list").count("\n") == 1  # the latest word on a point wins
    cli("feedback", "-c", str(path), "--undo", "2")
    untaught = run_at(config, store, at + 2 * HOUR)["orders.metric.level"]
    assert untaught.all_details["learned"]["trained"] == 7  # six before, and the last normal one

    first = (START + HOUR).strftime("%Y-%m-%dT%H:%M")
    marking = cli("feedback", "-c", str(path), "orders.metric.level", "--anomaly", "--at", first)
    assert "feedback 3 on" in marking  # an undone id is never given again
    marked = run_at(config, store, at + 3 * HOUR)["orders.metric.level"]
    assert marked.all_details["learned"]["trained"] == 7  # one more normal point, one marked out

    window = f"{START:%Y-%m-%dT%H:%M}..{START + 3 * HOUR:%Y-%m-%dT%H:%M}"
    cli("feedback", "-c", str(path), "orders.metric.level", "--exclude", window)
    excluded = run_at(config, store, at + 4 * HOUR)["orders.metric.level"]
    assert excluded.all_details["learned"]["trained"] == 6

    cli("feedback", "-c", str(path), "orders.metric.level", "--reset", "--at", (at + 4 * HOUR).isoformat())
    reset = run_at(config, store, at + 5 * HOUR)["orders.metric.level"]
    assert reset.message.endswith("learning: 1 of 5 points")


@pytest.mark.parametrize(("args", "error"), [
    (["orders.metric.levle", "--reset"], "no check 'orders.metric.levle' in the config (did you mean"),
    (["orders.volume", "--reset"], "has no anomaly: block, so it learns nothing; these do: orders.metric"),
    (["orders.metric.level", "--reset", "--anomaly"], "(got --anomaly, --reset)"),
    (["orders.metric.level"], "feedback takes one of --expected"),
    (["orders.metric.level", "--exclude", "2026-12-02"], "expected FROM..TO"),
    (["orders.metric.level", "--exclude", "2026-12-02..2026-12-01"], "the window is empty"),
    (["orders.metric.level", "--exclude", "2026-12-02T10:00..2026-12-02T10:00"], "the window is empty"),
    (["orders.metric.level", "--exclude", "2026-12-01..2026-12-02", "--at", "2026-12-01"], "does not apply"),
    (["orders.metric.level", "--anomaly", "--at", "2999-01-01"], "is in the future"),
    (["orders.metric.level", "--anomaly", "--at", " "], "an empty time"),
    (["orders.metric.level", "--anomaly", "--at", "yesterday"], "'yesterday' is not a time"),
    (["orders.metric.level", "--expected"], "has no flagged point yet: name one with --at"),
    (["--undo", "42"], "no feedback 42"),
])
def test_bad_feedback_is_refused_with_exit_2(
    tmp_path: Path, warehouse: str, monkeypatch: pytest.MonkeyPatch, args: list[str], error: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = config_file(tmp_path, METRIC + "      - volume: {min: 0}\n")
    result = CliRunner().invoke(main, ["feedback", "-c", str(path), *args])
    assert result.exit_code == 2, result.output
    assert error in result.stderr and "Traceback" not in result.output


def test_backtest_replays_the_stored_series(
    tmp_path: Path, warehouse: str, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config, path, at = learn_metric(tmp_path, warehouse, store)
    set_gauge(warehouse, 1000)
    run_at(config, store, at)
    set_gauge(warehouse, 100)
    run_at(config, store, at + HOUR)
    plot = tmp_path / "level.svg"
    document = json.loads(cli("backtest", "-c", str(path), "orders.metric.level", "--format", "json",
                              "--days", "3650", "--plot", str(plot)))
    assert document["check"] == "orders.metric.level"
    points = document["points"]
    assert [point["value"] for point in points] == [*NOISE[:6], 1000, 100]
    assert [point["at"] for point in points] == sorted(point["at"] for point in points)
    assert [point["outcome"] for point in points] == ["learning"] * 5 + ["pass", "fail", "pass"]
    assert set(points[0]) == {"at", "value", "expected", "expected_min", "expected_max", "outcome"}
    assert points[6]["expected_max"] < 1000 < points[6]["value"] + 1
    svg = ElementTree.parse(plot).getroot()
    circles = svg.findall("{http://www.w3.org/2000/svg}circle")
    titles = [circle.findtext("{http://www.w3.org/2000/svg}title") or "" for circle in circles]
    assert len(titles) == 1 and "1000 (fail)" in titles[0]
    table = cli("backtest", "-c", str(path), "orders.metric.level", "--days", "3650")
    assert "8 points in the last 3650d: 2 pass, 0 warn, 1 fail, 5 learning" in table
    assert " fail  1,000  expected " in table


def test_backtest_of_a_check_that_learns_nothing_says_so(tmp_path: Path, warehouse: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = config_file(tmp_path, "      - volume: {min: 0}\n")
    result = CliRunner().invoke(main, ["backtest", "-c", str(path), "orders.volume"])
    assert result.exit_code == 2
    assert "check 'orders.volume' has no anomaly: block, so it learns nothing" in result.stderr


@pytest.mark.parametrize(("anomaly", "error"), [
    ("{by: loaded_at, bucket: 7m}", "anomaly.bucket: expected '1h' or '1d', got '7m'"),
    ("{sensitivity: 0}", "anomaly.sensitivity: expected a number > 0, got 0"),
    ("{seasonality: day_of_week, training: 3d}", "training 3d is shorter than one season of day_of_week"),
    ("{warn_sensitivity: 4}", "warn_sensitivity (4) must be below sensitivity (3)"),
    ("{min_training: 0}", "anomaly.min_training: expected a number >= 1"),
    ("{direction: up}", "anomaly.direction: expected"),
    ("{bucket: 1h}", "bucket applies with `by`"),
    ("{by: loaded_at, training: 2d, min_training: 10}", "holds 2 1d buckets, fewer than min_training"),
    ("{by: region}", "the schema check declares 'region' string: `by` needs a timestamp or date column"),
])
def test_bad_anomaly_blocks_are_config_errors_with_their_line(
    tmp_path: Path, warehouse: str, anomaly: str, error: str
) -> None:
    checks = ("      - schema: {columns: {region: string}}\n"
              f"      - volume:\n          anomaly: {anomaly}\n")
    path = config_file(tmp_path, checks)
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    assert "demon.yml:11: datasets.orders.checks[1].volume.anomaly" in result.stderr, result.stderr
    assert error in result.stderr, result.stderr


def test_a_learned_check_on_a_lake_cannot_count_by_a_column(tmp_path: Path) -> None:
    (tmp_path / "lake" / "events").mkdir(parents=True)
    path = tmp_path / "demon.yml"
    path.write_text(
        "version: 1\nsources:\n  lake: {kind: files, root: lake}\ndatasets:\n"
        "  events:\n    source: lake\n    path: events/\n    format: parquet\n    checks:\n"
        "      - volume:\n          anomaly: {by: loaded_at}\n"
    )
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    assert "demon.yml:11: datasets.events.checks[0].volume.anomaly.by:" in result.stderr
    assert "sql datasets only" in result.stderr


# --- a real `demon run` ------------------------------------------------------------------------------------


def results_since(directory: Path, since: datetime) -> list[Result]:
    """The check's stored results started at or after `since`, oldest first."""
    with StateStore.open("sqlite:///state.db", directory) as store:
        return [r for r in store.history("orders.metric.level", 10_000)[::-1] if r.started_at >= since]


def learned_of(result: Result) -> dict[str, Any]:
    found: dict[str, Any] = result.details["learned"]
    return found


def band_on_metrics(daemon: Daemon) -> dict[str, float]:
    found = {}
    for key, value in daemon.samples().items():
        bound = re.search(r'bound="([^"]+)"', key)
        if key.startswith("demon_check_threshold{") and 'check="orders.metric.level"' in key and bound:
            found[bound.group(1)] = value
    return found if "expected_max" in found else {}


def test_a_running_daemon_exports_the_band_applies_feedback_and_keeps_its_series_across_a_restart(
    tmp_path: Path, warehouse: str, spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check = ("- metric: {name: level, sql: SELECT max(value) FROM gauge,"
             " anomaly: {min_training: 3, seasonality: none}}")
    path = write_config(tmp_path, source("warehouse", warehouse), dataset("orders", check))
    daemon = spawn(path)
    monkeypatch.setenv("DEMON_TEST_PORT", "0")  # for the CLI, which reads the same config
    band = wait_for(lambda: band_on_metrics(daemon), what="the learned band on /metrics")
    assert set(band) == {"expected", "expected_min", "expected_max"}
    assert band["expected_min"] <= 100 <= band["expected_max"]

    cli("feedback", "-c", str(path), "orders.metric.level", "--reset", "--reason", "migration")
    taught_at = datetime.now(UTC)  # every run started from now on has read the reset
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        [reset] = Baselines(store).feedback(["orders.metric.level"])["orders.metric.level"]
    first = wait_for(lambda: results_since(tmp_path, taught_at), what="a run after the reset")[0]
    # only the points since the reset train it, however many runs the machine managed in between
    since_reset = results_since(tmp_path, reset.start)
    assert learned_of(first)["trained"] == len([r for r in since_reset if r.started_at < first.started_at])
    wait_for(lambda: (found := results_since(tmp_path, taught_at)) and not learned_of(found[-1])["learning"],
             what="the baseline learnt again")

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    restarted_at = datetime.now(UTC)
    second = spawn(path)
    after = wait_for(lambda: results_since(tmp_path, restarted_at), what="a run of the restarted daemon")[0]
    assert learned_of(after)["learning"] is False, after  # the series (and the reset) came from the store
    assert wait_for(lambda: band_on_metrics(second), what="the band after the restart")

    window = f"{reset.start:%Y-%m-%dT%H:%M:%S}..{datetime.now(UTC) + timedelta(hours=1):%Y-%m-%dT%H:%M:%S}"
    cli("feedback", "-c", str(path), "orders.metric.level", "--exclude", window)
    excluded_at = datetime.now(UTC)
    excluded = wait_for(lambda: results_since(tmp_path, excluded_at), what="a run after the exclusion")[0]
    assert learned_of(excluded)["learning"] is True and learned_of(excluded)["trained"] == 0


# --- `by:` series counted in the warehouse (DuckDB and the real PostgreSQL) -------------------------------

TODAY = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # a Monday morning: Sunday 29 is the latest complete day


def daily_rows(day: datetime) -> int:
    """A weekly pattern with a little deterministic noise: weekdays about 100 rows, weekends about 40."""
    return (40 if day.weekday() >= 5 else 100) + (day.day * 7) % 5


@pytest.fixture(params=["duckdb", "postgresql"])
def events_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (f"duckdb:///{tmp_path / 'w.duckdb'}" if request.param == "duckdb"
           else str(request.getfixturevalue("postgres_url")))
    rows = []
    for back in range(1, 41):
        day = (TODAY - timedelta(days=back)).replace(hour=0)
        rows += [f"({back * 1000 + i}, 'eu', TIMESTAMP '{day + timedelta(minutes=i):%Y-%m-%d %H:%M:%S}')"
                 for i in range(daily_rows(day))]
    execute(url, ["CREATE TABLE events (id INTEGER, region TEXT, created_at TIMESTAMP)",
                  f"INSERT INTO events VALUES {', '.join(rows)}"])
    return url


def by_config(directory: Path, url: str, where: str = "") -> Config:
    path = directory / "demon.yml"
    path.write_text(
        f"version: 1\nsources:\n  warehouse: {{kind: sql, url: '{url}'}}\ndatasets:\n"
        f"  events:\n    source: warehouse\n    table: events\n{where}    checks:\n"
        "      - volume:\n          anomaly: {by: created_at}\n"
        "state: {url: 'sqlite:///state.db'}\n"
    )
    return load_config(path)


def stored_series(store: StateStore) -> dict[str, dict[datetime, float | None]]:
    from monitor.state.tables import series_points

    with store.reading("test") as conn:
        rows = conn.execute(sa.select(series_points)).all()
    found: dict[str, dict[datetime, float | None]] = {}
    for key, at, value, _ in rows:
        found.setdefault(key, {})[at.replace(tzinfo=UTC)] = value
    return found


def test_a_by_series_is_counted_at_once_then_only_its_recent_buckets(
    tmp_path: Path, events_url: str, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = by_config(tmp_path, events_url)
    first = run_at(config, store, TODAY)["events.volume"]
    sunday = TODAY.replace(hour=0) - timedelta(days=1)
    assert first.outcome is Outcome.PASS, first.message
    assert first.value == daily_rows(sunday)
    assert first.message.startswith(f"{daily_rows(sunday)} rows in Sun 29 Nov, expected ")
    assert "of 4 Sundays" in first.message  # the weekly pattern, learnt from the data on the first run
    assert first.all_details["learned"]["learning"] is False
    [statement] = first.statements
    assert "GROUP BY" in statement and "2026-11-01" in statement  # 28 days and a bucket back
    [(key, points)] = stored_series(store).items()
    assert len(points) == 29 and points[sunday] == daily_rows(sunday)

    late = sunday - timedelta(days=1) + timedelta(hours=20)  # a late row for Saturday
    execute(events_url, [f"INSERT INTO events VALUES (1, 'eu', TIMESTAMP '{late:%Y-%m-%d %H:%M:%S}')"])
    second = run_at(config, store, TODAY + HOUR)["events.volume"]
    [statement] = second.statements
    assert "2026-11-26" in statement and "2026-11-01" not in statement  # three days recounted, not 28
    assert stored_series(store)[key][sunday - timedelta(days=1)] == daily_rows(sunday - timedelta(days=1)) + 1

    monday = TODAY.replace(hour=0)
    quarter = daily_rows(monday) // 4
    execute(events_url, [f"INSERT INTO events SELECT 90000 + i, 'eu', TIMESTAMP '{monday:%Y-%m-%d} 08:00:00'"
                         f" + i * INTERVAL '1 minute' FROM generate_series(1, {quarter}) AS t(i)"])
    short = run_at(config, store, TODAY + timedelta(days=1))["events.volume"]
    assert short.outcome is Outcome.FAIL, short.message
    assert short.message.startswith(f"{quarter} rows in Mon 30 Nov, expected ")
    assert short.thresholds["expected_min"] > quarter
    said = cli("feedback", "-c", str(tmp_path / "demon.yml"), "events.volume", "--expected")
    assert "the point at 2026-11-30T00:00:00Z is expected" in said
    again = run_at(config, store, TODAY + timedelta(days=1, minutes=30))["events.volume"]
    assert again.outcome is Outcome.PASS and again.message.endswith("; marked expected by feedback")

    scoped = by_config(tmp_path, events_url, where="    where: region = 'eu'\n")
    run_at(scoped, store, TODAY + timedelta(days=1, hours=1))
    assert len(stored_series(store)) == 2  # another where: another series, never mixed with the first


def test_freshness_learns_the_cadence_weekday_loads_are_not_late_at_the_weekend(
    tmp_path: Path, events_url: str, store: StateStore
) -> None:
    loads = [TODAY.replace(hour=0) - timedelta(days=day) + timedelta(hours=hour)
             for day in range(1, 36) for hour in range(6, 20)
             if (TODAY - timedelta(days=day)).weekday() < 5]  # hourly, 06:00 to 19:00, weekdays only
    values = ", ".join(f"({i}, 'eu', TIMESTAMP '{at:%Y-%m-%d %H:%M:%S}')" for i, at in enumerate(loads))
    execute(events_url, ["DELETE FROM events", f"INSERT INTO events VALUES {values}"])
    path = tmp_path / "demon.yml"
    path.write_text(
        f"version: 1\nsources:\n  warehouse: {{kind: sql, url: '{events_url}'}}\ndatasets:\n"
        "  events:\n    source: warehouse\n    table: events\n    checks:\n"
        "      - freshness:\n          column: created_at\n          anomaly: {by: created_at, bucket: 1h}\n"
        "state: {url: 'sqlite:///state.db'}\n"
    )
    config = load_config(path)
    sunday_noon = TODAY.replace(hour=12) - timedelta(days=1)
    weekend = run_at(config, store, sunday_noon)["events.freshness"]
    assert weekend.outcome is Outcome.PASS, weekend.message  # 41 hours since Friday 19:00: usual
    assert weekend.message.startswith("newest created_at is 1d 17h old, expected ")
    tuesday_noon = TODAY.replace(hour=12) + timedelta(days=1)
    monday = [f"INSERT INTO events VALUES (0, 'eu', TIMESTAMP '{TODAY.replace(hour=h):%Y-%m-%d %H:%M:%S}')"
              for h in range(6, 20)]
    execute(events_url, monday)  # Monday loaded as usual, then Tuesday nothing by noon
    late = run_at(config, store, tuesday_noon)["events.freshness"]
    assert late.outcome is Outcome.FAIL, late.message  # 17 hours since Monday 19:00, where nights take 11
    assert late.thresholds["expected_max"] < 17 * 3600


def test_a_notification_says_the_learned_range_and_what_trained_it() -> None:
    from alerting.model import Context, Learned
    from alerting.render.text import expected_text, observed_line

    thresholds = {"min": 1.0, "expected": 1204.0, "expected_min": 950.0, "expected_max": 1460.0}
    learned = Learned(slot="09:00-10:00 Mon", trained="8 Mondays")
    context = Context(value=312.0, unit="rows", learned=learned, thresholds=thresholds)
    assert expected_text(context) == "min 1, 950 to 1,460 in 09:00-10:00 Mon (learnt from 8 Mondays)"
    assert observed_line(context) == (
        "observed 312 rows; expected min 1, 950 to 1,460 in 09:00-10:00 Mon (learnt from 8 Mondays)"
    )
    fixed_only = Context(value=3.0, unit=None, thresholds={"max": 0.0})
    assert expected_text(fixed_only) == "max 0"


def test_validate_connect_checks_each_by_column_as_a_run_would(
    tmp_path: Path, warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    checks = ("      - volume:\n          anomaly: {by: id}\n"
              "      - volume:\n          name: typo\n          anomaly: {by: loaded_att}\n"
              "      - volume:\n          name: fine\n          anomaly: {by: loaded_at, bucket: 1h}\n")
    result = CliRunner().invoke(main, ["validate", "--connect", "-c", str(config_file(tmp_path, checks))])
    assert result.exit_code == 3, result.output
    assert "orders.volume: FAILED: id is not a timestamp (integer): `by` needs a timestamp" in result.stdout
    assert "orders.volume.typo: FAILED: column loaded_att not found" in result.stdout
    assert "orders.volume.fine" not in result.output
