"""`demon run` end to end: the real daemon process on 127.0.0.1, against DuckDB files in tmp_path.

Each test builds its own small warehouse and config (schedules of `every 1s`, so runs come quickly), starts
the daemon with the `spawn` fixture and asserts on what it stored, served and logged. Slow checks are metric
statements over DuckDB's `range()`, sized in rows (about 90 million a second on the machines we run on).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from monitor.core.distribution import DISTRIBUTION
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore
from tests.daemon_support import Daemon, dataset, source, wait_for, write_config
from tests.pgserver import free_port
from tests.warehouse import execute

Spawn = Callable[..., Daemon]
Line = dict[str, Any]

SLOW_SQL = "SELECT count(*) FROM range({rows}) t(i) WHERE i % 7 = 3"
SLOW_ROWS = 150_000_000  # about two seconds
OVER_A_SECOND = 125_000_000  # about 1.4 seconds: longer than an `every 1s` period
ENDLESS_ROWS = 5_000_000_000  # about a minute: only ever interrupted


def slow_metric(rows: int) -> str:
    return f"- metric: {{name: slow, sql: '{SLOW_SQL.format(rows=rows)}', min: 0}}"


def counted(rows: int) -> float:
    """What SLOW_SQL returns for `rows`."""
    return float(len(range(3, rows, 7)))


# --- warehouses and configs ------------------------------------------------------------------------


def warehouse(directory: Path, name: str = "warehouse", rows: int = 100) -> str:
    """A DuckDB file with a table `orders` (id, amount, loaded_at); its URL, relative to the config."""
    execute(f"duckdb:///{directory / name}.duckdb", [
        "CREATE TABLE orders (id INTEGER, amount DOUBLE, loaded_at TIMESTAMP)",
        f"INSERT INTO orders SELECT i, i * 1.5, now() FROM range({rows}) t(i)",
    ])
    return f"duckdb:///{name}.duckdb"


def one_dataset(directory: Path, check: str = "- volume: {min: 1}", name: str = "orders",
                url: str | None = None) -> Path:
    """A config with one dataset on `every 1s`, on a new warehouse unless `url` is given."""
    return write_config(directory, source("warehouse", url or warehouse(directory)), dataset(name, check))


# --- reading what the daemon left ------------------------------------------------------------------


def history(directory: Path, check: str) -> list[Result]:
    """The check's stored results, oldest first."""
    with StateStore.open("sqlite:///state.db", directory) as store:
        return store.history(check, 10_000)[::-1]


def query(directory: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(directory / "state.db", timeout=30) as conn:
        return list(conn.execute(sql, params))


def stored(directory: Path, check: str, at_least: int = 1) -> list[Result]:
    """Wait until the check has `at_least` stored results; returns them, oldest first."""
    found: list[Result] = wait_for(
        lambda: (results := history(directory, check)) and len(results) >= at_least and results,
        interval=0.2, what=f"{at_least} stored results of {check}",
    )
    return found


def stored_after(directory: Path, check: str, moment: datetime, at_least: int = 1) -> list[Result]:
    """Wait until the check has `at_least` results started after `moment`; returns those."""
    def later() -> list[Result]:
        results = [result for result in history(directory, check) if result.started_at > moment]
        return results if len(results) >= at_least else []

    found: list[Result] = wait_for(later, interval=0.2, what=f"{at_least} results of {check} after {moment}")
    return found


def logged(daemon: Daemon, **fields: Any) -> list[Line]:
    """The JSON log lines carrying every given field with the given value."""
    return [line for line in daemon.logs() if all(line.get(k) == v for k, v in fields.items())]


def saying(daemon: Daemon, text: str) -> list[Line]:
    return [line for line in daemon.logs() if text in str(line.get("message", ""))]


def log_with(daemon: Daemon, text: str, count: int = 1) -> Line:
    """Wait for the `count`-th log line whose message contains `text`; returns it."""
    found: list[Line] = wait_for(lambda: len(lines := saying(daemon, text)) >= count and lines,
                                 what=f"log line {count} saying {text!r}")
    return found[count - 1]


def log_time(line: Line) -> datetime:
    return datetime.fromisoformat(line["time"])


def has_open(daemon: Daemon, path: Path) -> bool:
    """Whether the daemon holds `path` open: a source opens its DuckDB file when a dataset job connects."""
    try:
        return any(fd.resolve() == path.resolve() for fd in Path(f"/proc/{daemon.process.pid}/fd").iterdir())
    except FileNotFoundError:  # a descriptor closed while we looked
        return False


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# --- 1. schedules, probes, metrics ------------------------------------------------------------------


def test_schedules_fire_and_the_endpoint_reports_them(tmp_path: Path, spawn: Spawn) -> None:
    config = write_config(
        tmp_path,
        source("warehouse", warehouse(tmp_path)),
        dataset("orders", "- volume: {min: 10}", "- schema: {on_drift: fail}")
        + dataset("first_round", slow_metric(SLOW_ROWS), schedule="every 1w"),
    )
    daemon = spawn(config)

    starting = daemon.get("/readyz")
    assert starting.status == 503
    assert starting.json()["status"] == "starting" and starting.json()["datasets_pending"] in (1, 2)
    health = daemon.get("/healthz")
    assert health.status == 200
    body = health.json()
    sources = body.pop("sources")
    assert body == {"status": "ok", "scheduler": "running", "state_store": "ok"}
    assert all(source["up"] for source in sources.values())

    wait_for(lambda: daemon.get("/readyz").status == 200, what="/readyz after the first round")
    assert daemon.get("/readyz").json() == {"status": "ready", "datasets_pending": 0}
    [slow] = history(tmp_path, "first_round.metric.slow")
    assert (slow.outcome, slow.value) == (Outcome.PASS, counted(SLOW_ROWS))
    volumes = stored(tmp_path, "orders.volume", at_least=3)
    assert len({result.started_at for result in volumes}) == len(volumes)
    assert all(result.outcome is Outcome.PASS and result.value == 100 for result in volumes)

    samples = daemon.samples()
    assert samples['demon_source_up{source="warehouse"}'] == 1.0
    assert [key for key in samples if "source_up" in key] == ['demon_source_up{source="warehouse"}']
    assert samples[f'demon_build_info{{version="{version(DISTRIBUTION)}"}}'] == 1.0
    runs = samples["demon_scheduler_lag_seconds_count"]
    assert runs >= 2  # a run is observed once it has ended
    assert samples['demon_scheduler_lag_seconds_bucket{le="+Inf"}'] == runs
    assert 'demon_scheduler_missed_runs_total{reason="late"}' in samples
    missing = daemon.get("/nope")
    assert missing.status == 404 and "/metrics" in missing.body

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    for check in ("orders.volume", "orders.schema", "first_round.metric.slow"):
        lines = logged(daemon, check=check)
        results = history(tmp_path, check)
        assert [line["outcome"] for line in lines] == [result.outcome.value for result in results]
        assert [line["duration"] for line in lines] == [round(r.duration_seconds, 6) for r in results]
        assert all(line["dataset"] == check.split(".")[0] and line["level"] == "info" for line in lines)
    lags = [line for line in daemon.logs() if "lag" in line]
    assert {line["dataset"] for line in lags} == {"orders", "first_round"}
    assert all(line["lag"] >= 0 for line in lags)
    no_traceback(daemon.text())


# --- 2. SIGHUP ------------------------------------------------------------------------------------


def test_sighup_applies_added_removed_and_changed_datasets(tmp_path: Path, spawn: Spawn) -> None:
    warehouse_source = source("warehouse", warehouse(tmp_path))
    config = write_config(
        tmp_path,
        warehouse_source + source("spare", warehouse(tmp_path, "spare")),
        dataset("kept", "- volume: {min: 10}")
        + dataset("dropped", "- volume: {min: 10}", source="spare")
        + dataset("moved", "- volume: {min: 10}", schedule="every 1w"),
    )
    daemon = spawn(config)
    assert {r.outcome for r in stored(tmp_path, "kept.volume", at_least=2)} == {Outcome.PASS}
    stored(tmp_path, "dropped.volume", at_least=2)
    assert len(stored(tmp_path, "moved.volume")) == 1  # the start-up run; the next is a week away
    assert daemon.metric("demon_source_up", 'source="spare"') == 1.0

    write_config(
        tmp_path,
        warehouse_source,
        dataset("kept", "- volume: {min: 1000}")
        + dataset("moved", "- volume: {min: 10}", schedule="every 1s")
        + dataset("added", "- volume: {max: 10}"),
    )
    daemon.signal(signal.SIGHUP)
    reloaded = log_with(daemon, "config reloaded")
    assert reloaded["added"] == ["added"] and reloaded["removed"] == ["dropped"]
    assert reloaded["changed"] == ["kept", "moved"]
    assert "1 rescheduled" in reloaded["message"]
    after = log_time(reloaded)

    assert {r.outcome for r in stored_after(tmp_path, "kept.volume", after, at_least=3)} == {Outcome.FAIL}
    assert {r.outcome for r in stored(tmp_path, "added.volume", at_least=2)} == {Outcome.FAIL}
    stored_after(tmp_path, "moved.volume", after, at_least=2)
    # Meanwhile a dataset still scheduled every second would have run twice more. Only a run that began
    # before the reload may end after it (the log is in order, whatever the machine's speed).
    lines = daemon.logs()
    since = lines[lines.index(reloaded) + 1 :]
    assert len([line for line in since if line.get("check") == "dropped.volume"]) <= 1
    assert len(history(tmp_path, "dropped.volume")) == len(logged(daemon, check="dropped.volume")) >= 2
    assert daemon.metric("demon_source_up", 'source="spare"') is None
    assert daemon.alive()


def test_sighup_rejects_an_invalid_config_and_keeps_the_running_one(tmp_path: Path, spawn: Spawn) -> None:
    config = one_dataset(tmp_path, "- volume: {min: 10}", name="kept")
    valid = config.read_text()
    daemon = spawn(config)
    stored(tmp_path, "kept.volume")

    def rejected(text: str, count: int) -> str:
        config.write_text(text)
        daemon.signal(signal.SIGHUP)
        line = log_with(daemon, "config reload rejected, still running the previous config", count)
        assert line["level"] == "error"
        stored_after(tmp_path, "kept.volume", log_time(line))  # the old config keeps running
        assert daemon.alive() and daemon.get("/healthz").status == 200
        return str(line["message"])

    assert f"{config}:15: invalid YAML" in rejected(valid.replace("{min: 10}", "{min: 10"), 1)
    unknown = rejected(valid.replace("{min: 10}", "{minimum: 10}"), 2)
    assert f"{config}:14: datasets.kept.checks[0].volume.minimum: unknown key 'minimum'" in unknown
    assert {r.outcome for r in history(tmp_path, "kept.volume")} == {Outcome.PASS}
    assert not saying(daemon, "config reloaded")

    config.write_text(valid.replace("{min: 10}", "{min: 1000}"))
    daemon.signal(signal.SIGHUP)
    after = log_time(log_with(daemon, "config reloaded"))
    assert {r.outcome for r in stored_after(tmp_path, "kept.volume", after)} == {Outcome.FAIL}
    no_traceback(daemon.text())


def laughs(levels: int = 9) -> str:
    """A "billion laughs" (387 million values once expanded) under the key `lol`."""
    lines = ["lol:", "  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  - &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]" for level in range(1, levels)]
    return "\n".join(lines) + "\n"


def vm_size(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmSize:")[1].split()[0]) * 1024


def capped(daemon: Daemon, headroom: int) -> None:
    """Limit the daemon's address space to what it uses now and `headroom` more."""
    pid = daemon.process.pid
    resource.prlimit(pid, resource.RLIMIT_AS, (vm_size(pid) + headroom, resource.RLIM_INFINITY))


def reload_rejected(daemon: Daemon, config: Path, text: str) -> Line:
    config.write_text(text)
    daemon.signal(signal.SIGHUP)
    line = log_with(daemon, "config reload rejected, still running the previous config")
    assert line["level"] == "error" and daemon.alive()
    return line


def test_sighup_rejects_an_alias_bomb_and_keeps_running_checks(tmp_path: Path, spawn: Spawn) -> None:
    config = one_dataset(tmp_path, "- volume: {min: 10}", name="kept")
    valid = config.read_text()
    daemon = spawn(config)
    stored(tmp_path, "kept.volume")
    capped(daemon, 1 << 30)  # expanded, the bomb would take many GB (and minutes) of this shared machine

    line = reload_rejected(daemon, config, valid + laughs())
    bomb_line = valid.count("\n") + 7  # &a5: 597,871 values
    assert f"{config}:{bomb_line}: lol[5]: expands to more than 500,000 values" in line["message"]
    assert {r.outcome for r in stored_after(tmp_path, "kept.volume", log_time(line), 2)} == {Outcome.PASS}
    assert daemon.get("/healthz").status == 200 and not saying(daemon, "config reloaded")
    no_traceback(daemon.text())


def test_a_reload_that_runs_out_of_memory_is_rejected_and_the_daemon_lives_on(
    tmp_path: Path, spawn: Spawn
) -> None:
    """Whatever makes a reload fail, a MemoryError included, the daemon logs it and runs the config it has."""
    config = write_config(tmp_path, source("warehouse", warehouse(tmp_path)),
                          dataset("kept", "- volume: {min: 10}", schedule="every 1w"))
    valid = config.read_text()
    daemon = spawn(config)
    wait_for(lambda: daemon.get("/readyz").status == 200, what="the first round")  # then nothing runs

    capped(daemon, 96 << 20)  # a legal file of 3 MB runs out of memory while it loads
    tags = "    tags: [" + ", ".join(f"t{index}" for index in range(400_000)) + "]\n"
    try:
        line = reload_rejected(daemon, config, valid.replace("    checks:\n", tags + "    checks:\n"))
    finally:
        resource.prlimit(daemon.process.pid, resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)
    assert line["message"].endswith(f"previous config: {config}: MemoryError")
    assert daemon.get("/healthz").status == 200 and len(history(tmp_path, "kept.volume")) == 1

    config.write_text(valid.replace("{min: 10}", "{min: 1000}").replace("every 1w", "every 1s"))
    daemon.signal(signal.SIGHUP)
    reloaded = log_time(log_with(daemon, "config reloaded"))
    assert {r.outcome for r in stored_after(tmp_path, "kept.volume", reloaded)} == {Outcome.FAIL}
    no_traceback(daemon.text())


# --- 3. stopping ------------------------------------------------------------------------------------


def slow_daemon(tmp_path: Path, spawn: Spawn, rows: int, *args: str) -> tuple[Daemon, int]:
    """A daemon whose one dataset runs a statement over `rows` rows, once that statement runs; its run id."""
    config = write_config(tmp_path, source("warehouse", warehouse(tmp_path)),
                          dataset("slow", slow_metric(rows), schedule="every 1w"))
    daemon = spawn(config, *args)
    wait_for(lambda: has_open(daemon, tmp_path / "warehouse.duckdb"), what="the slow statement to start")
    [(run_id,)] = query(tmp_path, "SELECT id FROM runs WHERE command = 'run'")
    return daemon, run_id


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_waits_for_the_running_check(
    tmp_path: Path, spawn: Spawn, signum: signal.Signals
) -> None:
    daemon, run_id = slow_daemon(tmp_path, spawn, SLOW_ROWS)
    daemon.signal(signum)
    log_with(daemon, "stopping: waiting up to 25s for running checks")
    assert history(tmp_path, "slow.metric.slow") == []
    assert daemon.wait() == 0

    [result] = history(tmp_path, "slow.metric.slow")
    assert (result.outcome, result.value) == (Outcome.PASS, counted(SLOW_ROWS))
    [(finished_at, summary)] = query(tmp_path, "SELECT finished_at, summary FROM runs WHERE id = ?", run_id)
    assert finished_at is not None
    assert json.loads(summary) == {"pass": 1, "warn": 0, "fail": 0, "error": 0}
    assert daemon.logs()[-1]["message"].startswith("stopped after")
    no_traceback(daemon.text())


def test_a_stop_signal_gives_up_on_a_check_after_the_grace_period(tmp_path: Path, spawn: Spawn) -> None:
    daemon, run_id = slow_daemon(tmp_path, spawn, ENDLESS_ROWS, "--grace", "1s")
    daemon.signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert daemon.wait() == 0
    assert time.monotonic() - signalled < 15  # the statement alone would take about a minute

    assert history(tmp_path, "slow.metric.slow") == []
    [warning] = logged(daemon, level="warning")
    assert "with 1 datasets still running (their results are not stored): slow" in warning["message"]
    [(finished_at,)] = query(tmp_path, "SELECT finished_at FROM runs WHERE id = ?", run_id)
    assert finished_at is not None


def test_a_second_stop_signal_exits_at_once(tmp_path: Path, spawn: Spawn) -> None:
    daemon, _ = slow_daemon(tmp_path, spawn, ENDLESS_ROWS)
    daemon.signal(signal.SIGINT)
    log_with(daemon, "stopping: waiting up to 25s for running checks")
    daemon.signal(signal.SIGINT)
    signalled = time.monotonic()
    assert daemon.wait() == 130
    assert time.monotonic() - signalled < 10  # the grace alone is 25s, the statement about a minute
    assert "second stop signal, exiting without waiting for running checks" in daemon.text()
    assert history(tmp_path, "slow.metric.slow") == []


# --- 4. kill -9 and restart ---------------------------------------------------------------------------


def test_history_baselines_and_snapshots_survive_kill_9(tmp_path: Path, spawn: Spawn) -> None:
    url = warehouse(tmp_path, rows=1000)
    orders = dataset("orders", "- volume: {min: 1, max_drop: 50%}", "- schema: {on_drift: fail}")
    config = write_config(tmp_path, source("warehouse", url),
                          orders + dataset("slow", slow_metric(ENDLESS_ROWS), schedule="every 1w"))
    first = spawn(config)
    stored(tmp_path, "orders.volume", at_least=2)
    first.process.kill()  # SIGKILL, in the middle of the slow dataset's statement (started with the daemon)
    assert first.wait() == -signal.SIGKILL
    before = {check: history(tmp_path, check) for check in ("orders.volume", "orders.schema")}
    assert {(r.outcome, r.value) for r in before["orders.volume"]} == {(Outcome.PASS, 1000.0)}
    assert {r.outcome for r in before["orders.schema"]} == {Outcome.PASS}
    assert history(tmp_path, "slow.metric.slow") == []
    [(first_run, unfinished)] = query(tmp_path, "SELECT id, finished_at FROM runs")
    assert unfinished is None

    # While no daemon runs: 1000 -> 100 rows (a 90% drop) and a new column (drift).
    for change in ("DELETE FROM orders WHERE id >= 100", "ALTER TABLE orders ADD COLUMN region VARCHAR"):
        execute(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", [change])
    write_config(tmp_path, source("warehouse", url), orders)
    second = spawn(config)
    volume = stored(tmp_path, "orders.volume", at_least=len(before["orders.volume"]) + 2)
    schema = stored(tmp_path, "orders.schema", at_least=len(before["orders.schema"]) + 1)

    for check, results in (("orders.volume", volume), ("orders.schema", schema)):
        assert results[: len(before[check])] == before[check]  # nothing lost, nothing rewritten
    restarted = volume[len(before["orders.volume"]) :]
    assert {(r.outcome, r.value) for r in restarted} == {(Outcome.FAIL, 100.0)}
    assert restarted[0].details["baseline"] == 1000.0
    drift = schema[len(before["orders.schema"])]
    assert drift.outcome is Outcome.FAIL and drift.details["drift"]["added"] == ["region"]
    duplicates = "SELECT check_id, started_at FROM results GROUP BY check_id, started_at HAVING count(*) > 1"
    assert query(tmp_path, duplicates) == []
    [(second_run,)] = query(tmp_path, "SELECT id FROM runs WHERE id != ?", first_run)
    per_run = dict(query(tmp_path, "SELECT run_id, count(*) FROM results GROUP BY run_id"))
    assert per_run.keys() == {first_run, second_run}
    assert per_run[first_run] == sum(len(results) for results in before.values())

    shown = subprocess.run(
        [sys.executable, "-m", "monitor", "history", "orders.volume", "-c", str(config), "-f", "json",
         "-n", "999"],
        capture_output=True, text=True, check=False, env={**os.environ, "DEMON_TEST_PORT": "1"},
    )
    assert shown.returncode == 0, shown.stderr
    outcomes = [item["outcome"] for item in json.loads(shown.stdout)["results"]]  # newest first
    assert outcomes[-len(before["orders.volume"]) :] == ["pass"] * len(before["orders.volume"])
    assert outcomes[0] == "fail"
    assert second.alive()


# --- 5. one daemon per state store --------------------------------------------------------------------


def test_a_second_daemon_on_the_same_store_is_refused_until_the_first_dies(
    tmp_path: Path, spawn: Spawn
) -> None:
    config = one_dataset(tmp_path)
    first = spawn(config)
    stored(tmp_path, "orders.volume")

    second = spawn(config, wait_healthy=False)
    assert second.wait() == 3
    [refusal] = logged(second, level="error")
    assert refusal["message"].startswith("cannot start: state store sqlite:///")
    assert f"is in use by demon run pid {first.process.pid} on {socket.gethostname()}" in refusal["message"]
    no_traceback(second.text())
    assert query(tmp_path, "SELECT count(*) FROM runs") == [(1,)]  # the refused one recorded nothing
    assert first.alive() and first.get("/healthz").status == 200

    first.process.kill()
    first.wait()
    restarted = datetime.now(UTC)
    third = spawn(config)  # at once: the kernel released the dead daemon's lock
    assert query(tmp_path, "SELECT count(*) FROM runs") == [(2,)]
    stored_after(tmp_path, "orders.volume", restarted)
    assert third.alive()


# --- 6. bad input -------------------------------------------------------------------------------------


def demon_run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "run", "-c", str(config), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=config.parent,
        env={**os.environ, "DEMON_TEST_PORT": str(free_port())},
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("{min: 1}", "{min: 1"), ":15: invalid YAML"),
        (("{min: 1}", "{minimum: 1}"), ":14: datasets.orders.checks[0].volume.minimum: unknown key"),
        (("every 1s", "every now and then"), ":12: datasets.orders.schedule: expected a duration like 90s"),
        (("source: warehouse", "source: nowhere"), ":10: datasets.orders.source:"),
    ],
    ids=["yaml", "unknown-key", "schedule", "dangling-source"],
)
def test_an_invalid_config_exits_2_naming_file_and_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    config = one_dataset(tmp_path, url="duckdb:///w.duckdb")
    config.write_text(config.read_text().replace(*change))
    done = demon_run(config)
    assert done.returncode == 2
    assert f"{config}{expected}" in done.stderr
    no_traceback(done.stderr)
    assert not (tmp_path / "state.db").exists()


@pytest.mark.parametrize("grace", ["soon", "0s", "-5s", "5"])
def test_a_bad_grace_exits_2(tmp_path: Path, grace: str) -> None:
    config = one_dataset(tmp_path, url="duckdb:///w.duckdb")
    done = demon_run(config, "--grace", grace)
    assert done.returncode == 2
    assert done.stderr.startswith("demon: --grace: expected a") and repr(grace) in done.stderr
    no_traceback(done.stderr)
    assert not (tmp_path / "state.db").exists()


def test_a_port_already_taken_exits_3(tmp_path: Path, spawn: Spawn) -> None:
    config = one_dataset(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        refused = spawn(config, port=taken.getsockname()[1], wait_healthy=False)
        assert refused.wait() == 3
    [message] = [line["message"] for line in logged(refused, level="error")]
    assert message.startswith("cannot start: cannot listen on 127.0.0.1:")
    assert message.endswith("Address already in use")
    no_traceback(refused.text())
    assert not (tmp_path / "state.db").exists()  # refused before touching the store: no run row
    spawn(config)
    stored(tmp_path, "orders.volume")


def test_a_missing_table_yields_errors_and_the_daemon_keeps_running(tmp_path: Path, spawn: Spawn) -> None:
    config = write_config(
        tmp_path,
        source("warehouse", warehouse(tmp_path)),
        dataset("ghost", "- volume: {min: 1}", "- schema: {on_drift: fail}", table="no_such_table")
        + dataset("orders", "- volume: {min: 1}"),
    )
    daemon = spawn(config)
    ghosts = stored(tmp_path, "ghost.volume", at_least=3)
    assert {r.outcome for r in ghosts} == {Outcome.ERROR}
    assert all("no_such_table" in r.message for r in ghosts)
    assert {r.outcome for r in history(tmp_path, "ghost.schema")} == {Outcome.ERROR}
    assert {r.outcome for r in stored(tmp_path, "orders.volume", at_least=3)} == {Outcome.PASS}
    assert daemon.alive() and daemon.get("/healthz").status == 200
    # The source answers (a ping tells a missing table from a source that is down).
    assert daemon.metric("demon_source_up", 'source="warehouse"') == 1.0
    assert {line["outcome"] for line in logged(daemon, dataset="ghost") if "outcome" in line} == {"error"}
    no_traceback(daemon.text())


def test_a_check_past_its_query_timeout_errors_and_the_daemon_keeps_running(
    tmp_path: Path, spawn: Spawn
) -> None:
    config = write_config(
        tmp_path,
        source("warehouse", warehouse(tmp_path))
        + source("slowdb", warehouse(tmp_path, "slowdb"), timeout="1s"),
        dataset("stuck", slow_metric(ENDLESS_ROWS), source="slowdb", schedule="every 2s")
        + dataset("orders", "- volume: {min: 1}"),
    )
    daemon = spawn(config)
    stuck = stored(tmp_path, "stuck.metric.slow", at_least=2)
    assert {(r.outcome, r.message) for r in stuck} == {(Outcome.ERROR, "query timed out after 1s")}
    assert all(r.duration_seconds < 15 for r in stuck)  # the statement alone would take about a minute
    later = stored_after(tmp_path, "orders.volume", stuck[-1].started_at)
    assert {r.outcome for r in later} == {Outcome.PASS}
    assert daemon.alive() and daemon.get("/healthz").status == 200
    no_traceback(daemon.text())


# --- 7. retention -------------------------------------------------------------------------------------


def seeded(check: str, started_at: datetime, value: float) -> Result:
    dataset, kind = check.split(".")[:2]
    return Result(check, dataset, kind, "warehouse", Outcome.PASS, "seeded", started_at, 0.01, value=value)


def days_ago(now: datetime, days: int) -> str:
    """A moment as the SQLite state store writes it (UTC, without an offset)."""
    return (now - timedelta(days=days)).replace(tzinfo=None).isoformat(" ")


def test_results_past_the_retention_are_pruned_at_start(tmp_path: Path, spawn: Spawn) -> None:
    config = write_config(
        tmp_path,
        source("warehouse", warehouse(tmp_path)),
        dataset("orders", "- volume: {min: 1}", "- schema: {on_drift: fail}", schedule="every 1w"),
        retention="2d",
    )
    now = datetime.now(UTC)
    with StateStore.open("sqlite:///state.db", tmp_path) as store:
        ancient, old, recent = (store.start_run("check") for _ in range(3))
        store.record(ancient, [seeded("orders.volume", now - timedelta(days=6), 1.0)])
        store.record(old, [seeded("orders.volume", now - timedelta(days=3), 2.0)],
                     {"orders.schema": {"id": "integer"}})
        store.record(old, [], {"orders.schema": {"id": "integer", "amount": "float"}})
        store.record(recent, [seeded("orders.volume", now - timedelta(hours=1), 3.0)])
    for run, age in ((ancient, 6), (old, 5)):
        query(tmp_path, "UPDATE runs SET started_at = ? WHERE id = ?", days_ago(now, age), run)
    for snapshot, age in ((1, 5), (2, 3)):
        query(tmp_path, "UPDATE schema_snapshots SET taken_at = ? WHERE id = ?", days_ago(now, age), snapshot)

    daemon = spawn(config)
    assert log_with(daemon, "pruned")["message"].startswith("pruned 2 results older than the")
    runs = {row[0] for row in query(tmp_path, "SELECT id FROM runs")}
    assert ancient not in runs and {old, recent} <= runs  # `old` still holds the latest snapshot
    # The latest snapshot of a check is kept however old: it is what the next run compares against.
    assert query(tmp_path, "SELECT id FROM schema_snapshots WHERE id <= 2") == [(2,)]
    [schema] = stored(tmp_path, "orders.schema")
    assert schema.outcome is Outcome.FAIL and schema.details["drift"]["added"] == ["loaded_at"]
    assert [r.value for r in stored(tmp_path, "orders.volume", at_least=2)] == [3.0, 100.0]


# --- 8. max_instances ---------------------------------------------------------------------------------


def test_a_dataset_slower_than_its_schedule_never_overlaps_and_skips_are_counted(
    tmp_path: Path, spawn: Spawn
) -> None:
    url = warehouse(tmp_path)
    config = write_config(tmp_path, source("warehouse", url, concurrency=4),
                          dataset("slow", slow_metric(OVER_A_SECOND)))
    daemon = spawn(config)
    stored(tmp_path, "slow.metric.slow", at_least=3)
    wait_for(lambda: logged(daemon, missed="overlap"), what="a run skipped as an overlap")

    # Overlaps come every second, each counted just before it is logged: the counter and the log agree only
    # once they stop. A schedule that no longer overlaps stops them; the run going at the reload ends.
    write_config(tmp_path, source("warehouse", url, concurrency=4),
                 dataset("slow", slow_metric(OVER_A_SECOND), schedule="every 1w"))
    daemon.signal(signal.SIGHUP)
    assert log_with(daemon, "config reloaded")["changed"] == ["slow"]
    # The old config's source closes once its last run has ended; the new one opens it a week from now.
    wait_for(lambda: not has_open(daemon, tmp_path / "warehouse.duckdb"), what="the last run to end")

    def counted_and_logged() -> float | None:
        counter = daemon.metric("demon_scheduler_missed_runs_total", 'reason="overlap"')
        return counter if counter and counter == len(logged(daemon, missed="overlap")) else None

    overlaps = wait_for(counted_and_logged, what="the overlap counter to match the log")
    assert overlaps >= 1
    runs = history(tmp_path, "slow.metric.slow")
    assert len(runs) >= 3
    assert {(r.outcome, r.value) for r in runs} == {(Outcome.PASS, counted(OVER_A_SECOND))}
    for earlier, later in pairwise(runs):
        assert later.started_at >= earlier.started_at + timedelta(seconds=earlier.duration_seconds)
    skipped = logged(daemon, missed="overlap")
    assert {line["dataset"] for line in skipped} == {"slow"}
    assert all("its previous run was still going" in line["message"] for line in skipped)
    assert daemon.metric("demon_scheduler_missed_runs_total", 'reason="overlap"') == len(skipped) == overlaps


def test_a_reload_that_resizes_the_pool_never_runs_a_running_dataset_twice(
    tmp_path: Path, spawn: Spawn
) -> None:
    url = warehouse(tmp_path)
    slow = dataset("slow", slow_metric(OVER_A_SECOND * 3))
    config = write_config(tmp_path, source("warehouse", url, concurrency=2), slow)
    daemon = spawn(config)
    wait_for(lambda: has_open(daemon, tmp_path / "warehouse.duckdb"), what="the first run to start")
    write_config(tmp_path, source("warehouse", url, concurrency=3), slow)  # a new pool for the dataset
    daemon.signal(signal.SIGHUP)
    log_with(daemon, "config reloaded")
    runs = stored(tmp_path, "slow.metric.slow", at_least=3)
    for earlier, later in pairwise(runs):
        assert later.started_at >= earlier.started_at + timedelta(seconds=earlier.duration_seconds)
    assert logged(daemon, missed="overlap")


# --- 9. a slow source does not starve the others ------------------------------------------------------


def test_a_busy_source_does_not_hold_up_the_others(tmp_path: Path, spawn: Spawn) -> None:
    config = write_config(
        tmp_path,
        source("warehouse", warehouse(tmp_path))
        + source("slowdb", warehouse(tmp_path, "slowdb"), concurrency=1),
        dataset("busy1", slow_metric(ENDLESS_ROWS), source="slowdb")
        + dataset("busy2", slow_metric(ENDLESS_ROWS), source="slowdb")
        + dataset("quick", "- volume: {min: 1}"),
    )
    daemon = spawn(config)
    quick = stored(tmp_path, "quick.volume", at_least=5)
    busy = history(tmp_path, "busy1.metric.slow") + history(tmp_path, "busy2.metric.slow")
    busy_until = min((r.started_at + timedelta(seconds=r.duration_seconds) for r in busy),
                     default=datetime.now(UTC))
    assert len([r for r in quick if r.started_at < busy_until]) >= 5
    assert {r.outcome for r in quick} == {Outcome.PASS}
    # Five runs while the busy source's first statement (about a minute) still went on: they did not queue
    # behind it. Their lag stays far below that statement's length, however loaded the machine.
    lags = [line["lag"] for line in logged(daemon, dataset="quick") if "lag" in line]
    assert len(lags) >= 5 and max(lags) < 30


# --- 10. secrets ----------------------------------------------------------------------------------------


def test_a_secret_in_a_source_url_never_reaches_the_logs(
    tmp_path: Path, spawn: Spawn, unused_port: int
) -> None:
    secret = "s3cr3t-Pa55word-XyZ"
    config = write_config(
        tmp_path,
        source("warehouse", warehouse(tmp_path))
        + source("pg", f"postgresql+psycopg://demon:${{PG_PASSWORD}}@127.0.0.1:{unused_port}/nowhere"),
        dataset("remote", "- volume: {min: 1}", source="pg") + dataset("orders", "- volume: {min: 1}"),
    )
    daemon = spawn(config, env={"PG_PASSWORD": secret})
    errors = stored(tmp_path, "remote.volume", at_least=2)
    assert {r.outcome for r in errors} == {Outcome.ERROR}
    assert "connection refused" in errors[0].message
    down = log_with(daemon, "source pg is down")
    assert down["level"] == "warning" and down["source"] == "pg"
    assert "demon:***@127.0.0.1" in down["message"]
    wait_for(lambda: daemon.metric("demon_source_up", 'source="pg"') == 0.0, what="pg to be reported down")
    assert secret not in daemon.metrics() + daemon.get("/healthz").body

    config.write_text(config.read_text().replace("{min: 1}", '{min: 1, bogus: "${PG_PASSWORD}"}', 1))
    daemon.signal(signal.SIGHUP)
    assert "unknown key 'bogus'" in log_with(daemon, "config reload rejected")["message"]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert secret not in daemon.text()
    assert secret not in json.dumps([r.to_dict() for r in history(tmp_path, "remote.volume")])
