"""Column profiles (`profile`) of a 1M-row, 20-column table, on a DuckDB file and on PostgreSQL: what a run
of the dataset costs with a profile fused into its statement, and with a sampled one, against the same run
without it (the bare fused statement of a freshness and a volume check: `count(*)`, `max(loaded_at)`).

Each call goes through the SQL source as a run does (the metadata statement, then the statements), so the
ratios compare like with like. DuckDB's distinct counts are approximate (HyperLogLog); the exact
`count(DISTINCT)` PostgreSQL runs is measured on DuckDB too, to show what the approximation saves.
Run: .venv/bin/python -m bench.bench_profile [--rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from bench.bench_startup import machine
from bench.common import timed
from checks.probes import ColumnProfiles, MaxValue, Probe, RowCount
from checks.sources import open_source, sql_profile
from checks.sources.settings import SqlSourceConfig
from checks.sources.sql import SqlSource
from monitor.core.config.models import DatasetConfig
from monitor.core.evidence import ProfileReport
from monitor.core.redact import Redactor
from tests.pgserver import destroy, start_postgres

WIDE = DatasetConfig(source="warehouse", table="bench.wide")
MEDIANS: dict[str, float] = {}  # of the latest measure()
# 20 columns: 5 integers, 5 floats, 4 decimals, 4 strings (one NULL in a tenth of rows), a boolean and
# a timestamp.
COLUMNS = (
    [f"i{n} integer" for n in range(5)] + [f"f{n} double precision" for n in range(5)]
    + [f"d{n} numeric(12, 2)" for n in range(4)] + [f"s{n} varchar" for n in range(4)]
    + ["flag boolean", "loaded_at timestamp"]
)


def values(g: str) -> str:
    """The SELECT list filling the 20 columns from a row number `g` (the same SQL on both engines)."""
    return ", ".join(
        [f"{g}", f"mod({g}, 1000)", f"mod({g} * 7, 97)", f"mod({g}, 3)", f"{g} / 10"]
        + [f"{g} * 0.5", f"mod({g}, 101) * 1.25", "random()", f"mod({g}, 13) * 0.1", f"{g} * 1e-3"]
        + [f"CAST(mod({g}, 10000) AS numeric(12, 2)) / 4" for _ in range(4)]
        + [f"'customer-' || {g}", f"CASE WHEN mod({g}, 10) = 0 THEN NULL ELSE 'x' || mod({g}, 50) END",
           f"'region-' || mod({g}, 7)", f"md5(CAST({g} AS varchar))"]
        + [f"mod({g}, 2) = 0", f"TIMESTAMP '2026-01-01' + {g} * INTERVAL '1 second'"]
    )


def build(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA bench")
        conn.exec_driver_sql(f"CREATE TABLE bench.wide ({', '.join(COLUMNS)})")
        conn.exec_driver_sql(
            f"INSERT INTO bench.wide SELECT {values('g')} FROM generate_series(0, {rows - 1}) AS t(g)"
        )
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE bench.wide")
    engine.dispose()


def calls() -> dict[str, list[Probe[Any]]]:
    bare: list[Probe[Any]] = [RowCount(), MaxValue("loaded_at")]
    return {
        "bare": bare,
        "fused profile": [*bare, ColumnProfiles(None, 50)],
        "sampled 10%": [*bare, ColumnProfiles(None, 50, sample=0.1)],
        "sampled 1%": [*bare, ColumnProfiles(None, 50, sample=0.01)],
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


def measure(
    label: str, source: SqlSource, repeat: int, wanted: dict[str, list[Probe[Any]]]
) -> dict[str, str]:
    """Prints each call's median time, its ratio to the bare run and the statements it ran; returns the
    profile statements as shown."""
    medians: dict[str, float] = MEDIANS
    shown: dict[str, str] = {}
    for name, probes in wanted.items():
        before = source.requests["statement"]
        answers = source.observe(WIDE, probes)
        assert all(answer.ok for answer in answers.values()), [a.error for a in answers.values()]
        ran = source.requests["statement"] - before
        medians[name], _ = timed(partial(source.observe, WIDE, probes), repeat)
        ratio = medians[name] / medians["bare"]
        shown[name] = str(answers[probes[-1]].statement)
        profiled = answers[probes[-1]].value
        rows = f", {profiled.rows:,} rows profiled" if isinstance(profiled, ProfileReport) else ""
        print(f"  {name:<22} {medians[name] * 1000:8.1f} ms  {ratio:5.2f}x bare"
              f"  statements per call: {ran}{rows}")
    print(f"  ({label}: medians of {repeat} after a warm-up)")
    return shown


def bare_sql(label: str, statement: str, run: Callable[[str], object], repeat: int, demon: float) -> None:
    """The profile's fused statement run straight on the driver (a new connection each time, as demon's
    run opens one), against demon's run of the same probes."""
    median, _ = timed(partial(run, statement), repeat)
    print(f"  {label:<22} {median * 1000:8.1f} ms  demon's fused run is {demon / median:4.2f}x this bare SQL")


def duckdb_run(path: Path) -> Callable[[str], object]:
    def run(statement: str) -> object:
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(statement).fetchall()
    return run


def postgres_run(url: str) -> Callable[[str], object]:
    import psycopg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def run(statement: str) -> object:
        with psycopg.connect(dsn) as conn:
            return conn.execute(statement.encode()).fetchall()
    return run


@contextmanager
def exact_distinct_on_duckdb() -> Iterator[None]:
    """DuckDB counting distinct values exactly, as PostgreSQL does."""
    approximate = sql_profile.FLAVORS["duckdb"]
    sql_profile.FLAVORS["duckdb"] = sql_profile.ProfileFlavor(
        sql_profile.ProfileFlavor().distinct, approximate.length, approximate.sample
    )
    try:
        yield
    finally:
        sql_profile.FLAVORS["duckdb"] = approximate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = Path(tmp) / "wide.duckdb"
        build(f"duckdb:///{path}", args.rows)
        duckdb.connect(str(path)).close()
        print(f"DuckDB: {args.rows:,} rows x 20 columns, built in {time.perf_counter() - start:.1f} s")
        with opened("duckdb:///wide.duckdb", Path(tmp)) as source:
            shown = measure("DuckDB", source, args.repeat, calls())
            bare_sql("bare fused SQL", shown["fused profile"], duckdb_run(path), args.repeat,
                     MEDIANS["fused profile"])
            with exact_distinct_on_duckdb():
                fused = {"bare": calls()["bare"], "fused, exact distinct": calls()["fused profile"]}
                measure("DuckDB, count(DISTINCT) as on PostgreSQL", source, args.repeat, fused)
        print(f"  sampled statement: {shown['sampled 10%'][:60]} ... {shown['sampled 10%'][-80:]}")
    server = start_postgres()
    try:
        url = server.url()
        start = time.perf_counter()
        build(url, args.rows)
        print(f"PostgreSQL: {args.rows:,} rows x 20 columns, built in {time.perf_counter() - start:.1f} s")
        with opened(url, Path()) as source:
            shown = measure("PostgreSQL", source, args.repeat, calls())
            bare_sql("bare fused SQL", shown["fused profile"], postgres_run(url), args.repeat,
                     MEDIANS["fused profile"])
        print(f"  sampled statement: {shown['sampled 10%'][:60]} ... {shown['sampled 10%'][-80:]}")
    finally:
        destroy(server)


if __name__ == "__main__":
    main()
