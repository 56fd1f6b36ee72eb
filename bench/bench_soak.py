"""Issue 5 benchmark: a `demon run` soak, N datasets x 5 checks on `every 1m` against DuckDB.

Starts the real daemon (`python -m monitor run --log-format json`) on a cached DuckDB warehouse of N small
tables and a fresh SQLite state store, samples it every 10 s (CPU and RSS from /proc, state-store size,
/metrics), stops it with SIGTERM and reads its JSON log. Prints scheduler lag (first round apart), runs done
against planned, missed runs, CPU and RSS per minute, state-store growth per day, the daemon's exit code,
and the same figures as one JSON line. Exits 1 when the daemon crashed, hung on stop or exited non-zero.

The first schedule period is the warm-up: planned runs = datasets x periods after it.
The warehouse is cached under /tmp/demon-bench-soak/ (its loaded_at is fixed at build time, so the freshness
threshold is wide); each run gets its own directory there, kept for its log and state store.
Run: .venv/bin/python -m bench.bench_soak [--datasets 1000] [--minutes 10] [--every 1m]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from monitor.core.config.types import parse_duration
from tests.daemon_support import Daemon, start_daemon

CACHE = Path("/tmp/demon-bench-soak")
ROWS = 300
CHECKS_PER_DATASET = 5
SAMPLE_SECONDS = 10.0
STOP_TIMEOUT = 90.0  # the daemon's default grace (25 s) and then some
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024
LAG_COUNT = "demon_scheduler_lag_seconds_count"
MISSED = "demon_scheduler_missed_runs_total"
DATASET = """\
  {name}:
    source: warehouse
    table: soak.{name}
    checks:
      - freshness: {{column: loaded_at, fail_after: 3650d}}
      - volume: {{min: 1, max_drop: 50%}}
      - schema: {{columns: {{id: integer, amount: float, label: string, loaded_at: timestamp}}}}
      - metric: {{name: negatives, max: 0, sql: 'SELECT count(*) FROM soak.{name} WHERE amount < 0'}}
      - metric: {{name: labels, min: 1, sql: 'SELECT count(DISTINCT label) FROM soak.{name}'}}
"""


@dataclass
class Sample:
    at: float  # seconds since the daemon answered /healthz (its scheduler had started)
    cpu: float  # user + system seconds
    rss: int  # bytes
    store: int  # state-store bytes: the db and its -wal
    wal: int  # of which the -wal
    missed: float | None  # None when /metrics did not answer
    lags: float | None


@dataclass
class Soak:
    """One soak's settings and what became of the daemon."""

    datasets: int
    minutes: float
    every: str
    period: float  # seconds; the first period is the warm-up
    run_dir: Path
    spawned: float  # epoch seconds
    started: float = field(default_factory=time.time)  # when /healthz answered: the scheduler had started
    died: bool = False  # exited before the SIGTERM
    exit_code: int | None = None  # None: it did not exit within STOP_TIMEOUT and was killed

    @property
    def warmup(self) -> float:
        return self.period

    @property
    def startup_seconds(self) -> float:
        return self.started - self.spawned


@dataclass
class LagLine:
    at: float  # seconds since start, when the run ended
    planned: float  # seconds since start
    dataset: str
    lag: float


# --- the warehouse and the config -----------------------------------------------------------------------


def warehouse(datasets: int) -> Path:
    """The cached warehouse of `datasets` tables soak.tNNNN, built once (atomically) on first use."""
    path = CACHE / f"warehouse-{datasets}.duckdb"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    with duckdb.connect(str(partial)) as conn:
        conn.execute("CREATE SCHEMA soak")
        for i in range(datasets):
            conn.execute(
                f"""CREATE TABLE soak.{table(i)} AS
                SELECT range AS id, ((range * 7919) % 1000) / 10.0 AS amount, 'label-' || range AS label,
                       now() - to_seconds(range * 60) AS loaded_at
                FROM range({ROWS})"""
            )
        conn.execute("CHECKPOINT")
    partial.rename(path)
    return path


def table(i: int) -> str:
    return f"t{i:04d}"


def write_config(
    directory: Path, database: Path, datasets: int, every: str, memory_limit: str | None = None
) -> Path:
    """N datasets x 5 checks, metrics on ${DEMON_TEST_PORT} (start_daemon sets it to a free port).

    `memory_limit` is the source's: DuckDB's buffer cache keeps table data up to that limit (80% of RAM by
    default), which is most of the daemon's RSS over many tables.
    """
    blocks = "".join(DATASET.format(name=table(i)) for i in range(datasets))
    bound = f", memory_limit: {memory_limit}" if memory_limit else ""
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        f"sources:\n  warehouse: {{kind: sql, url: 'duckdb:///{database}', max_concurrency: 4{bound}}}\n"
        f"defaults: {{schedule: every {every}}}\n"
        f"datasets:\n{blocks}"
        "metrics: {listen: '127.0.0.1:${DEMON_TEST_PORT}'}\n"
        "state: {url: 'sqlite:///state/state.db'}\n"
    )
    return path


# --- sampling -------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of /proc/<pid>/stat (fields 14 and 15; the name in parentheses may hold spaces)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for pid {pid}: it has exited")


def file_bytes(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def wal_of(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def scrape(daemon: Daemon) -> tuple[float | None, float | None]:
    """Missed runs (all reasons) and lag-histogram count from /metrics; Nones when it does not answer."""
    try:
        samples = daemon.samples()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None, None
    missed = sum(value for key, value in samples.items() if key.startswith(MISSED + "{"))
    return missed, samples.get(LAG_COUNT)


def sample(daemon: Daemon, db: Path, started: float) -> Sample:
    pid = daemon.process.pid
    missed, lags = scrape(daemon)
    wal = file_bytes(wal_of(db))
    at = time.time() - started
    return Sample(at, cpu_seconds(pid), rss_bytes(pid), file_bytes(db) + wal, wal, missed, lags)


def sample_until(daemon: Daemon, soak: Soak) -> list[Sample]:
    """A sample every SAMPLE_SECONDS (on a fixed grid from the start) until the end or the daemon dies."""
    db = soak.run_dir / "state" / "state.db"
    samples: list[Sample] = []
    tick = 0
    while daemon.alive():
        try:
            samples.append(sample(daemon, db, soak.started))
        except (OSError, LookupError):  # it exited between the check and the reading
            break
        tick += 1
        if tick * SAMPLE_SECONDS > soak.minutes * 60 + 1e-6:
            break
        time.sleep(max(0.0, soak.started + tick * SAMPLE_SECONDS - time.time()))
    return samples


def stop(daemon: Daemon) -> int | None:
    """SIGTERM, then the exit code; None (and a kill) when it does not exit within STOP_TIMEOUT."""
    if not daemon.alive():
        return daemon.wait()
    daemon.signal(signal.SIGTERM)
    try:
        return daemon.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        daemon.kill()
        return None


# --- reading the results --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def spread(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "max": max(values, default=None)}


def since(line: dict[str, Any], started: float) -> float:
    return datetime.fromisoformat(line["time"]).timestamp() - started


def lag_lines(logs: list[dict[str, Any]], started: float) -> tuple[list[LagLine], list[LagLine]]:
    """The "dataset X: ran N s after its planned time" lines: each dataset's first run, and the others.

    The line comes when the run ends, after its check lines (which carry the run's duration), so the
    planned time is the line's time minus the duration minus the lag.
    """
    first: dict[str, LagLine] = {}
    rest: list[LagLine] = []
    duration: dict[str, float] = {}
    for line in logs:
        if "outcome" in line and "dataset" in line:
            duration[line["dataset"]] = float(line["duration"])
        elif "lag" in line and "dataset" in line:
            name, at, lag = line["dataset"], since(line, started), float(line["lag"])
            ran = LagLine(at, at - duration.pop(name, 0.0) - lag, name, lag)
            if name in first:
                rest.append(ran)
            else:
                first[name] = ran
    return list(first.values()), rest


def on_grid(runs: list[LagLine], period: float) -> list[LagLine]:
    """Planned times snapped to each dataset's grid (its first run's, one period apart).

    The estimate from the log is a few milliseconds late (storing the results), by a varying amount; on the
    grid, a window of n periods holds exactly n planned runs of each dataset.
    """
    anchors: dict[str, float] = {}
    for run in runs:
        anchors.setdefault(run.dataset, run.planned)
    return [replace(run, planned=anchors[run.dataset] + round((run.planned - anchors[run.dataset]) / period)
                    * period) for run in runs]


def problems(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """Missed-run warnings by reason, lines the daemon summed up, other warnings, errors and non-JSON lines,
    with a few examples. The metric, not the log, counts every missed run: the log sums up repeats."""
    missed = Counter(line["missed"] for line in logs if "missed" in line)
    suppressed = sum(int(line["suppressed"]) for line in logs if "suppressed" in line)
    bad = [line for line in logs if line.get("level") in ("error", "critical", "raw")]
    warnings = [line for line in logs if line.get("level") == "warning" and "missed" not in line
                and "suppressed" not in line]
    examples = list(dict.fromkeys(str(line["message"])[:200] for line in bad + warnings))[:5]
    return {"missed_logged": dict(missed), "lines_suppressed": suppressed, "errors": len(bad),
            "other_warnings": len(warnings), "examples": examples}


def run_durations(logs: list[dict[str, Any]], started: float) -> list[tuple[float, float]]:
    """(when, seconds) of each dataset run, from its freshness check's line (a run's checks share it)."""
    return [(since(line, started), float(line["duration"])) for line in logs
            if "outcome" in line and str(line.get("check", "")).endswith(".freshness")]


def store_rows(db: Path) -> dict[str, int]:
    """Rows per table of the (stopped) daemon's SQLite state store, read-only."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables}


def nearest(samples: list[Sample], moment: float) -> Sample:
    return min(samples, key=lambda s: abs(s.at - moment))


def per_minute(samples: list[Sample], steady: list[LagLine], durations: list[tuple[float, float]]
               ) -> list[dict[str, Any]]:
    """One row per whole minute of the soak: runs, lag, run time, CPU %, RSS, store size, missed."""
    rows = []
    for minute in range(1, int(samples[-1].at // 60 + 1e-6) + 1):
        begin, end = nearest(samples, (minute - 1) * 60), nearest(samples, minute * 60)
        lags = [lag.lag for lag in steady if (minute - 1) * 60 <= lag.at < minute * 60]
        runs = [seconds for at, seconds in durations if (minute - 1) * 60 <= at < minute * 60]
        cpu = (end.cpu - begin.cpu) / (end.at - begin.at) * 100 if end.at > begin.at else None
        rows.append({"minute": minute, "runs": len(runs), **{f"lag_{k}": v for k, v in spread(lags).items()},
                     "run_p50": percentile(runs, 0.5), "cpu_percent": cpu, "rss_mb": end.rss / MB,
                     "store_mb": end.store / MB, "wal_mb": end.wal / MB, "missed": end.missed})
    return rows


def sampled_growth(samples: list[Sample], warmup: float) -> float | None:
    """State-store (db + wal) bytes per minute after the warm-up: least-squares slope of the samples.

    Only a cross-check: it includes the -wal growing to its checkpoint size, which a short run mistakes
    for growth.
    """
    points = [(s.at, float(s.store)) for s in samples if s.at >= warmup - 1e-6]
    if len(points) < 2:
        return None
    slope, _ = statistics.linear_regression([p[0] for p in points], [p[1] for p in points])
    return slope * 60


# --- report ---------------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(" min   runs  lag p50  lag p99  lag max  run p50   CPU %   RSS MB  store MB  wal MB  missed")
    for row in rows:
        print(f"{row['minute']:>4} {row['runs']:>6} {fmt(row['lag_p50']):>8} {fmt(row['lag_p99']):>8} "
              f"{fmt(row['lag_max']):>8} {fmt(row['run_p50']):>8} {fmt(row['cpu_percent'], '.1f'):>7} "
              f"{row['rss_mb']:>8.1f} {row['store_mb']:>9.2f} {row['wal_mb']:>7.2f} "
              f"{fmt(row['missed'], '.0f'):>7}")


def report(figures: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    f = figures
    print(f"daemon: {f['datasets']} datasets x {CHECKS_PER_DATASET} checks on every {f['every']}, "
          f"{f['minutes']} min; healthy {f['startup_seconds']:.1f}s after spawn; exit code {f['exit_code']}"
          f"{' (died during the soak)' if f['died'] else ''}")
    first = f["first_round"]
    print(f"first round: {first['runs']} datasets done {fmt(first['done_seconds'], '.1f')}s after start; "
          f"lag p50 {fmt(first['lag']['p50'])}s, max {fmt(first['lag']['max'])}s")
    lag = f["lag"]
    print(f"scheduler lag after the first round ({f['steady_runs']} runs): p50 {fmt(lag['p50'])}s, "
          f"p99 {fmt(lag['p99'])}s, max {fmt(lag['max'])}s")
    run = f["run_seconds"]
    print(f"{LAG_COUNT} at the last sample: {fmt(f['lag_count_metric'], '.0f')} "
          f"(lag lines logged up to the stop: {first['runs'] + f['steady_runs']})")
    print(f"dataset run time: p50 {fmt(run['p50'])}s, p99 {fmt(run['p99'])}s, max {fmt(run['max'])}s")
    print(f"runs after the warm-up ({f['warmup_seconds']:.0f}s): {f['runs_done']} done of "
          f"{f['runs_planned']} planned ({fmt(f['runs_done_percent'], '.1f')}%)")
    print(f"missed runs: {fmt(f['missed_metric'], '.0f')} by {MISSED}, {f['missed_logged']} in warning lines")
    print(f"check outcomes: {f['outcomes']}")
    print(f"log: {f['errors']} error/critical/non-JSON lines, {f['other_warnings']} other warnings, "
          f"{f['lines_suppressed']} repeated lines summed up")
    for example in f["examples"]:
        print(f"    {example}")
    print(f"CPU (% of one core): warm-up minute {fmt(f['cpu_warmup'], '.1f')}, last minute "
          f"{fmt(f['cpu_end'], '.1f')}, average after warm-up {fmt(f['cpu_after_warmup'], '.1f')}")
    print(f"RSS: start {f['rss_start_mb']:.1f} MB, end of warm-up {f['rss_warmup_mb']:.1f} MB, "
          f"end {f['rss_end_mb']:.1f} MB, peak {f['rss_peak_mb']:.1f} MB")
    print(f"state store: {f['store_bytes']:,} bytes for {f['result_rows']:,} result rows "
          f"({fmt(f['bytes_per_result_row'], ',.0f')} bytes/row); rows per table {f['store_rows']}")
    print(f"state-store growth after warm-up: {fmt(f['result_rows_per_minute'], ',.0f')} result rows/min x "
          f"{fmt(f['bytes_per_result_row'], ',.0f')} bytes = {fmt(f['store_bytes_per_minute'], ',.0f')} "
          f"bytes/min = {fmt(f['store_mb_per_day'], ',.1f')} MB/day extrapolated "
          f"({fmt(f['store_gb_at_retention'], ',.2f')} GB at the default 90-day retention)")
    sampled = fmt(f["store_sampled_bytes_per_minute"], ",.0f")
    print(f"    cross-check, slope of the sampled db + wal: {sampled} bytes/min; "
          f"-wal at the last sample {f['wal_end_mb']:.2f} MB, largest {f['wal_peak_mb']:.2f} MB")
    print_table(rows)
    print(f"run directory (config, log, state store): {f['run_dir']}")


def scheduling(logs: list[dict[str, Any]], soak: Soak, end: float) -> dict[str, Any]:
    """Lag (first round apart), run times, runs done against planned, missed runs, outcomes, log problems."""
    first, steady = lag_lines(logs, soak.started)
    window = [lag for lag in on_grid(steady, soak.period) if soak.warmup <= lag.planned < end]
    planned = max(0, round(soak.datasets * (end - soak.warmup) / soak.period))
    return {
        "first_round": {"runs": len(first), "done_seconds": max((lag.at for lag in first), default=None),
                        "lag": spread([lag.lag for lag in first])},
        "lag": spread([lag.lag for lag in steady]), "steady_runs": len(steady),
        "run_seconds": spread([seconds for _, seconds in run_durations(logs, soak.started)]),
        "runs_done": len(window), "runs_planned": planned,
        "runs_done_percent": len(window) / planned * 100 if planned else None,
        "outcomes": dict(Counter(line["outcome"] for line in logs if "check" in line and "outcome" in line)),
        **problems(logs),
    }


def resources(samples: list[Sample], rows: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    after = [row["cpu_percent"] for row in rows[1:] if row["cpu_percent"] is not None]
    return {
        "missed_metric": samples[-1].missed, "lag_count_metric": samples[-1].lags,
        "cpu_warmup": rows[0]["cpu_percent"] if rows else None,
        "cpu_end": rows[-1]["cpu_percent"] if rows else None,
        "cpu_after_warmup": statistics.fmean(after) if after else None,
        "rss_start_mb": samples[0].rss / MB, "rss_warmup_mb": nearest(samples, warmup).rss / MB,
        "rss_end_mb": samples[-1].rss / MB, "rss_peak_mb": max(s.rss for s in samples) / MB,
    }


def storage(db: Path, samples: list[Sample], runs_done: int, soak: Soak, end: float) -> dict[str, Any]:
    """Bytes per result row of the stopped daemon's store; growth = result rows per minute x that."""
    size = file_bytes(db) + file_bytes(wal_of(db))  # before store_rows: a reader may leave an empty -wal
    counts = store_rows(db) if db.exists() else {}
    per_row = size / counts["results"] if counts.get("results") else None
    window = end - soak.warmup
    rows_per_minute = runs_done * CHECKS_PER_DATASET / (window / 60) if window > 0 else None
    per_min = per_row * rows_per_minute if per_row is not None and rows_per_minute is not None else None
    return {
        "store_bytes": size, "store_rows": counts, "result_rows": counts.get("results", 0),
        "bytes_per_result_row": per_row, "result_rows_per_minute": rows_per_minute,
        "store_bytes_per_minute": per_min,
        "store_mb_per_day": per_min * 1440 / MB if per_min is not None else None,
        "store_gb_at_retention": per_min * 1440 * 90 / MB / 1024 if per_min is not None else None,
        "store_sampled_bytes_per_minute": sampled_growth(samples, soak.warmup),
        "wal_end_mb": samples[-1].wal / MB, "wal_peak_mb": max(s.wal for s in samples) / MB,
    }


def summarise(
    daemon: Daemon, samples: list[Sample], soak: Soak
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every figure of the report, from the samples, the log and the stopped daemon's state store."""
    logs = daemon.logs()
    _, steady = lag_lines(logs, soak.started)
    rows = per_minute(samples, steady, run_durations(logs, soak.started)) if samples[-1].at >= 60 else []
    end = min(samples[-1].at, soak.minutes * 60)
    figures = scheduling(logs, soak, end)
    return {
        **{key: getattr(soak, key) for key in ("datasets", "minutes", "every", "startup_seconds", "run_dir")},
        "exit_code": soak.exit_code, "died": soak.died, "warmup_seconds": soak.warmup,
        **figures, **resources(samples, rows, soak.warmup),
        **storage(soak.run_dir / "state" / "state.db", samples, figures["runs_done"], soak, end),
    }, rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", default="1m", help="the datasets' schedule; its period is the warm-up")
    parser.add_argument("--duckdb-memory-limit", default=None, help="e.g. 128MB (DuckDB's memory_limit)")
    args = parser.parse_args()
    start = time.perf_counter()
    database = warehouse(args.datasets)
    print(f"warehouse: {database} ({args.datasets} tables of {ROWS} rows; "
          f"{time.perf_counter() - start:.1f}s to build or find)")
    run_dir = Path(tempfile.mkdtemp(prefix=f"run-{args.datasets}-", dir=CACHE))
    spawned = time.time()
    try:
        config = write_config(run_dir, database, args.datasets, args.every, args.duckdb_memory_limit)
        daemon = start_daemon(config)
    except AssertionError as exc:
        print(f"demon run did not start: {exc}", file=sys.stderr)
        return 1
    soak = Soak(args.datasets, args.minutes, args.every, parse_duration(args.every), run_dir, spawned)
    try:
        samples = sample_until(daemon, soak)
        soak.died = not daemon.alive()
        soak.exit_code = stop(daemon)
    finally:
        daemon.kill()  # only if still running: an interrupted bench must not leave a daemon behind
    if not samples:
        print(f"demon run exited with {soak.exit_code} before the first sample:\n{daemon.text()}",
              file=sys.stderr)
        return 1
    figures, rows = summarise(daemon, samples, soak)
    report(figures, rows)
    print(json.dumps(figures, default=str))
    return 0 if soak.exit_code == 0 and not soak.died else 1


if __name__ == "__main__":
    sys.exit(main())
