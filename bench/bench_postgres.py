"""Issue 2 benchmark: 200 datasets against one real PostgreSQL with `max_concurrency: 4`.

Starts its own PostgreSQL on 127.0.0.1 (tests/pgserver.py). Prints datasets per second and
statements per dataset run.
Run: .venv/bin/python -m bench.bench_postgres [--datasets 200] [--rows 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import count_statements, run_demon
from tests.pgserver import destroy, start_postgres


def build(url: str, datasets: int, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA bench"))
        for i in range(datasets):
            conn.execute(
                sa.text(
                    f"CREATE TABLE bench.t{i} AS SELECT g AS id, g * 0.5 AS amount, md5(g::text) AS label, "
                    f"now() - (g || ' seconds')::interval AS loaded_at FROM generate_series(1, {rows}) g"
                )
            )
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def write_config(directory: Path, url: str, datasets: int) -> Path:
    block = "".join(
        f"  t{i}:\n    source: warehouse\n    table: bench.t{i}\n    checks:\n"
        "      - freshness: {column: loaded_at, fail_after: 1d}\n"
        "      - volume: {min: 1}\n"
        "      - schema: {columns: {id: integer, amount: decimal, label: string, loaded_at: timestamp}}\n"
        f"      - metric: {{name: neg, max: 0, sql: 'SELECT count(*) FROM bench.t{i} WHERE amount<0'}}\n"
        for i in range(datasets)
    )
    path = directory / "demon.yml"
    path.write_text(
        f"version: 1\nsources:\n  warehouse: {{kind: sql, url: '{url}', max_concurrency: 4}}\n"
        f"datasets:\n{block}state: {{url: 'sqlite:///.demon/state.db'}}\n"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    server = start_postgres()
    try:
        url = server.url()
        build(url, args.datasets, args.rows)
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), url, args.datasets)
            run_demon(config)  # warm-up: connections, state store migration
            with count_statements("postgresql") as statements:
                start = time.perf_counter()
                results = run_demon(config)
                elapsed = time.perf_counter() - start
        outcomes = sorted({r.outcome.value for r in results})
        data = [s for s in statements if "pg_catalog.pg_attribute" in s or "FROM bench" in s]
        print(f"{args.datasets} datasets x {args.rows:,} rows, {len(results)} checks, outcomes {outcomes}")
        print(f"wall time {elapsed:.2f}s = {args.datasets / elapsed:.1f} datasets/s with max_concurrency 4")
        print(
            f"statements against PostgreSQL: {len(statements)} in all, {len(data)} data/metadata "
            f"= {len(data) / args.datasets:.1f} per dataset run"
        )
    finally:
        destroy(server)


if __name__ == "__main__":
    main()
