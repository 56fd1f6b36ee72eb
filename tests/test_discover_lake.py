"""Discovery of the dataset folders of a lake (`discover:` on an `s3` or `files` source), on a local
directory and on a moto S3 bucket reached over HTTP: the same keys, the same datasets, the same requests."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from checks.discovery import DISCOVERERS, DiscoverContext, Found
from checks.discovery import folders as lake_folders
from checks.discovery.folders import Bounds, Globs
from checks.sources import open_source
from checks.sources.lake import LakeSource
from monitor.app.config import load_config
from monitor.app.watch import Watched, watched
from monitor.core.config.models import Config, DiscoverConfig
from monitor.core.redact import Redactor
from tests.motoserver import S3Lake
from tests.test_lake import PREFIX, BucketLake, DirectoryLake, Lake, check, s3_source


@pytest.fixture(params=["files", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "files":
        return DirectoryLake(tmp_path / "lake")
    return BucketLake(request.getfixturevalue("s3"))


def parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2, 3]}), sink)
    return sink.getvalue()


def empty_folder(lake: Lake, path: str) -> None:
    """A folder with nothing in it: a directory, or the marker object the S3 console writes."""
    if isinstance(lake, DirectoryLake):
        (lake.root / path).mkdir(parents=True)
    else:
        assert isinstance(lake, BucketLake)
        lake.s3.client.put_object(Bucket=lake.bucket, Key=f"{PREFIX}/{path}/", Body=b"")


# Plain folders, hive tables one and two levels deep, and what is not a dataset. What each is found as:
NESTED = {
    "raw/events/part-0.parquet": parquet(),
    "raw/events/_SUCCESS": b"",
    "raw/events/.part-0.parquet.crc": b"crc",
    "raw/events/archive/old.parquet": parquet(),  # inside raw/events: part of it, not a dataset
    "raw/clicks/2026/clicks.csv.gz": gzip.compress(b"id\n1\n"),  # raw/clicks holds no file: 2026 is one
    "sales/orders/dt=2026-11-21/_SUCCESS": b"",  # no data: listed only if the walk went oldest first
    "sales/orders/dt=2026-11-22/part-0.parquet": parquet(),
    "sales/orders/dt=2026-11-23/part-0.parquet": parquet(),
    "sales/orders/dt=2026-11-23/_SUCCESS": b"",
    "sales/items/dt=2026-11-22/hour=23/part-0.jsonl": b'{"id": 1}\n',
    "sales/items/dt=2026-11-23/hour=07/part-0.jsonl": b'{"id": 2}\n',
    "sales/items/_temporary/0/part-9.csv": b"id\n9\n",  # a job still writing: hidden, not data
    "sales/.staging/part-0.parquet": parquet(),  # hidden: not walked
    "mixed/a.csv": b"id\n1\n",
    "mixed/b.parquet": parquet(),
    "odd/data.parquet": parquet(),
    "odd/notes.txt": b"hello",
    "docs/readme.md": b"no data here",
}
FOUND = {
    "raw-events": ("raw/events", "parquet", "none"),
    "raw-clicks-2026": ("raw/clicks/2026", "csv", "none"),
    "sales-orders": ("sales/orders", "parquet", "hive"),
    "sales-items": ("sales/items", "jsonl", "hive"),
}
# One delimiter listing per folder: the root; docs, empty, mixed, odd, raw, sales; clicks, events (raw);
# items, orders (sales); 2026 (clicks); the newest dt= of items and of orders, and items' newest hour=.
NESTED_LISTINGS = 1 + 6 + 2 + 2 + 1 + 3


def nested_lake(lake: Lake) -> None:
    lake.write(NESTED)
    empty_folder(lake, "empty")


def discover_config(directory: Path, source: str, *, discover: str = "", datasets: str = "") -> Path:
    path = directory / "demon.yml"
    path.write_text(
        f"version: 1\nsources:\n  lake:\n{source}datasets:\n{datasets or '  {}'}\n"
        f"discover:\n  - source: lake\n{discover}state:\n  url: sqlite:///.demon/state.db\n",
        encoding="utf-8",
    )
    return path


def found_as(result: Watched) -> dict[str, tuple[str | None, str | None, str]]:
    config = result.config
    return {
        name: (dataset.path, dataset.format, dataset.partitioning)
        for name, dataset in config.datasets.items()
        if config.origin(name) == "discover"
    }


def ask(config: Config, entry: int = 0) -> tuple[Found, LakeSource]:
    """The lake discoverer on an entry, with the source kept to read its request counters."""
    source = open_source("lake", config.sources["lake"], config.base_dir, Redactor(frozenset()))
    assert isinstance(source, LakeSource)
    try:
        found = DISCOVERERS["lake"](config.discover[entry], DiscoverContext(config, source, str))
    finally:
        source.close()
    return found, source


def test_dataset_folders_are_found_and_nothing_inside_them(lake: Lake, tmp_path: Path) -> None:
    nested_lake(lake)
    config = discover_config(tmp_path, lake.source())
    result = watched(load_config(config))
    assert found_as(result) == FOUND
    root = "s3://lake/exports/" if lake.kind == "s3" else f"{tmp_path / 'lake'}/"
    assert result.failures == ()
    assert sorted(result.warnings) == [
        f"discover[0]: {root}mixed/ skipped: csv and parquet files side by side"
        " (a dataset's files share one format)",
        f"discover[0]: {root}odd/ skipped: notes.txt is not a Parquet, CSV or JSON-lines file"
        " (a dataset's files share one format)",
    ]


def test_default_checks_suit_the_format_and_the_entry_sets_the_rest(tmp_path: Path) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    nested_lake(lake)
    entry = "    owner: lake-team\n    tags: [raw]\n    severity: low\n    schedule: every 1h\n"
    result = watched(load_config(discover_config(tmp_path, lake.source(), discover=entry)))
    orders, clicks = result.config.datasets["sales-orders"], result.config.datasets["raw-clicks-2026"]
    written = [entry.model_dump(by_alias=True, exclude_unset=True) for entry in orders.checks]
    assert written == [
        {"freshness": {"anomaly": {}}},
        {"volume": {"metric": "rows", "anomaly": {}}},  # Parquet: rows from the footers
        {"schema": {}},
    ]
    assert clicks.checks[1].model_dump(by_alias=True, exclude_unset=True) == {
        "volume": {"metric": "bytes", "anomaly": {}}  # CSV rows would cost a full read each run
    }
    assert orders.schedule is not None and orders.schedule.text == "every 1h"
    assert (orders.owner, orders.tags, orders.severity) == ("lake-team", ["raw"], "low")


def test_profile_is_left_out_with_a_problem(tmp_path: Path) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    lake.write({"raw/events/part-0.parquet": parquet()})
    entry = "    checks: [schema, profile]\n"
    result = watched(load_config(discover_config(tmp_path, lake.source(), discover=entry)))
    assert [c.kind for c in result.config.datasets["raw-events"].checks] == ["schema"]
    assert result.warnings == (
        "discover[0]: profile applies to sql tables: left out of the checks of lake's folders",
    )


def test_each_folder_is_listed_once_by_delimiter_and_no_file_is_read(lake: Lake, tmp_path: Path) -> None:
    nested_lake(lake)
    found, source = ask(load_config(discover_config(tmp_path, lake.source())))
    assert {candidate.name for candidate in found.candidates} == set(FOUND)
    assert dict(source.requests) == {"list": NESTED_LISTINGS}


def test_a_source_whose_root_holds_the_files_is_one_dataset_named_after_it(tmp_path: Path) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    lake.write({"part-0.jsonl": b'{"id": 1}\n', "more/part-1.jsonl": b'{"id": 2}\n'})
    result = watched(load_config(discover_config(tmp_path, lake.source())))
    assert found_as(result) == {"lake": ("", "jsonl", "none")}


@pytest.mark.parametrize(
    ("path", "include", "exclude", "selected"),
    [
        ("raw/events", ["*"], [], True),
        ("raw/events/2026", ["raw/*"], [], True),  # `*` matches `/` too
        ("raw", ["raw/*"], [], False),
        ("raw/events", ["raw/events/"], [], True),  # slashes at either end of a glob are not part of it
        ("Raw/events", ["raw/*"], [], False),  # object keys are case-sensitive
        ("raw/events", ["raw/*"], ["raw/events"], False),  # exclude wins
        ("raw/events", ["raw/events"], ["*"], False),  # even over an exact include
        ("raw/events_tmp", ["raw/*"], ["*_tmp"], False),
    ],
)
def test_globs_over_folder_paths(path: str, include: list[str], exclude: list[str], selected: bool) -> None:
    globs = Globs.of(DiscoverConfig(source="lake", include=include, exclude=exclude))
    assert globs.selects(path) is selected


def test_include_and_exclude_choose_and_spare_listings(tmp_path: Path) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    lake.write({f"{path}/part-0.parquet": parquet() for path in (
        "raw/events", "raw/clicks", "raw/tmp_load", "sales/orders", "sales/items", "staging/x")})
    globs = '    include: ["raw/*", "sales/orders", "finance/*"]\n    exclude: ["raw/tmp_*", "sales/*"]\n'
    config = load_config(discover_config(tmp_path, lake.source(), discover=globs))
    found, source = ask(config)
    assert sorted(candidate.key for candidate in found.candidates) == ["raw/clicks", "raw/events"]
    assert found.problems == [
        f"include 'sales/orders' selected no dataset folder under {tmp_path / 'lake'}/",
        f"include 'finance/*' selected no dataset folder under {tmp_path / 'lake'}/",
    ]
    # The root, raw, raw/clicks, raw/events and sales: not staging (no include reaches it), nor what an
    # exclude ending in `*` takes whole (raw/tmp_load, sales/orders, sales/items).
    assert source.requests["list"] == 5


def test_a_written_dataset_for_the_same_path_wins(tmp_path: Path) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    nested_lake(lake)
    written = (
        "  events:\n    source: lake\n    path: raw/events/\n    format: parquet\n"
        "    checks:\n      - volume: {min: 1}\n"
    )
    result = watched(load_config(discover_config(tmp_path, lake.source(), datasets=written)))
    assert "raw-events" not in result.config.datasets
    assert result.config.origin("events") == "config"
    assert found_as(result) == {name: found for name, found in FOUND.items() if name != "raw-events"}


def test_demon_check_runs_the_checks_of_every_dataset_found(tmp_path: Path) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    nested_lake(lake)
    run = check(discover_config(tmp_path, lake.source()))
    assert run.outcomes() == {
        f"{name}.{kind}": "pass" for name in FOUND for kind in ("freshness", "volume", "schema")
    }, run.output
    assert run["sales-orders.volume"]["value"] == 6  # 3 rows in each partition
    assert run["raw-events.volume"]["value"] == 6  # its archive/ folder is part of it
    assert run.code == 0
    assert "demon: warning: discover[0]: " in run.output and "mixed/ skipped" in run.output


def test_the_walk_stops_at_its_bounds_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = DirectoryLake(tmp_path / "lake")
    lake.write({f"d{index}/part-0.parquet": parquet() for index in range(5)})
    lake.write({"deep/a/b/part-0.parquet": parquet()})
    config = load_config(discover_config(tmp_path, lake.source()))
    monkeypatch.setattr(lake_folders, "BOUNDS", Bounds(depth=2, listed=100))
    found, _ = ask(config)
    assert sorted(candidate.name for candidate in found.candidates) == [f"d{index}" for index in range(5)]
    assert found.problems == [f"1 folder(s) deeper than 2 levels not searched (first: {lake.root}/deep/a/b/)"]
    # The root lists 6 folders; d0 and d1 one file each: then 8 are listed and the walk stops.
    monkeypatch.setattr(lake_folders, "BOUNDS", Bounds(depth=12, listed=8))
    found, source = ask(config)
    assert [candidate.name for candidate in found.candidates] == ["d0", "d1"]
    assert found.problems[0] == (
        f"stopped after listing 8 objects and folders (the most one discovery lists): {lake.root}/d2/"
        " and 3 other folder(s) not searched; narrow `include` or `exclude` what holds no dataset"
    )
    assert source.requests["list"] == 3


def test_a_missing_directory_is_one_clear_problem(tmp_path: Path) -> None:
    config = load_config(discover_config(tmp_path, "    kind: files\n    root: nowhere\n"))
    result = watched(config)
    assert result.failures == (f"discover[0]: source lake: directory {tmp_path / 'nowhere'} does not exist",)
    assert result.warnings == ()
    assert found_as(result) == {}


def test_a_missing_or_denied_bucket_is_one_clear_problem(
    s3: S3Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = watched(load_config(discover_config(tmp_path, s3_source(s3.endpoint_url, "nope"))))
    assert missing.failures == (
        "discover[0]: source lake: s3://nope/exports/: bucket nope does not exist (NoSuchBucket)",
    )
    lake = BucketLake(s3)
    nested_lake(lake)
    reads_only: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    key, secret = s3.user("reader", reads_only)
    s3.moto.require_auth()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    denied = watched(load_config(discover_config(tmp_path, lake.source())))
    assert denied.failures == ("discover[0]: source lake: s3://lake/exports/: access denied (AccessDenied)",)
    assert secret not in json.dumps(denied.problems)
