"""Rows per UTC hour or day of a timestamp column (`BucketCounts`, learned baselines with `by:`) on real
DuckDB files and the real PostgreSQL, whose sessions run in Asia/Kolkata (+05:30): a day or an hour cut in
the session's zone instead of UTC would move the rows near midnight to another bucket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checks.probes import Bucket, BucketCounts, BucketSize, Observed, Probe, RowCount, ScalarQuery
from checks.sources import open_source
from checks.sources.settings import FilesSourceConfig, SqlSourceConfig
from checks.sources.sql import SqlSource
from monitor.core.config.models import DatasetConfig
from monitor.core.failures import Reason
from monitor.core.redact import Redactor
from tests.test_sql_source import SLOW_SQL, Warehouse

ROOT = Path(__file__).resolve().parents[1]
ZONE = "Asia/Kolkata"
KOLKATA = "?options=-c%20TimeZone%3DAsia/Kolkata"
COLUMNS = ["id", "kind", "loaded_at", "loaded_tz", "loaded_on", "amount", "note"]
SETUP = [
    "CREATE TABLE events (id integer, kind varchar(10), loaded_at timestamp,"
    " loaded_tz timestamp with time zone, loaded_on date, amount integer, note text)",
    # The same instants in both columns, written with other offsets in the zoned one.
    "INSERT INTO events VALUES"
    " (1, 'web', '2024-03-01 10:00:00', '2024-03-01 11:00:00+01', '2024-03-01', 1, 'x'),"
    " (2, 'web', '2024-03-02 00:00:00', '2024-03-02 05:30:00+05:30', '2024-03-02', 1, 'x'),"
    " (3, 'app', '2024-03-02 23:30:00', '2024-03-02 18:30:00-05', '2024-03-02', 1, 'x'),"
    " (4, 'web', '2024-03-02 23:59:59.5', '2024-03-02 23:59:59.5+00', '2024-03-02', 1, 'x'),"
    " (5, 'web', '2024-03-03 00:15:00', '2024-03-03 01:15:00+01', '2024-03-03', 1, 'x'),"
    " (6, 'app', '2024-03-03 00:45:00', '2024-03-03 00:45:00+00', '2024-03-03', 1, 'x'),"
    " (7, 'web', '2024-03-05 12:00:00', '2024-03-05 12:00:00+00', '2024-03-05', 1, 'x'),"
    " (8, 'web', NULL, NULL, NULL, 1, 'x')",
]
EVENTS = DatasetConfig(source="warehouse", table="events")
SINCE = datetime(2024, 3, 2, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, micro, tzinfo=UTC)


LAST_OF_MARCH_2 = at(2, 23, 59, 59, 500_000)
DAILY = (Bucket(at(2), 3, LAST_OF_MARCH_2), Bucket(at(3), 2, at(3, 0, 45)), Bucket(at(5), 1, at(5, 12)))
HOURLY = (
    Bucket(at(2), 1, at(2)),
    Bucket(at(2, 23), 2, LAST_OF_MARCH_2),
    Bucket(at(3), 2, at(3, 0, 45)),
    Bucket(at(5, 12), 1, at(5, 12)),
)


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """The events table on a DuckDB file, and on PostgreSQL with demon's sessions in Asia/Kolkata."""
    if request.param == "duckdb":
        admin = f"duckdb:///{tmp_path}/w.duckdb"
        built = Warehouse("duckdb", admin, "duckdb:///w.duckdb", tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        built = Warehouse("postgresql", url, url + KOLKATA, tmp_path)
    built.execute(*SETUP)
    return built


@pytest.fixture
def source(warehouse: Warehouse) -> Iterator[SqlSource]:
    opened = warehouse.source()
    yield opened
    opened.close()


def grouped(statements: list[str]) -> list[str]:
    return [statement for statement in statements if "GROUP BY" in statement]


def answer(source: SqlSource, probe: Probe[Any], dataset: DatasetConfig = EVENTS) -> Observed:
    return source.observe(dataset, [probe])[probe]


def buckets(source: SqlSource, probe: Probe[Any], dataset: DatasetConfig = EVENTS) -> Any:
    observed = answer(source, probe, dataset)
    assert observed.ok, observed
    return observed.value


def report(url: str, base_dir: str) -> str:
    """The session's TimeZone and the buckets of both timestamp columns, as JSON (a child prints it)."""
    config = SqlSourceConfig(kind="sql", url=url)
    source = open_source("warehouse", config, Path(base_dir), Redactor())
    zone = ScalarQuery("SELECT current_setting('TimeZone')")
    sizes: list[BucketSize] = ["1h", "1d"]
    probes = [BucketCounts(column, size, SINCE) for column in ("loaded_at", "loaded_tz") for size in sizes]
    observed = source.observe(EVENTS, [zone, *probes])
    source.close()
    shown = {
        f"{probe.column} {probe.bucket}": [
            [bucket.start.isoformat(), bucket.rows, bucket.newest.isoformat() if bucket.newest else None]
            for bucket in observed[probe].value
        ]
        for probe in probes
    }
    return json.dumps({"zone": observed[zone].value, "buckets": shown})


def read_report(text: str) -> tuple[str, dict[str, tuple[Bucket, ...]]]:
    found = json.loads(text)
    rebuilt = {
        key: tuple(Bucket(datetime.fromisoformat(start), rows, datetime.fromisoformat(newest))
                   for start, rows, newest in shown)
        for key, shown in found["buckets"].items()
    }
    # UTC datetimes, not just the same instants in another zone
    assert all(start.endswith("+00:00") and newest.endswith("+00:00")
               for shown in found["buckets"].values() for start, _, newest in shown)
    return found["zone"], rebuilt


UTC_BUCKETS = {"loaded_at 1h": HOURLY, "loaded_at 1d": DAILY, "loaded_tz 1h": HOURLY, "loaded_tz 1d": DAILY}


# --- buckets ---------------------------------------------------------------------------------------


def test_rows_per_utc_hour_and_day_of_naive_and_zoned_timestamps(warehouse: Warehouse) -> None:
    zone, found = read_report(report(warehouse.config_url, str(warehouse.base_dir)))
    assert zone == (ZONE if warehouse.backend == "postgresql" else "Etc/UTC")
    # rows before `since` and NULLs are not counted; the empty days and hours are left out
    assert found == UTC_BUCKETS


def test_duckdb_on_a_host_outside_utc_still_cuts_utc_buckets(tmp_path: Path) -> None:
    """DuckDB's TimeZone is the host's, read once per process: the source runs in a child in Asia/Kolkata."""
    warehouse = Warehouse("duckdb", f"duckdb:///{tmp_path}/w.duckdb", "duckdb:///w.duckdb", tmp_path)
    warehouse.execute(*SETUP)
    script = "import sys; from tests.test_bucket_counts import report; print(report(*sys.argv[1:]))"
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "TZ": ZONE, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    child = subprocess.run(
        [sys.executable, "-c", script, warehouse.config_url, str(tmp_path)],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )
    zone, found = read_report(child.stdout)
    assert zone == ZONE
    assert found == UTC_BUCKETS


def test_a_date_column_counts_each_day_at_its_utc_midnight(source: SqlSource) -> None:
    assert buckets(source, BucketCounts("loaded_on", "1d", SINCE)) == (
        Bucket(at(2), 3, at(2)), Bucket(at(3), 2, at(3)), Bucket(at(5), 1, at(5))
    )
    # from 01:00 on, March 2 (its midnight) is before `since`
    assert buckets(source, BucketCounts("loaded_on", "1h", at(2, 1))) == (
        Bucket(at(3), 2, at(3)), Bucket(at(5), 1, at(5))
    )


def test_a_late_row_changes_the_count_of_its_old_bucket(warehouse: Warehouse, source: SqlSource) -> None:
    daily = BucketCounts("loaded_at", "1d", SINCE)
    assert buckets(source, daily) == DAILY

    warehouse.execute(  # into March 2, and before `since`
        "INSERT INTO events VALUES"
        " (9, 'web', '2024-03-02 12:00:00', '2024-03-02 12:00:00+00', '2024-03-02', 1, 'x'),"
        " (10, 'web', '2024-03-01 23:59:59', '2024-03-01 23:59:59+00', '2024-03-01', 1, 'x')"
    )

    assert buckets(source, daily) == (Bucket(at(2), 4, LAST_OF_MARCH_2), *DAILY[1:])


def test_the_datasets_where_scopes_the_counts(source: SqlSource) -> None:
    daily = BucketCounts("loaded_tz", "1d", SINCE)
    web = buckets(source, daily, EVENTS.model_copy(update={"where": "kind = 'web'"}))
    app = buckets(source, daily, EVENTS.model_copy(update={"where": "kind = 'app' OR kind = 'none'"}))

    assert web == (
        Bucket(at(2), 2, LAST_OF_MARCH_2), Bucket(at(3), 1, at(3, 0, 15)), Bucket(at(5), 1, at(5, 12))
    )
    assert app == (Bucket(at(2), 1, at(2, 23, 30)), Bucket(at(3), 1, at(3, 0, 45)))


# --- statements ------------------------------------------------------------------------------------


def test_one_grouped_statement_per_probe_after_the_fused_one(
    source: SqlSource, statements: list[str]
) -> None:
    hourly, daily = BucketCounts("loaded_at", "1h", SINCE), BucketCounts("LOADED_AT", "1d", SINCE)
    scoped = EVENTS.model_copy(update={"where": "amount > 0"})

    observed = source.observe(scoped, [hourly, RowCount(), daily, BucketCounts("loaded_at", "1h", SINCE)])

    assert source.requests["statement"] == 4  # the columns, the fused count, a grouped statement per probe
    fused = [index for index, statement in enumerate(statements) if "demon_p0" in statement]
    assert len(grouped(statements)) == 2 and fused == [len(statements) - 3]  # the grouped ones come last
    assert observed[RowCount()].value == 8
    assert observed[hourly].value == HOURLY and observed[daily].value == DAILY
    shown = str(observed[daily].statement)
    assert shown != observed[hourly].statement
    assert "GROUP BY" in shown and "(amount > 0)" in shown and "loaded_at >= '2024-03-02 00:00:00'" in shown
    zoned = str(answer(source, BucketCounts("loaded_tz", "1d", SINCE)).statement)
    assert "loaded_tz >= '2024-03-02 00:00:00+00:00'" in zoned  # an instant, not a time in the session's zone


@pytest.mark.parametrize(("column", "family"), [("amount", "integer"), ("note", "string")])
def test_a_column_that_is_not_a_timestamp_is_refused_before_any_grouped_statement(
    source: SqlSource, statements: list[str], column: str, family: str
) -> None:
    observed = answer(source, BucketCounts(column, "1d", SINCE))

    assert observed.error == f"{column} is not a timestamp ({family}): `by` needs a timestamp or date column"
    assert observed.reason is Reason.SETUP
    assert source.requests["statement"] == 1 and not grouped(statements)  # the columns only


def test_a_missing_column_names_the_tables_columns(source: SqlSource, statements: list[str]) -> None:
    observed = answer(source, BucketCounts("loaded", "1d", SINCE))

    schema = "main" if source.describe().startswith("duckdb") else "public"
    assert observed.error == f"column loaded not found in {schema}.events (columns: {', '.join(COLUMNS)})"
    assert observed.reason is Reason.MISSING
    assert observed.statement is not None and "GROUP BY" not in observed.statement
    assert source.requests["statement"] == 1 and not grouped(statements)


def test_a_failing_grouped_statement_is_the_probes_error(source: SqlSource) -> None:
    invalid = EVENTS.model_copy(update={"where": "nope > 1"})
    observed = answer(source, BucketCounts("loaded_at", "1d", SINCE), invalid)

    assert observed.reason is Reason.STATEMENT
    assert observed.error is not None and "nope" in observed.error
    assert observed.statement is not None and "GROUP BY" in observed.statement


def test_no_grouped_statement_after_the_fused_one_timed_out(
    warehouse: Warehouse, statements: list[str]
) -> None:
    source = warehouse.source(query_timeout="1s")
    slow, daily = ScalarQuery(SLOW_SQL[warehouse.backend]), BucketCounts("loaded_at", "1d", SINCE)

    observed = source.observe(EVENTS, [slow, daily])
    source.close()

    assert observed[daily].error == "query timed out after 1s" and observed[daily].reason is Reason.TIMEOUT
    assert "GROUP BY" in str(observed[daily].statement)
    assert source.requests["statement"] == 2 and not grouped(statements)  # the columns, the fused statement


# --- sources that cannot bucket --------------------------------------------------------------------


def test_sqlite_cannot_bucket_and_says_so(tmp_path: Path, statements: list[str]) -> None:
    warehouse = Warehouse("sqlite", f"sqlite:///{tmp_path}/w.db", "sqlite:///w.db", tmp_path)
    warehouse.execute("CREATE TABLE events (id integer, loaded_at timestamp)")
    source = warehouse.source()

    observed = answer(source, BucketCounts("loaded_at", "1d", SINCE))
    source.close()

    assert observed.error == (
        "source warehouse (sqlite) cannot count rows per bucket of time: `by:` needs PostgreSQL or DuckDB"
    )
    assert observed.reason is Reason.SETUP and not grouped(statements)


def test_a_lake_dataset_cannot_bucket(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    config = FilesSourceConfig(kind="files", root=str(tmp_path / "lake"))
    lake = open_source("lake", config, tmp_path, Redactor())
    probe = BucketCounts("loaded_at", "1d", SINCE)

    observed = lake.observe(DatasetConfig(source="lake", path="events", format="parquet"), [probe])[probe]
    lake.close()

    assert observed.error == "`by:` needs a sql dataset" and observed.reason is Reason.SETUP
