"""`demon backtest` over a year of hourly points: a SQLite state store holding 8,760 points of a `by:` series
(rows per hour with daily and weekly seasonality and noise), the backtest command timed end to end as a user
runs it, beside the bare interpreter's start-up in the same run.

Run: .venv/bin/python -m bench.bench_backtest [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.bench_startup import machine, wall
from checks.baselines.learn import series_key
from checks.kinds import KINDS
from monitor.app.config import load_config
from monitor.core.series import SeriesPoint, SeriesUpdate
from monitor.state.store import StateStore

HOURS = 365 * 24
CONFIG = """version: 1
sources:
  warehouse: {kind: sql, url: 'duckdb:///w.duckdb'}
datasets:
  events:
    source: warehouse
    table: events
    checks:
      - volume:
          anomaly: {by: created_at, bucket: 1h}
state: {url: 'sqlite:///state.db'}
"""


def series(now: datetime) -> list[SeriesPoint]:
    """A year of hourly counts: busy weekday afternoons, quiet nights and weekends, 5% noise."""
    rng = random.Random(17)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)
    points = []
    for hour in range(HOURS):
        at = start + timedelta(hours=hour)
        daily = 1 + 0.8 * math.sin((at.hour - 9) / 24 * 2 * math.pi)
        weekly = 0.4 if at.weekday() >= 5 else 1.0
        points.append(SeriesPoint(at, round(1000 * daily * weekly * rng.gauss(1, 0.05))))
    return points


def build(directory: Path) -> None:
    (directory / "demon.yml").write_text(CONFIG)
    config = load_config(directory / "demon.yml")
    spec = config.checks[0]
    learning = KINDS[spec.kind].learns(spec.params, config.datasets[spec.dataset])
    assert learning is not None
    key = series_key(spec.id, learning.definition)
    with StateStore.open("sqlite:///state.db", directory) as store:
        run = store.start_run("bench")
        store.record(run, [], series=[SeriesUpdate(key, tuple(series(datetime.now(UTC))))])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        build(directory)
        demon = [sys.executable, "-m", "monitor", "backtest", "events.volume", "--days", "366"]
        bare = wall([sys.executable, "-c", "pass"], args.repeat)
        table = wall(demon, args.repeat, cwd=directory)
        as_json = wall([*demon, "--format", "json"], args.repeat, cwd=directory)
        start = time.perf_counter()
        shown = subprocess.run([*demon, "--format", "json", "--plot", "year.svg"], cwd=directory, check=True,
                               capture_output=True, text=True).stdout
        plotted = time.perf_counter() - start
        points = json.loads(shown)["points"]
        flagged = sum(point["outcome"] == "fail" for point in points)
    print(f"demon backtest over {len(points):,} hourly points (a year), SQLite state store:")
    print(f"  table {table:.2f} s, --format json {as_json:.2f} s, json and --plot {plotted:.2f} s"
          f" (the bare interpreter starts in {bare * 1000:.0f} ms); {flagged} points flagged")


if __name__ == "__main__":
    main()
