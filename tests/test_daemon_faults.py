"""`demon run` (and `demon check`) when the machine misbehaves: the wall clock steps or runs far ahead, the
disk fills up, the log output blocks, or a source has more datasets due than workers to run them.

Real processes throughout: the wall clock is moved with libfaketime (tests/fakeclock.py), the disk filled
with RLIMIT_FSIZE (PostgreSQL: the server's own disk_full error), the log output blocked by a pipe nobody
reads. Waits are on conditions with generous deadlines, never on sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from checks.result import Outcome, Result
from monitor.state.store import StateStore
from tests.daemon_support import Daemon, dataset, source, wait_for, write_config
from tests.fakeclock import FakeClock
from tests.warehouse import execute

Spawn = Callable[..., Daemon]
Line = dict[str, Any]
DAY = 86_400


def warehouse(directory: Path, rows: int = 100) -> str:
    """A DuckDB file with a table `orders` of `rows` rows; its URL."""
    url = f"duckdb:///{directory / 'warehouse.duckdb'}"
    execute(url, [f"CREATE OR REPLACE TABLE orders AS SELECT range AS id FROM range({rows})"])
    return url


def saying(daemon: Daemon, text: str) -> list[Line]:
    return [line for line in daemon.logs() if text in str(line.get("message", ""))]


# --- 10. a clock far ahead ------------------------------------------------------------------------------


def seed(url: str, directory: Path, at: datetime, value: float) -> None:
    """A passing `orders.volume` result of `value` rows, stored by an earlier `demon check` at `at`."""
    with StateStore.open(url, directory) as store:
        run = store.start_run("check")
        result = Result("orders.volume", "orders", "volume", "warehouse", Outcome.PASS, "seeded", at, 0.01,
                        value=value)
        store.record(run, [result])


def history(url: str, directory: Path) -> list[Result]:
    """Every stored result of orders.volume, oldest first."""
    with StateStore.open(url, directory) as store:
        return store.history("orders.volume", 10_000)[::-1]


def demon_check(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", "check", "-c", str(config), "-f", "json"],
                          capture_output=True, text=True, timeout=120, check=False, cwd=config.parent,
                          env={**os.environ, **(env or {}), "DEMON_TEST_PORT": "1"})


def ahead_with_check(config: Path, clock: FakeClock, spawn: Spawn) -> str:
    done = demon_check(config, clock.env())
    assert done.returncode == 0, done.stderr
    return done.stderr


def ahead_with_run(config: Path, clock: FakeClock, spawn: Spawn) -> str:
    daemon = spawn(config, env=clock.env())
    wait_for(daemon.checks_logged, what="the start-up run")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    return daemon.text()


@pytest.mark.parametrize("command", [ahead_with_check, ahead_with_run], ids=["check", "run"])
def test_a_run_with_the_clock_far_ahead_prunes_nothing_and_leaves_no_baseline_from_the_future(
    state_url: str, tmp_path: Path, spawn: Spawn, command: Callable[[Path, FakeClock, Spawn], str]
) -> None:
    now = datetime.now(UTC)
    url = warehouse(tmp_path, rows=1000)
    config = write_config(tmp_path, source("warehouse", url),
                          dataset("orders", "- volume: {min: 1, max_drop: 50%}", schedule="every 1w"),
                          state_url=state_url, retention="90d")
    seed(state_url, tmp_path, now - timedelta(days=100), 10.0)  # past the retention: pruned in the end
    seed(state_url, tmp_path, now - timedelta(days=30), 100.0)
    seed(state_url, tmp_path, now - timedelta(days=1), 100.0)

    clock = FakeClock(tmp_path / "clock")
    clock.step(120 * DAY)
    said = command(config, clock, spawn)
    stored = history(state_url, tmp_path)
    assert [result.value for result in stored] == [10.0, 100.0, 100.0, 1000.0]  # the whole history is kept
    assert stored[-1].started_at > now + timedelta(days=119)  # the run from the future
    [warning] = [line for line in said.splitlines() if "pruning skipped" in line]
    assert "is later than the newest result stored before this run" in warning
    assert "nothing was deleted" in warning and "Traceback" not in said

    # The clock is right again and the table back to 100 rows: the future's 1,000 must not be the baseline.
    execute(url, ["DELETE FROM orders WHERE id >= 100"])
    done = demon_check(config)
    assert done.returncode == 0, done.stdout + done.stderr
    [result] = json.loads(done.stdout)["results"]
    assert (result["outcome"], result["value"], result["details"]["baseline"]) == ("pass", 100.0, 100.0)
    assert "pruning skipped" not in done.stderr
    # Pruning works again: the result older than the retention goes, the one from the future stays.
    assert [result.value for result in history(state_url, tmp_path)] == [100.0, 100.0, 100.0, 1000.0]
