"""Issue 2 benchmark: one dataset on a 10-million-row DuckDB table, and `demon --help` start time.

Prints: statements issued per dataset run, wall time of demon's run against the bare fused SQL in
the same process, end-to-end `demon check` wall time, and `demon --help` start time.
Run: .venv/bin/python -m bench.bench_check [--rows 10000000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common import count_statements, run_demon, timed

METRICS = [
    ("negative_amounts", "SELECT count(*) FROM analytics.events WHERE amount < 0"),
    ("null_users", "SELECT count(*) FROM analytics.events WHERE user_id IS NULL"),
    ("revenue", "SELECT sum(amount) FROM analytics.events"),
    ("distinct_categories", "SELECT count(DISTINCT category) FROM analytics.events"),
    ("future_events", "SELECT count(*) FROM analytics.events WHERE loaded_at > now() + INTERVAL 1 DAY"),
    ("max_amount", "SELECT max(amount) FROM analytics.events"),
    ("avg_amount", "SELECT avg(amount) FROM analytics.events"),
    ("refunds", "SELECT count(*) FROM analytics.events WHERE category = 'refund'"),
    ("empty_categories", "SELECT count(*) FROM analytics.events WHERE category = ''"),
]


def build(path: Path, rows: int) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA analytics")
        conn.execute(
            f"""CREATE TABLE analytics.events AS
            SELECT range AS id, (range % 100000)::BIGINT AS user_id,
                   ((range * 7919) % 100000) / 100.0 AS amount,
                   ['sale', 'refund', 'fee', 'tip'][1 + range % 4] AS category,
                   now() - to_seconds((range % 3600)::BIGINT) AS loaded_at
            FROM range({rows})"""
        )


def write_config(directory: Path) -> Path:
    metrics = "".join(f'      - metric: {{name: {name}, sql: "{sql}"}}\n' for name, sql in METRICS)
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        "sources:\n  warehouse: {kind: sql, url: 'duckdb:///events.duckdb', query_timeout: 10m}\n"
        "datasets:\n  events:\n    source: warehouse\n    table: analytics.events\n    checks:\n"
        "      - freshness: {column: loaded_at, warn_after: 2h, fail_after: 6h}\n"
        "      - volume: {min: 1, max_drop: 50%}\n"
        "      - schema: {columns: {id: integer, user_id: integer, amount: float, category: string}}\n"
        f"{metrics}"
        "state: {url: 'sqlite:///.demon/state.db'}\n"
    )
    return path


def fused_sql(results: list) -> str:
    """The aggregate statement demon ran (shared by the freshness, volume and metric checks)."""
    statements = {s for r in results if r.kind != "schema" for s in r.statements}
    assert len(statements) == 1, statements
    return statements.pop()


def bare(database: str, sql: str) -> None:
    with duckdb.connect(database, read_only=True) as conn:
        conn.execute(sql).fetchall()


def help_time(repeat: int = 10) -> float:
    demon = str(Path(sys.executable).with_name("demon"))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([demon, "--help"], check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        start = time.perf_counter()
        build(directory / "events.duckdb", args.rows)
        print(f"table: {args.rows:,} rows built in {time.perf_counter() - start:.1f}s")
        config = write_config(directory)
        with count_statements("duckdb") as statements:
            results = run_demon(config)
        checks = len(results)
        print(f"checks: {checks} on one dataset; outcomes: {sorted({r.outcome.value for r in results})}")
        print(f"statements per dataset run: {len(statements)}")
        for statement in statements:
            print("   ", " ".join(statement.split())[:150])
        sql = fused_sql(results)
        database = str(directory / "events.duckdb")
        demon_time, _ = timed(lambda: run_demon(config))
        cold_time, _ = timed(lambda: bare(database, sql))
        with duckdb.connect(database, read_only=True) as conn:
            warm_time, _ = timed(lambda: conn.execute(sql).fetchall())
        print(f"bare fused SQL, opening the database as demon must: {cold_time * 1000:.1f} ms")
        print(f"bare fused SQL on an open, warm connection: {warm_time * 1000:.1f} ms")
        print(
            "demon run (load config, open store and source, 2 statements, judge, record): "
            f"{demon_time * 1000:.1f} ms = {demon_time / cold_time:.2f}x the bare SQL opening the database, "
            f"{demon_time / warm_time:.2f}x on a warm connection"
        )
        demon = str(Path(sys.executable).with_name("demon"))
        start = time.perf_counter()
        subprocess.run([demon, "check", "-c", str(config), "-f", "json"], capture_output=True, cwd=directory)
        end_to_end = time.perf_counter() - start
        interpreter, _ = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat=5)
        print(
            f"`demon check` end to end: {end_to_end * 1000:.0f} ms "
            f"(interpreter start alone: {interpreter * 1000:.0f} ms)"
        )
    print(f"`demon --help` start time (median of 10): {help_time() * 1000:.0f} ms")


if __name__ == "__main__":
    main()
