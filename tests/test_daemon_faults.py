"""`demon run` (and `demon check`) when the machine misbehaves: the wall clock steps or runs far ahead, the
disk fills up, the log output blocks, or a source has more datasets due than workers to run them.

Real processes throughout: the wall clock is moved with libfaketime (tests/fakeclock.py), the disk filled
with RLIMIT_FSIZE (PostgreSQL: the server's own disk_full error), the log output blocked by a pipe nobody
reads. Waits are on conditions with generous deadlines, never on sleeps.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

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


# --- 11. a full disk ------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(state_url: str, tmp_path: Path) -> Iterator[FullDisk]:
    disk = SqliteFullDisk(tmp_path) if state_url.startswith("sqlite") else PostgresFullDisk(state_url)
    yield disk
    disk.restore()


class FullDisk:
    """Makes the state store's writes fail as on a full disk, while reads go on."""

    def preexec(self) -> None:
        """Runs in the daemon's process before it starts."""

    def fill(self, daemon: Daemon) -> None:
        raise NotImplementedError

    def free(self, daemon: Daemon) -> None:
        raise NotImplementedError

    def restore(self) -> None:
        """Undo what is left of the fault after the test."""


class SqliteFullDisk(FullDisk):
    """RLIMIT_FSIZE: no file of the daemon may grow past the limit, set a little above the store's size at
    start; SIGXFSZ ignored, so writes fail with EFBIG and SQLite reports an I/O error or a full disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def preexec(self) -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def fill(self, daemon: Daemon) -> None:
        store = [self.directory / name for name in ("state.db", "state.db-wal")]
        limit = max(path.stat().st_size for path in store if path.exists()) + 32 * 1024
        resource.prlimit(daemon.process.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    def free(self, daemon: Daemon) -> None:
        resource.prlimit(daemon.process.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class PostgresFullDisk(FullDisk):
    """The server's own error for a full disk (SQLSTATE 53100, disk_full) on every write of results."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)

    def fill(self, daemon: Daemon) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                "'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"
            ))
            conn.execute(sa.text("CREATE TRIGGER disk_full BEFORE INSERT ON results "
                                 "FOR EACH STATEMENT EXECUTE FUNCTION disk_full()"))

    def free(self, daemon: Daemon) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER disk_full ON results"))

    def restore(self) -> None:
        self.engine.dispose()


def test_healthz_turns_503_while_results_cannot_be_written_and_200_once_they_can(
    state_url: str, tmp_path: Path, spawn: Spawn, full_disk: FullDisk
) -> None:
    config = write_config(tmp_path, source("warehouse", warehouse(tmp_path)),
                          dataset("orders", "- volume: {min: 1}"), state_url=state_url)
    with StateStore.open(state_url, tmp_path):
        pass  # created and migrated, so the limit can sit just above its size
    daemon = spawn(config, preexec=full_disk.preexec)
    wait_for(lambda: len(history(state_url, tmp_path)) >= 2, what="results stored")

    full_disk.fill(daemon)
    body = wait_for(lambda: (found := daemon.get("/healthz")).status == 503 and found.json(), timeout=120,
                    what="/healthz 503 while results cannot be written")
    assert body["status"] == "unhealthy" and body["scheduler"] == "running"
    assert "could not record results" in body["state_store"]
    assert "disk" in body["state_store"].lower()  # "disk I/O error", "database or disk is full", "disk_full"
    assert "s3cret-pw" not in body["state_store"]
    assert saying(daemon, "not stored")

    stored_before = len(history(state_url, tmp_path))
    full_disk.free(daemon)
    wait_for(lambda: daemon.get("/healthz").status == 200, timeout=120, what="/healthz 200 again")
    assert daemon.get("/healthz").json()["state_store"] == "ok"
    wait_for(lambda: len(history(state_url, tmp_path)) > stored_before, what="results stored again")
    assert daemon.alive() and "Traceback" not in daemon.text()
