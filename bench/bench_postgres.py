"""Issue 2 benchmark: 200 datasets against one real PostgreSQL with `max_concurrency: 4`.

Starts its own PostgreSQL on 127.0.0.1 (tests/pgserver.py). Prints datasets per second and
statements per dataset run, as demon sends them and as the server saw them (`log_statement = all`:
connection set-up and transaction control too).
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

# What SQLAlchemy's dialect initialisation sends on an engine's first connection (before issue 20 also
# psycopg's look-up of the hstore type, in a savepoint).
SET_UP = ("select pg_catalog.version()", "select current_schema()", "show transaction isolation level",
          "show standard_conforming_strings")
CONTROL = ("BEGIN", "ROLLBACK", "COMMIT", "SAVEPOINT", "RELEASE")


def server_view(statements: list[str], datasets: int) -> str:
    """The statements the server saw, grouped: demon's own, connection set-up, pings (SQLAlchemy's pre-ping
    of a pooled connection is an empty statement), transaction control."""
    set_up = sum(statement in SET_UP or "typarray" in statement for statement in statements)
    pings = statements.count(";")
    control = sum(statement.upper().startswith(CONTROL) for statement in statements)
    own = len(statements) - set_up - pings - control
    return (f"statements seen by PostgreSQL: {len(statements)} in all = {len(statements) / datasets:.1f} per "
            f"dataset run ({own} demon's own, {set_up} connection set-up, {pings} pings, {control} "
            "transaction control)")


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
            server.psql(f"ALTER ROLE {server.user} SET log_statement = 'all'")
            offset = server.log.stat().st_size
            with count_statements("postgresql") as statements:
                start = time.perf_counter()
                results = run_demon(config)
                elapsed = time.perf_counter() - start
            seen = server.logged_since(offset)
        outcomes = sorted({r.outcome.value for r in results})
        data = [s for s in statements if "pg_catalog.pg_attribute" in s or "FROM bench" in s]
        print(f"{args.datasets} datasets x {args.rows:,} rows, {len(results)} checks, outcomes {outcomes}")
        print(f"wall time {elapsed:.2f}s = {args.datasets / elapsed:.1f} datasets/s with max_concurrency 4")
        print(
            f"statements against PostgreSQL: {len(statements)} in all, {len(data)} data/metadata "
            f"= {len(data) / args.datasets:.1f} per dataset run"
        )
        print(server_view(seen, args.datasets))
    finally:
        destroy(server)


if __name__ == "__main__":
    main()
