"""`demon check` end to end on data lakes: the same lake in a directory (`files`) and in a bucket of a
moto S3 server reached over real HTTP (`s3`), judged by the same checks with the same results.

Every test builds its lake through a `Lake`, which writes the same keys and bytes (and modification
times) to either store, and runs the real CLI on a config whose `lake` source points at it.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import random
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from monitor.app.cli import main
from tests.motoserver import DUMMY_ENV, LIST_AND_READ, LIST_ONLY, S3Lake
from tests.pgserver import free_port

SECRET = DUMMY_ENV["AWS_SECRET_ACCESS_KEY"]
BUCKET = "lake"
PREFIX = "exports"  # the s3 source's base prefix: dataset paths are relative to it

# --- lakes ---------------------------------------------------------------------------------------------


class Lake(Protocol):
    """A lake to write to and the `sources.lake` entry that reads it."""

    kind: str

    def write(
        self, objects: Mapping[str, bytes], modified: datetime | None = None, bulk: bool = False
    ) -> None:
        """Store objects (keys relative to the source's root), all last modified at `modified` if given."""
        ...

    def remove(self, keys: Iterable[str]) -> None: ...

    def source(self) -> str:
        """The indented body of the source entry."""
        ...


class DirectoryLake:
    kind = "files"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()

    def write(
        self, objects: Mapping[str, bytes], modified: datetime | None = None, bulk: bool = False
    ) -> None:
        for key, body in objects.items():
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            if modified is not None:
                os.utime(path, (modified.timestamp(), modified.timestamp()))

    def remove(self, keys: Iterable[str]) -> None:
        for key in keys:
            (self.root / key).unlink()

    def source(self) -> str:
        return f"    kind: files\n    root: {self.root.name}\n"  # relative to the config file's folder


class BucketLake:
    kind = "s3"

    def __init__(self, s3: S3Lake, bucket: str = BUCKET) -> None:
        self.s3 = s3
        self.bucket = bucket
        s3.bucket(bucket)

    def write(
        self, objects: Mapping[str, bytes], modified: datetime | None = None, bulk: bool = False
    ) -> None:
        """Uploads over HTTP, or with `bulk` straight into moto's backend (thousands in a second)."""
        full = {f"{PREFIX}/{key}": body for key, body in objects.items()}
        (self.s3.seed if bulk else self.s3.put)(self.bucket, full)
        if modified is not None:
            from moto.core.models import DEFAULT_ACCOUNT_ID
            from moto.s3.models import s3_backends

            backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
            naive_utc = modified.astimezone(UTC).replace(tzinfo=None)  # moto's clock; listed in whole seconds
            for key in full:
                stored = backend.get_object(self.bucket, key)
                assert stored is not None
                stored.last_modified = naive_utc

    def remove(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.s3.client.delete_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")

    def source(self, endpoint_url: str | None = None) -> str:
        return s3_source(endpoint_url or self.s3.endpoint_url, self.bucket)


def s3_source(endpoint_url: str, bucket: str = BUCKET) -> str:
    return (
        f"    kind: s3\n    bucket: {bucket}\n    prefix: {PREFIX}/\n    region: us-east-1\n"
        f"    endpoint_url: {endpoint_url}\n"
    )


@pytest.fixture(params=["files", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "files":
        return DirectoryLake(tmp_path / "lake")
    return BucketLake(request.getfixturevalue("s3"))


# --- data ----------------------------------------------------------------------------------------------


def parquet(table: pa.Table, row_group_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def orders(rows: int, newest: datetime, naive_lag: timedelta = timedelta(0), **extra: pa.Array) -> pa.Table:
    """`rows` orders, the newest event at `newest`; `event_naive` is naive UTC, `naive_lag` earlier."""
    events = [newest - timedelta(minutes=index) for index in reversed(range(rows))]
    naive = [(event - naive_lag).astimezone(UTC).replace(tzinfo=None) for event in events]
    columns: dict[str, pa.Array] = {
        "id": pa.array(range(rows), pa.int64()),
        "amount": pa.array([index * 1.5 for index in range(rows)], pa.float64()),
        "event_at": pa.array(events, pa.timestamp("us", tz="Europe/Berlin")),
        "event_naive": pa.array(naive, pa.timestamp("us")),
    }
    return pa.table({**columns, **extra})


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# --- running demon -------------------------------------------------------------------------------------


def dataset(name: str, path: str, *checks: str, fmt: str = "parquet", hive: bool = True) -> str:
    block = f"  {name}:\n    source: lake\n    path: {json.dumps(path)}\n    format: {fmt}\n"
    block += f"    partitioning: {'hive' if hive else 'none'}\n    checks:\n"
    return block + "".join(f"      - {check}\n" for check in checks)


def write_config(directory: Path, source: str, *datasets: str) -> Path:
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\nsources:\n  lake:\n"
        + source
        + "datasets:\n"
        + "".join(datasets)
        + "state:\n  url: sqlite:///.demon/state.db\n",
        encoding="utf-8",
    )
    return path


def config_of(tmp_path: Path, lake: Lake, *datasets: str) -> Path:
    return write_config(tmp_path, lake.source(), *datasets)


class Run:
    """One `demon check --format json`: exit code, results by check id, and everything printed."""

    def __init__(self, result: Result) -> None:
        self.code = result.exit_code
        self.output = result.stdout + result.stderr
        document = json.loads(result.stdout)
        self.summary: dict[str, int] = document["summary"]
        self.results: dict[str, dict[str, Any]] = {item["check"]: item for item in document["results"]}

    def __getitem__(self, check: str) -> dict[str, Any]:
        return self.results[check]

    def outcomes(self) -> dict[str, str]:
        return {check: result["outcome"] for check, result in self.results.items()}


def check(config: Path) -> Run:
    return Run(
        CliRunner().invoke(main, ["check", "-c", str(config), "--format", "json"], catch_exceptions=False)
    )


def walk(levels: int, pages: int = 1) -> int:
    """Most list calls to find the files of a newest partition `levels` deep: a delimiter listing of the
    dataset's root (`pages` calls: it may hold more than 1000 folders) and of each partition on the way
    down, and at most one more listing of the newest partition's files."""
    return pages + levels + 1


def full_listings(result: Mapping[str, Any]) -> list[str]:
    """The listings of a result that were not by delimiter, i.e. that listed every object under a prefix."""
    statements = "; ".join(result["statements"]).split("; ")
    return [item for item in statements if item.startswith("list ") and not item.endswith(" by '/'")]


def requests(result: Mapping[str, Any]) -> dict[str, int]:
    """The calls a result's dataset made, a missing kind read as zero."""
    made = result["details"]["requests"]
    return {"list": made.get("list", 0), "get": made.get("get", 0)}


# --- a hive-partitioned lake with gaps -----------------------------------------------------------------

# dt=2026-11-22 is missing; the newest partition (by value) is not the one written last.
ROWS = {
    "orders/dt=2026-11-20/part-0.parquet": 100,
    "orders/dt=2026-11-20/part-1.parquet": 50,
    "orders/dt=2026-11-21/part-0.parquet": 120,
    "orders/dt=2026-11-23/part-0.parquet": 30,
    "orders/dt=2026-11-23/part-1.parquet": 40,
    "orders/dt=2026-11-23/part-2.parquet": 50,
}
NEWEST_PARTITION = [key for key in ROWS if "dt=2026-11-23" in key]
# Modified this long ago: the late re-export of 11-21 is the newest object overall, but freshness
# goes by the newest partition, whose newest object (part-1) is 3h old.
AGES = {
    "orders/dt=2026-11-20/part-0.parquet": timedelta(days=3),
    "orders/dt=2026-11-20/part-1.parquet": timedelta(days=3),
    "orders/dt=2026-11-21/part-0.parquet": timedelta(minutes=5),
    "orders/dt=2026-11-23/part-0.parquet": timedelta(hours=5),
    "orders/dt=2026-11-23/part-1.parquet": timedelta(hours=3),
    "orders/dt=2026-11-23/part-2.parquet": timedelta(hours=4),
}
# Newest event of each file: part-1 of 11-23 holds the newest of all (2.5h old), whichever files are read.
EVENT_AGES = {
    "orders/dt=2026-11-20/part-0.parquet": timedelta(days=3),
    "orders/dt=2026-11-20/part-1.parquet": timedelta(days=3),
    "orders/dt=2026-11-21/part-0.parquet": timedelta(days=2),
    "orders/dt=2026-11-23/part-0.parquet": timedelta(hours=5),
    "orders/dt=2026-11-23/part-1.parquet": timedelta(hours=2, minutes=30),
    "orders/dt=2026-11-23/part-2.parquet": timedelta(hours=4),
}
# The naive column lags 4.5h: its newest value is 7h old.
NAIVE_LAG = timedelta(hours=4, minutes=30)


def hive_lake(lake: Lake) -> dict[str, bytes]:
    """The partitioned orders lake, with a marker the checks must not count; returns the data files."""
    now = whole_seconds(datetime.now(UTC))
    files = {}
    for key, rows in ROWS.items():
        files[key] = parquet(orders(rows, now - EVENT_AGES[key], NAIVE_LAG), row_group_size=25)
        lake.write({key: files[key]}, modified=now - AGES[key])
    lake.write({"orders/_SUCCESS": b""}, modified=now)
    return files


def test_hive_freshness_is_the_newest_object_of_the_newest_partition(lake: Lake, tmp_path: Path) -> None:
    hive_lake(lake)
    config = config_of(
        tmp_path, lake, dataset("orders", "orders/", "freshness: {warn_after: 2h, fail_after: 6h}")
    )
    run = check(config)
    result = run["orders.freshness"]
    assert result["outcome"] == "warn", result["message"]
    assert result["value"] == pytest.approx(3 * 3600, abs=120)
    assert result["message"] == "newest object is 3h old (warn after 2h)"
    assert datetime.fromisoformat(result["details"]["newest"]) == pytest.approx(
        datetime.now(UTC) - timedelta(hours=3), abs=timedelta(minutes=2)
    )
    assert requests(result)["get"] == 0  # the listing answers: no object read
    assert 1 <= requests(result)["list"] <= walk(1)
    assert run.code == 0


def test_hive_freshness_by_column_from_footer_statistics(lake: Lake, tmp_path: Path) -> None:
    hive_lake(lake)
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "orders",
            "orders/",
            "freshness: {name: aware, column: event_at, warn_after: 2h, fail_after: 6h}",
            "freshness: {name: naive, column: event_naive, warn_after: 2h, fail_after: 6h}",
        ),
    )
    run = check(config)
    aware, naive = run["orders.freshness.aware"], run["orders.freshness.naive"]
    assert (aware["outcome"], naive["outcome"]) == ("warn", "fail")
    assert aware["value"] == pytest.approx(2.5 * 3600, abs=120)  # a Berlin time read in UTC
    assert naive["value"] == pytest.approx(7 * 3600, abs=120)  # a naive time is UTC
    assert aware["message"].startswith("newest event_at is 2h 30m old")
    # footers only: one ranged read of each file of the newest partition, no data downloaded
    assert requests(aware)["get"] == len(NEWEST_PARTITION)
    assert 1 <= requests(aware)["list"] <= walk(1)
    assert any("footer of 3 parquet file(s)" in statement for statement in aware["statements"])
    assert run.code == 1


def test_freshness_by_a_column_the_files_lack_is_an_error(lake: Lake, tmp_path: Path) -> None:
    hive_lake(lake)
    config = config_of(
        tmp_path, lake, dataset("orders", "orders/", "freshness: {column: loaded_at, fail_after: 1h}")
    )
    run = check(config)
    assert run["orders.freshness"]["outcome"] == "error"
    assert "column loaded_at not found" in run["orders.freshness"]["message"]
    assert run.code == 3


def test_hive_volume_rows_files_and_bytes(lake: Lake, tmp_path: Path) -> None:
    files = hive_lake(lake)
    newest_rows = sum(ROWS[key] for key in NEWEST_PARTITION)
    config = config_of(
        tmp_path,
        lake,
        dataset("latest_rows", "orders/", "volume: {metric: rows, scope: latest_partition, min: 121}"),
        dataset("all_rows", "orders/", "volume: {metric: rows, scope: all, min: 1}"),
        dataset("all_files", "orders/", "volume: {metric: files, warn_max: 5}"),
        dataset("latest_files", "orders/", "volume: {metric: files, scope: latest_partition, min: 3}"),
        dataset("all_bytes", "orders", "volume: {metric: bytes, min: 1}"),
    )
    run = check(config)
    assert run.outcomes() == {
        "latest_rows.volume": "fail",
        "all_rows.volume": "pass",
        "all_files.volume": "warn",
        "latest_files.volume": "pass",
        "all_bytes.volume": "pass",
    }
    values = {check: result["value"] for check, result in run.results.items()}
    assert values == {
        "latest_rows.volume": newest_rows,
        "all_rows.volume": sum(ROWS.values()),
        "all_files.volume": 6,
        "latest_files.volume": 3,
        "all_bytes.volume": sum(len(body) for body in files.values()),
    }
    assert run["latest_rows.volume"]["message"] == "120 rows, below min 121"
    assert run["all_files.volume"]["unit"] == "files"
    # rows of the newest partition: its three footers, found by delimiter listings down the partitions
    assert requests(run["latest_rows.volume"])["get"] == len(NEWEST_PARTITION)
    assert requests(run["all_rows.volume"]) == {"list": 1, "get": len(ROWS)}
    for name in ("all_files", "latest_files", "all_bytes"):
        assert requests(run[f"{name}.volume"])["get"] == 0, name  # the listing answers: no read
    for name in ("latest_rows", "latest_files"):
        assert 2 <= requests(run[f"{name}.volume"])["list"] <= walk(1), name
        assert all("dt=2026-11-23/" in item for item in full_listings(run[f"{name}.volume"])), name
    assert run.code == 1


def test_latest_partition_alone_never_lists_the_whole_prefix(lake: Lake, tmp_path: Path) -> None:
    """3500 files in an old partition: listing them all costs 4 calls on S3, the walk down 3 at most."""
    table = parquet(orders(10, datetime.now(UTC)))
    lake.write({f"orders/dt=2026-11-20/part-{index:04d}.parquet": table for index in range(3500)}, bulk=True)
    lake.write({f"orders/dt=2026-11-23/part-{index}.parquet": table for index in range(2)})
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "latest",
            "orders/",
            "volume: {scope: latest_partition}",
            "volume: {name: files, metric: files, scope: latest_partition}",
        ),
        dataset("everything", "orders/", "volume: {metric: files}"),
    )
    run = check(config)
    assert run["latest.volume"]["value"] == 20
    assert run["latest.volume.files"]["value"] == 2
    assert run["everything.volume"]["value"] == 3502
    assert requests(run["latest.volume"])["get"] == 2
    assert requests(run["latest.volume"])["list"] <= walk(1)
    assert all(item.endswith("orders/dt=2026-11-23/") for item in full_listings(run["latest.volume"]))
    full_listing_pages = {"files": 1, "s3": 4}[lake.kind]
    assert requests(run["everything.volume"]) == {"list": full_listing_pages, "get": 0}


def test_requests_always_name_both_kinds_of_call(lake: Lake, tmp_path: Path) -> None:
    """The issue's shape is `requests: {list: n, get: n}`, also when no object was read."""
    hive_lake(lake)
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", "volume: {metric: files}")))
    assert run["orders.volume"]["details"]["requests"] == {"list": 1, "get": 0}


# --- numbers as partition values -----------------------------------------------------------------------


def numeric_lake(lake: Lake) -> None:
    """hour=9 was written after hour=10 and holds other rows: 10 is the newest partition all the same."""
    now = whole_seconds(datetime.now(UTC))
    lake.write(
        {"events/dt=2026-11-23/hour=10/part-0.parquet": parquet(orders(10, now))}, now - timedelta(hours=3)
    )
    lake.write(
        {"events/dt=2026-11-23/hour=9/part-0.parquet": parquet(orders(9, now))}, now - timedelta(minutes=1)
    )
    lake.write({"events/dt=2026-11-22/hour=23/part-0.parquet": parquet(orders(23, now))}, now)


def test_numeric_partition_values_compare_as_numbers(lake: Lake, tmp_path: Path) -> None:
    numeric_lake(lake)
    config = config_of(
        tmp_path,
        lake,
        # found by delimiter listings, two partition levels deep
        dataset("by_delimiter", "events/", "volume: {scope: latest_partition}"),
        # found in the full listing the freshness check needs
        dataset("by_listing", "events/", "freshness: {warn_after: 1h}", "volume: {scope: latest_partition}"),
    )
    run = check(config)
    assert run["by_delimiter.volume"]["value"] == 10
    assert requests(run["by_delimiter.volume"])["get"] == 1
    assert 3 <= requests(run["by_delimiter.volume"])["list"] <= walk(2)
    assert run["by_listing.volume"]["value"] == 10
    assert run["by_listing.freshness"]["value"] == pytest.approx(3 * 3600, abs=120)
    assert run["by_listing.freshness"]["outcome"] == "warn"


def test_hive_default_partition_is_never_the_newest(lake: Lake, tmp_path: Path) -> None:
    """Spark and Hive file rows whose partition value is NULL under `__HIVE_DEFAULT_PARTITION__`: such a
    partition has no value to be the newest by, and the other values still compare as numbers."""
    default = "__HIVE_DEFAULT_PARTITION__"
    numeric_lake(lake)
    lake.write(
        {
            f"events/dt=2026-11-23/hour={default}/part-0.parquet": parquet(orders(2, datetime.now(UTC))),
            f"events/dt={default}/hour=1/part-0.parquet": parquet(orders(1, datetime.now(UTC))),
        }
    )
    config = config_of(
        tmp_path,
        lake,
        dataset("by_delimiter", "events/", "volume: {scope: latest_partition}"),
        dataset("by_listing", "events/", "volume: {scope: latest_partition}", "volume: {name: all}"),
    )
    run = check(config)
    assert run["by_listing.volume.all"]["value"] == 10 + 9 + 23 + 2 + 1  # its rows count all the same
    assert (run["by_delimiter.volume"]["value"], run["by_listing.volume"]["value"]) == (10, 10)


def test_more_partitions_than_a_listing_page(s3: S3Lake, tmp_path: Path) -> None:
    """1101 hours: the delimiter listing pages through its folders, and 1100 beats 999 as a number."""
    lake = BucketLake(s3)
    lake.write(
        {
            f"events/hour={hour}/part-0.parquet": parquet(orders(hour % 7 + 1, datetime.now(UTC)))
            for hour in (999, 1100)
        }
    )
    lake.write(
        {f"events/hour={hour}/part-0.parquet": b"not read" for hour in range(1100) if hour != 999}, bulk=True
    )
    run = check(config_of(tmp_path, lake, dataset("events", "events/", "volume: {scope: latest_partition}")))
    assert run["events.volume"]["value"] == 1100 % 7 + 1
    assert requests(run["events.volume"])["get"] == 1
    assert 3 <= requests(run["events.volume"])["list"] <= walk(1, pages=2)  # the folders fill two pages


# --- pagination -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("objects", [999, 1000, 2345])
def test_thousands_of_objects_cost_one_list_call_per_thousand(
    s3: S3Lake, tmp_path: Path, objects: int
) -> None:
    lake = BucketLake(s3)
    bodies = {f"clicks/part-{index:05d}.jsonl": b'{"id": %d}\n' % index for index in range(objects)}
    lake.write(bodies, bulk=True)
    lake.write({"clicksx/not-mine.jsonl": b"{}\n"})  # shares the prefix text, not the folder
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "clicks",
            "clicks",
            "volume: {metric: files}",
            "volume: {name: size, metric: bytes}",
            "freshness: {fail_after: 1h}",
            fmt="jsonl",
            hive=False,
        ),
    )
    run = check(config)
    assert run.outcomes() == {
        "clicks.volume": "pass",
        "clicks.volume.size": "pass",
        "clicks.freshness": "pass",
    }
    assert run["clicks.volume"]["value"] == objects
    assert run["clicks.volume.size"]["value"] == sum(len(body) for body in bodies.values())
    assert requests(run["clicks.volume"]) == {"list": math.ceil(objects / 1000), "get": 0}


# --- schemas ---------------------------------------------------------------------------------------------

EXTRA_FILE = "orders/dt=2026-11-21/part-0.parquet"
RETYPED_FILE = "orders/dt=2026-11-23/part-2.parquet"


def mixed_lake(lake: Lake) -> None:
    """The orders lake where one file has an extra column and another has `amount` as text."""
    now = datetime.now(UTC)
    hive_lake(lake)
    lake.write(
        {
            EXTRA_FILE: parquet(orders(5, now, coupon=pa.array(["X"] * 5))),
            RETYPED_FILE: parquet(orders(5, now).set_column(1, "amount", pa.array(["1.50"] * 5))),
        }
    )


def test_files_with_another_schema_are_named(lake: Lake, tmp_path: Path) -> None:
    mixed_lake(lake)
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", "schema: {on_drift: warn}")))
    result = run["orders.schema"]
    assert result["outcome"] == "warn"
    assert result["value"] == 2
    assert result["details"]["columns"] == {
        "id": "integer",
        "amount": "float",
        "event_at": "timestamp",
        "event_naive": "timestamp",
    }
    assert result["details"]["drift"]["mixed_files"] == [
        {"file": EXTRA_FILE, "added": ["coupon"], "removed": [], "retyped": []},
        {
            "file": RETYPED_FILE,
            "added": [],
            "removed": [],
            "retyped": [{"column": "amount", "before": "float", "after": "string"}],
        },
    ]
    assert result["message"] == (
        "2 file(s) with another schema than the rest: "
        f"{EXTRA_FILE} (+coupon), {RETYPED_FILE} (amount float→string)"
    )
    assert requests(result) == {"list": 1, "get": len(ROWS)}
    assert run.code == 0


def test_mixed_schemas_ignored_when_drift_is_ignored(lake: Lake, tmp_path: Path) -> None:
    mixed_lake(lake)
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", "schema: {on_drift: ignore}")))
    assert run["orders.schema"]["outcome"] == "pass"


def test_expected_columns_missing_fail(lake: Lake, tmp_path: Path) -> None:
    mixed_lake(lake)
    expected = "{id: integer, amount: float, event_at: timestamp, region: string}"
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", f"schema: {{columns: {expected}}}")))
    result = run["orders.schema"]
    assert result["outcome"] == "fail"
    assert result["details"]["missing"] == ["region"]
    assert result["message"].startswith("missing region; ")
    assert EXTRA_FILE in result["message"]
    assert run.code == 1


def test_schema_drift_between_runs_warns_once(lake: Lake, tmp_path: Path) -> None:
    hive_lake(lake)
    config = config_of(tmp_path, lake, dataset("orders", "orders/", "schema: {on_drift: warn}"))
    first = check(config)["orders.schema"]
    assert (first["outcome"], first["message"]) == ("pass", "4 columns as expected")
    now = datetime.now(UTC)
    lake.write(
        {key: parquet(orders(rows, now, channel=pa.array(["web"] * rows))) for key, rows in ROWS.items()}
    )
    second = check(config)["orders.schema"]
    assert second["outcome"] == "warn"
    assert second["details"]["drift"] == {"added": ["channel"], "removed": [], "retyped": []}
    assert second["message"] == "drift since last run: +channel"
    third = check(config)["orders.schema"]
    assert (third["outcome"], third["message"]) == ("pass", "5 columns as expected")


# --- broken files -----------------------------------------------------------------------------------------


def not_parquet(valid: bytes) -> bytes:
    return random.Random(7).randbytes(5000)


def truncated(valid: bytes) -> bytes:
    return valid[: len(valid) // 2]


def garbled_footer(valid: bytes) -> bytes:
    """The right length and magic at the end, garbage where the footer should be."""
    length = int.from_bytes(valid[-8:-4], "little")
    return valid[: -(length + 8)] + random.Random(3).randbytes(length) + valid[-8:]


BROKEN: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "random bytes": (not_parquet, "does not end with PAR1"),
    "truncated": (truncated, "does not end with PAR1"),
    "garbled footer": (garbled_footer, "deserialize thrift"),
}


@pytest.mark.parametrize("damage", list(BROKEN))
def test_a_corrupt_parquet_file_errors_the_checks_that_read_it(
    lake: Lake, tmp_path: Path, damage: str
) -> None:
    files = hive_lake(lake)
    spoil, cause = BROKEN[damage]
    broken = "orders/dt=2026-11-21/part-0.parquet"
    lake.write({broken: spoil(files[broken])})
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "orders",
            "orders/",
            "volume: {min: 1}",
            "schema: {}",
            "volume: {name: files, metric: files, min: 6}",
            "volume: {name: bytes, metric: bytes, min: 1}",
            "freshness: {fail_after: 1d}",
            "volume: {name: latest, scope: latest_partition, min: 1}",
        ),
    )
    run = check(config)
    assert run.outcomes() == {
        "orders.volume": "error",
        "orders.schema": "error",
        "orders.volume.files": "pass",
        "orders.volume.bytes": "pass",
        "orders.freshness": "pass",
        "orders.volume.latest": "pass",
    }
    for name in ("orders.volume", "orders.schema"):
        message = run[name]["message"]
        assert message.startswith(f"corrupt Parquet file {broken}: "), message
        assert cause in message
        assert "\n" not in message
    assert run.summary == {"pass": 4, "warn": 0, "fail": 0, "error": 2}
    assert run.code == 3


# --- CSV and JSON lines ------------------------------------------------------------------------------------

CSV_FILES = {
    "notes/a.csv": b'id,note,amount\n1,"line one\nline two",1.5\n2,plain,2.0\n3,"a, b and ""c""",3.25\n',
    "notes/b.csv": b'id,note,amount\r\n4,"multi\r\nline\r\nnote",4.0\r\n',
    "notes/c.csv.gz": gzip.compress(b'id,note,amount\n5,"x\n\ny",0.5\n6,,7.5'),  # no final line break
}
JSONL_FILES = {
    "events/a.jsonl": b'{"id": 1, "kind": "click"}\n\n{"id": 2, "kind": "view"}\n   \n',
    "events/b.jsonl": b'\n{"id": 3, "kind": "click"}\n{"id": 4, "kind": "buy"}',
}


def test_csv_rows_with_quoted_newlines_and_header_schema(lake: Lake, tmp_path: Path) -> None:
    lake.write(CSV_FILES)
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "notes",
            "notes/",
            "volume: {min: 6, max: 6}",
            "schema: {columns: {id: integer, note: string, amount: float}, allow_extra: false}",
            fmt="csv",
            hive=False,
        ),
    )
    run = check(config)
    assert run.outcomes() == {"notes.volume": "pass", "notes.schema": "pass"}
    assert run["notes.volume"]["value"] == 6
    assert run["notes.schema"]["details"]["columns"] == {"id": "integer", "note": "string", "amount": "float"}
    assert requests(run["notes.volume"]) == {"list": 1, "get": 3}  # one streamed read per file, shared


def test_a_header_only_csv_does_not_decide_the_schema(lake: Lake, tmp_path: Path) -> None:
    """An export with no rows has names but no types: it is no schema change, even as the newest file."""
    lake.write({"notes/a.csv": CSV_FILES["notes/a.csv"], "notes/z.csv": b"id,note,amount\n"})
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "notes",
            "notes/",
            "volume: {min: 3}",
            "schema: {columns: {id: integer, note: string, amount: float}}",
            fmt="csv",
            hive=False,
        ),
    )
    run = check(config)
    assert run["notes.volume"]["value"] == 3
    schema = run["notes.schema"]
    assert (schema["outcome"], schema["message"]) == ("pass", "3 columns as expected")
    assert schema["details"]["columns"] == {"id": "integer", "note": "string", "amount": "float"}


def test_csv_schema_names_a_missing_header_column(lake: Lake, tmp_path: Path) -> None:
    lake.write(CSV_FILES)
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "notes", "notes/", "schema: {columns: {id: integer, customer: string}}", fmt="csv", hive=False
        ),
    )
    result = check(config)["notes.schema"]
    assert (result["outcome"], result["details"]["missing"]) == ("fail", ["customer"])


def test_csv_freshness_by_column_is_an_error_not_a_guess(lake: Lake, tmp_path: Path) -> None:
    lake.write(CSV_FILES)
    config = config_of(
        tmp_path,
        lake,
        dataset("notes", "notes/", "freshness: {column: amount, fail_after: 1h}", fmt="csv", hive=False),
    )
    result = check(config)["notes.freshness"]
    assert result["outcome"] == "error"
    assert "Parquet statistics" in result["message"]


def test_jsonl_blank_lines_are_not_rows(lake: Lake, tmp_path: Path) -> None:
    lake.write(JSONL_FILES)
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "events",
            "events/",
            "volume: {min: 1}",
            "schema: {columns: {id: integer, kind: string}}",
            fmt="jsonl",
            hive=False,
        ),
    )
    run = check(config)
    assert run.outcomes() == {"events.volume": "pass", "events.schema": "pass"}
    assert run["events.volume"]["value"] == 4


def test_malformed_csv_names_the_file(lake: Lake, tmp_path: Path) -> None:
    lake.write(CSV_FILES | {"notes/d.csv": b"id,note,amount\n5,x,1,extra\n"})
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "notes",
            "notes/",
            "volume: {min: 1}",
            "volume: {name: files, metric: files}",
            fmt="csv",
            hive=False,
        ),
    )
    run = check(config)
    assert run.outcomes() == {"notes.volume": "error", "notes.volume.files": "pass"}
    assert run["notes.volume"]["message"].startswith("malformed CSV file notes/d.csv: ")


# --- empty prefixes and files that are not data ---------------------------------------------------------


@pytest.mark.parametrize("contents", [{}, {"orders/_SUCCESS": b""}], ids=["nothing", "only a marker"])
def test_an_empty_prefix_fails_freshness_and_volume(
    lake: Lake, tmp_path: Path, contents: dict[str, bytes]
) -> None:
    lake.write({"elsewhere/dt=2026-11-23/part-0.parquet": parquet(orders(3, datetime.now(UTC)))} | contents)
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "orders",
            "orders/",
            "freshness: {fail_after: 1d}",
            "volume: {min: 0}",
            "volume: {name: latest, scope: latest_partition}",
            "volume: {name: files, metric: files}",
        ),
    )
    run = check(config)
    assert run.outcomes() == {
        "orders.freshness": "fail",
        "orders.volume": "fail",
        "orders.volume.latest": "fail",
        "orders.volume.files": "fail",
    }
    assert run["orders.freshness"]["message"] == "dataset is empty: no newest object"
    assert run["orders.volume"]["message"] == "no data files under the prefix"
    assert run["orders.volume.latest"]["message"] == "no data files in the newest partition"
    assert run.code == 1


def test_markers_checksums_and_metadata_are_not_data(lake: Lake, tmp_path: Path) -> None:
    """Unreadable as Parquet and newer than the data: had any been read or counted, the checks would say."""
    now = whole_seconds(datetime.now(UTC))
    data = {"orders/dt=2026-11-23/part-0.parquet": parquet(orders(7, now))}
    lake.write(data, modified=now - timedelta(hours=3))
    junk = b"\x00junk, not Parquet"
    lake.write(
        {
            "orders/_SUCCESS": b"",
            "orders/_metadata": junk,
            "orders/_common_metadata": junk,
            "orders/dt=2026-11-23/_SUCCESS": b"",
            "orders/dt=2026-11-23/.part-0.parquet.crc": junk,
            "orders/dt=2026-11-23/_temporary/0/part-9.parquet": junk,
            "orders/.spark-staging/part-8.parquet": junk,
        },
        modified=now,
    )
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "orders",
            "orders/",
            "freshness: {warn_after: 2h}",
            "volume: {min: 1}",
            "volume: {name: files, metric: files}",
            "volume: {name: bytes, metric: bytes}",
            "schema: {}",
        ),
    )
    run = check(config)
    assert run.outcomes() == {
        "orders.freshness": "warn",
        "orders.volume": "pass",
        "orders.volume.files": "pass",
        "orders.volume.bytes": "pass",
        "orders.schema": "pass",
    }
    assert run["orders.freshness"]["value"] == pytest.approx(3 * 3600, abs=120)
    assert run["orders.volume"]["value"] == 7
    assert run["orders.volume.files"]["value"] == 1
    assert run["orders.volume.bytes"]["value"] == len(data["orders/dt=2026-11-23/part-0.parquet"])


def test_a_partition_holding_only_files_that_are_not_data_is_not_the_newest(
    lake: Lake, tmp_path: Path
) -> None:
    """A job still writing 11-24 (only `_temporary/` so far): every check sees 11-23 as the newest partition,
    whichever way the partition is found (delimiter listings, or the full listing another check needs)."""
    lake.write(
        {
            "orders/dt=2026-11-23/part-0.parquet": parquet(orders(7, datetime.now(UTC))),
            "orders/dt=2026-11-24/_temporary/0/part-0.parquet": b"half written",
        }
    )
    config = config_of(
        tmp_path,
        lake,
        dataset("alone", "orders/", "volume: {scope: latest_partition, min: 1}"),
        dataset("fresh", "orders/", "freshness: {fail_after: 1h}"),
        dataset(
            "with_all",
            "orders/",
            "volume: {scope: latest_partition, min: 1}",
            "volume: {name: files, metric: files}",
        ),
    )
    run = check(config)
    assert run["with_all.volume"]["value"] == 7
    assert (run["alone.volume"]["outcome"], run["alone.volume"]["value"]) == ("pass", 7), run["alone.volume"]
    assert run["fresh.freshness"]["outcome"] == "pass", run["fresh.freshness"]["message"]


# --- odd keys ---------------------------------------------------------------------------------------------


def test_spaces_and_unicode_in_paths_partitions_and_file_names(lake: Lake, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    lake.write(
        {
            "raw data/sales/region=São Paulo/part 0 ü é.parquet": parquet(orders(4, now)),
            "raw data/sales/region=São Paulo/a+b=c.parquet": parquet(orders(6, now)),
            "raw data/sales/region=東京/データ 1.parquet": parquet(orders(8, now)),
            "raw data/sales/region=Zürich/part-0.parquet": parquet(
                orders(10, now, coupon=pa.array(["x"] * 10))
            ),
        }
    )
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "sales",
            "raw data/sales/",
            "volume: {min: 1}",
            "volume: {name: latest, scope: latest_partition}",
            "schema: {}",
            "freshness: {fail_after: 1h}",
        ),
        dataset("latest", "raw data/sales/", "volume: {scope: latest_partition}"),
    )
    run = check(config)
    assert run.outcomes() == {
        "sales.volume": "pass",
        "sales.volume.latest": "pass",
        "sales.schema": "warn",
        "sales.freshness": "pass",
        "latest.volume": "pass",
    }
    assert run["sales.volume"]["value"] == 28
    assert run["sales.volume.latest"]["value"] == 8  # 東京 sorts after São Paulo and Zürich
    assert run["latest.volume"]["value"] == 8
    assert "raw data/sales/region=Zürich/part-0.parquet (+coupon)" in run["sales.schema"]["message"]


# --- unreachable, forbidden, missing ------------------------------------------------------------------

FOUR_KINDS = (
    "freshness: {fail_after: 1d}",
    "volume: {min: 1}",
    "volume: {name: files, metric: files}",
    "schema: {}",
    "freshness: {name: events, column: event_at, fail_after: 1d}",
)


def assert_all_errors(run: Run, cause: str) -> None:
    assert set(run.outcomes().values()) == {"error"}, run.outcomes()
    for result in run.results.values():
        assert cause in result["message"], result["message"]
        assert "\n" not in result["message"] and "Traceback" not in result["message"]
    assert "Traceback" not in run.output
    assert SECRET not in run.output
    assert run.code == 3


@pytest.mark.usefixtures("s3")  # for its credentials
def test_an_endpoint_that_is_down_errors_every_check(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    config = write_config(
        tmp_path,
        s3_source(endpoint),
        dataset("orders", "orders/", *FOUR_KINDS),
        dataset("flat", "flat/", "volume: {metric: bytes}", hive=False),
    )
    run = check(config)
    assert_all_errors(run, f"cannot reach the S3 endpoint {endpoint}")
    assert (
        run["orders.volume"]["message"] == f"s3://{BUCKET}/{PREFIX}/: cannot reach the S3 endpoint {endpoint}"
    )
    assert run.summary == {"pass": 0, "warn": 0, "fail": 0, "error": 6}


class DyingEndpoint:
    """A TCP relay to moto that goes down for good at the first request that is not a listing: the
    endpoint dies after a run listed the lake and before it read the files."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = [self._listener]
        self._lock = threading.Lock()
        self.died = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.died.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._relay, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._relay, args=(upstream, client, False), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(65536):
                line = data.split(b"\r\n", 1)[0]
                if requests and line.startswith(b"GET ") and b"list-type=2" not in line:
                    self.die()
                    return
                sink.sendall(data)
        except OSError:
            return

    def die(self) -> None:
        self.died.set()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.fixture
def dying(s3: S3Lake) -> Iterator[DyingEndpoint]:
    endpoint = DyingEndpoint(s3.endpoint_url)
    yield endpoint
    endpoint.die()


def test_an_endpoint_that_dies_mid_run_errors_only_what_it_could_not_read(
    s3: S3Lake, dying: DyingEndpoint, tmp_path: Path
) -> None:
    lake = BucketLake(s3)
    hive_lake(lake)
    config = write_config(tmp_path, lake.source(dying.url), dataset("orders", "orders/", *FOUR_KINDS))
    run = check(config)
    assert dying.died.is_set()
    assert run.outcomes() == {
        "orders.freshness": "pass",
        "orders.volume": "error",
        "orders.volume.files": "pass",
        "orders.schema": "error",
        "orders.freshness.events": "error",
    }
    assert run["orders.volume"]["message"].endswith(f"cannot reach the S3 endpoint {dying.url}")
    assert run["orders.volume"]["message"].startswith(f"s3://{BUCKET}/{PREFIX}/orders/dt=")
    assert run["orders.volume.files"]["value"] == len(ROWS)
    assert run.code == 3
    after = check(config)  # and the next run finds it down from the start
    assert_all_errors(after, f"cannot reach the S3 endpoint {dying.url}")


@pytest.fixture
def secured(s3: S3Lake) -> Iterator[BucketLake]:
    lake = BucketLake(s3)
    hive_lake(lake)
    yield lake


def test_rejected_credentials_are_an_error_that_never_shows_the_secret(
    secured: BucketLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, reader_secret = secured.s3.user("reader", LIST_AND_READ)
    secured.s3.moto.require_auth()
    config = write_config(tmp_path, secured.source(), dataset("orders", "orders/", *FOUR_KINDS))
    unknown = check(config)  # the environment's key: moto's IAM does not know it
    assert_all_errors(unknown, "the AWS credentials were rejected (InvalidAccessKeyId)")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", reader)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # a known key with a wrong secret
    wrong_secret = check(config)
    assert_all_errors(wrong_secret, "the AWS credentials were rejected (SignatureDoesNotMatch)")
    assert reader_secret not in wrong_secret.output
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", reader_secret)
    allowed = check(config)
    assert set(allowed.outcomes().values()) == {"pass"}, allowed.results
    assert reader_secret not in allowed.output


def test_access_denied_on_reads_errors_the_checks_that_read(
    secured: BucketLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lister, secret = secured.s3.user("lister", LIST_ONLY)
    secured.s3.moto.require_auth()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", lister)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    config = write_config(tmp_path, secured.source(), dataset("orders", "orders/", *FOUR_KINDS))
    run = check(config)
    assert run.outcomes() == {
        "orders.freshness": "pass",
        "orders.volume": "error",
        "orders.volume.files": "pass",
        "orders.schema": "error",
        "orders.freshness.events": "error",
    }
    assert run["orders.schema"]["message"].endswith(": access denied (AccessDenied)")
    assert secret not in run.output


def test_a_missing_bucket_is_named(s3: S3Lake, tmp_path: Path) -> None:
    lake = BucketLake(s3)
    source = lake.source().replace(f"bucket: {BUCKET}", "bucket: no-such-bucket")
    run = check(write_config(tmp_path, source, dataset("orders", "orders/", *FOUR_KINDS)))
    assert_all_errors(run, "bucket no-such-bucket does not exist (NoSuchBucket)")


def test_a_missing_root_directory_is_named(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "    kind: files\n    root: nowhere\n", dataset("orders", "orders/", *FOUR_KINDS)
    )
    run = check(config)
    assert_all_errors(run, f"directory {tmp_path / 'nowhere'} does not exist")


# --- history ------------------------------------------------------------------------------------------------


def test_volume_drop_between_runs(lake: Lake, tmp_path: Path) -> None:
    hive_lake(lake)
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "orders",
            "orders/",
            "volume: {max_drop: 50%}",
            "volume: {name: files, metric: files, max_drop: 50%}",
        ),
    )
    first = check(config)
    assert first.outcomes() == {"orders.volume": "pass", "orders.volume.files": "pass"}
    assert "no baseline" in first["orders.volume"]["message"]
    lake.remove([key for key in ROWS if "dt=2026-11-23" not in key])  # 270 of 390 rows, 3 of 6 files
    second = check(config)
    assert second.outcomes() == {"orders.volume": "fail", "orders.volume.files": "pass"}
    assert second["orders.volume"]["value"] == 120
    assert second["orders.volume"]["details"]["change"] == pytest.approx(120 / 390 - 1)
    assert second["orders.volume"]["message"] == (
        "120 rows; fell 69.2% since the last successful run (390), more than max_drop 50%"
    )
    assert second["orders.volume.files"]["details"]["change"] == pytest.approx(-0.5)
    assert second.code == 1
    third = check(config)  # a failed run is no baseline
    assert third["orders.volume"]["details"]["baseline"] == 390
    assert third["orders.volume.files"]["details"]["baseline"] == 3


# --- validate --connect -------------------------------------------------------------------------------------


def validate(config: Path) -> Result:
    return CliRunner().invoke(main, ["validate", "--connect", "-c", str(config)], catch_exceptions=False)


def test_validate_connects_to_a_files_source(tmp_path: Path) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    hive_lake(lake)
    good = validate(config_of(tmp_path, lake, dataset("orders", "orders/", "volume: {min: 1}")))
    assert good.exit_code == 0, good.output
    assert f"lake: ok ({tmp_path / 'lake'}/)" in good.stdout
    missing = validate(
        write_config(
            tmp_path, "    kind: files\n    root: nowhere\n", dataset("orders", "orders/", "volume: {min: 1}")
        )
    )
    assert missing.exit_code == 3
    assert f"lake: FAILED: source lake: directory {tmp_path / 'nowhere'} does not exist" in missing.stdout


def test_validate_connects_to_an_s3_source(s3: S3Lake, tmp_path: Path) -> None:
    lake = BucketLake(s3)
    empty = validate(config_of(tmp_path, lake, dataset("orders", "orders/", "volume: {min: 1}")))
    assert empty.exit_code == 3
    assert f"    orders: FAILED: no parquet files under s3://{BUCKET}/{PREFIX}/orders/" in empty.stdout
    hive_lake(lake)
    good = validate(config_of(tmp_path, lake, dataset("orders", "orders/", "volume: {min: 1}")))
    assert good.exit_code == 0, good.output
    assert f"lake: ok (s3://{BUCKET}/{PREFIX}/)" in good.stdout
    assert f"parquet file(s) under s3://{BUCKET}/{PREFIX}/orders/" in good.stdout
    endpoint = f"http://127.0.0.1:{free_port()}"
    down = validate(
        write_config(tmp_path, lake.source(endpoint), dataset("orders", "orders/", "volume: {min: 1}"))
    )
    assert down.exit_code == 3
    assert f"lake: FAILED: source lake: s3://{BUCKET}/{PREFIX}/: cannot reach the S3 endpoint {endpoint}" in (
        down.stdout
    )
    assert SECRET not in down.output


def test_a_column_naive_in_some_files_and_aware_in_others_is_an_error_not_a_crash(
    lake: Lake, tmp_path: Path
) -> None:
    newest = datetime.now(UTC).replace(microsecond=0)
    aware = pa.table({"loaded_at": pa.array([newest], pa.timestamp("us", tz="UTC"))})
    naive = pa.table({"loaded_at": pa.array([newest.replace(tzinfo=None)], pa.timestamp("us"))})
    lake.write({"mixed/a.parquet": parquet(aware), "mixed/b.parquet": parquet(naive)})
    config = config_of(
        tmp_path,
        lake,
        dataset(
            "mixed",
            "mixed/",
            "freshness: {column: loaded_at, fail_after: 1h}",
            "volume: {min: 1}",
            hive=False,
        ),
    )
    run = check(config)
    assert run.outcomes() == {"mixed.freshness": "error", "mixed.volume": "pass"}
    assert "cannot be compared across files" in run["mixed.freshness"]["message"]


# --- fields longer than a block -----------------------------------------------------------------------------


def test_a_csv_field_over_a_megabyte_is_read_for_rows_columns_and_samples(lake: Lake, tmp_path: Path) -> None:
    """A 1.2 MB note, in the first block of one file and mid-way down the other: counted, typed, sampled."""
    import pandera.pandas as pandera

    big = "x" * 1_200_000
    rows = [f"{i},note {i}" for i in range(2, 30_002)]
    rows[20_000] = f"20002,{big}"
    b_csv = "\n".join(["id,note", *rows]).encode()
    lake.write({"notes/a.csv": f"id,note\n1,{big}\n".encode(), "notes/b.csv": b_csv})
    short = pandera.Check.str_length(max_value=1_000_000)
    schema = pandera.DataFrameSchema({"id": pandera.Column(int), "note": pandera.Column(str, short)})
    (tmp_path / "notes.yml").write_text(schema.to_yaml(), encoding="utf-8")
    columns = "schema: {columns: {id: integer, note: string}}"
    checks = ["volume: {min: 1}", columns, "quality: {schema: notes.yml}"]
    run = check(config_of(tmp_path, lake, dataset("notes", "notes/", *checks, fmt="csv", hive=False)))
    assert run.outcomes() == {"notes.volume": "pass", "notes.schema": "pass", "notes.quality": "fail"}
    assert run["notes.volume"]["value"] == 30_001
    [rule] = [rule for rule in run["notes.quality"]["details"]["rules"] if rule["failing_rows"]]
    assert (rule["column"], rule["rows"], rule["failing_rows"]) == ("note", 30_001, 2)


# --- inputs the readers did not foresee: one file's trouble stays that file's --------------------------


def test_a_latin1_csv_header_fails_only_what_reads_it_and_names_the_file(lake: Lake, tmp_path: Path) -> None:
    lake.write({"people/a.csv": "id,pr\xe9nom\n1,Z\xe9\n".encode("latin-1")})
    config = config_of(
        tmp_path,
        lake,
        dataset("people", "people/", "volume: {metric: files, min: 1}", "schema: {}", fmt="csv", hive=False),
    )
    run = check(config)
    assert run.outcomes() == {"people.volume": "pass", "people.schema": "error"}
    assert "people/a.csv" in run["people.schema"]["message"]
    assert "internal error" not in run.output and "Traceback" not in run.output


def test_json_lines_whose_types_vary_still_count_rows(lake: Lake, tmp_path: Path) -> None:
    lake.write({"events/a.jsonl": b'{"id": 1, "v": 1}\n{"id": 2, "v": "x"}\n\n{"id": 3, "v": null}\n'})
    run = check(
        config_of(tmp_path, lake, dataset("events", "events/", "volume: {min: 1}", fmt="jsonl", hive=False))
    )
    assert run.outcomes() == {"events.volume": "pass"}
    assert run["events.volume"]["value"] == 3


def test_nanosecond_timestamps_give_freshness_from_statistics(lake: Lake, tmp_path: Path) -> None:
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    nanos = int(newest.timestamp()) * 10**9 + 123_456_789
    table = pa.table({"ts": pa.array([nanos], pa.timestamp("ns", tz="UTC"))})
    lake.write({"ns/a.parquet": parquet(table)})
    config = config_of(
        tmp_path,
        lake,
        dataset("ns", "ns/", "freshness: {column: ts, fail_after: 1h}", "volume: {min: 1}", hive=False),
    )
    run = check(config)
    assert run.outcomes() == {"ns.freshness": "pass", "ns.volume": "pass"}
    assert run["ns.freshness"]["value"] == pytest.approx(30 * 60 - 0.123, abs=60)


def test_a_footer_without_statistics_is_an_error_that_says_so(lake: Lake, tmp_path: Path) -> None:
    sink = io.BytesIO()
    pq.write_table(orders(5, datetime.now(UTC)), sink, write_statistics=False)
    lake.write({"nostats/a.parquet": sink.getvalue()})
    config = config_of(
        tmp_path,
        lake,
        dataset("nostats", "nostats/", "freshness: {column: event_at, fail_after: 1h}", hive=False),
    )
    run = check(config)
    assert run.outcomes() == {"nostats.freshness": "error"}
    assert "no min/max statistics for column event_at" in run["nostats.freshness"]["message"]


def test_newest_partition_is_the_same_whichever_checks_ask(lake: Lake, tmp_path: Path) -> None:
    """Numbers rank by value (19 digits exactly) before text, per value: a folder without data files
    (`staging`, only `_SUCCESS`) cannot turn the order into text order for one listing and not another."""
    small, big = "1234567890123456788", "1234567890123456789"
    files = {
        f"ids/id={value}/part-0.parquet": parquet(orders(rows, datetime.now(UTC)))
        for value, rows in ((small, 3), (big, 7), ("2", 5))
    }
    lake.write({**files, "ids/id=staging/_SUCCESS": b""})
    latest = "volume: {metric: rows, scope: latest_partition}"
    alone = dataset("alone", "ids/", latest)
    with_all = dataset("with_all", "ids/", latest, "volume: {name: files, metric: files}")
    run = check(config_of(tmp_path, lake, alone, with_all))
    assert run["alone.volume"]["value"] == run["with_all.volume"]["value"] == 7


def test_symbolic_links_under_a_files_root_are_not_followed_by_any_listing(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    elsewhere = tmp_path / "elsewhere"
    (root / "t" / "dt=2026-11-23").mkdir(parents=True)
    elsewhere.mkdir()
    pq.write_table(orders(3, datetime.now(UTC)), root / "t" / "dt=2026-11-23" / "part-0.parquet")
    pq.write_table(orders(10, datetime.now(UTC)), elsewhere / "part-0.parquet")
    (root / "t" / "dt=2026-11-24").symlink_to(elsewhere, target_is_directory=True)
    (root / "t" / "dt=2026-11-23" / "link.parquet").symlink_to(elsewhere / "part-0.parquet")
    latest = "volume: {metric: rows, scope: latest_partition}"
    source = f"    kind: files\n    root: {json.dumps(str(root))}\n"
    config = write_config(
        tmp_path,
        source,
        dataset("alone", "t/", latest),
        dataset("with_all", "t/", latest, "volume: {name: n, metric: files}"),
    )
    run = check(config)
    assert run["alone.volume"]["value"] == run["with_all.volume"]["value"] == 3
    assert run["with_all.volume.n"]["value"] == 1


# --- paths stay under the source's root --------------------------------------------------------------------


ESCAPES = {
    "parent": "../outside/",
    "parent on the way": "orders/../../outside/",
    "bare parent": "..",
    "absolute": "{outside}/",
}


@pytest.mark.parametrize("path", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_path_that_leaves_the_root_is_refused_before_anything_is_read(
    lake: Lake, tmp_path: Path, path: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.csv").write_bytes(b"id\n1\n2\n")  # beside a files root: what `../outside/` reached
    lake.write({"outside/a.csv": b"id\n1\n2\n"})  # under it, for S3 (whose keys `..` must not reach either)
    path = path.format(outside=outside)
    config = config_of(tmp_path, lake, dataset("escape", path, "volume: {min: 1}", fmt="csv", hive=False))
    line = config.read_text().splitlines().index(f"    path: {json.dumps(path)}") + 1
    for command in ("validate", "check"):
        result = CliRunner().invoke(main, [command, "-c", str(config)])
        assert (result.exit_code, result.stdout) == (2, ""), result.output
        assert result.stderr == (
            f"{config}:{line}: datasets.escape.path: expected a prefix under the source's root, "
            f"without '..' segments and not absolute, got {path!r}\n"
        )


def test_a_path_through_a_symbolic_link_reads_nothing_beyond_it(tmp_path: Path) -> None:
    """Links are not followed, also when a dataset's path goes through one: it cannot leave the root."""
    root, outside = tmp_path / "lake", tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    outside.mkdir()
    (outside / "a.csv").write_bytes(b"id\n1\n2\n")
    (root / "real" / "a.csv").write_bytes(b"id\n1\n")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "real" / "link").symlink_to(outside, target_is_directory=True)
    source = f"    kind: files\n    root: {json.dumps(str(root))}\n"
    volume = "volume: {min: 1}"
    config = write_config(
        tmp_path,
        source,
        dataset("linked", "link/", volume, fmt="csv", hive=False),
        dataset("deeper", "real/link/", volume, fmt="csv", hive=False),
        dataset("real", "real/", volume, "volume: {name: files, metric: files}", fmt="csv", hive=False),
    )
    run = check(config)
    assert run.outcomes() == {
        "linked.volume": "fail", "deeper.volume": "fail", "real.volume": "pass", "real.volume.files": "pass"
    }
    assert run["real.volume"]["value"] == run["real.volume.files"]["value"] == 1
    nothing = "no data files under the prefix"
    assert run["linked.volume"]["message"] == run["deeper.volume"]["message"] == nothing
