"""Rows per UTC day and hour of a timestamp column (`BucketCounts`, learned baselines with `by:`) against a
plain `SELECT count(*)` of the same table: a 10M-row DuckDB file, and a PostgreSQL table with an index on
the column (3M rows by default, so it builds in about a minute). Rows spread evenly over 60 days, in load
order.

A baseline's first run counts 28 days; later runs only the last day (daily buckets) or 24 hours (hourly), a
range the index (PostgreSQL) or the zone maps (DuckDB) narrow the scan to. Each call goes through the SQL
source as a run does (the metadata statement, then one statement), and the count is the source's own fused
`SELECT count(*)`, so the ratios compare like with like.
Run: .venv/bin/python -m bench.bench_bucket_counts [--rows 10000000] [--pg-rows 3000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from bench.bench_startup import machine
from bench.common import timed
from checks.probes import BucketCounts, Probe, RowCount
from checks.sources import open_source
from checks.sources.settings import SqlSourceConfig
from checks.sources.sql import SqlSource
from monitor.core.config.models import DatasetConfig
from monitor.core.redact import Redactor
from tests.pgserver import destroy, start_postgres

DAYS = 60
EVENTS = DatasetConfig(source="warehouse", table="bench.events")
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # the newest row is just before it


def build_duckdb(path: Path, rows: int) -> None:
    step_us = DAYS * 86400 * 1_000_000 // rows
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA bench")
        conn.execute(
            f"""CREATE TABLE bench.events AS
            SELECT range AS id, ['web', 'app'][1 + range % 2] AS kind,
                   TIMESTAMP '{NOW:%Y-%m-%d %H:%M:%S}'
                   - to_microseconds((({rows} - range) * {step_us})::BIGINT) AS loaded_at
            FROM range({rows})"""
        )


def build_postgres(url: str, rows: int) -> None:
    step = f"INTERVAL '{DAYS * 86400 / rows} seconds'"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA bench")
        conn.exec_driver_sql(
            "CREATE TABLE bench.events AS SELECT g AS id, (ARRAY['web', 'app'])[1 + mod(g, 2)] AS kind,"
            f" TIMESTAMP '{NOW:%Y-%m-%d %H:%M:%S}' - ({rows} - g) * {step} AS loaded_at"
            f" FROM generate_series(0, {rows - 1}) g"
        )
        conn.exec_driver_sql("CREATE INDEX ON bench.events (loaded_at)")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE bench.events")  # as autovacuum leaves it: index-only scans
    engine.dispose()


def probes() -> dict[str, Probe[Any]]:
    """What runs ask: the first one 28 days of buckets, later ones the last day or the last 24 hours."""
    today = NOW.replace(hour=0)
    return {
        "count(*)": RowCount(),
        "1d full 28 days": BucketCounts("loaded_at", "1d", today - timedelta(days=28)),
        "1d incremental": BucketCounts("loaded_at", "1d", today - timedelta(days=1)),
        "1h full 28 days": BucketCounts("loaded_at", "1h", today - timedelta(days=28)),
        "1h incremental": BucketCounts("loaded_at", "1h", NOW - timedelta(hours=24)),
    }


@contextmanager
def opened(url: str, base_dir: Path) -> Iterator[SqlSource]:
    config = SqlSourceConfig.model_validate({"kind": "sql", "url": url, "query_timeout": "10m"})
    source = open_source("warehouse", config, base_dir, Redactor())
    assert isinstance(source, SqlSource)
    try:
        yield source
    finally:
        source.close()


def measure(label: str, source: SqlSource, repeat: int) -> dict[str, str]:
    """Prints each probe's median time through the source and the statements a call runs; returns the
    statements as shown."""
    shown: dict[str, str] = {}
    medians: dict[str, float] = {}
    for name, probe in probes().items():
        before = source.requests["statement"]
        answer = source.observe(EVENTS, [probe])[probe]
        assert answer.ok, answer.error
        ran = source.requests["statement"] - before
        medians[name], _ = timed(partial(source.observe, EVENTS, [probe]), repeat)
        buckets = "" if name == "count(*)" else f", {len(answer.value)} buckets"
        shown[name] = str(answer.statement)
        ratio = medians[name] / medians["count(*)"]
        print(f"  {name:<16} {medians[name] * 1000:8.1f} ms  {ratio:5.2f}x count(*)"
              f"  statements per call: {ran} (metadata + 1){buckets}")
    print(f"  ({label}: medians of {repeat} after a warm-up)")
    return shown


def explain(url: str, statement: str) -> str:
    """PostgreSQL's plan of a statement as shown (its literal `since` takes the column's type, as the bound
    value does)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return "\n".join(f"    {row[0]}" for row in conn.exec_driver_sql(f"EXPLAIN {statement}"))
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--pg-rows", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_duckdb(Path(tmp) / "events.duckdb", args.rows)
        print(f"DuckDB: {args.rows:,} rows over {DAYS} days, built in {time.perf_counter() - start:.1f} s")
        with opened("duckdb:///events.duckdb", Path(tmp)) as source:
            shown = measure("DuckDB", source, args.repeat)
        print(f"  statement: {shown['1d incremental']}")
    server = start_postgres()
    try:
        url = server.url()
        start = time.perf_counter()
        build_postgres(url, args.pg_rows)
        print(f"PostgreSQL: {args.pg_rows:,} rows over {DAYS} days, index on loaded_at,"
              f" built in {time.perf_counter() - start:.1f} s")
        with opened(url, Path()) as source:
            shown = measure("PostgreSQL", source, args.repeat)
        print(f"  statement: {shown['1d incremental']}\n  plan:\n{explain(url, shown['1d incremental'])}")
    finally:
        destroy(server)


if __name__ == "__main__":
    main()
