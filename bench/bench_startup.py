"""What a new user waits for: `demon --help`, `demon --version`, `demon check` on a SQL-only DuckDB config and
`demon demo`, beside two floors measured in the same run (ratios hold on a noisy machine; seconds do not):

- the bare interpreter, `python -c pass`;
- the bare statement process (`bench/bare.py`): a fresh interpreter that imports duckdb, opens the same
  database file read-only and runs the very statements `demon check` ran (as its JSON report lists them).

`demon check` minus the bare statement process is what demon itself costs per run: reading the config, its
imports, judging, the state store and the report (issue 20's goal: at most 0.35 s).

Run: .venv/bin/python -m bench.bench_startup [--repeat 10] [--no-demo]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # where `python -m bench.bare` is found
# The SQL-only config: two DuckDB tables, freshness, volume, schema and metric checks.
SQL_CONFIG = """\
version: 1
sources:
  warehouse: {kind: sql, url: 'duckdb:///warehouse.duckdb'}
datasets:
  orders:
    source: warehouse
    table: sales.orders
    checks:
      - freshness: {column: loaded_at, fail_after: 1d}
      - volume: {min: 100, max_drop: 50%}
      - metric: {name: late, sql: "SELECT count(*) FROM sales.orders WHERE shipped < ordered", max: 0}
      - schema: {on_drift: warn}
  order_lines:
    source: warehouse
    table: sales.order_lines
    where: quantity > 0
    checks:
      - freshness: {column: loaded_at, warn_after: 2h, fail_after: 6h}
      - volume: {min: 1000}
      - schema: {columns: {order_id: integer, line: integer, quantity: integer, price: decimal}}
state: {url: 'sqlite:///.demon/state.db'}
"""


def build_sql_config(directory: Path) -> Path:
    import duckdb

    with duckdb.connect(str(directory / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA sales")
        conn.execute(
            "CREATE TABLE sales.orders AS SELECT range AS id, DATE '2026-01-01' + (range % 300)::INT"
            " AS ordered, DATE '2026-01-02' + (range % 300)::INT AS shipped, now() AS loaded_at"
            " FROM range(5000)"
        )
        conn.execute(
            "CREATE TABLE sales.order_lines AS SELECT range // 4 AS order_id, (range % 4)::INT AS line,"
            " (1 + range % 9)::INT AS quantity, (range % 1000 / 10)::DECIMAL(10, 2) AS price,"
            " now() AS loaded_at FROM range(20000)"
        )
    config = directory / "demon.yml"
    config.write_text(SQL_CONFIG)
    return config


def statements_of(demon: str, config: Path) -> list[str]:
    """The statements one `demon check` run sends to the warehouse, from its JSON report."""
    done = subprocess.run([demon, "check", "-c", str(config), "-f", "json"], capture_output=True, text=True,
                          cwd=config.parent, check=False)
    report = json.loads(done.stdout)
    seen: list[str] = []
    for result in report["results"]:
        assert result["outcome"] != "error", result
        seen += [statement for statement in result["statements"] if statement not in seen]
    return seen


# As installed from a wheel, demon's modules have their bytecode: let the warm-up write it for a checkout too.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def once(argv: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=False, capture_output=True, cwd=cwd, env=ENV)
    return time.perf_counter() - start


def timings(argv: list[str], repeat: int, cwd: Path | None = None) -> list[float]:
    """Wall times of `repeat` runs, after one warm-up (the page cache, not the code, is what warms)."""
    once(argv, cwd)
    return [once(argv, cwd) for _ in range(repeat)]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}; Python {platform.python_version()}; load average {load}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-demo", action="store_true", help="skip `demon demo` (the slowest)")
    args = parser.parse_args()
    demon = str(Path(sys.executable).with_name("demon"))
    print(f"machine: {machine()}")
    print(f"best / median of {args.repeat} runs each, after a warm-up")
    with tempfile.TemporaryDirectory() as tmp:
        config = build_sql_config(Path(tmp))
        statements = statements_of(demon, config)
        arguments = config.parent / "bare.pickle"  # bench/bare.py's: the database and the statements
        arguments.write_bytes(pickle.dumps((f"duckdb:///{config.parent / 'warehouse.duckdb'}",
                                            [(statement, None) for statement in statements])))
        runs = {
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            f"bare statement process ({len(statements)} statements)": (
                [sys.executable, "-m", "bench.bare", str(arguments)], REPO),
            "demon --help": ([demon, "--help"], None),
            "demon --version": ([demon, "--version"], None),
            "demon check (SQL-only, DuckDB, 7 checks)": ([demon, "check", "-c", str(config), "-f", "json"],
                                                         config.parent),
        }
        for argv, cwd in runs.values():
            once(argv, cwd)  # the warm-up: the page cache, not the code, is what warms
        # Interleaved rounds: a burst of load on the machine falls on every command alike.
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, (argv, cwd) in runs.items():
                samples[name].append(once(argv, cwd))
    names = list(runs)
    bare, statement = (statistics.median(samples[name]) for name in names[:2])
    for name in names:
        best, median = min(samples[name]), statistics.median(samples[name])
        ratios = f"{median / bare:.2f}x the bare interpreter"
        if name.startswith("demon check"):
            ratios += (f", {median / statement:.2f}x the bare statement process"
                       f" (+{ms(median - statement)})")
        print(f"{name:45} best {ms(best):>7}  median {ms(median):>7}  = {ratios}")
    if not args.no_demo:
        with tempfile.TemporaryDirectory() as tmp:
            took = statistics.median(timings([demon, "demo", "--dir", tmp], max(1, args.repeat // 3)))
        print(f"demon demo (build the warehouse and lake, run its checks twice, open incidents): {took:.2f} s"
              f" (median of {max(1, args.repeat // 3)})")


if __name__ == "__main__":
    main()
