"""Discovery at scale: N tables (5,000 by default, in 10 schemas) in one PostgreSQL database and in one DuckDB
file, watched by one `discover:` entry with the default checks (metadata-first freshness and volume, schema).

Per engine:
- statements per run of `demon check` (discovery and every check), with the database at N/5 tables and at N:
  as demon counts them (its sources' request counters), as SQLAlchemy sends them (catalog statements apart),
  and, for PostgreSQL, as the server saw them (`log_statement = all` for demon's role: every statement,
  BEGIN and ROLLBACK included, and the connections opened);
- wall time of `demon check` (the whole process) and, in-process, of discovery (`watched`) and of
  `Runner.run` alone (and the CPU seconds it took), on a fresh state store (first run) and on one with history
  (later run), beside the bare statistics and columns statements timed in the same round (the ratio holds on a
  shared machine, seconds do not); for DuckDB also the time to open the file, which each of demon's
  statements pays (NullPool);
- `demon run`: start to ready (/readyz: every dataset's first run done, with the default `rediscover`), RSS
  then, its peak so far, CPU seconds, one /metrics scrape; then `rediscover: 5s` by SIGHUP, and the time from
  `CREATE TABLE` to the new table's first result by the rediscovery timer and by SIGHUP, with RSS after each.
  The daemon looks at the timer at its housekeeping, every HOUSEKEEPING_SECONDS: that, not `rediscover`,
  bounds the timer's latency.

`--profile` adds, per engine, where one later run's time goes with its dataset jobs run one after another in
this thread (the pool's threads are invisible to cProfile): the state store's reads and write, the source, the
kinds, the state-store statements per job, cProfile's top; and tracemalloc's view of a run's memory.

PostgreSQL 15 starts as in the tests (tests/pgserver.py). The DuckDB warehouses are cached under
/tmp/demon-bench-discover/ (5,000 tables take ~40 s to build) and copied for each run. Timing rounds stop once
--budget seconds have gone (one round at least): while a 5,000-table run takes ~90 s, one round (four runs)
and the daemon make ~10 minutes per engine; at the goal (a run under 5 s), three rounds take a few minutes.
Run: PYTHONPATH=. .venv/bin/python -m bench.bench_discover [--tables 5000] [--rounds 3] [--budget 240]
     [--engines postgresql,duckdb] [--no-daemon] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import sqlalchemy as sa

from bench.common import count_statements
from checks.sources import Source
from checks.sources.catalog import COLUMNS_SQL, DEFAULT_COLUMNS_SQL, STATS_SQL
from monitor.app import watch
from monitor.app.config import load_config
from monitor.app.daemon.main import HOUSEKEEPING_SECONDS
from monitor.app.runner import Runner, plan
from monitor.core.config.models import Config, SourceConfig
from monitor.core.redact import Redactor
from monitor.core.results import Result, summarize
from monitor.state.store import StateStore
from tests.pgserver import PostgresServer, destroy, free_port, start_postgres

SCHEMAS = 10
CACHE = Path("/tmp/demon-bench-discover")
RECIPE = "v1"  # part of the cached warehouses' names: change it when the tables change
PG_BATCH = 250  # tables per DO block: each holds a few locks to the block's end
REDISCOVER = "5s"
MB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]  # this checkout: what the demon processes started here run
READY_TIMEOUT = 900.0
RESULT_TIMEOUT = HOUSEKEEPING_SECONDS * 3 + 120


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a `python -m monitor` child: this checkout first on its path (the venv may have
    another checkout installed), and the child's working directory is never /tmp itself."""
    path = os.pathsep.join(part for part in (str(ROOT), os.environ.get("PYTHONPATH", "")) if part)
    return {**os.environ, "PYTHONPATH": path, **extra}


def table_at(index: int) -> tuple[str, str]:
    return f"s{index % SCHEMAS}", f"t{index:05d}"


def rows_at(index: int) -> int:
    return 10 + index % 50


# --- the warehouses -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Logged:
    """What PostgreSQL logged of demon's sessions (`log_statement = all`, `log_connections`)."""

    statements: int  # every statement, BEGIN, SET and ROLLBACK included
    selects: int
    transactions: int  # BEGINs
    connections: int
    distinct: tuple[tuple[str, int], ...] = ()  # each statement (shortened) and how often

    def __str__(self) -> str:
        return (f"{self.statements} ({self.selects} SELECT, {self.transactions} BEGIN,"
                f" {self.connections} connections)")


class ServerLog:
    """The server's log file, read from a mark: the lines of demon's role's sessions since then."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, offset: int) -> Logged:
        time.sleep(0.3)  # the server writes its log lines as they happen; let the last ones land
        with self.path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
        ours = [line for line in text.splitlines() if " demon@demon " in line]
        statements = [line.partition("LOG:  statement: ")[2] for line in ours if "LOG:  statement: " in line]
        return Logged(
            statements=len(statements),
            selects=sum(1 for sql in statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))),
            transactions=sum(1 for sql in statements if sql.strip().upper().startswith("BEGIN")),
            connections=sum(1 for line in ours if "connection authorized" in line),
            distinct=tuple(Counter(shortened(sql) for sql in statements).items()),
        )


def shortened(sql: str, width: int = 90) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[:width - 3] + "..."


class Warehouse(Protocol):
    engine: str
    url: str
    tables: int
    log: ServerLog | None

    def grow(self, tables: int) -> None: ...

    def create(self, schema: str, table: str) -> None: ...

    def close(self) -> None: ...


class Postgres:
    """A throwaway PostgreSQL (tests/pgserver.py) logging every statement of demon's role."""

    engine = "postgresql"

    def __init__(self) -> None:
        self.server: PostgresServer = start_postgres()
        self.url = self.server.url()
        self.tables = 0
        for setting in ("log_line_prefix = '%m [%p] %u@%d '", "log_connections = on"):
            self.server.psql(f"ALTER SYSTEM SET {setting}")
        self.server.psql("SELECT pg_reload_conf()")
        self.server.psql(f"ALTER ROLE {self.server.user} SET log_statement = 'all'")
        self.server.psql("; ".join(f"CREATE SCHEMA s{i}" for i in range(SCHEMAS)), database="demon")
        self.log: ServerLog | None = ServerLog(self.server.datadir.parent / "server.log")

    def grow(self, tables: int) -> None:
        for start in range(self.tables, tables, PG_BATCH):
            stop = min(start + PG_BATCH, tables)
            self.server.psql(
                f"DO $$ BEGIN FOR i IN {start}..{stop - 1} LOOP EXECUTE format("
                "'CREATE TABLE s%s.t%s AS SELECT g AS id, g * 0.5 AS amount, md5(g::text) AS label,"
                " now() - g * interval ''1 minute'' AS loaded_at FROM generate_series(1, %s) g',"
                f" i % {SCHEMAS}, lpad(i::text, 5, '0'), 10 + i % 50); END LOOP; END $$",
                database="demon",
            )
        self.server.psql("ANALYZE", database="demon")
        self.tables = tables

    def create(self, schema: str, table: str) -> None:
        self.server.psql(f"CREATE TABLE {schema}.{table} AS SELECT g AS id FROM generate_series(1, 10) g",
                         database="demon")

    def close(self) -> None:
        destroy(self.server)


class DuckDB:
    """A DuckDB file of N tables, copied from the cache (built there on first use)."""

    engine = "duckdb"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "warehouse.duckdb"
        self.url = f"duckdb:///{self.path}"
        self.tables = 0
        self.log: ServerLog | None = None

    def grow(self, tables: int) -> None:
        cached = CACHE / f"warehouse-{RECIPE}-{tables}.duckdb"
        if cached.exists():
            shutil.copyfile(cached, self.path)
        else:
            print(f"  building a DuckDB warehouse of {tables:,} tables (cached in {CACHE})", flush=True)
            with duckdb.connect(str(self.path)) as conn:
                conn.execute("BEGIN")
                conn.execute("; ".join(f"CREATE SCHEMA IF NOT EXISTS s{i}" for i in range(SCHEMAS)))
                for start in range(self.tables, tables, 100):
                    conn.execute("; ".join(self._table(i) for i in range(start, min(start + 100, tables))))
                conn.execute("COMMIT")
                conn.execute("CHECKPOINT")
            CACHE.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(cached.name + f".{os.getpid()}.partial")
            shutil.copyfile(self.path, partial)
            partial.rename(cached)
        self.tables = tables

    @staticmethod
    def _table(index: int) -> str:
        schema, table = table_at(index)
        return (f"CREATE TABLE {schema}.{table}"
                " (id BIGINT, amount DOUBLE, label VARCHAR, loaded_at TIMESTAMPTZ);"
                f" INSERT INTO {schema}.{table} SELECT range, range * 0.5, 'label-' || range,"
                f" now() - to_minutes(range) FROM range({rows_at(index)})")

    def create(self, schema: str, table: str) -> None:
        """One more table while `demon run` may hold the file (read-only, a statement at a time): retried."""
        deadline = time.monotonic() + 120
        while True:
            try:
                with duckdb.connect(str(self.path)) as conn:
                    conn.execute(f"CREATE TABLE {schema}.{table} AS SELECT range AS id FROM range(10)")
                return
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        pass


def write_config(directory: Path, url: str, daemon: bool = False, rediscover: str | None = None) -> Path:
    """Just `sources:`, one `discover:` entry (all defaults but `rediscover`) and `state:`; for the daemon,
    the metrics endpoint too."""
    discover = "  - source: warehouse\n" + (f"    rediscover: {rediscover}\n" if rediscover else "")
    listen = "metrics: {listen: '127.0.0.1:${DEMON_BENCH_PORT}'}\n" if daemon else ""
    path = directory / ("daemon.yml" if daemon else "demon.yml")
    path.write_text(f"version: 1\nsources:\n  warehouse: {{kind: sql, url: '{url}'}}\ndiscover:\n{discover}"
                    f"{listen}state: {{url: 'sqlite:///state/state.db'}}\n")
    return path


def fresh_state(directory: Path) -> None:
    shutil.rmtree(directory / "state", ignore_errors=True)
    (directory / "state").mkdir()


# --- one run in this process -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """The statements of one in-process `demon check` (discovery, then the run)."""

    label: str
    tables: int
    checks: int
    outcomes: dict[str, int]
    demon: int  # the sources' own counters: discovery's and the runner's
    sent: int  # every statement SQLAlchemy sent (transaction set-up and dialect start-up included)
    catalog: int  # of which the statistics and the columns statements
    server: Logged | None
    other: tuple[str, ...]  # the distinct statements other than the catalog's, shortened

    def __str__(self) -> str:
        outcomes = ", ".join(f"{count:,} {outcome}" for outcome, count in sorted(self.outcomes.items()))
        server = f"; the server saw {self.server}" if self.server is not None else ""
        return (f"{self.tables:,} tables, {self.label}: demon {self.demon}; SQLAlchemy {self.sent}"
                f" ({self.catalog} catalog){server}; {self.checks:,} checks: {outcomes}")


@dataclass(frozen=True)
class InProcess:
    discovery: float  # seconds of `watched`: the catalog read, the datasets built and validated
    run: float  # seconds of `Runner.run` alone
    run_cpu: float  # CPU seconds of the process (every thread) during it
    counted: Counted


@contextmanager
def recorded_sources() -> Iterator[list[Source]]:
    """The sources discovery opens (monitor.app.watch closes them itself): their request counters."""
    opened: list[Source] = []
    names = vars(watch)  # its own name for checks.sources.open_source
    real: Callable[[str, SourceConfig, Path, Redactor], Source] = names["open_source"]

    def recording(name: str, config: SourceConfig, base_dir: Path, redact: Redactor) -> Source:
        source = real(name, config, base_dir, redact)
        opened.append(source)
        return source

    names["open_source"] = recording
    try:
        yield opened
    finally:
        names["open_source"] = real


def is_catalog(engine: str, sql: str) -> bool:
    """The statistics or the columns statement (psycopg's statements double their `%`)."""
    return sql.replace("%%", "%") in (STATS_SQL[engine], COLUMNS_SQL.get(engine, DEFAULT_COLUMNS_SQL))


def in_process(warehouse: Warehouse, config_path: Path, label: str) -> InProcess:
    """What `demon check` does, in this process: discovery, then `Runner.run` with the state store, timed
    apart; every statement counted three ways."""
    log = warehouse.log
    mark = log.mark() if log is not None else 0
    with count_statements(warehouse.engine) as sent, recorded_sources() as opened:
        config = load_config(config_path)
        start = time.perf_counter()
        watched = watch.watched(config).config
        discovery = time.perf_counter() - start
        store = StateStore.open(watched.state.url, watched.base_dir)
        try:
            run_id = store.start_run("check")
            runner = Runner(watched, store)
            start, cpu = time.perf_counter(), time.process_time()
            try:
                results = runner.run(watched.checks, run_id)
                took, took_cpu = time.perf_counter() - start, time.process_time() - cpu
            finally:
                runner.close()
            store.finish_run(run_id, summarize(results))
        finally:
            store.close()
    requests = sum(count for (_, operation), count in runner.requests().items() if operation == "statement")
    other = [sql for sql in sent if not is_catalog(warehouse.engine, sql)]
    counted = Counted(
        label=label, tables=warehouse.tables, checks=len(results),
        outcomes=dict(Counter(result.outcome.value for result in results)),
        demon=requests + sum(source.requests["statement"] for source in opened),
        sent=len(sent), catalog=len(sent) - len(other), server=log.since(mark) if log is not None else None,
        other=tuple(dict.fromkeys(shortened(sql) for sql in other)),
    )
    return InProcess(discovery, took, took_cpu, counted)


def run_once(config: Config) -> list[Result]:
    """`Runner.run` over every check with a state store, as `demon check` does."""
    store = StateStore.open(config.state.url, config.base_dir)
    try:
        run_id = store.start_run("check")
        runner = Runner(config, store)
        try:
            results = runner.run(config.checks, run_id)
        finally:
            runner.close()
        store.finish_run(run_id, summarize(results))
        return results
    finally:
        store.close()


# --- wall time --------------------------------------------------------------------------------------------


@dataclass
class Timings:
    """Samples per figure, one per round: best and median are shown."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    counts: list[Counted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)


def cli_check(config_path: Path, log: ServerLog | None) -> tuple[float, str, Logged | None]:
    """`demon check` as a user runs it (table output, to a pipe): seconds, its summary line, the server's
    view."""
    mark = log.mark() if log is not None else 0
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "monitor", "check", "-c", str(config_path)],
                          capture_output=True, text=True, cwd=config_path.parent, env=child_env())
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"demon check exited {done.returncode}:\n{done.stderr[-2000:]}")
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return took, summary, log.since(mark) if log is not None else None


def bare(warehouse: Warehouse, sql: str, repeat: int = 3) -> tuple[float, float]:
    """Seconds to connect, and to run the statement and fetch its rows: the best of `repeat`."""
    connect_args = {"read_only": True} if warehouse.engine == "duckdb" else {}
    engine = sa.create_engine(warehouse.url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    try:
        connects, runs = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            with engine.connect() as conn:
                connects.append(time.perf_counter() - start)
                start = time.perf_counter()
                conn.execute(sa.text(sql)).fetchall()
                runs.append(time.perf_counter() - start)
        return min(connects), min(runs)
    finally:
        engine.dispose()


def timed_rounds(warehouse: Warehouse, directory: Path, rounds: int, budget: float) -> Timings:
    """Per round: `demon check` on a fresh state store and again; then the same in this process, and the
    bare catalog statements. Rounds after the first stop once `budget` seconds have gone."""
    config_path = write_config(directory, warehouse.url)
    timings = Timings()
    started = time.monotonic()
    for number in range(rounds):
        if number and time.monotonic() - started > budget:
            timings.notes.append(f"{number} of {rounds} rounds: the others would pass --budget {budget:.0f}s")
            break
        print(f"  round {number + 1}/{rounds}", flush=True)
        for label in ("first run", "later run"):
            if label == "first run":
                fresh_state(directory)
            took, summary, logged = cli_check(config_path, warehouse.log)
            timings.add(f"demon check, {label}", took)
            if number == 0:
                server = f"; the server saw {logged}" if logged is not None else ""
                timings.notes.append(f"demon check, {label}: {summary}{server}")
        for label in ("first run", "later run"):
            if label == "first run":
                fresh_state(directory)
            found = in_process(warehouse, config_path, label)
            timings.add(f"discovery (watched), {label}", found.discovery)
            timings.add(f"Runner.run, {label}", found.run)
            timings.add(f"Runner.run, {label}: CPU", found.run_cpu)
            if number == 0:
                timings.counts.append(found.counted)
            errors = found.counted.outcomes.get("error", 0)
            if errors:
                timings.notes.append(f"Runner.run, {label}: {errors} errors")
            connect, stats = bare(warehouse, STATS_SQL[warehouse.engine])
            _, columns = bare(warehouse, COLUMNS_SQL.get(warehouse.engine, DEFAULT_COLUMNS_SQL))
            timings.add("bare statistics statement", stats)
            timings.add("bare columns statement", columns)
            timings.add("bare connect", connect)
            timings.add(f"Runner.run, {label} / statistics statement", found.run / stats)
    return timings


# --- the daemon -------------------------------------------------------------------------------------------


def proc_status(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no {key} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Daemon:
    """`demon run --log-format json` on a free port, its log read as it grows."""

    def __init__(self, config_path: Path) -> None:
        self.port = free_port()
        self.log_path = config_path.parent / "daemon.log"
        self._handle = self.log_path.open("wb")
        self._offset = 0
        self._partial = b""
        self.spawned = time.time()
        env = child_env(DEMON_BENCH_PORT=str(self.port), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config_path), "--log-format", "json"],
            stdout=self._handle, stderr=subprocess.STDOUT, env=env, cwd=config_path.parent)

    @property
    def pid(self) -> int:
        return self.process.pid

    def get(self, path: str, timeout: float = 60.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as reply:
                return int(reply.status), bytes(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def answers(self, path: str) -> bool:
        """Whether `path` answers 200 now; raises once the daemon has exited."""
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"demon run exited {self.process.returncode}:\n{tail}")
        try:
            return self.get(path, timeout=5.0)[0] == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def new_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written since the last call (a line not JSON: level "raw")."""
        with self.log_path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        lines: list[dict[str, Any]] = []
        for raw in complete:
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"level": "raw", "message": raw.decode(errors="replace")})
        return lines

    def stop(self) -> int | None:
        """SIGTERM; the exit code, or None when it had to be killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self._handle.close()
        return code


@dataclass
class DaemonFigures:
    healthy: float = 0.0  # seconds from spawn to /healthz
    ready: float = 0.0  # to /readyz: every dataset's first run done
    cpu_at_ready: float = 0.0
    rss_at_ready: int = 0
    peak_at_ready: int = 0  # VmHWM: the first run's peak
    rss_after: list[int] = field(default_factory=list)  # after each new table's first result
    rss_peak: int = 0  # VmHWM at the end
    statements_at_ready: float | None = None
    scrape_seconds: float = 0.0
    scrape_bytes: int = 0
    timer: list[tuple[float, float]] = field(default_factory=list)  # (to rediscovered, to first result)
    sighup: list[tuple[float, float]] = field(default_factory=list)  # (to reloaded, to first result)
    problems: list[str] = field(default_factory=list)
    exit_code: int | None = None


def daemon_figures(warehouse: Warehouse, directory: Path, rounds: int) -> DaemonFigures:
    """Start `demon run` (the default `rediscover`, so no rediscovery runs during the first run), wait for its
    first full run; then `rediscover: 5s` by SIGHUP, and create tables and time their first results."""
    config_path = write_config(directory, warehouse.url, daemon=True)
    fresh_state(directory)
    figures = DaemonFigures()
    daemon = Daemon(config_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not daemon.answers("/healthz"):
            if time.monotonic() > deadline:
                raise RuntimeError("demon run did not answer /healthz")
            time.sleep(0.1)
        figures.healthy = time.time() - daemon.spawned
        while not daemon.answers("/readyz"):
            if time.monotonic() > deadline:
                raise RuntimeError("demon run did not get ready (every dataset's first run)")
            time.sleep(0.2)
        figures.ready = time.time() - daemon.spawned
        figures.cpu_at_ready = cpu_seconds(daemon.pid)
        figures.rss_at_ready = proc_status(daemon.pid, "VmRSS")
        figures.peak_at_ready = proc_status(daemon.pid, "VmHWM")
        start = time.perf_counter()
        _, body = daemon.get("/metrics")
        figures.scrape_seconds, figures.scrape_bytes = time.perf_counter() - start, len(body)
        figures.statements_at_ready = statements_metric(body.decode())
        lines = daemon.new_lines()
        write_config(directory, warehouse.url, daemon=True, rediscover=REDISCOVER)
        daemon.process.send_signal(signal.SIGHUP)
        wait_for_line(daemon, lambda line: str(line.get("message", "")).startswith("config reloaded"))
        for number in range(rounds):
            figures.timer.append(new_table_latency(warehouse, daemon, f"fresh_{number}", number, hup=False))
            figures.rss_after.append(proc_status(daemon.pid, "VmRSS"))
        for number in range(rounds):
            figures.sighup.append(new_table_latency(warehouse, daemon, f"hup_{number}", number, hup=True))
            figures.rss_after.append(proc_status(daemon.pid, "VmRSS"))
        figures.rss_peak = proc_status(daemon.pid, "VmHWM")
        lines += daemon.new_lines()
        said = (str(line.get("message")) for line in lines
                if line.get("level") in ("warning", "error", "raw"))
        figures.problems = list(dict.fromkeys(shortened(message, 160) for message in said))[:5]
    finally:
        figures.exit_code = daemon.stop()
    return figures


def wait_for_line(daemon: Daemon, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + RESULT_TIMEOUT
    while time.monotonic() < deadline:
        for line in daemon.new_lines():
            if wanted(line):
                return line
        if daemon.process.poll() is not None:
            raise RuntimeError(f"demon run exited {daemon.process.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"demon run did not log the line awaited within {RESULT_TIMEOUT:.0f}s")


def statements_metric(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("demon_source_requests_total{") and 'operation="statement"' in line:
            return float(line.rpartition(" ")[2])
    return None


def new_table_latency(warehouse: Warehouse, daemon: Daemon, table: str, number: int, hup: bool
                      ) -> tuple[float, float]:
    """CREATE TABLE, then (with `hup`) SIGHUP; seconds until the daemon logged that it rediscovered (or
    reloaded), and until it logged the new table's first check result."""
    schema = f"s{number % SCHEMAS}"
    dataset = f"{schema}-{table}"
    daemon.new_lines()  # what came before
    warehouse.create(schema, table)
    created = time.time()
    if hup:
        daemon.process.send_signal(signal.SIGHUP)
    applied = float("nan")
    deadline = time.monotonic() + RESULT_TIMEOUT
    while time.monotonic() < deadline:
        for line in daemon.new_lines():
            at = datetime.fromisoformat(line["time"]).timestamp() if "time" in line else time.time()
            if str(line.get("message", "")).startswith(("rediscovered", "config reloaded")):
                applied = at - created
            if line.get("dataset") == dataset and "outcome" in line:
                return applied, at - created
        if daemon.process.poll() is not None:
            raise RuntimeError(f"demon run exited {daemon.process.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"no result for {dataset} within {RESULT_TIMEOUT:.0f}s of its creation")


# --- profiles ---------------------------------------------------------------------------------------------


@contextmanager
def stopwatch(targets: Sequence[tuple[Any, str]]) -> Iterator[dict[str, list[float]]]:
    """Seconds of every call of each `owner.name` while the block runs, by `Owner.name`."""
    spent: dict[str, list[float]] = {}
    originals = [(owner, name, getattr(owner, name)) for owner, name in targets]

    def timed(label: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                spent.setdefault(label, []).append(time.perf_counter() - start)
        return call

    for owner, name, real in originals:
        setattr(owner, name, timed(f"{getattr(owner, '__name__', owner)}.{name}", real))
    try:
        yield spent
    finally:
        for owner, name, real in originals:
            setattr(owner, name, real)


def profile(warehouse: Warehouse, directory: Path, top: int = 20) -> str:
    """A later run's dataset jobs one after another in this thread: where each job's time goes (the state
    store's reads and write, the source, the kinds), the state-store statements per job, and cProfile's
    top; then tracemalloc's view of what a whole run holds."""
    from checks.sources.sql import SqlSource
    from monitor.app import runner as runner_module
    from monitor.state.baselines import Baselines

    config_path = write_config(directory, warehouse.url)
    fresh_state(directory)
    config = watch.watched(load_config(config_path)).config
    run_once(config)  # the history a later run reads
    out = io.StringIO()
    jobs = plan(config, config.checks)
    targets = [(StateStore, "last_successes"), (StateStore, "last_snapshots"), (Baselines, "histories"),
               (StateStore, "record"), (SqlSource, "observe"), (runner_module, "_judge")]
    store = StateStore.open(config.state.url, config.base_dir)
    runner = Runner(config, store)
    try:
        run_id = store.start_run("check")
        with count_statements("sqlite") as stored, stopwatch(targets) as spent:
            start = time.perf_counter()
            for job in jobs:
                runner.run_job(job, run_id)
            took = time.perf_counter() - start
        out.write(f"{len(jobs):,} dataset jobs of a later run, one after another: {took:.1f}s ="
                  f" {took / len(jobs) * 1000:.1f} ms a job; {len(stored) / len(jobs):.1f} state-store"
                  " statements a job (BEGINs not counted)\n")
        for label, values in sorted(spent.items(), key=lambda item: -sum(item[1])):
            out.write(f"  {label:28} {sum(values):7.2f}s {sum(values) / took:5.0%}"
                      f" {sum(values) / len(jobs) * 1000:6.2f} ms a job ({len(values):,} calls)\n")
        for sql, count in Counter(shortened(sql) for sql in stored).most_common(12):
            out.write(f"  {count / len(jobs):4.1f} a job: {sql}\n")
        profiler = cProfile.Profile()
        profiler.enable()
        for job in jobs:
            runner.run_job(job, run_id)
        profiler.disable()
        stats = io.StringIO()
        pstats.Stats(profiler, stream=stats).sort_stats("cumulative").print_stats(top)
        out.write("\ncProfile of the same jobs again" + stats.getvalue().partition("Ordered by")[2])
    finally:
        runner.close()
        store.close()
    tracemalloc.start(1)
    config = watch.watched(load_config(config_path)).config
    after_config = tracemalloc.get_traced_memory()[0]
    results = run_once(config)
    snapshot = tracemalloc.take_snapshot()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out.write(f"tracemalloc: {after_config / MB:.0f} MB held after discovery ({len(config.datasets):,}"
              f" datasets), {held / MB:.0f} MB with the run's {len(results):,} results,"
              f" peak {peak / MB:.0f} MB; by file:\n")
    for stat in snapshot.statistics("filename")[:12]:
        out.write(f"  {stat.size / MB:7.1f} MB {stat.count:9,} blocks  {stat.traceback[0].filename}\n")
    return out.getvalue()


# --- the report -------------------------------------------------------------------------------------------


def spread(values: Sequence[float], unit: str = "s") -> str:
    if not values:
        return "-"
    best, median = min(values), statistics.median(values)
    if unit == "x":
        return f"{best:.0f}x / {median:.0f}x"
    return f"{best:.2f}s / {median:.2f}s" + (f" (n={len(values)})" if len(values) > 1 else "")


def machine() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores; Python {platform.python_version()}; load average {load}"


@dataclass
class EngineReport:
    counts: list[Counted] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    daemon: DaemonFigures | None = None
    profile: str = ""


def timing_rows(report: EngineReport) -> list[tuple[str, str]]:
    rows = [(name, spread(values, "x" if "/" in name else "s"))
            for name, values in report.timings.samples.items()]
    found = report.daemon
    if found is None:
        return rows
    return [*rows,
            ("demon run: spawn to /healthz", f"{found.healthy:.1f}s"),
            ("demon run: spawn to /readyz (first full run)",
             f"{found.ready:.1f}s, {found.cpu_at_ready:.0f} CPU s"),
            ("demon run: statements to /readyz", f"{found.statements_at_ready:.0f}"
             if found.statements_at_ready is not None else "-"),
            ("demon run: RSS at ready (its peak so far)",
             f"{found.rss_at_ready / MB:.0f} MB ({found.peak_at_ready / MB:.0f} MB)"),
            ("demon run: RSS after each new table",
             " ".join(f"{rss / MB:.0f}" for rss in found.rss_after) + " MB"),
            ("demon run: RSS peak at the end", f"{found.rss_peak / MB:.0f} MB"),
            ("demon run: one /metrics scrape",
             f"{found.scrape_seconds:.2f}s, {found.scrape_bytes / MB:.1f} MB"),
            (f"new table -> rediscovered (timer {REDISCOVER})", spread([at for at, _ in found.timer])),
            (f"new table -> first result (timer {REDISCOVER})", spread([at for _, at in found.timer])),
            ("new table -> reloaded (SIGHUP)", spread([at for at, _ in found.sighup])),
            ("new table -> first result (SIGHUP)", spread([at for _, at in found.sighup])),
            ("demon run: exit code after SIGTERM", str(found.exit_code))]


def print_report(reports: dict[str, EngineReport], args: argparse.Namespace) -> None:
    print(f"\n{args.tables:,} tables in {SCHEMAS} schemas, one `discover:` entry, default checks; "
          f"machine: {machine()}")
    print("\nstatements per `demon check` (discovery + every check): as demon's sources count them;"
          " as SQLAlchemy sends them (of which the catalog's); as the server logged demon's sessions")
    for engine, report in reports.items():
        for counted in report.counts:
            print(f"  {engine}: {counted}")
    cells = {engine: dict(timing_rows(report)) for engine, report in reports.items()}
    labels = list(dict.fromkeys(label for found in cells.values() for label in found))
    width = max(len(label) for label in labels) + 2
    column = max(24, *(len(cell) + 2 for found in cells.values() for cell in found.values()))
    print(f"\nseconds: best / median of the rounds; `demon run` looks at the rediscover timer at its"
          f" housekeeping, every {HOUSEKEEPING_SECONDS:.0f}s")
    print("".ljust(width) + "".join(engine.ljust(column) for engine in reports))
    for label in labels:
        print(label.ljust(width) + "".join(cells[engine].get(label, "-").ljust(column) for engine in reports))
    print()
    for engine, report in reports.items():
        notes = list(report.timings.notes)
        for counted in report.counts[-1:]:
            notes += [f"statement other than the catalog's: {sql}" for sql in counted.other]
            if counted.server is not None:
                notes += [f"server saw {count}x: {sql}" for sql, count in counted.server.distinct]
        if report.daemon is not None:
            notes += [f"demon run said: {problem}" for problem in report.daemon.problems]
        for note in notes:
            print(f"{engine}: {note}")
    for engine, report in reports.items():
        if report.profile:
            print(f"\n--- {engine}: profile ---\n{report.profile}")


def measure(warehouse: Warehouse, directory: Path, args: argparse.Namespace) -> EngineReport:
    report = EngineReport()
    small = max(1, args.tables // 5)
    if small < args.tables:
        print(f"{warehouse.engine}: {small:,} tables", flush=True)
        warehouse.grow(small)
        config_path = write_config(directory, warehouse.url)
        fresh_state(directory)
        report.counts.append(in_process(warehouse, config_path, "first run").counted)
    print(f"{warehouse.engine}: {args.tables:,} tables", flush=True)
    started = time.perf_counter()
    warehouse.grow(args.tables)
    print(f"  ready in {time.perf_counter() - started:.1f}s", flush=True)
    report.timings = timed_rounds(warehouse, directory, args.rounds, args.budget)
    report.counts += report.timings.counts
    if args.profile:
        print("  profile", flush=True)
        report.profile = profile(warehouse, directory)
    if not args.no_daemon:
        print(f"  demon run ({args.rounds} new tables by the timer, {args.rounds} by SIGHUP)", flush=True)
        report.daemon = daemon_figures(warehouse, directory, args.rounds)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds; new tables per daemon path")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds of timing rounds per engine after which no further round starts")
    parser.add_argument("--engines", default="postgresql,duckdb")
    parser.add_argument("--no-daemon", action="store_true", help="skip `demon run`")
    parser.add_argument("--profile", action="store_true",
                        help="where a run's time and memory go (serial jobs, cProfile, tracemalloc)")
    args = parser.parse_args()
    openers: dict[str, Callable[[Path], Warehouse]] = {"postgresql": lambda _: Postgres(), "duckdb": DuckDB}
    reports: dict[str, EngineReport] = {}
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory(prefix=f"demon-bench-discover-{engine}-") as tmp:
            warehouse = openers[engine](Path(tmp))
            try:
                reports[engine] = measure(warehouse, Path(tmp), args)
            finally:
                warehouse.close()
    print_report(reports, args)


if __name__ == "__main__":
    main()
