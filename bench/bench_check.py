"""Issue 20 benchmark: the twelve checks of a peer comparison on one order table, DuckDB and PostgreSQL.

One dataset, `orders` (10M rows by default, no bad row: the usual case of a check is that it passes), with
row count (volume), freshness, four null counts, allowed values, duplicates and an email pattern (a Pandera
schema), min, max and mean of `amount` (metrics) and the required columns (schema). Each round, interleaved:
demon's dataset run in-process (load the config, open store and source, run, judge, record), the statements
demon sent run bare on the driver, and one hand-written scan computing the same twelve answers (the floor);
then whole processes: `demon check` against the bare process (a fresh interpreter importing only the driver
and running the same statements, `bench/bare.py`), issue 20's goal being at most 0.35 s more.
Prints best and median of the rounds, demon's ratio to its bare statements, the statements the server saw
(PostgreSQL: `log_statement = all` of the run), the temporary bytes PostgreSQL spilled, and the peak RSS of a
`demon check` of its own (VmHWM).
`--metrics sql` writes the metrics as `sql:` statements (all the code before issue 20 knew); `expression` as
aggregate expressions fused into the dataset's scan.
`--memory-limit` gives the DuckDB source a `memory_limit`, and its bare statements and the hand-written scan
the same memory_limit and a spill folder, so all three run alike.
Run: .venv/bin/python -m bench.bench_check [--rows 10000000] [--rounds 5] [--metrics expression|sql]
     [--engines duckdb,postgresql] [--work-mem 256MB] [--memory-limit 128MB]
"""

from __future__ import annotations

import argparse
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.bare import Sent, bare
from bench.bench_startup import statements_of
from bench.common import run_demon

REPO = Path(__file__).resolve().parents[1]
DEMON = str(Path(sys.executable).with_name("demon"))
STATUSES = ("new", "paid", "shipped", "delivered", "returned")
EMAIL = r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"
AGGREGATES = {"min_amount": "min(amount)", "max_amount": "max(amount)", "mean_amount": "avg(amount)"}
SCHEMA_MODULE = f'''"""The orders' Pandera schema: four null counts, allowed values, duplicates, an email."""
import pandera.pandas as pa

ORDERS = pa.DataFrameSchema({{
    "order_id": pa.Column(None, unique=True),
    "customer_id": pa.Column(None),
    "status": pa.Column(None, pa.Check.isin({list(STATUSES)!r})),
    "amount": pa.Column(None),
    "email": pa.Column(None, pa.Check.str_matches({EMAIL!r}), nullable=True),
}})
'''
# The same twelve answers in one scan, written by hand: what a peer running them fused at best costs.
FLOOR = {
    "duckdb": """SELECT count(*), max(loaded_at), count(*) - count(order_id),
        count(*) - count(customer_id),
        count(*) - count(status), count(*) - count(amount),
        count(*) FILTER (WHERE status NOT IN ({statuses})),
        min(amount), max(amount), avg(amount), count(order_id) - count(DISTINCT order_id),
        count(*) FILTER (WHERE NOT regexp_matches(email, '^(?:{email})')) FROM bench.orders""",
    "postgresql": """SELECT count(*), max(loaded_at), count(*) - count(order_id),
        count(*) - count(customer_id),
        count(*) - count(status), count(*) - count(amount),
        count(*) FILTER (WHERE status NOT IN ({statuses})),
        min(amount), max(amount), avg(amount), count(order_id) - count(DISTINCT order_id),
        count(*) FILTER (WHERE email !~ '^(?:{email})') FROM bench.orders""",
}
ORDERS_SELECT = """SELECT g AS order_id, g % 100000 AS customer_id,
       (ARRAY[{statuses}])[1 + g % {n}] AS status, (((g * 7919) % 100000) / 100.0)::float8 AS amount,
       'user' || g || '@mail' || g % 13 || '.example.com' AS email, {loaded_at} AS loaded_at
FROM {rows}"""


def build_duckdb(directory: Path, rows: int) -> str:
    import duckdb

    path = directory / "orders.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA bench")
        select = ORDERS_SELECT.format(
            statuses=", ".join(f"'{s}'" for s in STATUSES), n=len(STATUSES),
            loaded_at="now()::TIMESTAMP - to_seconds((g % 3600)::BIGINT)",
            rows=f"(SELECT range + 1 AS g FROM range({rows}))",
        )
        conn.execute(f"CREATE TABLE bench.orders AS {select}")
    return f"duckdb:///{path}"


def build_postgres(url: str, rows: int) -> None:
    select = ORDERS_SELECT.format(
        statuses=", ".join(f"'{s}'" for s in STATUSES), n=len(STATUSES),
        loaded_at="now()::timestamp - (g % 3600) * interval '1 second'",
        rows=f"generate_series(1::bigint, {rows}) g",
    )
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA bench"))
        conn.execute(sa.text(f"CREATE TABLE bench.orders AS {select}"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE bench.orders"))
    engine.dispose()


def write_config(directory: Path, name: str, url: str, metrics: str, memory: dict[str, str | None]) -> Path:
    (directory / "bench_orders.py").write_text(SCHEMA_MODULE)
    if metrics == "sql":
        lines = [f'      - metric: {{name: {label}, sql: "SELECT {sql} FROM bench.orders"}}\n'
                 for label, sql in AGGREGATES.items()]
    else:
        lines = [f'      - metric: {{name: {label}, expression: "{sql}"}}\n'
                 for label, sql in AGGREGATES.items()]
    path = directory / f"{name}.yml"
    setting = {"postgresql": "work_mem", "duckdb": "memory_limit"}[name]
    bound = f", {setting}: {memory[name]}" if memory[name] else ""
    path.write_text(
        "version: 1\n"
        f"sources:\n  warehouse: {{kind: sql, url: '{url}', query_timeout: 10m{bound}}}\n"
        "datasets:\n  orders:\n    source: warehouse\n    table: bench.orders\n    checks:\n"
        "      - volume: {min: 1}\n"
        "      - freshness: {column: loaded_at, fail_after: 6h}\n"
        "      - quality: {schema: 'bench_orders:ORDERS'}\n"
        + "".join(lines)
        + "      - schema: {columns: {order_id: integer, customer_id: integer, status: string, amount: float,"
        " email: string, loaded_at: timestamp}}\n"
        f"state: {{url: 'sqlite:///{directory}/{name}-state.db'}}\n"
    )
    return path


# The bare process after importing what any tool on SQLAlchemy, pydantic and a Pandera schema imports: the
# floor of `demon check` short of dropping those libraries.
LIBRARIES = (
    "import click, yaml, pydantic, sqlalchemy, sqlalchemy.dialects.sqlite, {dialect}, pandera.pandas;"
    "import sys; from bench.bare import main; main(sys.argv[1])"
)
DIALECTS = {"duckdb": "duckdb_sqlalchemy", "postgresql": "sqlalchemy.dialects.postgresql.psycopg"}
LOGGED = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*)")  # simple and extended protocol


@contextmanager
def sent_statements(url: str) -> Iterator[Sent]:
    """Every statement (and its parameters) SQLAlchemy sends to engines of `url`'s backend."""
    seen: Sent = []
    backend = sa.make_url(url).get_backend_name()

    def listener(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if conn.engine.url.get_backend_name() == backend:
            seen.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", listener)


def process(argv: list[str]) -> None:
    """A command in a process of its own, from the repository (where `bench.bare` is found), which must
    succeed: a failure would be fast and mean nothing."""
    subprocess.run(argv, check=True, capture_output=True, cwd=REPO)


def passed(config: Path) -> None:
    """demon's dataset run, which must pass: an error would be fast and mean nothing."""
    failed = [r.message for r in run_demon(config) if r.outcome.value != "pass"]
    assert not failed, failed


def peak_rss_mib(config: Path) -> float:
    """VmHWM of a fresh interpreter running the dataset once (imports included)."""
    code = (
        "import sys; from pathlib import Path; from bench.common import run_demon;"
        "run_demon(Path(sys.argv[1]));"
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    argv = [sys.executable, "-c", code, str(config)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def spilled_bytes(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        sql = "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
        found = conn.execute(sa.text(sql))
        value = int(found.scalar() or 0)
    engine.dispose()
    return value


def server_log_statements(log: Path, since: int) -> list[str]:
    """The statements PostgreSQL logged after byte `since` of its log (`log_statement = all`)."""
    with log.open("rb") as handle:
        handle.seek(since)
        text = handle.read().decode(errors="replace")
    return [found[1] for found in map(LOGGED.search, text.splitlines()) if found]


def figures(samples: list[float]) -> str:
    return f"best {min(samples):.2f}s, median {statistics.median(samples):.2f}s"


def bench_engine(name: str, url: str, directory: Path, args: argparse.Namespace, log: Path | None) -> None:
    memory = {"postgresql": args.work_mem, "duckdb": args.memory_limit}
    config = write_config(directory, name, url, args.metrics, memory)
    run_demon(config)  # warm-up: imports, the table in the OS cache, the first (baseline-less) results
    spilled = spilled_bytes(url) if log else 0
    start = log.stat().st_size if log else 0
    with sent_statements(url) as sent:
        results = run_demon(config)
    outcomes = sorted({f"{r.check.split('.', 1)[1]}={r.outcome.value}" for r in results})
    work = [(s, p) for s, p in sent if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    print(f"\n{name}: {len(results)} checks: {', '.join(outcomes)}")
    others = len(sent) - len(work)
    print(f"  statements demon sent per dataset run: {len(work)} (+{others} session/transaction)")
    for statement, _ in work:
        print("    ", " ".join(statement.split())[:160], "..." if len(statement) > 160 else "")
    if log:
        seen = server_log_statements(log, start)
        print(f"  statements the server saw (log_statement = all): {len(seen)}: "
              + "; ".join(" ".join(s.split())[:40] for s in seen))
        print(f"  temporary bytes spilled by the run: {(spilled_bytes(url) - spilled) / 2**20:.0f} MiB")
    floor_sql = FLOOR[name].format(statuses=", ".join(f"'{s}'" for s in STATUSES), email=EMAIL)
    # The bare process runs the statements as a person would paste them, values inline (demon's report shows
    # them so): a value left bound (an `isin` list) makes DuckDB's client import pandas to convert it.
    typed = [(statement, None) for statement in statements_of(DEMON, config)]
    arguments = directory / f"{name}-bare.pickle"
    arguments.write_bytes(pickle.dumps((url, typed, args.memory_limit)))
    runs: dict[str, Callable[[], Any]] = {
        "demon": lambda: passed(config),
        "bare": lambda: bare(url, work, args.memory_limit),
        "floor": lambda: bare(url, [(floor_sql, None)], args.memory_limit),
        "demon process": lambda: process([DEMON, "check", "-c", str(config), "-f", "json"]),
        "bare process": lambda: process([sys.executable, "-m", "bench.bare", str(arguments)]),
        "libraries process": lambda: process(
            [sys.executable, "-c", LIBRARIES.format(dialect=DIALECTS[name]), str(arguments)]),
    }
    samples: dict[str, list[float]] = {key: [] for key in runs}
    for index in range(args.rounds):
        order = list(runs)[index % len(runs):] + list(runs)[:index % len(runs)]  # who goes first rotates
        for key in order:
            began = time.perf_counter()
            runs[key]()
            samples[key].append(time.perf_counter() - began)
    demon, bare_s, floor = samples["demon"], samples["bare"], samples["floor"]
    print(f"  demon's dataset run: {figures(demon)}")
    print(f"  demon's statements bare on the driver: {figures(bare_s)}; demon / bare: "
          f"{statistics.median(demon) / statistics.median(bare_s):.2f}x (median), "
          f"{min(demon) / min(bare_s):.2f}x (best)")
    print(f"  the twelve answers in one hand-written scan: {figures(floor)}; demon / that: "
          f"{statistics.median(demon) / statistics.median(floor):.2f}x (median)")
    whole, floor_process = samples["demon process"], samples["bare process"]
    more = statistics.median(whole) - statistics.median(floor_process)
    print(f"  `demon check` as a process: {figures(whole)}; the bare process: {figures(floor_process)}; "
          f"demon - bare: {more:+.2f}s (median; goal at most +0.35s), {min(whole) - min(floor_process):+.2f}s"
          " (best)")
    libraries = statistics.median(samples["libraries process"]) - statistics.median(floor_process)
    print(f"  the bare process importing demon's libraries first (SQLAlchemy and the dialect, pydantic, "
          f"PyYAML, click, Pandera for the schema): {libraries:+.2f}s over bare (median); demon's own share "
          f"{more - libraries:+.2f}s")
    print(f"  peak RSS of one `demon check` of it in a fresh interpreter: {peak_rss_mib(config):.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--metrics", choices=("expression", "sql"), default="expression")
    parser.add_argument("--engines", default="duckdb,postgresql")
    parser.add_argument("--work-mem", help="the PostgreSQL source's work_mem (256MB); else the server's 4MB")
    parser.add_argument("--memory-limit", help="the DuckDB source's memory_limit (128MB); else DuckDB's")
    args = parser.parse_args()
    engines = args.engines.split(",")
    work_mem, memory_limit = args.work_mem or "the server's", args.memory_limit or "DuckDB's (80% of RAM)"
    print(f"{args.rows:,} rows, {args.rounds} rounds, metrics as {args.metrics}, work_mem {work_mem}, "
          f"DuckDB memory_limit {memory_limit}")
    with tempfile.TemporaryDirectory(prefix="demon-bench-check-") as tmp:
        directory = Path(tmp)
        if "duckdb" in engines:
            began = time.perf_counter()
            url = build_duckdb(directory, args.rows)
            print(f"duckdb table built in {time.perf_counter() - began:.1f}s")
            bench_engine("duckdb", url, directory, args, None)
        if "postgresql" in engines:
            from tests.pgserver import destroy, start_postgres

            server = start_postgres()
            try:
                server.psql(f"ALTER ROLE {server.user} SET log_statement = 'all'")
                began = time.perf_counter()
                build_postgres(server.url(), args.rows)
                print(f"postgresql table built in {time.perf_counter() - began:.1f}s "
                      f"(work_mem {server.psql('SHOW work_mem').strip()})")
                log = server.datadir.parent / "server.log"
                bench_engine("postgresql", server.url(), directory, args, log)
            finally:
                destroy(server)


if __name__ == "__main__":
    main()
