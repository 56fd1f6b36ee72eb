"""Issue 3 benchmark: a hive-partitioned prefix of 10,000 Parquet files on a moto S3 server.

Prints, for each lake check run alone: wall time; the S3 calls really sent (counted in botocore),
the calls its result reports (`details.requests`) and the goal (a listing costs ceil(objects/1000)
calls, rows one ranged GET per file in scope); the bytes downloaded; the outcome. Then the peak
memory of a rows-over-all run on small files against the same run on large files (`--file-size`).

moto runs in this process (objects go straight into its backend: seconds for 10,000); each
measured run is a child process calling `run_demon`, so its wall time and memory are demon's
alone and not moto's, which reads a whole object to answer even a ranged GET.
Run: .venv/bin/python -m bench.bench_lake [--partitions 100] [--files 100] [--file-size 5242880]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.motoserver import DUMMY_ENV, FOREIGN_ENV, S3Lake, start_moto

BUCKET = "bench-lake"
ROWS = 500  # per file: a small file is about 13 KB, well under the 64 KiB tail read
TAIL = 65536  # demon's footer read
THREADS = 16  # demon's default max_concurrency of an s3 source
BARE_GETS = 1000
COLUMNS = {"event_id": "integer", "user_id": "integer", "amount": "float", "category": "string",
           "event_time": "timestamp"}
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Layout:
    """A prefix of `partitions` hive partitions (dt=...), `files` Parquet files in each."""

    prefix: str
    partitions: int
    files: int

    @property
    def total(self) -> int:
        return self.partitions * self.files

    def listing(self, objects: int) -> int:
        """List calls for `objects` objects: one per page of 1000 (an empty listing still costs one)."""
        return max(1, math.ceil(objects / 1000))


@dataclass(frozen=True)
class Measure:
    """One measured check; `expect` gives the goal (list calls, GETs) for a layout."""

    name: str
    check: str
    expect: Callable[[Layout], tuple[int, int]]


def _whole(layout: Layout) -> int:
    return layout.listing(layout.total)


def _newest(layout: Layout) -> int:
    """One delimiter listing of the partition folders, then a listing of the newest partition."""
    return layout.listing(layout.partitions) + layout.listing(layout.files)


SCHEMA = "schema: {columns: {" + ", ".join(f"{k}: {v}" for k, v in COLUMNS.items()) + "}}"
MEASURES = (
    # freshness of a hive dataset is the newest partition's: found by delimiter listings, never a full one
    Measure("freshness", "freshness: {fail_after: 1d}", lambda lay: (_newest(lay), 0)),
    Measure("freshness_column", "freshness: {column: event_time, fail_after: 1d}",
            lambda lay: (_newest(lay), lay.files)),
    Measure("volume_files", "volume: {metric: files, min: 1}", lambda lay: (_whole(lay), 0)),
    Measure("volume_bytes", "volume: {metric: bytes, min: 1}", lambda lay: (_whole(lay), 0)),
    Measure("rows_latest", "volume: {metric: rows, scope: latest_partition, min: 1}",
            lambda lay: (_newest(lay), lay.files)),
    Measure("rows_all", "volume: {metric: rows, min: 1}", lambda lay: (_whole(lay), lay.total)),
    Measure("schema", SCHEMA, lambda lay: (_whole(lay), lay.total)),
)
ROWS_ALL = next(m for m in MEASURES if m.name == "rows_all")
ROWS_LATEST = next(m for m in MEASURES if m.name == "rows_latest")


# --- the lake --------------------------------------------------------------------------------------


def parquet(day: datetime, padding: int = 0) -> bytes:
    """One file of ROWS events ending at `day`; `padding` adds incompressible bytes per row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {
        "event_id": pa.array(range(ROWS), pa.int64()),
        "user_id": pa.array([i % 997 for i in range(ROWS)], pa.int64()),
        "amount": pa.array([i * 0.25 for i in range(ROWS)], pa.float64()),
        "category": pa.array([("sale", "refund", "fee", "tip")[i % 4] for i in range(ROWS)]),
        "event_time": pa.array([day - timedelta(seconds=i) for i in range(ROWS)], pa.timestamp("us", "UTC")),
    }
    if padding:
        columns["blob"] = pa.array([os.urandom(padding) for _ in range(ROWS)], pa.binary())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="none" if padding else "snappy")
    return buffer.getvalue()


def seed(lake: S3Lake, layout: Layout, padding: int = 0) -> int:
    """Store the layout's files (one payload per partition, newest partition ending an hour ago);
    returns the bytes stored."""
    newest = datetime.now(UTC) - timedelta(hours=1)
    stored = 0
    for back in range(layout.partitions):
        day = newest - timedelta(days=back)
        body = parquet(day, padding)
        folder = f"{layout.prefix}dt={day:%Y-%m-%d}/"
        lake.seed(BUCKET, {f"{folder}part-{n:04d}.parquet": body for n in range(layout.files)})
        stored += len(body) * layout.files
    return stored


def write_config(directory: Path, endpoint: str, layout: Layout, measure: Measure) -> Path:
    """A config with the s3 source and one dataset holding only this check, so it is timed alone."""
    path = directory / f"{layout.prefix.strip('/')}-{measure.name}.yml"
    path.write_text(
        "version: 1\n"
        f"sources:\n  lake: {{kind: s3, bucket: {BUCKET}, region: us-east-1, endpoint_url: '{endpoint}'}}\n"
        f"datasets:\n  {measure.name}:\n    source: lake\n    path: {layout.prefix}\n"
        "    format: parquet\n    partitioning: hive\n"
        f"    checks:\n      - {measure.check}\n"
        "state: {url: 'sqlite:///.demon/state.db'}\n"
    )
    return path


# --- the child: one measured run -------------------------------------------------------------------


@dataclass
class Wire:
    """What this process really sent to S3 and got back, counted inside botocore, to hold the
    result's own `details.requests` against: calls per operation, bytes of GET bodies, the largest."""

    calls: Counter[str] = field(default_factory=Counter)
    fetched: int = 0
    largest: int = 0

    def reset(self) -> None:
        self.calls.clear()
        self.fetched = self.largest = 0

    def install(self) -> None:
        """Count each API call (retries inside it are not calls) and each GET body's Content-Length,
        once per response (botocore wraps a raw stream more than once). Bodies are counted where
        they are wrapped because the lake reads the raw stream that `with body:` hands out."""
        from botocore.endpoint import Endpoint
        from botocore.response import StreamingBody

        lock = threading.Lock()
        seen: weakref.WeakSet[Any] = weakref.WeakSet()
        make_request, init = Endpoint.make_request, StreamingBody.__init__

        def calling(endpoint: Endpoint, operation: Any, request: Any) -> Any:
            with lock:
                self.calls[operation.name] += 1
            return make_request(endpoint, operation, request)

        def wrapping(body: StreamingBody, raw_stream: Any, content_length: Any) -> None:
            init(body, raw_stream, content_length)
            with lock:
                if raw_stream not in seen:
                    seen.add(raw_stream)
                    self.fetched += int(content_length or 0)
                    self.largest = max(self.largest, int(content_length or 0))

        setattr(Endpoint, "make_request", calling)  # noqa: B010 (mypy refuses assigning to a method)
        setattr(StreamingBody, "__init__", wrapping)  # noqa: B010


def memory_kib(field_: str) -> int:
    """VmRSS or VmHWM (peak) of this process; unlike ru_maxrss, the peak starts afresh at exec
    (ru_maxrss keeps the forking parent's, moto's here) and can be reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_}:"):
            return int(line.split()[1])
    raise LookupError(field_)


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux 4.0+: write 5 to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def run_results(config: Path) -> list[Any]:
    """run_demon's results, whether it returns them alone (committed) or with the store errors
    (monitor/cli.py's run_checks being changed in the working tree)."""
    from bench.common import run_demon

    ran: Any = run_demon(config)
    return list(ran[0] if isinstance(ran, tuple) else ran)


def child(config: Path, warmup: Path | None) -> None:
    """Run one config with run_demon; print wall time, peak memory, S3 traffic and results as JSON."""
    import boto3  # noqa: F401 (imports paid before timing: a daemon has them loaded)
    import pyarrow as pa
    import pyarrow.parquet

    import checks.sources.lake
    import checks.sources.s3store  # noqa: F401

    wire = Wire()
    wire.install()
    if warmup is not None:
        run_results(warmup)
    reset_peak()
    before = memory_kib("VmRSS")
    wire.reset()
    start = time.perf_counter()
    results = run_results(config)
    wall = time.perf_counter() - start
    peak = memory_kib("VmHWM")
    print(json.dumps({
        "wall": wall, "rss_before_kib": before, "rss_peak_kib": peak,
        "sent": {"list": wire.calls["ListObjectsV2"], "get": wire.calls["GetObject"]},
        "fetched": wire.fetched, "largest_get": wire.largest,
        "arrow_peak": pa.default_memory_pool().max_memory(),
        "results": [r.to_dict() for r in results],
    }, default=str))


def bare(endpoint: str, prefix: str) -> None:
    """The floor set by moto: boto3 alone lists the prefix, then makes BARE_GETS ranged GETs with
    as many threads as demon's default max_concurrency; prints the timings as JSON."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=endpoint, config=Config(max_pool_connections=THREADS))
    start = time.perf_counter()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", ())]
    listed = time.perf_counter() - start

    def tail(key: str) -> int:
        return len(client.get_object(Bucket=BUCKET, Key=key, Range=f"bytes=-{TAIL}")["Body"].read())

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        got = sum(pool.map(tail, keys[:BARE_GETS]))
    print(json.dumps({"keys": len(keys), "list_seconds": listed, "gets": min(len(keys), BARE_GETS),
                      "get_seconds": time.perf_counter() - start, "bytes": got}))


def run_child(*arguments: str) -> dict[str, Any]:
    """One measured run in a fresh interpreter; its JSON report."""
    command = [sys.executable, "-m", "bench.bench_lake", *arguments]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


# --- the parent: build, run, print -----------------------------------------------------------------


def requests_of(report: dict[str, Any]) -> tuple[int, int]:
    requests = report["results"][0]["details"].get("requests", {})
    return int(requests.get("list", 0)), int(requests.get("get", 0))


def mib(value: float) -> str:
    return f"{value / (1 << 20):.1f} MiB"


def fetched(report: dict[str, Any]) -> str:
    """Bytes of GET bodies, and the largest single body: at most the 64 KiB tail read."""
    largest = f", largest GET {report['largest_get'] / 1024:.1f} KiB" if report["largest_get"] else ""
    return f"fetched {mib(report['fetched'])}{largest}"


def print_run(measure: Measure, layout: Layout, report: dict[str, Any]) -> list[str]:
    """One line per check: S3 calls sent, as the result reports them, and the goal; returns what
    missed (the goal, or the result's count of what was sent)."""
    result = report["results"][0]
    sent = (report["sent"]["list"], report["sent"]["get"])
    reported, goal = requests_of(report), measure.expect(layout)
    misses = [f"{measure.name}: sent {kind} {s} vs goal {g}"
              for kind, s, g in zip(("list", "get"), sent, goal, strict=True) if s != g]
    misses += [f"{measure.name}: details.requests {kind} {r} but {s} sent"
               for kind, s, r in zip(("list", "get"), sent, reported, strict=True) if s != r]
    print(f"  {measure.name:<17} {report['wall']:6.2f}s  "
          f"list {sent[0]:>2} (result {reported[0]:>2}, goal {goal[0]:>2})  "
          f"get {sent[1]:>5} (result {reported[1]:>5}, goal {goal[1]:>5})  {'MISS' if misses else 'ok'}  "
          f"{fetched(report)}, peak RSS {mib(report['rss_peak_kib'] * 1024)}  "
          f"{result['outcome']}: {result['message']}")
    return misses


def run_all(directory: Path, endpoint: str, layout: Layout) -> list[str]:
    print(f"checks on s3://{BUCKET}/{layout.prefix} ({layout.total:,} files), each run alone "
          "(S3 calls sent, counted in botocore; `result`: the result's details.requests):")
    misses = []
    for measure in MEASURES:
        report = run_child("--child", str(write_config(directory, endpoint, layout, measure)))
        misses += print_run(measure, layout, report)
        for statement in dict.fromkeys(report["results"][0]["statements"]):
            print(f"      {statement[:200]}")
    return misses


def floor(endpoint: str, layout: Layout) -> None:
    report = run_child("--bare", endpoint, layout.prefix)
    rate = report["gets"] / report["get_seconds"]
    print(f"moto floor, boto3 alone: listing {report['keys']:,} keys {report['list_seconds']:.2f}s; "
          f"{report['gets']} ranged GETs ({THREADS} threads) {report['get_seconds']:.2f}s "
          f"= {rate:.0f} GET/s, so {layout.total:,} footers cost at least {layout.total / rate:.0f}s here")


def memory(directory: Path, endpoint: str, layouts: dict[str, tuple[Layout, int]]) -> None:
    """rows over all files of each layout, after a warm-up run (imports, client, pool) in the same child."""
    print("peak memory of `volume rows, scope all` (child process; warm-up run first, same prefix):")
    for label, (layout, stored) in layouts.items():
        config = write_config(directory, endpoint, layout, ROWS_ALL)
        warmup = write_config(directory, endpoint, layout, ROWS_LATEST)
        report = run_child("--child", str(config), "--warmup", str(warmup))
        gets = report["sent"]["get"]
        growth = (report["rss_peak_kib"] - report["rss_before_kib"]) * 1024
        result = report["results"][0]
        print(f"  {label:<6} {layout.total} files, {mib(stored)} stored: {report['wall']:.2f}s, {gets} GETs, "
              f"{fetched(report)}; peak RSS {mib(report['rss_peak_kib'] * 1024)} "
              f"(+{mib(growth)} over the RSS after the warm-up), "
              f"Arrow pool peak {mib(report['arrow_peak'])}; {result['outcome']}: {result['message']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--partitions", type=int, default=100, help="hive partitions (dt=...)")
    parser.add_argument("--files", type=int, default=100, help="Parquet files per partition")
    parser.add_argument("--file-size", type=int, default=5 << 20, help="bytes per file of the large subset")
    parser.add_argument("--subset", type=int, default=10, help="partitions (of 10 files) per memory subset")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bare", nargs=2, metavar=("ENDPOINT", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.warmup)
        return
    if args.bare is not None:
        bare(*args.bare)
        return
    os.environ.update(DUMMY_ENV)
    for name in FOREIGN_ENV:
        os.environ.pop(name, None)
    moto = start_moto()
    try:
        lake = S3Lake(moto)
        lake.bucket(BUCKET)
        events = Layout("events/", args.partitions, args.files)
        small, large = Layout("small/", args.subset, 10), Layout("large/", args.subset, 10)
        start = time.perf_counter()
        stored = seed(lake, events)
        sizes = {"small": (small, seed(lake, small)),
                 "large": (large, seed(lake, large, padding=max(args.file_size // ROWS, 1)))}
        print(f"lake: {events.total:,} Parquet files ({args.partitions} partitions x {args.files}, "
              f"{mib(stored)}) + memory subsets of {small.total} small and {large.total} large files, "
              f"seeded into moto in {time.perf_counter() - start:.1f}s")
        with tempfile.TemporaryDirectory() as tmp:
            floor(moto.endpoint_url, events)
            misses = run_all(Path(tmp), moto.endpoint_url, events)
            memory(Path(tmp), moto.endpoint_url, sizes)
        print("missed:" if misses else "missed: none")
        for miss in misses:
            print(f"  {miss}")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
