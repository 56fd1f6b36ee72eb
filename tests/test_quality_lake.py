"""`quality` checks on lake datasets, end to end: `demon check --format json` on the same lake in a
directory (`files`) and in a bucket of a moto S3 server reached over real HTTP (`s3`).

A lake has no engine to count in: the files' footers and headers answer the shape rules (presence,
type family, strictness), and a bounded sample of rows, read newest files first and projected onto
the schema's columns, answers the rest. So every rule is reported `on_sample` over the rows read.
Each test writes its Pandera schema as a new module beside the config (modules are cached per process).
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from monitor.app.cli import main
from tests.motoserver import S3Lake
from tests.pgserver import free_port
from tests.test_lake import (
    BUCKET,
    SECRET,
    BucketLake,
    DirectoryLake,
    Lake,
    Run,
    check,
    config_of,
    full_listings,
    parquet,
    requests,
    s3_source,
    walk,
    whole_seconds,
    write_config,
)


@pytest.fixture(params=["files", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "files":
        return DirectoryLake(tmp_path / "lake")
    return BucketLake(request.getfixturevalue("s3"))


# --- schemas ------------------------------------------------------------------------------------------------

_modules = itertools.count()

ORDERS = """
from typing import Optional

import pandera.pandas as pa


class Orders(pa.DataFrameModel):
    id: int = pa.Field(unique=True, ge=0)
    amount: float = pa.Field(ge=0)
    status: str = pa.Field(isin=["new", "shipped"])
    email: str = pa.Field(str_matches=r"^[a-z]+@example\\.com$")
    coupon: Optional[str] = pa.Field(nullable=True, str_startswith="C-")

    class Config:
        strict = False
"""
# Pandera's labels of the rules above, as results name them.
UNIQUE, NON_NEGATIVE = ("id", "field_uniqueness"), ("amount", "greater_than_or_equal_to(0)")
KNOWN_STATUS = ("status", "isin(['new', 'shipped'])")
EMAIL_FORMAT = ("email", "str_matches('^[a-z]+@example\\.com$')")


def schema_module(directory: Path, source: str, attribute: str = "Orders") -> str:
    """Writes `source` as a module of a new name beside the config; returns the `module:attr` reference."""
    name = f"lake_quality_{os.getpid()}_{next(_modules)}"
    (directory / f"{name}.py").write_text(source, encoding="utf-8")
    return f"{name}:{attribute}"


def quality(ref: str, **params: Any) -> str:
    """A `quality:` check entry (one line of flow YAML)."""
    return "quality: " + json.dumps({"schema": ref, **params})


def dataset(
    name: str,
    path: str,
    *checks: str,
    fmt: str = "parquet",
    hive: bool = False,
    pii: Sequence[str] = ("email",),
) -> str:
    block = f"  {name}:\n    source: lake\n    path: {json.dumps(path)}\n    format: {fmt}\n"
    block += f"    partitioning: {'hive' if hive else 'none'}\n    pii_columns: {json.dumps(list(pii))}\n"
    return block + "    checks:\n" + "".join(f"      - {item}\n" for item in checks)


# --- data ---------------------------------------------------------------------------------------------------

Row = dict[str, Any]

# Four rules fail: id 3 twice (in two files), one negative amount, one unknown status, one bad email.
SECRET_EMAIL = "leaked-secret-0001"  # the pii column's failing value: must never be shown
ORDER_ROWS: list[Row] = [
    {"id": 1, "amount": 10.5, "status": "new", "email": "ann@example.com"},
    {"id": 2, "amount": -1.5, "status": "new", "email": "bob@example.com"},
    {"id": 3, "amount": 7.25, "status": "lost", "email": "cid@example.com"},
    {"id": 4, "amount": 3.5, "status": "shipped", "email": "dee@example.com"},
    {"id": 3, "amount": 8.5, "status": "shipped", "email": "eve@example.com"},
    {"id": 6, "amount": 2.5, "status": "new", "email": SECRET_EMAIL},
    {"id": 7, "amount": 1.5, "status": "shipped", "email": "gus@example.com"},
    {"id": 8, "amount": 4.5, "status": "new", "email": "hal@example.com"},
]
EXPECTED_FAILING = {UNIQUE: 2, NON_NEGATIVE: 1, KNOWN_STATUS: 1, EMAIL_FORMAT: 1}
TYPES = {"id": pa.int64(), "amount": pa.float64(), "status": pa.string(), "email": pa.string()}


def table(rows: Sequence[Row], types: Mapping[str, pa.DataType] | None = None) -> pa.Table:
    types = {**TYPES, **(types or {})}
    names = list(dict.fromkeys(name for row in rows for name in row))
    return pa.table({name: pa.array([row.get(name) for row in rows], types.get(name)) for name in names})


def csv_bytes(rows: Sequence[Row]) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table(rows), sink)
    return sink.getvalue()


def jsonl_bytes(rows: Sequence[Row]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


# encoding -> (dataset format, file suffix, bytes of rows)
ENCODINGS: dict[str, tuple[str, str, Callable[[Sequence[Row]], bytes]]] = {
    "parquet": ("parquet", ".parquet", lambda rows: parquet(table(rows))),
    "csv": ("csv", ".csv", csv_bytes),
    "csv.gz": ("csv", ".csv.gz", lambda rows: gzip.compress(csv_bytes(rows))),
    "jsonl": ("jsonl", ".jsonl", jsonl_bytes),
}


def write_rows(
    lake: Lake,
    files: Mapping[str, Sequence[Row]],
    encoding: str = "parquet",
    modified: datetime | None = None,
) -> None:
    """Files named without suffix (`orders/a`), written in `encoding`."""
    _, suffix, encode = ENCODINGS[encoding]
    lake.write({f"{key}{suffix}": encode(rows) for key, rows in files.items()}, modified=modified)


def orders_lake(lake: Lake, encoding: str = "parquet") -> None:
    write_rows(lake, {"orders/a": ORDER_ROWS[:4], "orders/b": ORDER_ROWS[4:]}, encoding)


# --- results ------------------------------------------------------------------------------------------------


def rules(result: Mapping[str, Any]) -> dict[tuple[str | None, str], dict[str, Any]]:
    """A quality result's rules by (column, check)."""
    return {(rule["column"], rule["check"]): rule for rule in result["details"]["rules"]}


def failing(result: Mapping[str, Any]) -> dict[tuple[str | None, str], int]:
    """The rules with failing rows, and how many."""
    return {key: rule["failing_rows"] for key, rule in rules(result).items() if rule["failing_rows"]}


def assert_on_sample(result: Mapping[str, Any], rows: int) -> None:
    """Every rule ran on the sample, over exactly the rows the sample holds."""
    assert result["details"]["sample_rows"] == rows
    assert result["details"]["rows"] is None  # no engine counted the whole dataset
    assert result["details"]["rules"], result
    for rule in result["details"]["rules"]:
        assert (rule["mode"], rule["rows"]) == ("on_sample", rows), rule


def sample_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [row for rule in result["details"]["rules"] for row in rule.get("sample", [])]


def assert_clean(run: Run) -> None:
    assert "Traceback" not in run.output and "internal error" not in run.output, run.output
    assert SECRET not in run.output


# --- formats ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_every_rule_runs_on_a_sample_of_each_format(lake: Lake, tmp_path: Path, encoding: str) -> None:
    orders_lake(lake, encoding)
    ref = schema_module(tmp_path, ORDERS)
    fmt = ENCODINGS[encoding][0]
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt=fmt)))
    result = run["orders.quality"]
    assert (result["outcome"], result["value"], result["unit"]) == ("fail", 2, "rows")
    assert_on_sample(result, len(ORDER_ROWS))
    assert failing(result) == EXPECTED_FAILING
    found = rules(result)
    assert found[NON_NEGATIVE]["values"] == [-1.5]
    assert found[NON_NEGATIVE]["sample"] == [{"id": 2, "amount": -1.5, "status": "new"}]
    assert found[NON_NEGATIVE]["failing_pct"] == pytest.approx(1 / 8)
    assert found[KNOWN_STATUS]["values"] == ["lost"]
    assert sorted(found[UNIQUE]["values"]) == [3, 3]  # one row in each file: the sample spans them
    assert "values" not in found[EMAIL_FORMAT]  # a pii column: its values are never shown
    assert found[EMAIL_FORMAT]["sample"] == [{"id": 6, "amount": 2.5, "status": "new"}]
    assert ("coupon", "str_startswith('C-')") not in found  # an optional column the files lack
    assert result["message"].startswith(
        "4 rules failing (on a sample of 8 rows): id field_uniqueness: 2 rows"
    )
    assert "on the sample" in result["message"]
    assert result["statements"][-1].endswith("read a sample of at most 100,000 rows")
    # one listing; a footer or header read of both files, then one read of each for the sample
    assert requests(result) == {"list": 1, "get": 4}
    assert not [row["email"] for row in ORDER_ROWS if row["email"] in run.output]
    assert_clean(run)
    assert run.code == 1


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_clean_data_passes(lake: Lake, tmp_path: Path, encoding: str) -> None:
    clean = [row | {"email": f"user{'abcdefgh'[index]}@example.com"} for index, row in enumerate(ORDER_ROWS)]
    clean = [
        row | {"id": index, "amount": abs(row["amount"]), "status": "new"} for index, row in enumerate(clean)
    ]
    write_rows(lake, {"orders/a": clean[:5], "orders/b": clean[5:]}, encoding)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt=ENCODINGS[encoding][0]))
    )
    result = run["orders.quality"]
    assert (result["outcome"], result["value"]) == ("pass", 0), result["message"]
    assert result["message"] == "no failing rows (on a sample of 8 rows)"
    assert_on_sample(result, 8)
    assert run.code == 0


def test_csv_and_gzip_csv_files_in_one_dataset(lake: Lake, tmp_path: Path) -> None:
    lake.write(
        {
            "orders/a.csv": csv_bytes(ORDER_ROWS[:4]),
            "orders/b.csv.gz": gzip.compress(csv_bytes(ORDER_ROWS[4:])),
        }
    )
    ref = schema_module(tmp_path, ORDERS)
    result = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt="csv")))[
        "orders.quality"
    ]
    assert failing(result) == EXPECTED_FAILING
    assert_on_sample(result, 8)


def test_json_lines_missing_keys_are_nulls(lake: Lake, tmp_path: Path) -> None:
    rows = [dict(row) for row in ORDER_ROWS]
    del rows[0]["status"], rows[7]["status"]  # one in each file
    lake.write({"orders/a.jsonl": jsonl_bytes(rows[:4]), "orders/b.jsonl": jsonl_bytes(rows[4:])})
    ref = schema_module(tmp_path, ORDERS)
    result = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt="jsonl")))[
        "orders.quality"
    ]
    assert failing(result) == EXPECTED_FAILING | {("status", "not_nullable"): 2}
    assert sorted(row["id"] for row in rules(result)[("status", "not_nullable")]["sample"]) == [1, 8]


def test_column_names_match_case_insensitively(lake: Lake, tmp_path: Path) -> None:
    """A CSV header `ID,Amount,...` holds the schema's `id, amount`: found, and named as in the schema."""
    rows = [{name.capitalize(): value for name, value in row.items()} for row in ORDER_ROWS]
    lake.write({"orders/a.csv": csv_bytes(rows)})
    ref = schema_module(tmp_path, ORDERS)
    result = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt="csv")))[
        "orders.quality"
    ]
    assert failing(result) == EXPECTED_FAILING
    assert rules(result)[NON_NEGATIVE]["sample"] == [{"id": 2, "amount": -1.5, "status": "new"}]


# --- projection ---------------------------------------------------------------------------------------------

BLOB = 200_000  # bytes of a value of the column no schema names


def test_only_the_schemas_columns_are_read(lake: Lake, tmp_path: Path) -> None:
    """The same rows with a huge column and a sensitive one beside them: the same results, and neither
    column shows in any sample row, failing value or message."""
    noise = random.Random(5)
    wide = [
        row | {"payload": noise.randbytes(BLOB).hex(), "ssn": f"ssn-{index:04d}-private"}
        for index, row in enumerate(ORDER_ROWS)
    ]
    write_rows(lake, {"slim/a": ORDER_ROWS[:4], "slim/b": ORDER_ROWS[4:]})
    write_rows(lake, {"wide/a": wide[:4], "wide/b": wide[4:]})
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path, lake, dataset("slim", "slim/", quality(ref)), dataset("wide", "wide/", quality(ref))
        )
    )
    slim, wide_result = run["slim.quality"], run["wide.quality"]
    assert wide_result["details"]["rules"] == slim["details"]["rules"]
    assert (wide_result["outcome"], wide_result["value"], wide_result["message"]) == (
        slim["outcome"],
        slim["value"],
        slim["message"],
    )
    rows = sample_rows(wide_result)
    assert rows
    assert all(set(row) == {"id", "amount", "status"} for row in rows), rows  # email is pii
    assert "ssn-" not in run.output and "payload" not in run.output
    assert len(run.output) < BLOB
    # the same listing; a wide file is read by ranges (footer, then the wanted columns' chunks)
    assert requests(wide_result)["list"] == requests(slim)["list"]


def test_a_parquet_sample_downloads_only_the_wanted_columns(tmp_path: Path) -> None:
    """A file dominated by a column the schema does not name: the sample fetches a small part of it."""
    from checks.sources.localstore import LocalStore
    from checks.sources.samples import read_sample

    class Counting(LocalStore):
        fetched = 0

        def read_range(self, key: str, start: int, length: int) -> bytes:
            data = super().read_range(key, start, length)
            Counting.fetched += len(data)
            return data

    noise = random.Random(7)
    rows = 2_000
    frame = pa.table({
        "id": list(range(rows)),
        "payload": [noise.randbytes(2_000).hex() for _ in range(rows)],
    })
    pq.write_table(frame, tmp_path / "wide.parquet", row_group_size=500, compression="none")
    store = Counting(tmp_path)
    (info,) = store.listing("").objects
    sample = read_sample(store, [info], "parquet", {"id": "integer"}, 1_000)
    assert list(sample.columns) == ["id"] and len(sample) == 1_000
    assert info.size > 7_000_000 and Counting.fetched < info.size / 20, (Counting.fetched, info.size)


@pytest.mark.parametrize("encoding", ["csv", "jsonl"])
def test_text_formats_are_projected_too(lake: Lake, tmp_path: Path, encoding: str) -> None:
    wide = [row | {"note": f"private note {index}"} for index, row in enumerate(ORDER_ROWS)]
    write_rows(lake, {"orders/a": wide}, encoding)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt=ENCODINGS[encoding][0]))
    )
    assert failing(run["orders.quality"]) == EXPECTED_FAILING
    assert all(set(row) == {"id", "amount", "status"} for row in sample_rows(run["orders.quality"]))
    assert "private note" not in run.output


def test_a_strict_schema_names_the_columns_it_does_not_know(lake: Lake, tmp_path: Path) -> None:
    """Strictness is judged from the files' columns (every row fails it); the sample still holds only
    the schema's columns."""
    wide = [row | {"channel": "web", "ssn": "123-45-6789"} for row in ORDER_ROWS]
    write_rows(lake, {"orders/a": wide})
    ref = schema_module(tmp_path, ORDERS.replace("strict = False", "strict = True"))
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref))))
    result = run["orders.quality"]
    assert failing(result) == EXPECTED_FAILING | {(None, "column_in_schema"): 8}
    assert rules(result)[(None, "column_in_schema")]["values"] == ["channel", "ssn"]
    assert (result["outcome"], result["value"]) == ("fail", 8)
    assert "123-45-6789" not in run.output


# --- scope: the newest partition or everything --------------------------------------------------------------

# Each partition's negative amounts are told apart by their value.
PARTITIONS = {
    "orders/dt=2026-11-20/part-0": (20, [-20.5, -20.5]),
    "orders/dt=2026-11-20/part-1": (15, [-20.5]),
    "orders/dt=2026-11-21/part-0": (12, [-21.5]),  # re-exported last: the newest object, not partition
    "orders/dt=2026-11-23/part-0": (10, [-23.5]),
    "orders/dt=2026-11-23/part-1": (8, [-23.5]),
}
NEWEST = [key for key in PARTITIONS if "dt=2026-11-23" in key]


def partition_rows(key: str) -> list[Row]:
    size, negatives = PARTITIONS[key]
    start = 1000 * list(PARTITIONS).index(key)
    amounts = negatives + [1.5] * (size - len(negatives))
    return [
        {"id": start + index, "amount": amount, "status": "new", "email": "ann@example.com"}
        for index, amount in enumerate(amounts)
    ]


def hive_orders(lake: Lake) -> None:
    now = whole_seconds(datetime.now(UTC))
    for key in PARTITIONS:
        age = timedelta(minutes=1) if "dt=2026-11-21" in key else timedelta(hours=2)
        write_rows(lake, {key: partition_rows(key)}, modified=now - age)
    lake.write({"orders/_SUCCESS": b"", "orders/dt=2026-11-23/_SUCCESS": b""}, modified=now)


def test_latest_partition_judges_only_the_newest_partitions_rows(lake: Lake, tmp_path: Path) -> None:
    hive_orders(lake)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset(
                "orders",
                "orders/",
                quality(ref, name="latest", scope="latest_partition"),
                quality(ref, name="all", scope="all"),
                hive=True,
            ),
            dataset("newest", "orders/", quality(ref, scope="latest_partition"), hive=True),
        )
    )
    latest, everything, alone = run["orders.quality.latest"], run["orders.quality.all"], run["newest.quality"]
    newest_rows = sum(PARTITIONS[key][0] for key in NEWEST)
    assert_on_sample(latest, newest_rows)
    assert_on_sample(everything, sum(size for size, _ in PARTITIONS.values()))
    assert failing(latest) == {NON_NEGATIVE: 2}
    assert rules(latest)[NON_NEGATIVE]["values"] == [-23.5, -23.5]
    assert failing(everything) == {NON_NEGATIVE: 6}
    assert sorted(set(rules(everything)[NON_NEGATIVE]["values"])) == [-23.5, -21.5, -20.5]
    assert alone["details"]["rules"] == latest["details"]["rules"]
    # one full listing serves both scopes; each file's footer is read once, each sample reads its files
    assert (
        requests(latest)
        == requests(everything)
        == {"list": 1, "get": len(PARTITIONS) + len(PARTITIONS) + len(NEWEST)}
    )
    # alone, the newest partition is found by delimiter listings: nothing else is listed or read
    assert requests(alone)["get"] == 2 * len(NEWEST)
    assert 2 <= requests(alone)["list"] <= walk(1)
    assert all("dt=2026-11-23/" in item for item in full_listings(alone)), alone["statements"]
    assert run.code == 1


def test_latest_partition_needs_hive_partitions(lake: Lake, tmp_path: Path) -> None:
    orders_lake(lake)
    ref = schema_module(tmp_path, ORDERS)
    config = config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref, scope="latest_partition")))
    result = CliRunner().invoke(main, ["check", "-c", str(config), "--format", "json"])
    assert result.exit_code == 2, result.output
    assert "datasets.orders.checks[0].quality.scope" in result.output
    assert "partitioning: hive" in result.output


def test_a_bad_file_outside_the_newest_partition_is_not_read(lake: Lake, tmp_path: Path) -> None:
    hive_orders(lake)
    lake.write({"orders/dt=2026-11-20/part-0.parquet": b"not parquet at all"})
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset(
                "orders",
                "orders/",
                quality(ref, name="latest", scope="latest_partition"),
                quality(ref, name="all"),
                hive=True,
            ),
        )
    )
    assert run.outcomes() == {"orders.quality.latest": "fail", "orders.quality.all": "error"}
    assert failing(run["orders.quality.latest"]) == {NON_NEGATIVE: 2}
    assert run["orders.quality.all"]["message"].startswith(
        "corrupt Parquet file orders/dt=2026-11-20/part-0.parquet"
    )
    assert_clean(run)


# --- sample: how many rows, and which -----------------------------------------------------------------------

FILE_ROWS = 40


def aged_lake(lake: Lake, encoding: str) -> None:
    """Three files of 40 rows whose names do not sort by age: the newest (`b`) has only unknown statuses,
    the oldest (`a`) only negative amounts, the one between (`c`) is clean."""
    now = whole_seconds(datetime.now(UTC))
    files: dict[str, tuple[timedelta, int, Row]] = {
        "orders/b": (timedelta(hours=1), 200, {"status": "lost"}),
        "orders/c": (timedelta(hours=2), 100, {}),
        "orders/a": (timedelta(hours=3), 0, {"amount": -2.5}),
    }
    for key, (age, first_id, bad) in files.items():
        rows = [
            {"id": first_id + index, "amount": 1.5, "status": "new", "email": "ann@example.com"} | bad
            for index in range(FILE_ROWS)
        ]
        write_rows(lake, {key: rows}, encoding, modified=now - age)


@pytest.mark.parametrize("sample", [1, 10, 40, 50, 100, 120, 1000])
def test_sample_bounds_the_rows_read_newest_files_first(lake: Lake, tmp_path: Path, sample: int) -> None:
    aged_lake(lake, "parquet")
    ref = schema_module(tmp_path, ORDERS)
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref, sample=sample))))
    result = run["orders.quality"]
    read = min(sample, 3 * FILE_ROWS)
    assert_on_sample(result, read)
    expected = {KNOWN_STATUS: min(read, FILE_ROWS), NON_NEGATIVE: max(0, read - 2 * FILE_ROWS)}
    assert failing(result) == {key: count for key, count in expected.items() if count}
    assert all(row["id"] >= 200 for row in rules(result)[KNOWN_STATUS]["sample"])  # from the newest file
    assert result["statements"][-1].endswith(f"read a sample of at most {sample:,} rows")
    files_read = -(-read // FILE_ROWS)  # only as many files as the sample needs
    assert requests(result) == {"list": 1, "get": 3 + files_read}


@pytest.mark.parametrize("encoding", ["csv", "csv.gz", "jsonl"])
def test_text_formats_stop_reading_at_the_sample(lake: Lake, tmp_path: Path, encoding: str) -> None:
    aged_lake(lake, encoding)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path, lake, dataset("orders", "orders/", quality(ref, sample=50), fmt=ENCODINGS[encoding][0])
        )
    )
    result = run["orders.quality"]
    assert_on_sample(result, 50)
    assert failing(result) == {KNOWN_STATUS: FILE_ROWS}
    assert requests(result) == {"list": 1, "get": 3 + 2}


def test_the_sample_percentages_meet_the_thresholds(lake: Lake, tmp_path: Path) -> None:
    """The worst rule fails on 2 of 8 sampled rows (25%): within 30%, beyond the warning at 10%."""
    orders_lake(lake)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset(
                "orders",
                "orders/",
                quality(ref, name="pct", max_failing_pct="30%", warn_failing_pct="10%"),
                quality(ref, name="strict_pct", max_failing_pct="20%"),
                quality(ref, name="rows", max_failing_rows=2, warn_failing_rows=1),
            ),
        )
    )
    assert run.outcomes() == {
        "orders.quality.pct": "warn",
        "orders.quality.strict_pct": "fail",
        "orders.quality.rows": "warn",
    }
    assert run["orders.quality.pct"]["thresholds"] == {"max_failing_pct": 0.3, "warn_failing_pct": 0.1}


# --- shape: type families, required and optional columns ----------------------------------------------------

TYPED = """
import pandas as pd
import pandera.pandas as pa


class Typed(pa.DataFrameModel):
    id: int
    amount: float
    at: pd.Timestamp
    status: str = pa.Field(coerce={coerce})
"""


def typed_rows(**types: pa.DataType) -> bytes:
    moment = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    columns = {
        "id": pa.array([1, 2, 3], pa.int64()),
        "amount": pa.array([1.0, 2.0, 3.0], pa.float64()),
        "at": pa.array([moment] * 3, pa.timestamp("us", tz="UTC")),
        "status": pa.array([1, 2, 3], pa.int32()),
    }
    return parquet(
        pa.table({name: column.cast(types.get(name, column.type)) for name, column in columns.items()})
    )


@pytest.mark.parametrize(
    ("types", "problem"),
    [
        ({"id": pa.string()}, ("id", "dtype('int64')", "id is string, expected integer")),
        ({"id": pa.float64()}, ("id", "dtype('int64')", "id is float, expected integer")),
        ({"amount": pa.int64()}, ("amount", "dtype('float64')", "amount is integer, expected float")),
        ({"at": pa.string()}, ("at", "dtype('datetime64[ns]')", "at is string, expected timestamp")),
        ({}, None),
        ({"amount": pa.decimal128(12, 2)}, None),  # a float column may be a decimal
        ({"amount": pa.float32(), "id": pa.int16()}, None),  # widths do not matter, families do
        ({"at": pa.timestamp("ms")}, None),  # naive or aware, any unit: a timestamp
    ],
    ids=[
        "string id",
        "float id",
        "integer amount",
        "string timestamp",
        "as declared",
        "decimal amount",
        "narrower types",
        "naive timestamp",
    ],
)
def test_type_families_from_arrow_types(
    lake: Lake, tmp_path: Path, types: dict[str, pa.DataType], problem: tuple[str, str, str] | None
) -> None:
    """`status` is coerced, so its integers are fine: coerced columns have no type rule."""
    lake.write({"typed/a.parquet": typed_rows(**types)})
    ref = schema_module(tmp_path, TYPED.format(coerce=True), "Typed")
    run = check(config_of(tmp_path, lake, dataset("typed", "typed/", quality(ref))))
    result = run["typed.quality"]
    assert_on_sample(result, 3)
    assert ("status", "dtype('string[pyarrow]')") not in rules(result)
    if problem is None:
        assert result["outcome"] == "pass", result["message"]
        assert failing(result) == {}
        return
    column, label, value = problem
    assert (result["outcome"], result["value"]) == ("fail", 3)
    assert failing(result) == {(column, label): 3}  # a wrong type: every row fails
    assert rules(result)[(column, label)]["values"] == [value]
    assert result["message"].startswith(f"1 rule failing (on a sample of 3 rows): {column} {label}: ")
    assert value in result["message"]


def test_an_uncoerced_column_is_judged_by_its_type(lake: Lake, tmp_path: Path) -> None:
    lake.write({"typed/a.parquet": typed_rows()})
    ref = schema_module(tmp_path, TYPED.format(coerce=False), "Typed")
    result = check(config_of(tmp_path, lake, dataset("typed", "typed/", quality(ref))))["typed.quality"]
    assert (result["outcome"], failing(result)) == ("fail", {("status", "dtype('string[pyarrow]')"): 3})
    assert rules(result)[("status", "dtype('string[pyarrow]')")]["values"] == [
        "status is integer, expected string"
    ]


def test_a_csv_column_with_text_in_it_is_not_an_integer(lake: Lake, tmp_path: Path) -> None:
    lake.write(
        {"orders/a.csv": b"id,amount,status,email\n1,1.5,new,a@example.com\nx2,2.5,new,b@example.com\n"}
    )
    ref = schema_module(tmp_path, ORDERS.replace("unique=True, ge=0", "unique=True"))
    result = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt="csv")))[
        "orders.quality"
    ]
    assert (result["outcome"], failing(result)) == ("fail", {("id", "dtype('int64')"): 2})


def test_a_wrong_type_fails_also_when_the_column_has_value_checks(lake: Lake, tmp_path: Path) -> None:
    """Text ids for `id: int = Field(ge=0)`: the type rule fails every row. That is the finding; that
    `ge` cannot compare text with 0 must not turn the check into an `error` that hides it."""
    rows = [row | {"id": str(row["id"])} for row in ORDER_ROWS]
    lake.write({"orders/a.parquet": parquet(table(rows, {"id": pa.string()}))})
    ref = schema_module(tmp_path, ORDERS)
    result = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref))))["orders.quality"]
    assert rules(result)[("id", "dtype('int64')")]["failing_rows"] == 8
    assert (result["outcome"], result["value"]) == ("fail", 8), result["message"]


def test_a_file_whose_column_has_another_type_is_an_error_naming_it(lake: Lake, tmp_path: Path) -> None:
    """Two files have a float `amount`, the newest has text: mixed in one sample its values would break
    every other file's checks, so the check errors and names the file and both types."""
    now = whole_seconds(datetime.now(UTC))
    write_rows(
        lake, {"orders/a": ORDER_ROWS[:3], "orders/b": ORDER_ROWS[3:6]}, modified=now - timedelta(hours=1)
    )
    retyped = [row | {"amount": str(row["amount"])} for row in ORDER_ROWS[6:]]
    lake.write({"orders/c.parquet": parquet(table(retyped, {"amount": pa.string()}))}, modified=now)
    ref = schema_module(tmp_path, ORDERS)
    result = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref))))["orders.quality"]
    assert result["outcome"] == "error", result["message"]
    assert "orders/c.parquet: column amount is string, the dataset's is float" in result["message"]


def test_text_far_down_an_integer_csv_column_is_an_error_saying_so(lake: Lake, tmp_path: Path) -> None:
    """Arrow infers `id` as integer from the first block; a text id 60,000 rows down is named as a value
    that does not fit its column's type, not as a malformed file (the volume check counts the file)."""
    rows = b"".join(b"%d,1.5,new,ann@example.com\n" % index for index in range(60_000))
    lake.write({"orders/a.csv": b"id,amount,status,email\n" + rows + b"oops,2.5,new,ann@example.com\n"})
    ref = schema_module(tmp_path, ORDERS.replace("unique=True, ge=0", "unique=True"))
    run = check(
        config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), "volume: {min: 1}", fmt="csv"))
    )
    assert run["orders.volume"]["value"] == 60_001
    result = run["orders.quality"]
    assert result["outcome"] == "error", result["message"]
    assert "malformed" not in result["message"]
    assert "a value of CSV file orders/a.csv" in result["message"]
    assert "does not fit its column's type" in result["message"]


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_required_column_the_files_lack_is_an_error_naming_it(
    lake: Lake, tmp_path: Path, encoding: str
) -> None:
    rows = [{name: value for name, value in row.items() if name != "status"} for row in ORDER_ROWS]
    write_rows(lake, {"orders/a": rows[:4], "orders/b": rows[4:]}, encoding)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset("orders", "orders/", quality(ref), "volume: {metric: files}", fmt=ENCODINGS[encoding][0]),
        )
    )
    result = run["orders.quality"]
    assert run.outcomes() == {"orders.quality": "error", "orders.volume": "pass"}
    assert f"schema {ref}: column status not found in " in result["message"]
    assert result["message"].endswith("orders/ (columns: id, amount, email)")
    assert "\n" not in result["message"]
    assert_clean(run)
    assert run.code == 3


def test_an_optional_column_counts_only_when_present(lake: Lake, tmp_path: Path) -> None:
    coupons = [
        row | {"coupon": coupon}
        for row, coupon in zip(ORDER_ROWS, ["C-1", None, "X-9", "C-2"] * 2, strict=True)
    ]
    write_rows(lake, {"without/a": ORDER_ROWS, "with/a": coupons})
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset("without", "without/", quality(ref)),
            dataset("with", "with/", quality(ref)),
        )
    )
    assert failing(run["without.quality"]) == EXPECTED_FAILING
    coupon = ("coupon", "str_startswith('C-')")
    assert coupon not in rules(run["without.quality"])
    assert failing(run["with.quality"]) == EXPECTED_FAILING | {coupon: 2}  # nulls are allowed
    assert rules(run["with.quality"])[coupon]["values"] == ["X-9", "X-9"]


def test_a_minority_file_without_a_column_gives_nulls(lake: Lake, tmp_path: Path) -> None:
    """Two files have `status`, the newest lacks it: the columns are the majority's, and the newest
    file's rows are read with `status` null."""
    now = whole_seconds(datetime.now(UTC))
    write_rows(
        lake, {"orders/a": ORDER_ROWS[:3], "orders/b": ORDER_ROWS[3:6]}, modified=now - timedelta(hours=1)
    )
    write_rows(
        lake,
        {"orders/c": [{k: v for k, v in row.items() if k != "status"} for row in ORDER_ROWS[6:]]},
        modified=now,
    )
    ref = schema_module(tmp_path, ORDERS)
    result = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref))))["orders.quality"]
    assert_on_sample(result, 8)
    assert failing(result)[("status", "not_nullable")] == 2


# --- custom checks ------------------------------------------------------------------------------------------

CUSTOM = (
    ORDERS
    + """
    @pa.check("amount")
    def not_huge(cls, amount):
        return amount < 9

    @pa.dataframe_check
    def shipped_orders_cost_something(cls, frame):
        return (frame["status"] != "shipped") | (frame["amount"] > 4)

    @pa.dataframe_check
    def emails_are_not_ids(cls, frame):
        return frame["email"] != frame["id"].astype(str)
"""
)
BROKEN_CHECK = (
    ORDERS
    + """
    @pa.check("status")
    def explodes(cls, status):
        raise RuntimeError("the check itself is broken")
"""
)


@pytest.mark.parametrize("encoding", ["parquet", "csv", "jsonl"])
def test_custom_column_and_dataframe_checks_run_on_the_sample(
    lake: Lake, tmp_path: Path, encoding: str
) -> None:
    orders_lake(lake, encoding)
    ref = schema_module(tmp_path, CUSTOM)
    result = check(
        config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), fmt=ENCODINGS[encoding][0]))
    )["orders.quality"]
    assert_on_sample(result, 8)
    # amounts 10.5 is huge; shipped for 3.5 (id 4) and 1.5 (id 7) is too cheap
    assert failing(result) == EXPECTED_FAILING | {
        ("amount", "not_huge"): 1,
        (None, "shipped_orders_cost_something"): 2,
    }
    found = rules(result)
    assert found[("amount", "not_huge")]["values"] == [10.5]
    assert sorted(row["id"] for row in found[(None, "shipped_orders_cost_something")]["sample"]) == [4, 7]
    assert all("email" not in row for row in found[(None, "shipped_orders_cost_something")]["sample"])
    assert "values" not in found[(None, "shipped_orders_cost_something")]
    assert found[(None, "emails_are_not_ids")]["failing_rows"] == 0  # reported although nothing failed


def test_a_custom_check_that_raises_is_an_error_naming_it(lake: Lake, tmp_path: Path) -> None:
    orders_lake(lake)
    ref = schema_module(tmp_path, BROKEN_CHECK)
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref))))
    result = run["orders.quality"]
    assert result["outcome"] == "error"
    assert result["message"].startswith("rule status explodes could not run: ")
    # The dataset has pii_columns: what the exception quotes may be data, so it is hidden.
    assert result["message"].endswith('explodes raised RuntimeError("…")')
    assert rules(result)[("status", "explodes")]["error"]
    assert_clean(run)


# --- pii ----------------------------------------------------------------------------------------------------


def test_pii_columns_never_show_in_any_rule(lake: Lake, tmp_path: Path) -> None:
    """Every rule fails on the pii column `email` or on rows holding it: none shows an email."""
    rows = [row | {"email": f"person{index}@private.org"} for index, row in enumerate(ORDER_ROWS)]
    rows[3]["email"] = None
    rows[5]["email"] = rows[4]["email"]
    write_rows(lake, {"orders/a": rows[:4], "orders/b": rows[4:]})
    schema = (
        ORDERS.replace("email: str = pa.Field(", "email: str = pa.Field(unique=True, ")
        + """
    @pa.check("email")
    def corporate(cls, email):
        return email.str.len() < 5

    @pa.dataframe_check
    def email_mentions_id(cls, frame):
        return frame["email"].str.contains("nobody")
"""
    )
    ref = schema_module(tmp_path, schema)
    run = check(
        config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), pii=["email", "amount"]))
    )
    result = run["orders.quality"]
    email_rules = {key for key in failing(result) if key[0] in {"email", None}}
    assert email_rules == {
        EMAIL_FORMAT,
        ("email", "not_nullable"),
        ("email", "field_uniqueness"),
        ("email", "corporate"),
        (None, "email_mentions_id"),
    }
    for rule in result["details"]["rules"]:
        if rule["column"] in {"email", "amount"}:
            assert "values" not in rule, rule
        assert all(set(row) <= {"id", "status"} for row in rule.get("sample", [])), rule
    assert "private.org" not in run.output
    assert sample_rows(result)


def test_pii_columns_are_hidden_whatever_the_case_of_their_names(lake: Lake, tmp_path: Path) -> None:
    """The files say `Email`, the schema `email` (matched case-insensitively) and the dataset's
    pii_columns `Email`: the column is still pii."""
    rows = [
        {"Email" if name == "email" else name: value for name, value in row.items()} for row in ORDER_ROWS
    ]
    write_rows(lake, {"orders/a": rows})
    ref = schema_module(tmp_path, ORDERS)
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref), pii=["Email"])))
    assert failing(run["orders.quality"])[EMAIL_FORMAT] == 1
    assert not [row["email"] for row in ORDER_ROWS if row["email"] in run.output]


# --- files that cannot be read ------------------------------------------------------------------------------


def scrambled_pages(rows: Sequence[Row]) -> bytes:
    """A valid footer over data pages overwritten with garbage: only reading rows finds out."""
    sink = io.BytesIO()
    pq.write_table(table(rows), sink, compression="none")
    body = bytearray(sink.getvalue())
    body[4:200] = random.Random(11).randbytes(196)
    return bytes(body)


def late_bad_row(rows: Sequence[Row]) -> bytes:
    """A CSV whose first blocks (those its columns are read from) are fine, with a broken row far below."""
    padding = b"".join(b"%d,1.5,new,ann@example.com\n" % (100 + index) for index in range(40_000))
    return csv_bytes(rows) + padding + b"99,1.5,new,ann@example.com,one too many\n"


# damage -> (format, file name, bytes, the format as the message names it)
DAMAGED: dict[str, tuple[str, str, Callable[[Sequence[Row]], bytes], str]] = {
    "random bytes": ("parquet", "b.parquet", lambda rows: random.Random(7).randbytes(5000), "parquet"),
    "truncated parquet": ("parquet", "b.parquet", lambda rows: parquet(table(rows))[:300], "parquet"),
    "scrambled data pages": ("parquet", "b.parquet", scrambled_pages, "parquet"),
    "extra csv field": ("csv", "b.csv", lambda rows: csv_bytes(rows) + b"9,1.5,new,x@example.com,9\n", "csv"),
    "csv broken far down": ("csv", "b.csv", late_bad_row, "csv"),
    "truncated gzip": ("csv", "b.csv.gz", lambda rows: gzip.compress(csv_bytes(rows))[:-10], "csv"),
    "not json": ("jsonl", "b.jsonl", lambda rows: jsonl_bytes(rows) + b"{not json\n", "(json-lines|jsonl)"),
}


@pytest.mark.parametrize("damage", list(DAMAGED))
def test_an_unreadable_file_is_an_error_naming_it(lake: Lake, tmp_path: Path, damage: str) -> None:
    fmt, name, encode, cause = DAMAGED[damage]
    write_rows(lake, {"orders/a": ORDER_ROWS[:4]}, fmt)
    lake.write({f"orders/{name}": encode(ORDER_ROWS[4:])})
    write_rows(lake, {"fine/a": ORDER_ROWS}, fmt)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset("orders", "orders/", quality(ref), "volume: {metric: files, min: 2}", fmt=fmt),
            dataset("fine", "fine/", quality(ref), fmt=fmt),
        )
    )
    assert run.outcomes() == {"orders.quality": "error", "orders.volume": "pass", "fine.quality": "fail"}
    message = run["orders.quality"]["message"]
    assert re.match(f"(corrupt|malformed) {cause} file orders/{re.escape(name)}: ", message, re.IGNORECASE), (
        message
    )
    assert "\n" not in message
    assert failing(run["fine.quality"]) == EXPECTED_FAILING
    assert_clean(run)


# --- nothing to read ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contents", "hive"),
    [({}, False), ({"orders/_SUCCESS": b"", "orders/dt=2026-11-23/_SUCCESS": b""}, True)],
    ids=["nothing", "only markers in a partition"],
)
def test_an_empty_prefix_is_an_error_that_says_so(
    lake: Lake, tmp_path: Path, contents: dict[str, bytes], hive: bool
) -> None:
    """No data files: nothing to validate. The check must not claim a column is missing."""
    write_rows(lake, {"elsewhere/a": ORDER_ROWS})
    lake.write(contents)
    ref = schema_module(tmp_path, ORDERS)
    scope = "latest_partition" if hive else "all"
    run = check(config_of(tmp_path, lake, dataset("orders", "orders/", quality(ref, scope=scope), hive=hive)))
    result = run["orders.quality"]
    assert result["outcome"] == "error"
    assert "no data files" in result["message"], result["message"]
    assert "not found" not in result["message"]
    assert requests(result)["get"] == 0
    assert_clean(run)


def test_a_newest_partition_still_being_written_gives_way_to_the_one_before(
    lake: Lake, tmp_path: Path
) -> None:
    hive_orders(lake)
    lake.write({"orders/dt=2026-11-24/_temporary/0/part-0.parquet": b"half written"})
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path, lake, dataset("orders", "orders/", quality(ref, scope="latest_partition"), hive=True)
        )
    )
    assert failing(run["orders.quality"]) == {NON_NEGATIVE: 2}
    assert_on_sample(run["orders.quality"], sum(PARTITIONS[key][0] for key in NEWEST))


# --- the bucket ---------------------------------------------------------------------------------------------


def test_a_missing_bucket_is_an_error_naming_it(s3: S3Lake, tmp_path: Path) -> None:
    lake = BucketLake(s3)
    orders_lake(lake)
    ref = schema_module(tmp_path, ORDERS)
    source = lake.source().replace(f"bucket: {BUCKET}", "bucket: no-such-bucket")
    run = check(write_config(tmp_path, source, dataset("orders", "orders/", quality(ref), hive=True)))
    result = run["orders.quality"]
    assert result["outcome"] == "error"
    assert "bucket no-such-bucket does not exist (NoSuchBucket)" in result["message"]
    assert requests(result) == {"list": 1, "get": 0}
    assert_clean(run)
    assert run.code == 3


@pytest.mark.usefixtures("s3")  # for its credentials
def test_an_endpoint_that_is_down_is_an_error(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    ref = schema_module(tmp_path, ORDERS)
    run = check(write_config(tmp_path, s3_source(endpoint), dataset("orders", "orders/", quality(ref))))
    assert run["orders.quality"]["outcome"] == "error"
    assert f"cannot reach the S3 endpoint {endpoint}" in run["orders.quality"]["message"]
    assert_clean(run)


# --- what a run costs ---------------------------------------------------------------------------------------


def test_checks_of_a_dataset_share_one_listing_and_one_read_of_each_footer(
    lake: Lake, tmp_path: Path
) -> None:
    """Volume, schema and three quality checks (two of them the same plan, run once): one listing, one
    footer read per file, and one sample per distinct plan."""
    hive_orders(lake)
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset(
                "orders",
                "orders/",
                "volume: {min: 1}",
                "schema: {}",
                quality(ref, name="all"),
                quality(ref, name="all_again", max_failing_pct="50%"),
                quality(ref, name="latest", scope="latest_partition"),
                hive=True,
            ),
        )
    )
    files, newest = len(PARTITIONS), len(NEWEST)
    expected = {"list": 1, "get": files + files + newest}
    for name in ("volume", "schema", "quality.all", "quality.all_again", "quality.latest"):
        assert requests(run[f"orders.{name}"]) == expected, name
    assert (
        run["orders.quality.all"]["details"]["rules"] == run["orders.quality.all_again"]["details"]["rules"]
    )
    assert run.outcomes()["orders.quality.all_again"] == "pass"
    assert len(full_listings(run["orders.quality.latest"])) == 1


@pytest.mark.parametrize("sample", [5, 1000])
def test_a_sample_of_the_newest_partition_reads_no_other_file(
    lake: Lake, tmp_path: Path, sample: int
) -> None:
    hive_orders(lake)
    lake.write({f"orders/dt=2026-11-19/part-{index}.parquet": b"never read" for index in range(50)})
    ref = schema_module(tmp_path, ORDERS)
    run = check(
        config_of(
            tmp_path,
            lake,
            dataset("orders", "orders/", quality(ref, scope="latest_partition", sample=sample), hive=True),
        )
    )
    result = run["orders.quality"]
    assert_on_sample(result, min(sample, sum(PARTITIONS[key][0] for key in NEWEST)))
    read = 1 if sample == 5 else len(NEWEST)
    assert requests(result)["get"] == len(NEWEST) + read
    assert requests(result)["list"] <= walk(1)
