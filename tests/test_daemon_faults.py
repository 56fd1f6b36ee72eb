"""`demon run` (and `demon check`) when the machine misbehaves: the wall clock steps or runs far ahead, the
disk fills up, the log output blocks, or a source has more datasets due than workers to run them.

Real processes throughout: the wall clock is moved with libfaketime (tests/fakeclock.py), the disk filled
with RLIMIT_FSIZE (PostgreSQL: the server's own disk_full error), the log output blocked by a pipe nobody
reads. Waits are on conditions with generous deadlines, never on sleeps.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.app.daemon.logs import REPEAT_BURST, RepeatLimit
from monitor.core.results import Outcome, Result
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


def runs(daemon: Daemon, check: str = "orders.volume") -> int:
    """How many runs of `check` the daemon has logged."""
    return sum(1 for line in daemon.checks_logged() if line["check"] == check)


def more_runs(daemon: Daemon, count: int, what: str, check: str = "orders.volume") -> None:
    """Wait for `count` more runs of `check` than now, /healthz answering 200 all along."""
    target = runs(daemon, check) + count

    def ran() -> bool:
        assert daemon.get("/healthz").status == 200, daemon.get("/healthz").body
        return runs(daemon, check) >= target

    wait_for(ran, timeout=60, interval=0.2, what=f"{count} runs {what}")


def saying(daemon: Daemon, text: str) -> list[Line]:
    return [line for line in daemon.logs() if text in str(line.get("message", ""))]


# --- 9. the wall clock steps --------------------------------------------------------------------------


def test_scheduling_keeps_going_while_the_wall_clock_steps_back_and_forth(
    tmp_path: Path, spawn: Spawn
) -> None:
    clock = FakeClock(tmp_path / "clock")
    config = write_config(tmp_path, source("warehouse", warehouse(tmp_path)),
                          dataset("orders", "- volume: {min: 1}", schedule="every 2s"))
    daemon = spawn(config, env=clock.env())
    more_runs(daemon, 2, "at the true time")

    steps = [(-600, "back by 600s"), (0, "forward by 600s"), (-3600, "back by 3600s"),
             (0, "forward by 3600s"), (DAY, "forward by 86400s"), (0, "back by 86400s")]
    for offset, words in steps:
        clock.step(offset)
        more_runs(daemon, 3, f"after the wall clock stepped {words}")
        wait_for(lambda words=words: saying(daemon, f"the wall clock stepped {words}"), timeout=60,
                 what=f"the daemon to say the wall clock stepped {words}")
    # A step is not a backlog: no planned run was missed for it, and lag is measured on the monotonic clock.
    assert daemon.metric("demon_scheduler_missed_runs_total", 'reason="late"') == 0
    lags = [line["lag"] for line in daemon.logs() if "lag" in line]
    assert lags and max(lags) < 5
    assert "Traceback" not in daemon.text()


def test_healthz_turns_503_while_the_scheduler_cannot_act_and_200_when_it_does_again(
    tmp_path: Path, spawn: Spawn
) -> None:
    """The daemon's output is a pipe: once nobody reads it, every thread that logs blocks, the scheduler's
    too (as under a stuck journald). /healthz, which logs nothing, must say so."""
    config = write_config(tmp_path, source("warehouse", warehouse(tmp_path)),
                          dataset("orders", "- volume: {min: 1}") + dataset("items", "- volume: {min: 1}"))
    relay = Relay()
    daemon = spawn(config, stdout=relay.write_end, wait_healthy=False)
    relay.start(daemon.log_path)
    wait_for(lambda: daemon.answers("/healthz"), what="demon run serving /healthz")
    more_runs(daemon, 2, "before the output blocks")

    relay.flowing.clear()
    body = wait_for(lambda: (found := daemon.get("/healthz")).status == 503 and found.json(), timeout=120,
                    what="/healthz 503 while the scheduler is stuck")
    assert body["status"] == "unhealthy" and body["state_store"] == "ok"
    assert body["scheduler"].startswith("stalled: the run of dataset ")
    assert "has not been started" in body["scheduler"]

    relay.flowing.set()
    wait_for(lambda: daemon.get("/healthz").status == 200, timeout=120, what="/healthz 200 again")
    assert daemon.get("/healthz").json()["scheduler"] == "running"
    more_runs(daemon, 2, "after the output flows again")
    relay.stop(daemon)


class Relay:
    """A 4 KiB pipe for a daemon's output, copied to its log file while `flowing` is set."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        fcntl.fcntl(self.write_end, fcntl.F_SETPIPE_SZ, 4096)  # full after a few lines, not 64 KiB
        self.flowing = threading.Event()
        self.flowing.set()
        self._thread: threading.Thread | None = None

    def start(self, log_path: Path) -> None:
        os.close(self.write_end)  # the daemon holds it now: end of file when the daemon exits
        self._thread = threading.Thread(target=self._copy, args=(log_path,), daemon=True)
        self._thread.start()

    def _copy(self, log_path: Path) -> None:
        with log_path.open("ab") as log:
            while self.flowing.wait() and (chunk := os.read(self.read_end, 65536)):
                log.write(chunk)
                log.flush()

    def stop(self, daemon: Daemon) -> None:
        daemon.kill()
        assert self._thread is not None
        self._thread.join(timeout=60)
        os.close(self.read_end)


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


# --- 12. more datasets than workers ---------------------------------------------------------------------

OVERLOAD = 300  # tiny datasets on `every 1s`, one worker: several times more work than it can do


def run_order(directory: Path) -> list[str]:
    """The datasets in the order their runs were stored (one worker: the order they ran)."""
    with StateStore.open("sqlite:///state.db", directory) as store, store.reading("read the order") as conn:
        return [row[0] for row in conn.execute(sa.text("SELECT dataset FROM results ORDER BY id"))]


def test_an_overloaded_source_runs_the_longest_waiting_datasets_first_and_logs_in_moderation(
    tmp_path: Path, spawn: Spawn
) -> None:
    names = [f"d{i:03d}" for i in range(OVERLOAD)]
    config = write_config(tmp_path, source("warehouse", warehouse(tmp_path), concurrency=1),
                          "".join(dataset(name, "- volume: {min: 1}") for name in names))
    daemon = spawn(config)
    order = wait_for(lambda: len(found := run_order(tmp_path)) >= 3 * OVERLOAD and found, timeout=240,
                     interval=1, what="three rounds of runs")
    late = wait_for(lambda: daemon.metric("demon_scheduler_missed_runs_total", 'reason="late"'), timeout=60,
                    what="runs missed for want of a worker")
    assert late >= OVERLOAD  # overloaded indeed: every dataset missed runs while it waited for the worker

    # Every dataset runs once before any runs twice, and then again in the same turn: none starves.
    rounds = [order[start:start + OVERLOAD] for start in range(0, 3 * OVERLOAD, OVERLOAD)]
    assert all(sorted(turn) == names for turn in rounds)
    assert rounds[1] == rounds[2] == rounds[0]
    assert daemon.get("/readyz").status == 200

    # One line per missed run would be hundreds a second: a few lines of each kind a minute, then one line
    # that says how many more there were. The metric still counts every missed run; info lines all stay.
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    lines = daemon.logs()
    missed_lines = [line for line in lines if "missed" in line]
    summaries = [line for line in lines if "suppressed" in line and "missed" in line["message"]]
    assert len(missed_lines) <= 4 * REPEAT_BURST and summaries  # two kinds of line, two windows at most
    assert all(line["level"] == "warning" and "similar lines suppressed in the last" in line["message"]
               for line in summaries)
    assert len(missed_lines) + sum(line["suppressed"] for line in summaries) >= late
    assert Counter(line["level"] for line in lines)["warning"] <= 6 * REPEAT_BURST
    assert len(daemon.checks_logged()) == len(run_order(tmp_path))



@dataclass
class Limited:
    """Two loggers writing through a RepeatLimit into `written`, on a monotonic clock the test moves."""

    repeats: RepeatLimit
    written: list[logging.LogRecord]
    now: list[float]

    def messages(self, *words: str) -> list[str]:
        found = (record.getMessage() for record in self.written)
        return [message for message in found if all(word in message for word in words)]


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch) -> Iterator[Limited]:
    now = [1000.0]
    monkeypatch.setattr("monitor.app.daemon.logs.time.monotonic", lambda: now[0])
    written: list[logging.LogRecord] = []
    handler = logging.Handler()
    monkeypatch.setattr(handler, "emit", written.append)
    repeats = RepeatLimit(handler.handle)
    handler.addFilter(repeats)
    loggers = [logging.getLogger(name) for name in ("test.repeats", "alerting.console")]
    for logger in loggers:
        logger.addHandler(handler)
        monkeypatch.setattr(logger, "level", logging.INFO)
    yield Limited(repeats, written, now)
    for logger in loggers:
        logger.removeHandler(handler)


def test_repeated_lines_are_summed_up_when_their_minute_ends(limited: Limited) -> None:
    log, console = logging.getLogger("test.repeats"), logging.getLogger("alerting.console")
    for i in range(25):
        log.warning("dataset %s: missed", f"d{i}")
        log.info("check %s: pass", f"d{i}")
        console.warning("%s", f"incident {i} opened")
    log.error("the store is full")
    assert len(limited.messages("missed")) == REPEAT_BURST  # the other 15 are counted
    assert len(limited.messages("pass")) == 25 and limited.messages("the store is full")
    assert len(limited.messages("opened")) == 25  # notifications are never summed up

    limited.now[0] += 59
    limited.repeats.flush()
    assert not limited.messages("suppressed")  # the minute goes on
    limited.now[0] += 1
    log.warning("dataset %s: missed", "d99")  # a new minute: the previous one's summary comes first
    summary, line = limited.written[-2:]
    said = "15 similar lines suppressed in the last 60s; the latest: dataset d24: missed"
    assert summary.getMessage() == said
    assert (summary.name, summary.levelno) == ("test.repeats", logging.WARNING)
    assert vars(summary)["suppressed"] == 15
    assert line.getMessage() == "dataset d99: missed"

    for i in range(REPEAT_BURST + 3):  # with d99's, 14 in this minute
        log.warning("dataset %s: missed", f"e{i}")
    limited.repeats.flush(everything=True)  # at the end, however young the minute
    assert limited.messages("4 similar lines suppressed in the last 0s; the latest: dataset e12: missed")
