"""Issue 4 benchmark: a 12-rule Pandera schema on a 10-million-row DuckDB table, in SQL and in pandas.

demon: `SqlSource.observe` answering `Validation(plan)`: one metadata statement, one fused statement
counting every rule, one grouping per uniqueness rule with duplicated keys, and one bounded sample
statement per failing rule. Pandera: the table read into
pandas (DuckDB's `.df()`), then `schema.validate(df, lazy=True)`. Each runs in a fresh interpreter,
so its peak memory (VmHWM) is its own; both report failing rows per rule, which must agree with each
other and with the bad rows the table was built with (exit 1 otherwise).
The table is built once per row count and kept under the system's temp folder.
demon runs twice, with DuckDB's default memory settings and with the source's `memory_limit` (128MB).
`--lake` measures the lake path instead: the table as one Parquet file, demon's check (Pandera on a sample)
against every row counted by DuckDB over the file.
Run: .venv/bin/python -m bench.bench_quality [--rows 10000000] [--repeat 3] [--memory-limit 128MB] [--lake]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = "orders"
STATUSES = ("new", "paid", "shipped", "delivered", "returned")
COUNTRIES = ("US", "DE", "FR", "GB", "JP", "BR", "IN", "CA")
EMAIL = r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}"
SPEEDUP_GOAL = 5.0
MEMORY_GOAL = 10.0
REPO = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "demon-bench-quality"


@dataclass(frozen=True)
class Bad:
    """Bad rows injected into one rule: row i is bad when i % stride == offset, `injections` times in
    all; each makes `rows_each` rows fail (a duplicated id fails on both of its rows)."""

    column: str
    check: str
    injections: int
    offset: int
    rows_each: int = 1

    def stride(self, rows: int) -> int:
        return max(rows // self.injections, self.offset + 1)

    def when(self, rows: int) -> str:
        return f"i % {self.stride(rows)} = {self.offset}"

    def failing(self, rows: int) -> int:
        hits = (rows - self.offset - 1) // self.stride(rows) + 1 if rows > self.offset else 0
        return hits * self.rows_each


BAD = {
    "duplicate_id": Bad("order_id", "field_uniqueness", 50, 5, rows_each=2),
    "negative_amount": Bad("amount", "in_range(0, 10000)", 40, 11),
    "bad_email": Bad("email", f"str_matches('{EMAIL}')", 80, 3),
}


def order_schema() -> Any:
    """12 value rules (and a dtype per column): nullability, uniqueness, ranges, isin, regex, lengths."""
    import pandas as pd
    import pandera.pandas as pa

    return pa.DataFrameSchema({
        "order_id": pa.Column("int64", pa.Check.ge(1), unique=True),  # not null, unique, >= 1
        "amount": pa.Column("float64", pa.Check.in_range(0, 10000), nullable=True),
        "status": pa.Column(str, pa.Check.isin(list(STATUSES))),  # not null, isin
        "email": pa.Column(str, [pa.Check.str_matches(EMAIL), pa.Check.str_length(max_value=254)],
                           nullable=True),
        "country": pa.Column(str, pa.Check.str_length(2, 2)),  # not null, length 2
        "quantity": pa.Column("Int32", pa.Check.in_range(1, 1000), nullable=True),
        "created_at": pa.Column("datetime64[us]", pa.Check.ge(pd.Timestamp("2020-01-01")), nullable=True),
    })


# --- the table ---------------------------------------------------------------------------------------


def table_sql(rows: int) -> str:
    """The table: valid rows, some NULLs where the schema allows them, and the BAD rows."""
    dup, amount, email = (BAD[name].when(rows) for name in ("duplicate_id", "negative_amount", "bad_email"))
    statuses = ", ".join(f"'{status}'" for status in STATUSES)
    countries = ", ".join(f"'{country}'" for country in COUNTRIES)
    return f"""CREATE TABLE {TABLE} AS
        SELECT CASE WHEN {dup} THEN i ELSE i + 1 END::BIGINT AS order_id,
               CASE WHEN {amount} THEN -1.5 - i % 100 WHEN i % 97 = 0 THEN NULL
                    ELSE ((i * 7919) % 1000000) / 100.0 END::DOUBLE AS amount,
               [{statuses}][1 + i % {len(STATUSES)}] AS status,
               CASE WHEN {email} THEN 'user' || i || ' at example.com' WHEN i % 89 = 0 THEN NULL
                    ELSE 'user' || i || '@mail' || i % 13 || '.example.com' END AS email,
               [{countries}][1 + (i // 7) % {len(COUNTRIES)}] AS country,
               CASE WHEN i % 101 = 0 THEN NULL ELSE 1 + i % 50 END::INTEGER AS quantity,
               TIMESTAMP '2023-01-01' + to_seconds(i % 63072000) AS created_at
        FROM (SELECT range AS i FROM range({rows}))"""


def database(rows: int) -> Path:
    """The table's DuckDB file, built on first use; named by the SQL that builds it."""
    sql = table_sql(rows)
    path = CACHE / f"{TABLE}-{rows}-{hashlib.sha256(sql.encode()).hexdigest()[:12]}.duckdb"
    if path.exists():
        print(f"table: {rows:,} rows, cached at {path}")
        return path
    import duckdb

    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    start = time.perf_counter()
    with duckdb.connect(str(partial)) as conn:
        conn.execute(sql)
    partial.rename(path)  # a build cut short is never taken for a finished one
    print(f"table: {rows:,} rows built in {time.perf_counter() - start:.1f}s at {path}")
    return path


# --- the children: one measured run each, reported as JSON -------------------------------------------


def memory_kib(field: str) -> int:
    """VmRSS or VmHWM (peak) of this process, from /proc: the peak starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@contextmanager
def statement_seconds() -> Iterator[list[float]]:
    """The wall time of each statement SQLAlchemy runs, in order: where demon's time goes."""
    import sqlalchemy as sa

    seconds: list[float] = []

    def started(conn: Any, *args: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def finished(conn: Any, *args: Any) -> None:
        seconds.append(time.perf_counter() - conn.info.pop("bench_started"))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", started)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", finished)
    try:
        yield seconds
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", started)
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", finished)


def demon_child(path: Path, memory_limit: str) -> dict[str, Any]:
    """The SQL source answering the quality probe, as `demon check` does for a quality check; with DuckDB's
    own memory settings, or the source's `memory_limit` when given."""
    from bench.common import count_statements
    from checks.probes import Validation
    from checks.quality.plan import build_plan
    from checks.quality.rules import SHAPE_CHECKS
    from checks.quality.sql import flavor_for
    from checks.sources.settings import SqlSourceConfig
    from checks.sources.sql import SqlSource
    from monitor.core.config.models import DatasetConfig
    from monitor.core.redact import Redactor

    plan = build_plan(order_schema(), "bench.bench_quality:order_schema", sample=100_000, scope="all", pii=())
    url = f"duckdb:///{path}"
    memory = {"memory_limit": memory_limit} if memory_limit else {}
    config = SqlSourceConfig.model_validate({"kind": "sql", "url": url, "query_timeout": "10m", **memory})
    source = SqlSource("warehouse", config, path.parent, Redactor())
    probe = Validation(plan)
    before = memory_kib("VmRSS")
    with count_statements("duckdb") as statements, statement_seconds() as seconds:
        start, cpu = time.perf_counter(), time.process_time()
        observed = source.observe(DatasetConfig(source="warehouse", table=TABLE), [probe])[probe]
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    source.close()
    if not observed.ok:
        raise SystemExit(f"demon: {observed.error}")
    report = observed.value
    sampled = [result for rule, result in zip(plan.rules, report.rules, strict=True)
               if result.failing and rule.check not in SHAPE_CHECKS]
    return {
        "wall": wall, "cpu": cpu, "rss_before_kib": before, "rss_peak_kib": memory_kib("VmHWM"),
        "statements": statements, "seconds": seconds, "requests": source.requests["statement"],
        "rows": report.rows, "sampled_rules": len(sampled), "residual": plan.residual is not None,
        # a grouping statement per uniqueness rule with duplicates, unless the fused statement groups (DuckDB)
        "grouped_rules": 0 if flavor_for("duckdb").grouped_scan else sum(
            result.check.endswith("_uniqueness") for result in sampled),
        "rules": [[rule.column, rule.check, rule.failing, rule.error] for rule in report.rules],
    }


def pandas_child(path: Path, memory_limit: str) -> dict[str, Any]:
    """The table read into pandas and validated lazily by Pandera, as a user of Pandera would."""
    import duckdb
    import pandera.pandas as pa

    schema = order_schema()
    before = memory_kib("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    with duckdb.connect(str(path), read_only=True) as conn:
        frame = conn.sql(f"SELECT * FROM {TABLE}").df()
    loaded, loaded_cpu = time.perf_counter(), time.process_time()
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        cases = None
    done, done_cpu = time.perf_counter(), time.process_time()
    return {
        "load": loaded - start, "validate": done - loaded, "rows": len(frame),
        "load_cpu": loaded_cpu - cpu, "validate_cpu": done_cpu - loaded_cpu,
        "rss_before_kib": before, "rss_peak_kib": memory_kib("VmHWM"),
        "rules": [] if cases is None else failing_per_rule(cases, len(frame)),
    }


def failing_per_rule(cases: Any, rows: int) -> list[list[Any]]:
    """Failing rows per (column, check) of Pandera's failure cases: distinct row labels, or every row
    when a failure names none (a wrong dtype fails the whole column)."""
    found = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        labels = group["index"].dropna()
        found.append([column, check, int(labels.nunique()) if len(labels) else rows, None])
    return found


def lake(path: Path) -> tuple[Path, Path]:
    """The table as one Parquet file under a `files` source's root, and a DuckDB view of it; built once."""
    root = path.with_suffix(".lake")
    parquet, view = root / TABLE / "part-0.parquet", path.with_suffix(".view.duckdb")
    if not view.exists():
        import duckdb

        parquet.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path), read_only=True) as conn:
            conn.execute(f"COPY {TABLE} TO '{parquet}' (FORMAT parquet)")
        with duckdb.connect(str(view.with_suffix(".partial"))) as conn:
            conn.execute(f"CREATE VIEW {TABLE} AS FROM read_parquet('{parquet}')")
        view.with_suffix(".partial").rename(view)
    return root, view


def lake_child(path: Path, memory_limit: str) -> dict[str, Any]:
    """A lake's quality check two ways: demon's (Pandera on a sample of 100,000 rows, newest files first), and
    every row counted exactly by DuckDB over the Parquet file (a SQL source on a view of it)."""
    from checks.probes import Validation
    from checks.quality.plan import build_plan
    from checks.sources import open_source
    from checks.sources.settings import FilesSourceConfig, SqlSourceConfig
    from monitor.core.config.models import DatasetConfig
    from monitor.core.redact import Redactor

    root, view = lake(path)
    plan = build_plan(order_schema(), "bench.bench_quality:order_schema", sample=100_000, scope="all", pii=())
    memory = {"memory_limit": memory_limit} if memory_limit else {}
    ways = {
        "sample": (FilesSourceConfig.model_validate({"kind": "files", "root": str(root)}),
                   DatasetConfig(source="s", path=TABLE, format="parquet")),
        "exact": (SqlSourceConfig.model_validate({"kind": "sql", "url": f"duckdb:///{view}",
                                                  "read_files": True, "query_timeout": "10m", **memory}),
                  DatasetConfig(source="s", table=TABLE)),
    }
    report: dict[str, Any] = {}
    for way, (config, dataset) in ways.items():
        source, probe = open_source("s", config, root, Redactor()), Validation(plan)
        start = time.perf_counter()
        observed = source.observe(dataset, [probe])[probe]
        report[way] = time.perf_counter() - start
        source.close()
        if not observed.ok:
            raise SystemExit(f"{way}: {observed.error}")
        report[f"{way}_failing"] = {f"{rule.column} {rule.check}": rule.failing
                                    for rule in observed.value.rules if rule.failing}
    return report


CHILDREN = {"demon": demon_child, "pandas": pandas_child, "lake": lake_child}


def run_child(kind: str, path: Path, memory_limit: str = "") -> dict[str, Any]:
    """One measured run in a fresh interpreter; its JSON report."""
    command = [sys.executable, "-m", "bench.bench_quality", "--child", kind, "--database", str(path),
               "--memory-limit", memory_limit]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} child failed ({done.returncode}):\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


# --- the parent: build, run, compare, print ---------------------------------------------------------


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


def met(value: float, goal: float) -> str:
    return f"goal >= {goal:g}x: {'met' if value >= goal else 'NOT met'}"


def median_of(reports: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(report[key] for report in reports))


def print_demon(reports: list[dict[str, Any]], memory: str) -> None:
    first = reports[0]
    failing_rules, grouped = first["sampled_rules"], first["grouped_rules"]
    expected = 2 + grouped + failing_rules
    print(f"demon, {memory} (SqlSource answering Validation(plan); median of {len(reports)} runs):")
    print(f"  wall {median_of(reports, 'wall'):.3f}s, CPU {median_of(reports, 'cpu'):.3f}s (wall of runs: "
          + ", ".join(f"{report['wall']:.3f}s" for report in reports) + ")")
    print(f"  statements issued: {len(first['statements'])} (source's count {first['requests']}; expected "
          f"{expected} = 1 metadata + 1 fused + {grouped} groupings of duplicated keys"
          f" + {failing_rules} samples of failing rules)"
          + ("" if len(first["statements"]) == expected else "  MISS"))
    for index, statement in enumerate(first["statements"]):
        seconds = statistics.median(report["seconds"][index] for report in reports)
        print(f"    {seconds:6.3f}s  {' '.join(statement.split())[:140]}")
    residual = "rules left to a sample: yes" if first["residual"] else "every rule compiled to SQL"
    print(f"  {residual}; peak RSS {mib(max(r['rss_peak_kib'] for r in reports))} "
          f"(after imports {mib(first['rss_before_kib'])})")


def print_pandas(reports: list[dict[str, Any]]) -> None:
    load, validate = median_of(reports, "load"), median_of(reports, "validate")
    print(f"Pandera on pandas (DuckDB .df(), then validate(lazy=True); median of {len(reports)} runs):")
    print(f"  load {load:.3f}s + validate {validate:.3f}s = {load + validate:.3f}s (validate runs: "
          + ", ".join(f"{report['validate']:.3f}s" for report in reports) + ")")
    load_cpu, validate_cpu = median_of(reports, "load_cpu"), median_of(reports, "validate_cpu")
    print(f"  CPU: load {load_cpu:.3f}s + validate {validate_cpu:.3f}s = {load_cpu + validate_cpu:.3f}s")
    print(f"  peak RSS {mib(max(r['rss_peak_kib'] for r in reports))} "
          f"(after imports {mib(reports[0]['rss_before_kib'])})")


def print_goals(demon: list[dict[str, Any]], pandas: list[dict[str, Any]], memory: str) -> None:
    print(f"demon, {memory}, against Pandera:")
    wall, cpu = median_of(demon, "wall"), median_of(demon, "cpu")
    validate, validate_cpu = median_of(pandas, "validate"), median_of(pandas, "validate_cpu")
    both, both_cpu = validate + median_of(pandas, "load"), validate_cpu + median_of(pandas, "load_cpu")
    for label, theirs, theirs_cpu in (("validation alone", validate, validate_cpu),
                                      ("load + validation", both, both_cpu)):
        speedup = theirs / wall
        print(f"  speedup vs Pandera's {label}: wall {speedup:.1f}x ({met(speedup, SPEEDUP_GOAL)}), "
              f"CPU time {theirs_cpu / cpu:.1f}x")
    demon_peak = max(r["rss_peak_kib"] for r in demon)
    pandas_peak = max(r["rss_peak_kib"] for r in pandas)
    ratio = pandas_peak / demon_peak
    growth = (pandas_peak - pandas[0]["rss_before_kib"]) / max(demon_peak - demon[0]["rss_before_kib"], 1)
    print(f"  peak memory: demon {mib(demon_peak)} vs Pandera {mib(pandas_peak)} = {ratio:.1f}x smaller "
          f"({met(ratio, MEMORY_GOAL)}); counting only growth over each child's RSS after imports: "
          f"{growth:.1f}x smaller")


def print_lake(reports: list[dict[str, Any]]) -> None:
    sample, exact = median_of(reports, "sample"), median_of(reports, "exact")
    print(f"a lake of one Parquet file, median of {len(reports)} runs:")
    print(f"  demon's lake check, Pandera on a sample of 100,000 rows: {sample:.2f}s, failing rows found "
          f"{reports[0]['sample_failing']}")
    print(f"  every row counted by DuckDB over the file: {exact:.2f}s ({exact / sample:.1f}x the sample's "
          f"time), failing rows found {reports[0]['exact_failing']}")


def compare(rows: int, demon: dict[str, Any], pandas: dict[str, Any]) -> list[str]:
    """Print failing rows per rule side by side (and the bad rows injected); return the disagreements."""
    injected = {(bad.column, bad.check): bad.failing(rows) for bad in BAD.values()}
    ours = {(column, check): (failing, error) for column, check, failing, error in demon["rules"]}
    theirs = {(column, check): failing for column, check, failing, _ in pandas["rules"]}
    print(f"failing rows per rule ({rows:,} rows; demon counted {demon['rows']:,}, "
          f"pandas read {pandas['rows']:,}):")
    print(f"  {'column':<11}{'check':<68}{'demon':>8}{'Pandera':>9}{'injected':>10}")
    problems = []
    for key in dict.fromkeys([*ours, *theirs, *injected]):
        failing, error = ours.get(key, (None, "not a rule of demon's plan"))
        values = (failing, theirs.get(key, 0), injected.get(key, 0))
        agree = error is None and len(set(values)) == 1
        shown = [f"{value:,}" if value is not None else "-" for value in values]
        print(f"  {key[0] or '':<11}{key[1]:<68}{shown[0]:>8}{shown[1]:>9}{shown[2]:>10}"
              + ("" if agree else f"  MISMATCH{f' ({error})' if error else ''}"))
        if not agree:
            problems.append(f"{key[0]} {key[1]}: demon {shown[0]}, Pandera {shown[1]}, injected {shown[2]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh child runs of each method")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--memory-limit", default="128MB",
                        help="the source's memory_limit in demon's second run ('': DuckDB's default only)")
    parser.add_argument("--lake", action="store_true",
                        help="the table as a Parquet lake: demon's sampled check, DuckDB's exact count")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(CHILDREN[args.child](args.database, args.memory_limit), default=str))
        return
    if args.rows < 1000 or args.repeat < 1:
        parser.error("--rows must be at least 1000 and --repeat at least 1")
    path = database(args.rows)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the runs")
    if args.lake:
        print_lake([run_child("lake", path, args.memory_limit) for _ in range(args.repeat)])
        return
    limits = dict.fromkeys(["", args.memory_limit])  # DuckDB's default memory_limit (80% of RAM), then ours
    demon: dict[str, list[dict[str, Any]]] = {limit: [] for limit in limits}
    pandas: list[dict[str, Any]] = []
    for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits each alike
        for limit, reports in demon.items():
            reports.append(run_child("demon", path, limit))
        pandas.append(run_child("pandas", path))
    print(f"load average {os.getloadavg()[0]:.2f} after the runs")
    memory = {limit: f"memory_limit: {limit}" if limit else "DuckDB's default memory" for limit in limits}
    for limit, reports in demon.items():
        print_demon(reports, memory[limit])
    print_pandas(pandas)
    for limit, reports in demon.items():
        print_goals(reports, pandas, memory[limit])
    problems = [found for reports in demon.values() for found in compare(args.rows, reports[0], pandas[0])]
    if problems:
        raise SystemExit("demon and Pandera disagree:\n  " + "\n  ".join(problems))
    print("failing rows per rule: demon and Pandera agree")


if __name__ == "__main__":
    main()
