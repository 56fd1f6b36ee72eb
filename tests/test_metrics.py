"""The metrics in-process: the text writer against prometheus-client, the catalog built from results, the
facts the runner records on real DuckDB files and lakes, and the Pushgateway client against a real server."""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import Histogram as ClientHistogram
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.app.config import load_config
from monitor.app.daemon.status import Status
from monitor.app.metrics.catalog import (
    DURATION_BUCKETS,
    FACTS,
    Latest,
    dataset_families,
    duration_family,
    rendered_check_families,
    result_families,
)
from monitor.app.metrics.exposition import CONTENT_TYPE, Family, Histogram, client_registry, render
from monitor.app.metrics.push import push_results
from monitor.app.runner import Runner
from monitor.core.config.models import Config
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore
from tests.pgserver import free_port
from tests.warehouse import execute

# (sample name, sorted label pairs) -> value, from one parsed exposition
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

HOSTILE = [
    'say "hi"',
    "back\\slash",
    "new\nline",
    "ünïcødé ☃ 数据",
    "",
    "\\n is not a newline",
    '\\"',
    "tab\tand\rreturn",
    "{braces}=,commas",
    "trailing\\",
]
VALUES = [
    0.0, -0.0, 1.0, -3.0, 42.0, 0.1, 1 / 3, -2.5, 1e300, -1e300, 5e-324, 1e-9, 2.0**53, 1e15, 1e16,
    123456789.123, math.inf, -math.inf, math.nan,
]


# --- helpers ------------------------------------------------------------------------------------------


def client_text(families: Sequence[Family]) -> str:
    return generate_latest(client_registry(families)).decode()


def parsed(text: str) -> tuple[dict[str, tuple[str, str]], Samples]:
    """(family name -> (type, help), samples) of an exposition, read by prometheus-client's parser."""
    described, samples = {}, {}
    for family in text_string_to_metric_families(text):
        described[family.name] = (family.type, family.documentation)
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, f"series {key} written twice"
            samples[key] = float(sample.value)
    return described, samples


def samples_of(families: Iterable[Family]) -> Samples:
    return parsed(render(families).decode())[1]


def same_values(ours: Samples, theirs: Samples) -> None:
    assert ours.keys() == theirs.keys()
    for key, value in ours.items():
        other = theirs[key]
        assert (math.isnan(value) and math.isnan(other)) or value == other, (key, value, other)


def assert_agrees(families: Sequence[Family]) -> None:
    ours, theirs = parsed(render(families).decode()), parsed(client_text(families))
    assert ours[0] == theirs[0]
    same_values(ours[1], theirs[1])


def series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (found, labels), value in samples.items() if found == name}


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


# --- exposition ---------------------------------------------------------------------------------------


def test_render_agrees_with_prometheus_client_on_hostile_labels_and_values() -> None:
    gauge = Family("demon_test_value", "gauge", "Values of every kind", ("dataset", "check"))
    for i, value in enumerate(VALUES):
        gauge.add((HOSTILE[i % len(HOSTILE)], f"c{i}"), value)
    counter = Family("demon_test_runs_total", "counter", "Runs", ("outcome",))
    for i, text in enumerate(HOSTILE):
        counter.add((text,), float(i))
    bare = Family("demon_test_up", "gauge", "No labels")
    bare.add((), 1.0)
    labelled = Family("demon_test_seconds", "histogram", "Durations", ("source", "kind"))
    plain = Family("demon_test_lag_seconds", "histogram", "No labels")
    for i, text in enumerate(HOSTILE[:4]):
        histogram = Histogram(DURATION_BUCKETS)
        for value in (0.001, 0.005, 0.3 * i, 7.0, 601.0)[: i + 2]:
            histogram.observe(value)
        labelled.add_histogram((text, "volume"), histogram)
    plain.add_histogram((), Histogram((0.5, 1.0)))  # no observations: every bucket 0
    families = [gauge, counter, bare, labelled, plain]
    assert_agrees(families)
    found = samples_of(families)
    assert len(series(found, "demon_test_value")) == len(VALUES)
    assert series(found, "demon_test_runs_total")[labels(outcome='say "hi"')] == 0.0
    assert series(found, "demon_test_seconds_count")[labels(source="new\nline", kind="volume")] == 4.0


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_kind_of_value_round_trips(value: float) -> None:
    gauge = Family("demon_test_value", "gauge", "x", ("dataset",))
    gauge.add(("d",), value)
    [(key, written)] = samples_of([gauge]).items()
    assert key == ("demon_test_value", labels(dataset="d"))
    assert (math.isnan(value) and math.isnan(written)) or written == value
    assert_agrees([gauge])


_labels_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)  # UTF-8 has no lone surrogates


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_labels_text, _labels_text, st.floats()), max_size=12, unique_by=lambda s: s[:2]),
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=20),
    _labels_text,
)
def test_render_agrees_with_prometheus_client_on_random_series(
    rows: list[tuple[str, str, float]], observations: list[float], help_text: str
) -> None:
    gauge = Family("demon_random", "gauge", help_text, ("a", "b"))
    counter = Family("demon_random_total", "counter", help_text, ("a", "b"))
    for a, b, value in rows:
        gauge.add((a, b), value)
        counter.add((a, b), abs(value))
    histograms = Family("demon_random_seconds", "histogram", help_text, ("a",))
    histogram = Histogram(DURATION_BUCKETS)
    for value in observations:
        histogram.observe(value)
    histograms.add_histogram((rows[0][0] if rows else "",), histogram)
    assert_agrees([gauge, counter, histograms])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(DURATION_BUCKETS) | st.floats(0, 1000, allow_nan=False), max_size=30))
def test_histogram_buckets_match_prometheus_clients_own_histogram(observations: list[float]) -> None:
    """An independent reference for the bucket semantics: a value exactly on a bound counts in that bucket."""
    ours = Histogram(DURATION_BUCKETS)
    reference = ClientHistogram("h", "h", buckets=DURATION_BUCKETS, registry=None)
    for value in observations:
        ours.observe(value)
        reference.observe(value)
    [family] = reference.collect()
    expected = {s.labels["le"]: s.value for s in family.samples if s.name == "h_bucket"}
    assert {le: float(count) for le, count in ours.cumulative()} == expected  # `le` written alike too
    assert ours.sum == pytest.approx(math.fsum(observations))


def test_histogram_buckets_are_cumulative_with_bound_values_in_their_bucket() -> None:
    histogram = Histogram((1, 2, 5))
    for value in (0.5, 1.0, 1.5, 2.0, 7.0, 100.0):
        histogram.observe(value)
    family = Family("demon_h_seconds", "histogram", "h", ("kind",))
    family.add_histogram(("volume",), histogram)
    found = samples_of([family])
    written = series(found, "demon_h_seconds_bucket")
    buckets = {float(dict(key)["le"]): value for key, value in written.items()}
    assert buckets == {1: 2, 2: 4, 5: 4, math.inf: 6}
    assert series(found, "demon_h_seconds_count") == {labels(kind="volume"): 6}
    assert series(found, "demon_h_seconds_sum") == {labels(kind="volume"): 112.0}


def test_a_histogram_copy_is_independent_of_the_original() -> None:
    histogram = Histogram((1.0,))
    histogram.observe(0.5)
    twin = histogram.copy()
    histogram.observe(3.0)
    assert [count for _, count in twin.cumulative()] == [1, 1] and twin.sum == 0.5
    assert [count for _, count in histogram.cumulative()] == [1, 2] and histogram.sum == 3.5
    assert [float(le) for le, _ in histogram.cumulative()] == [1.0, math.inf]


def test_render_omits_empty_families_and_writes_help_and_type_once() -> None:
    empty = Family("demon_empty", "gauge", "never written", ("dataset",))
    empty_histogram = Family("demon_empty_seconds", "histogram", "never written")
    kept = Family("demon_kept", "gauge", "written", ("dataset",))
    kept.add(("a",), 1.0)
    kept.add(("b",), 2.0)
    text = render([empty, kept, empty_histogram]).decode()
    assert "demon_empty" not in text
    lines = text.splitlines()
    assert lines[:2] == ["# HELP demon_kept written", "# TYPE demon_kept gauge"]
    series_written = [line.split(" ")[0] for line in lines[2:]]
    assert series_written == ['demon_kept{dataset="a"}', 'demon_kept{dataset="b"}']
    assert samples_of([kept]) == {
        ("demon_kept", labels(dataset="a")): 1.0, ("demon_kept", labels(dataset="b")): 2.0
    }
    assert render([]) == b"" and render([empty]) == b""


def test_help_text_escapes_backslashes_and_newlines_only() -> None:
    family = Family("demon_helped", "gauge", 'a\\b\nc "quoted"', ())
    family.add((), 1.0)
    assert render([family]).decode().splitlines()[0] == '# HELP demon_helped a\\\\b\\nc "quoted"'
    assert parsed(render([family]).decode())[0] == {"demon_helped": ("gauge", 'a\\b\nc "quoted"')}
    assert_agrees([family])


def test_the_content_type_is_text_format_0_0_4() -> None:
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


# --- the catalog --------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CONFIG = """\
version: 1
sources:
  warehouse: {kind: sql, url: "duckdb:///w.duckdb"}
  lake: {kind: files, root: lake}
defaults:
  owner: data-eng
  severity: medium
datasets:
  orders:
    source: warehouse
    table: orders
    owner: sales
    severity: critical
    checks:
      - volume: {min: 1}
      - volume: {name: big, min: 1000, warn_min: 5000}
      - freshness: {column: loaded_at, warn_after: 1h, fail_after: 6h}
      - quality: {schema: schemas:Orders, max_failing_rows: 0}
  events:
    source: lake
    path: events/
    format: parquet
    checks:
      - volume: {metric: files, min: 1}
state: {url: "sqlite:///state.db"}
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "demon.yml"
    path.write_text(CONFIG)
    return load_config(path)


def result(check: str, outcome: Outcome = Outcome.PASS, **fields: Any) -> Result:
    dataset, kind = check.split(".")[:2]
    base = Result(
        check=check, dataset=dataset, kind=kind, source="lake" if dataset == "events" else "warehouse",
        outcome=outcome, message="m", started_at=T0, duration_seconds=0.2, value=1.0,
    )
    return replace(base, **fields)


def latest_of(config: Config, *results: Result, **fields: Any) -> Latest:
    return Latest({found.check: found for found in results}, config.datasets, **fields)


def check_series(found: Samples, name: str, check: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {key: value for key, value in series(found, name).items() if dict(key)["check"] == check}


def test_the_daemon_exports_the_same_series_as_the_catalog_builds(config: Config) -> None:
    """The daemon renders each check's series once per result; a scrape must equal building them all anew."""
    status = Status(config)
    runs: dict[str, dict[str, int]] = {}
    first = [result("orders.volume", facts={"rows": 10.0}, thresholds={"min": 1.0}, last_success_at=T0),
             result("orders.freshness", Outcome.FAIL, value=30000.0, thresholds={"fail_after": 7200.0})]
    second = [replace(first[0], outcome=Outcome.WARN, started_at=T0 + timedelta(minutes=1)), first[1]]
    events = [result("events.volume", Outcome.ERROR, value=None)]
    for batch in (first, events, second):
        status.dataset_done(batch[0].dataset, batch)
        for found in batch:
            counts = runs.setdefault(found.check, {})
            counts[found.outcome.value] = counts.get(found.outcome.value, 0) + 1
    latest, lines = status.exported(config.datasets)
    scraped = render([*rendered_check_families(lines), duration_family(latest.durations),
                      *dataset_families(latest)])
    rebuilt = result_families(Latest({found.check: found for found in [*second, *events]}, config.datasets,
                                     runs, latest.durations))
    assert parsed(scraped.decode()) == parsed(render(rebuilt).decode())
    assert series(parsed(scraped.decode())[1], "demon_check_runs_total")[labels(
        dataset="orders", check="orders.volume", kind="volume", outcome="warn")] == 1.0


def test_what_a_reload_removed_is_never_recorded_again(config: Config, tmp_path: Path) -> None:
    """A run that started before a reload may end after it: its removed check and source do not come back."""
    status = Status(config)
    status.dataset_done("events", [result("events.volume")])
    assert status.source_seen("lake", None) is None
    path = tmp_path / "reloaded.yml"
    path.write_text(CONFIG.replace("  lake: {kind: files, root: lake}\n", "").split("  events:")[0]
                    + 'state: {url: "sqlite:///state.db"}\n')
    status.retain(load_config(path))
    ended_after_the_reload = [result("orders.volume"), result("events.volume")]
    status.dataset_done("orders", ended_after_the_reload)
    status.source_seen("lake", None)
    latest, lines = status.exported(config.datasets)
    assert set(latest.results) == {"orders.volume"}
    kept = {"demon_check_outcome", "demon_check_last_run_timestamp_seconds", "demon_check_value",
            "demon_check_runs_total"}
    assert [set(found) for found in lines] == [kept]
    assert set(status.sources()) == set()


@pytest.mark.parametrize("outcome", list(Outcome))
def test_outcome_is_one_hot_over_all_four_outcomes(config: Config, outcome: Outcome) -> None:
    found = samples_of(result_families(latest_of(config, result("orders.volume", outcome))))
    ids = {"dataset": "orders", "check": "orders.volume", "kind": "volume"}
    assert series(found, "demon_check_outcome") == {
        labels(**ids, outcome=each.value): 1.0 if each is outcome else 0.0 for each in Outcome
    }


def test_last_run_last_success_value_and_thresholds(config: Config) -> None:
    passed = result(
        "orders.volume.big", Outcome.WARN, value=1200.0, started_at=T0 + timedelta(seconds=1.5),
        last_success_at=T0 + timedelta(seconds=1.5), thresholds={"min": 1000.0, "warn_min": 5000.0},
    )
    errored = result("orders.volume", Outcome.ERROR, value=None, last_success_at=None)
    failing = result(
        "orders.freshness", Outcome.FAIL, value=30000.0, last_success_at=T0 - timedelta(days=1),
        thresholds={"warn_after": 3600.0, "fail_after": 21600.0},
    )
    found = samples_of(result_families(latest_of(config, passed, errored, failing)))
    big = {"dataset": "orders", "check": "orders.volume.big", "kind": "volume"}
    fresh = {"dataset": "orders", "check": "orders.freshness", "kind": "freshness"}
    plain = {"dataset": "orders", "check": "orders.volume", "kind": "volume"}
    assert series(found, "demon_check_last_run_timestamp_seconds") == {
        labels(**big): T0.timestamp() + 1.5, labels(**plain): T0.timestamp(), labels(**fresh): T0.timestamp(),
    }
    assert series(found, "demon_check_last_success_timestamp_seconds") == {
        labels(**big): T0.timestamp() + 1.5, labels(**fresh): (T0 - timedelta(days=1)).timestamp(),
    }
    assert series(found, "demon_check_value") == {labels(**big): 1200.0, labels(**fresh): 30000.0}
    assert series(found, "demon_check_threshold") == {
        labels(**big, bound="min"): 1000.0,
        labels(**big, bound="warn_min"): 5000.0,
        labels(**fresh, bound="warn_after"): 3600.0,
        labels(**fresh, bound="fail_after"): 21600.0,
    }


def test_runs_total_exports_every_outcome_per_check_and_nothing_without_runs(config: Config) -> None:
    results = (result("orders.volume"), result("orders.volume.big", Outcome.FAIL))
    runs = {"orders.volume": {"pass": 3}, "orders.volume.big": {"fail": 2, "error": 1}}
    found = samples_of(result_families(latest_of(config, *results, runs=runs)))
    expected = {
        ("orders.volume", "pass"): 3.0,
        ("orders.volume.big", "fail"): 2.0,
        ("orders.volume.big", "error"): 1.0,
    }
    assert series(found, "demon_check_runs_total") == {
        labels(dataset="orders", check=check, kind="volume", outcome=outcome.value):
            expected.get((check, outcome.value), 0.0)
        for check in ("orders.volume", "orders.volume.big")
        for outcome in Outcome
    }
    text = render(result_families(latest_of(config, *results))).decode()
    assert "demon_check_runs_total" not in text
    assert "demon_check_duration_seconds" not in text  # no durations either


def test_durations_are_one_histogram_per_source_and_kind(config: Config) -> None:
    volume, freshness = Histogram(DURATION_BUCKETS), Histogram(DURATION_BUCKETS)
    for value in (0.004, 0.005, 2.0):
        volume.observe(value)
    freshness.observe(700.0)
    durations = {("warehouse", "volume"): volume, ("lake", "freshness"): freshness}
    found = samples_of(result_families(latest_of(config, result("orders.volume"), durations=durations)))
    assert series(found, "demon_check_duration_seconds_count") == {
        labels(source="warehouse", kind="volume"): 3.0, labels(source="lake", kind="freshness"): 1.0
    }
    assert series(found, "demon_check_duration_seconds_sum")[labels(source="warehouse", kind="volume")] == (
        pytest.approx(2.009)
    )
    buckets = {
        (pairs["source"], pairs["kind"], float(pairs["le"])): value
        for key, value in series(found, "demon_check_duration_seconds_bucket").items()
        for pairs in [dict(key)]
    }
    assert buckets["warehouse", "volume", 0.005] == 2.0
    assert buckets["warehouse", "volume", 600] == 3.0
    assert buckets["lake", "freshness", 600] == 0.0
    assert buckets["lake", "freshness", math.inf] == 1.0
    assert len(buckets) == 2 * (len(DURATION_BUCKETS) + 1)


def test_dataset_facts_come_from_the_newest_result(config: Config) -> None:
    newest = result("orders.volume.big", started_at=T0 + timedelta(minutes=5), facts={"rows": 250.0})
    older = result("orders.volume", started_at=T0, facts={"rows": 100.0})
    fresh = result("orders.freshness", facts={"last_modified": 1_700_000_000.5})
    lake = result("events.volume", facts={"files": 12.0, "bytes": 3e9, "unknown_fact": 5.0})
    found = samples_of(result_families(latest_of(config, newest, older, fresh, lake)))  # newest first
    assert series(found, "demon_dataset_rows") == {labels(dataset="orders"): 250.0}
    assert series(found, "demon_dataset_last_modified_timestamp_seconds") == {
        labels(dataset="orders"): 1_700_000_000.5
    }
    assert series(found, "demon_dataset_files") == {labels(dataset="events"): 12.0}
    assert series(found, "demon_dataset_bytes") == {labels(dataset="events"): 3e9}
    assert not any(name.startswith("demon_dataset") and "unknown" in name for name, _ in found)
    swapped = samples_of(result_families(latest_of(
        config, replace(newest, started_at=T0 - timedelta(minutes=5)), older
    )))
    assert series(swapped, "demon_dataset_rows") == {labels(dataset="orders"): 100.0}
    assert set(FACTS) == {"last_modified", "rows", "bytes", "files"}


def test_failing_rows_only_for_quality_checks_with_a_value(config: Config) -> None:
    quality = result("orders.quality", Outcome.FAIL, value=7.0, facts={"failing_rows": 7.0})
    volume = result("orders.volume", value=10.0)
    found = samples_of(result_families(latest_of(config, quality, volume)))
    assert series(found, "demon_dataset_failing_rows") == {
        labels(dataset="orders", check="orders.quality"): 7.0
    }
    errored = samples_of(result_families(latest_of(config, replace(quality, value=None, facts={}), volume)))
    assert series(errored, "demon_dataset_failing_rows") == {}


def test_dataset_info_has_owner_and_severity_with_defaults_applied(config: Config) -> None:
    found = samples_of(result_families(latest_of(config)))
    assert series(found, "demon_dataset_info") == {
        labels(dataset="orders", source="warehouse", owner="sales", severity="critical"): 1.0,
        labels(dataset="events", source="lake", owner="data-eng", severity="medium"): 1.0,
    }
    assert [name for name, _ in found] == ["demon_dataset_info"] * 2  # no results: nothing else


def test_dataset_info_without_defaults_has_an_empty_owner_and_high_severity(tmp_path: Path) -> None:
    path = tmp_path / "demon.yml"
    path.write_text(CONFIG.replace("defaults:\n  owner: data-eng\n  severity: medium\n", ""))
    config = load_config(path)
    found = samples_of(result_families(latest_of(config)))
    assert series(found, "demon_dataset_info")[
        labels(dataset="events", source="lake", owner="", severity="high")
    ] == 1.0


def test_result_families_agree_with_prometheus_client(config: Config) -> None:
    durations = {("warehouse", "volume"): Histogram(DURATION_BUCKETS)}
    durations["warehouse", "volume"].observe(0.3)
    latest = latest_of(
        config,
        result("orders.volume", facts={"rows": 5.0}, last_success_at=T0, thresholds={"min": 1.0}),
        result("orders.quality", Outcome.ERROR, value=None),
        runs={"orders.volume": {"pass": 1}, "orders.quality": {"error": 4}},
        durations=durations,
    )
    assert_agrees(result_families(latest))


# --- facts and last successes recorded by the runner --------------------------------------------------

LOADED_AT = datetime(2026, 11, 20, 8, 30, 15, tzinfo=UTC)


def runner_config(directory: Path, lake_root: Path | None = None) -> Config:
    lake = f"  lake: {{kind: files, root: {json.dumps(str(lake_root))}}}\n" if lake_root else ""
    lake_dataset = (
        "  events:\n    source: lake\n    path: events/\n    format: parquet\n    partitioning: hive\n"
        "    checks:\n"
        "      - volume: {name: latest, metric: rows, scope: latest_partition, min: 1}\n"
        "      - volume: {name: everything, metric: rows, scope: all, min: 1}\n"
        "      - freshness: {fail_after: 1d}\n"
    ) if lake_root else ""
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        f"sources:\n  warehouse: {{kind: sql, url: 'duckdb:///w.duckdb'}}\n{lake}"
        "datasets:\n"
        "  orders:\n    source: warehouse\n    table: orders\n    checks:\n"
        "      - freshness: {column: loaded_at, fail_after: 1d}\n"
        "      - volume: {min: 5}\n"
        f"{lake_dataset}"
        "state: {url: 'sqlite:///state.db'}\n"
    )
    return load_config(path)


def run_once(config: Config, store: StateStore, at: datetime) -> dict[str, Result]:
    runner = Runner(config, store, clock=lambda: at)
    try:
        return {found.check: found for found in runner.run(config.checks, store.start_run("check"))}
    finally:
        runner.close()


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    stamp = LOADED_AT.strftime("%Y-%m-%d %H:%M:%S")
    execute(url, [
        "CREATE TABLE orders (id INTEGER, loaded_at TIMESTAMP)",
        f"INSERT INTO orders SELECT i, TIMESTAMP '{stamp}' - INTERVAL (i) MINUTE FROM range(10) t(i)",
    ])
    return url


def test_the_runner_records_facts_and_last_successes(tmp_path: Path, warehouse: str) -> None:
    config = runner_config(tmp_path)
    first_at, second_at = LOADED_AT + timedelta(hours=1), LOADED_AT + timedelta(hours=2)
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        first = run_once(config, store, first_at)
        assert {check: found.outcome for check, found in first.items()} == {
            "orders.freshness": Outcome.PASS, "orders.volume": Outcome.PASS
        }
        assert first["orders.freshness"].facts == {"last_modified": LOADED_AT.timestamp()}
        assert first["orders.volume"].facts == {"rows": 10.0}
        assert all(found.last_success_at == first_at for found in first.values())

        execute(warehouse, ["DELETE FROM orders WHERE id BETWEEN 1 AND 8"])  # ids 0 and 9 left, 0 the newest
        second = run_once(config, store, second_at)
    assert second["orders.volume"].outcome is Outcome.FAIL
    assert second["orders.volume"].facts == {"rows": 2.0}  # a failed run still knows the size
    assert second["orders.freshness"].facts == {"last_modified": LOADED_AT.timestamp()}
    assert second["orders.volume"].last_success_at == first_at  # the previous success, from the store
    assert second["orders.freshness"].outcome is Outcome.PASS
    assert second["orders.freshness"].last_success_at == second_at
    found = samples_of(result_families(Latest(second, config.datasets)))
    assert series(found, "demon_dataset_rows") == {labels(dataset="orders"): 2.0}
    assert check_series(found, "demon_check_last_success_timestamp_seconds", "orders.volume") == {
        labels(dataset="orders", check="orders.volume", kind="volume"): first_at.timestamp()
    }


def test_the_last_success_is_kept_while_the_source_cannot_be_opened(tmp_path: Path, warehouse: str) -> None:
    """An outage is when "last passed" matters most: an error before any query still reports it."""
    config = runner_config(tmp_path)
    passed_at = LOADED_AT + timedelta(hours=1)
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        run_once(config, store, passed_at)
        broken = config.model_copy(update={"sources": {
            "warehouse": config.sources["warehouse"].model_copy(update={"url": "nosuchdialect://x"})
        }})
        down = run_once(broken, store, passed_at + timedelta(hours=1))
    assert {found.outcome for found in down.values()} == {Outcome.ERROR}
    assert {found.last_success_at for found in down.values()} == {passed_at}


def test_a_check_that_never_succeeded_has_no_last_success(tmp_path: Path, warehouse: str) -> None:
    config = runner_config(tmp_path)
    execute(warehouse, ["DELETE FROM orders WHERE id > 0"])
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        for at in (LOADED_AT, LOADED_AT + timedelta(minutes=1)):
            volume = run_once(config, store, at)["orders.volume"]
            assert (volume.outcome, volume.last_success_at) == (Outcome.FAIL, None)
    found = samples_of(result_families(Latest({"orders.volume": volume}, config.datasets)))
    assert series(found, "demon_check_last_success_timestamp_seconds") == {}


def test_only_a_whole_lake_volume_gives_the_rows_fact(tmp_path: Path, warehouse: str) -> None:
    root = tmp_path / "lake"
    table = pa.table({"id": pa.array(range(4), pa.int64())})
    for day, rows in (("2026-11-19", 4), ("2026-11-20", 3)):
        folder = root / "events" / f"dt={day}"
        folder.mkdir(parents=True)
        pq.write_table(table.slice(0, rows), folder / "part-0.parquet")
    config = runner_config(tmp_path, root)
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        found = run_once(config, store, datetime.now(UTC))
    latest, everything = found["events.volume.latest"], found["events.volume.everything"]
    assert (latest.outcome, latest.value, latest.facts) == (Outcome.PASS, 3.0, {})
    assert (everything.outcome, everything.value, everything.facts) == (Outcome.PASS, 7.0, {"rows": 7.0})
    newest = (root / "events" / "dt=2026-11-20" / "part-0.parquet").stat().st_mtime
    assert found["events.freshness"].facts["last_modified"] == pytest.approx(newest, abs=1.0)
    # whatever order the results come in, the partition's rows never become the dataset's
    for order in (found.values(), reversed(list(found.values()))):
        samples = samples_of(result_families(Latest({r.check: r for r in order}, config.datasets)))
        assert series(samples, "demon_dataset_rows") == {
            labels(dataset="events"): 7.0, labels(dataset="orders"): 10.0
        }


# --- push.py against a real HTTP server ---------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    content_type: str | None
    body: str


class Gateway:
    """A stand-in Pushgateway on 127.0.0.1 that records each request and answers `status`."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.requests: list[Request] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._record()

            def do_PUT(self) -> None:
                self._record()

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                gateway.requests.append(Request(
                    self.command, self.path, self.headers.get("Authorization"),
                    self.headers.get("Content-Type"), body,
                ))
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    yield server
    server.close()


PUSHED = [
    result("orders.volume", facts={"rows": 10.0}, thresholds={"min": 1.0}, last_success_at=T0),
    result("orders.freshness", Outcome.FAIL, value=30000.0),
    result("events.volume", facts={"files": 3.0}),
]
USER, PASSWORD = "pusher", "s3cr et@x/y"
ENCODED = "s3cr%20et%40x%2Fy"


def group_path(dataset: str, check: str | None = None) -> str:
    """How prometheus-client writes a grouping key in the URL: its labels sorted by name."""
    if check:
        return f"/metrics/job/demon/check/{check}/dataset/{dataset}"
    return f"/metrics/job/demon/dataset/{dataset}"


def test_push_posts_a_group_per_check_and_per_dataset_with_basic_auth(
    config: Config, gateway: Gateway
) -> None:
    problems = push_results(PUSHED, config, f"http://{USER}:{ENCODED}@127.0.0.1:{gateway.port}")
    assert problems == []
    assert [(r.method, r.path) for r in gateway.requests] == [  # a check's group replaced whole (PUT)
        ("PUT", group_path("orders", "orders.volume")),
        ("PUT", group_path("orders", "orders.freshness")),
        ("PUT", group_path("events", "events.volume")),
        ("POST", group_path("orders")),
        ("POST", group_path("events")),
    ]
    for request in gateway.requests:
        assert request.authorization is not None
        scheme, _, token = request.authorization.partition(" ")
        assert (scheme, base64.b64decode(token).decode()) == ("Basic", f"{USER}:{PASSWORD}")
        assert request.content_type is not None and request.content_type.startswith("text/plain")
    bodies = [parsed(request.body)[1] for request in gateway.requests]
    for body in bodies:  # counters that would start over at every push are not pushed
        assert not any(name.startswith(("demon_check_runs", "demon_check_duration")) for name, _ in body)
    volume, freshness, _, orders, events = bodies
    # a check's group holds only its own series: pushing it again replaces it and no other check
    assert {dict(key).get("check") for name, key in volume if "check" in dict(key)} == {"orders.volume"}
    assert series(volume, "demon_check_outcome")[labels(
        dataset="orders", check="orders.volume", kind="volume", outcome="pass")] == 1.0
    assert series(freshness, "demon_check_value") == {
        labels(dataset="orders", check="orders.freshness", kind="freshness"): 30000.0
    }
    # the dataset's group: what describes the whole dataset, and no check series
    assert {name for name, _ in orders} <= {"demon_dataset_rows", "demon_dataset_info"}
    assert series(orders, "demon_dataset_rows") == {labels(dataset="orders"): 10.0}
    assert series(orders, "demon_dataset_info") == {
        labels(dataset="orders", source="warehouse", owner="sales", severity="critical"): 1.0
    }
    assert series(events, "demon_dataset_files") == {labels(dataset="events"): 3.0}


def test_push_without_credentials_sends_no_authorization(config: Config, gateway: Gateway) -> None:
    assert push_results(PUSHED[:1], config, f"127.0.0.1:{gateway.port}") == []  # no scheme: http
    assert [(r.method, r.path, r.authorization) for r in gateway.requests] == [
        ("PUT", group_path("orders", "orders.volume"), None), ("POST", group_path("orders"), None)
    ]


@pytest.mark.parametrize(("status", "tried"), [(400, 5), (401, 1), (500, 1)])
def test_a_gateway_refusing_is_a_problem_with_the_password_masked(
    config: Config, gateway: Gateway, status: int, tried: int
) -> None:
    """A 400 is about one group's metrics, so the others are still pushed; any other refusal would repeat."""
    gateway.status = status
    url = f"http://{USER}:{ENCODED}@127.0.0.1:{gateway.port}"
    problems = push_results(PUSHED, config, url)
    assert len(problems) == tried and len(gateway.requests) == tried
    groups = ("orders.volume", "orders.freshness", "events.volume", "orders", "events")
    for problem, group in zip(problems, groups, strict=False):
        assert problem.startswith(group)
        assert f": http://{USER}:***@127.0.0.1:{gateway.port}: " in problem
        assert str(status) in problem
        assert ENCODED not in problem and PASSWORD not in problem
    if tried == 1:
        assert problems[0].startswith("orders.volume (and 4 more groups, not tried): ")


@pytest.mark.parametrize(
    "scheme",
    [
        "http://",
        "",  # without a scheme too: the message shows the URL with one, so the password is seen and masked
    ],
    ids=["http", "no-scheme"],
)
def test_a_closed_port_is_a_problem_with_the_password_masked(config: Config, scheme: str) -> None:
    url = f"{scheme}{USER}:{ENCODED}@127.0.0.1:{free_port()}"
    [problem] = push_results(PUSHED[:1], config, url)  # unreachable: the second group is not tried
    assert problem.startswith("orders.volume (and 1 more groups, not tried): http://pusher:***@127.0.0.1:")
    assert "refused" in problem.lower()
    assert ENCODED not in problem and PASSWORD not in problem, problem


@pytest.mark.parametrize("url", [f"http://{USER}:{ENCODED}@127.0.0.1:port", "http://127.0.0.1:port"])
def test_a_port_that_is_no_number_is_a_problem_not_an_exception(config: Config, url: str) -> None:
    [problem] = push_results(PUSHED[:1], config, url)
    assert "port" in problem.lower()
    assert ENCODED not in problem and PASSWORD not in problem
