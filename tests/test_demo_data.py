"""The data and config behind `demon demo`: real DuckDB and Parquet files built by prepare/advance, read
directly."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from checks.kinds.freshness import FreshnessParams
from checks.kinds.metric import MetricParams
from checks.kinds.quality import QualityParams
from checks.kinds.schema import SchemaParams
from checks.kinds.volume import VolumeParams
from checks.sources.settings import FilesSourceConfig, SqlSourceConfig
from monitor.app import demo
from monitor.app.cli import main
from monitor.app.config import load_config, plugins
from monitor.core.config.models import config_model

NOW = datetime(2031, 5, 14, 9, 26, 53, 589793, tzinfo=UTC)
SECOND = NOW.replace(microsecond=0, tzinfo=None)  # loaded_at values are naive UTC, whole seconds

SALES = ["offices", "employees", "customers", "productlines", "products", "orders", "orderdetails",
         "payments"]
ANALYTICS = ["fact_orders", "dim_customers", "dim_products", "dim_locations", "daily_revenue"]
RAW = ["orders", "orderdetails", "payments", "customers"]


@dataclass(frozen=True)
class Demo:
    yesterday: Path  # a demo directory after prepare
    today: Path  # a demo directory after prepare and advance, with the same `now`


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    yesterday = tmp_path_factory.mktemp("yesterday")
    today = tmp_path_factory.mktemp("today")
    demo.prepare(yesterday, NOW)
    demo.prepare(today, NOW)
    demo.advance(today, NOW)
    return Demo(yesterday, today)


def rows(directory: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(directory / demo.WAREHOUSE), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def value(directory: Path, sql: str) -> Any:
    return rows(directory, sql)[0][0]


def columns(directory: Path, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    return dict(
        rows(
            directory,
            "SELECT column_name, data_type FROM information_schema.columns"
            f" WHERE table_schema = '{schema}' AND table_name = '{name}' ORDER BY ordinal_position",
        )
    )


def tables(directory: Path) -> set[str]:
    found = rows(directory, "SELECT table_schema || '.' || table_name FROM information_schema.tables")
    return {name for (name,) in found}


def fingerprint(directory: Path) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent checksum of every row of every table."""
    return {
        table: rows(directory, f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} AS t")[0]
        for table in sorted(tables(directory))
    }


def lake_files(directory: Path) -> dict[str, bytes]:
    """Every file of the demo's lake by its path under the lake, with its bytes' digest."""
    root = directory / demo.LAKE
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).digest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def day(days_ago: int) -> date:
    return NOW.date() - timedelta(days=days_ago)


def partition(directory: Path, table: str, days_ago: int) -> Path:
    return directory / demo.LAKE / "raw" / table / f"dt={day(days_ago).isoformat()}" / "part-0.parquet"


def partition_days(directory: Path, table: str) -> list[date]:
    folders = sorted((directory / demo.LAKE / "raw" / table).iterdir())
    assert all(sorted(p.name for p in folder.iterdir()) == ["part-0.parquet"] for folder in folders), table
    return [date.fromisoformat(folder.name.removeprefix("dt=")) for folder in folders]


def parquet(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return records


def arrow_types(path: Path) -> dict[str, str]:
    return {field.name: str(field.type) for field in pq.read_schema(path)}


def mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


# --- tables and columns ----------------------------------------------------------------------------


def test_yesterday_has_the_sales_schema_and_its_star_schema(built: Demo) -> None:
    assert tables(built.yesterday) == {f"sales.{t}" for t in SALES} | {f"analytics.{t}" for t in ANALYTICS}


def test_every_sales_table_has_a_naive_loaded_at(built: Demo) -> None:
    for table in SALES:
        assert columns(built.yesterday, f"sales.{table}")["loaded_at"] == "TIMESTAMP", table


def test_sales_tables_have_the_classicmodels_columns(built: Demo) -> None:
    assert list(columns(built.yesterday, "sales.orders")) == [
        "order_number", "order_date", "required_date", "shipped_date", "status", "comments",
        "customer_number", "loaded_at",
    ]
    assert columns(built.yesterday, "sales.orderdetails") == {
        "order_number": "INTEGER", "product_code": "VARCHAR", "quantity_ordered": "INTEGER",
        "price_each": "DECIMAL(10,2)", "order_line_number": "SMALLINT", "loaded_at": "TIMESTAMP",
    }
    assert {"customer_number", "customer_name", "phone", "country", "sales_rep_employee_number",
            "credit_limit"} <= set(columns(built.yesterday, "sales.customers"))
    assert {"product_code", "product_line", "product_scale", "buy_price", "msrp"} <= set(
        columns(built.yesterday, "sales.products")
    )
    assert list(columns(built.yesterday, "sales.payments")) == [
        "customer_number", "check_number", "payment_date", "amount", "loaded_at"
    ]


def test_fact_orders_has_the_star_schema_columns(built: Demo) -> None:
    assert columns(built.yesterday, "analytics.fact_orders") == {
        "order_number": "INTEGER",
        "order_line": "INTEGER",
        "customer_id": "INTEGER",
        "product_code": "VARCHAR",
        "quantity": "INTEGER",
        "price_each": "DECIMAL(10,2)",
        "order_date": "DATE",
        "loaded_at": "TIMESTAMP WITH TIME ZONE",
        "customer_email": "VARCHAR",
    }


def test_the_warehouse_has_a_realistic_size(built: Demo) -> None:
    count = {t: value(built.yesterday, f"SELECT count(*) FROM sales.{t}") for t in SALES}
    assert count["offices"] == 7 and count["productlines"] == 7
    assert count["customers"] == 122 and count["products"] == 110
    assert 2000 <= count["orders"] <= 5000
    assert 25_000 <= count["orderdetails"] <= 35_000
    assert 1000 <= count["payments"] <= count["orders"]


def test_keys_are_unique_and_references_resolve(built: Demo) -> None:
    unique = {
        "sales.customers": ["customer_number", "customer_name"],
        "sales.products": ["product_code", "product_name"],
        "sales.orders": ["order_number"],
        "sales.orderdetails": ["order_number, order_line_number", "order_number, product_code"],
        "analytics.fact_orders": ["order_number, order_line"],
        "analytics.dim_locations": ["location_id", "city, state, country"],
    }
    for table, keys in unique.items():
        for key in keys:
            repeated = f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
            assert value(built.yesterday, repeated) == 0, f"{table} repeats ({key})"
    orphans = {
        "order lines without product": "sales.orderdetails ANTI JOIN sales.products USING (product_code)",
        "orders without customer": "sales.orders ANTI JOIN sales.customers USING (customer_number)",
        "customers without rep": "sales.customers AS c ANTI JOIN sales.employees AS e"
        " ON e.employee_number = c.sales_rep_employee_number WHERE c.credit_limit > 0",
        "products without line": "sales.products ANTI JOIN sales.productlines USING (product_line)",
        "payments without customer": "sales.payments ANTI JOIN sales.customers USING (customer_number)",
        "dim_customers without location": "analytics.dim_customers WHERE location_id IS NULL",
    }
    for what, sql in orphans.items():
        assert value(built.yesterday, f"SELECT count(*) FROM {sql}") == 0, what


# --- time: everything relative to `now` ----------------------------------------------------------


def test_order_dates_span_the_90_days_before_now(built: Demo) -> None:
    first, last = rows(built.yesterday, "SELECT min(order_date), max(order_date) FROM sales.orders")[0]
    assert first == NOW.date() - timedelta(days=91)
    assert last == NOW.date() - timedelta(days=2)  # yesterday's load brought the day before yesterday
    newest = value(built.today, "SELECT max(order_date) FROM analytics.fact_orders")
    assert newest == NOW.date() - timedelta(days=1)


def test_yesterday_was_loaded_minutes_before_now(built: Demo) -> None:
    for table in [f"sales.{t}" for t in SALES] + [f"analytics.{t}" for t in ANALYTICS if t != "fact_orders"]:
        assert value(built.yesterday, f"SELECT max(loaded_at) FROM {table}") in (
            SECOND - timedelta(minutes=15),
            SECOND - timedelta(minutes=10),
        ), table
    fact = value(built.yesterday, "SELECT max(loaded_at) FROM analytics.fact_orders")
    assert fact == (SECOND - timedelta(minutes=10)).replace(tzinfo=UTC)


def test_now_in_another_time_zone_builds_the_same_warehouse(tmp_path: Path, built: Demo) -> None:
    demo.prepare(tmp_path, NOW.astimezone(timezone(timedelta(hours=5, minutes=30))))
    assert fingerprint(tmp_path) == fingerprint(built.yesterday)
    assert lake_files(tmp_path) == lake_files(built.yesterday)


def test_a_naive_now_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        demo.prepare(tmp_path, datetime(2031, 5, 14, 9, 0))
    assert not (tmp_path / demo.WAREHOUSE).exists()
    demo.prepare(tmp_path, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        demo.advance(tmp_path, datetime(2031, 5, 14, 9, 0))


# --- determinism -----------------------------------------------------------------------------------


def test_two_builds_with_the_same_now_are_identical(tmp_path: Path, built: Demo) -> None:
    demo.prepare(tmp_path, NOW)
    assert fingerprint(tmp_path) == fingerprint(built.yesterday)
    assert lake_files(tmp_path) == lake_files(built.yesterday)
    demo.advance(tmp_path, NOW)
    assert fingerprint(tmp_path) == fingerprint(built.today)
    assert lake_files(tmp_path) == lake_files(built.today)


def test_another_now_builds_other_data(tmp_path: Path, built: Demo) -> None:
    demo.prepare(tmp_path, NOW + timedelta(days=1))
    mine, theirs = fingerprint(tmp_path), fingerprint(built.yesterday)
    assert mine.keys() == theirs.keys()
    assert mine["sales.orders"] != theirs["sales.orders"]
    lake, theirs_lake = lake_files(tmp_path), lake_files(built.yesterday)
    assert len(lake) == len(theirs_lake) and lake.keys() != theirs_lake.keys()  # one day later
    assert lake["star/fact_orders/part-0.parquet"] != theirs_lake["star/fact_orders/part-0.parquet"]


# --- today's defects -------------------------------------------------------------------------------


def test_fact_orders_was_loaded_three_hours_ago(built: Demo) -> None:
    newest = value(built.today, "SELECT max(loaded_at) FROM analytics.fact_orders")
    assert newest == (SECOND - timedelta(hours=3)).replace(tzinfo=UTC)


def test_fact_orders_has_a_handful_of_negative_quantities(built: Demo) -> None:
    negative = "SELECT count(*) FROM analytics.fact_orders WHERE price_each * quantity < 0"
    assert value(built.yesterday, negative) == 0
    assert value(built.today, negative) == 6


def test_fact_orders_has_a_few_order_lines_twice(built: Demo) -> None:
    repeated = (
        "SELECT count(*), count(DISTINCT (order_number, order_line)), min(quantity), min(order_date),"
        " count(DISTINCT t) FROM (FROM analytics.fact_orders"
        " QUALIFY count(*) OVER (PARTITION BY order_number, order_line) > 1) AS t"
    )
    assert rows(built.yesterday, repeated)[0][:2] == (0, 0)
    count, lines, smallest, first, distinct_rows = rows(built.today, repeated)[0]
    assert (count, lines, distinct_rows) == (2 * demo.defects.TWICE_LINES, demo.defects.TWICE_LINES, lines)
    assert smallest > 0 and first == day(1)  # whole copies of healthy lines of the newest day


def test_a_few_orders_have_a_status_the_schema_does_not_know(built: Demo) -> None:
    from monitor.app.demo.demo_schemas import STATUSES

    statuses = "SELECT status, count(*) FROM sales.orders GROUP BY status"
    yesterday, today = dict(rows(built.yesterday, statuses)), dict(rows(built.today, statuses))
    assert set(yesterday) <= set(STATUSES) and "Shipped" in yesterday
    assert set(today) - set(STATUSES) == {"Returned"}
    assert today["Returned"] == demo.defects.RETURNED_ORDERS


def test_payments_were_last_loaded_three_days_ago(built: Demo) -> None:
    newest = value(built.today, "SELECT max(loaded_at) FROM sales.payments")
    assert newest == SECOND - timedelta(days=3, minutes=15)
    last_payment = value(built.today, "SELECT max(payment_date) FROM sales.payments")
    assert last_payment <= NOW.date() - timedelta(days=4)


def test_dim_products_msrp_became_varchar(built: Demo) -> None:
    assert columns(built.yesterday, "analytics.dim_products")["msrp"] == "DECIMAL(10,2)"
    assert columns(built.today, "analytics.dim_products")["msrp"] == "VARCHAR"


def test_dim_customers_lost_phone(built: Demo) -> None:
    assert "phone" in columns(built.yesterday, "analytics.dim_customers")
    today = columns(built.today, "analytics.dim_customers")
    assert "phone" not in today
    assert set(today) == set(columns(built.yesterday, "analytics.dim_customers")) - {"phone"}


def test_orders_fell_by_about_sixty_percent(built: Demo) -> None:
    before = value(built.yesterday, "SELECT count(*) FROM sales.orders")
    after = value(built.today, "SELECT count(*) FROM sales.orders")
    assert 0.55 <= 1 - after / before <= 0.65


def test_daily_revenue_was_dropped(built: Demo) -> None:
    assert "analytics.daily_revenue" in tables(built.yesterday)
    assert tables(built.today) == tables(built.yesterday) - {"analytics.daily_revenue"}


def test_everything_else_stays_healthy(built: Demo) -> None:
    """What the passing checks of demon.yml look at: fresh loads, steady volumes, unchanged schemas."""
    fresh = [f"sales.{t}" for t in SALES if t != "payments"]
    fresh += ["analytics.dim_customers", "analytics.dim_products", "analytics.dim_locations"]
    for table in fresh:
        age = SECOND - value(built.today, f"SELECT max(loaded_at) FROM {table}")
        assert age <= timedelta(minutes=15), table
    for table in ("sales.offices", "sales.employees", "sales.customers", "sales.products",
                  "sales.orderdetails", "sales.orders", "sales.payments", "analytics.dim_locations",
                  "analytics.fact_orders"):
        assert columns(built.today, table) == columns(built.yesterday, table), table
    grown = "SELECT count(*) FROM sales.orderdetails"
    assert value(built.today, grown) > value(built.yesterday, grown)
    payments = "SELECT count(*) FROM sales.payments"
    assert value(built.today, payments) > 0.9 * value(built.yesterday, payments)
    shipped_early = "SELECT count(*) FROM sales.orders WHERE shipped_date < order_date"
    assert value(built.today, shipped_early) == 0


def test_fact_orders_last_30_days_stay_steady(built: Demo) -> None:
    """The volume scope of fact_orders in demon.yml, with the date of `now` for CURRENT_DATE."""
    since = NOW.date() - timedelta(days=30)
    scoped = f"SELECT count(*) FROM analytics.fact_orders WHERE order_date >= DATE '{since}'"
    before, after = value(built.yesterday, scoped), value(built.today, scoped)
    assert before >= 5000 and after >= 5000
    assert abs(after - before) / before < 0.1


# --- the lake: raw exports, one partition a day, and the star schema ------------------------------


def test_yesterday_has_a_week_of_raw_partitions_and_the_star_schema(built: Demo) -> None:
    for table in RAW:
        assert partition_days(built.yesterday, table) == [day(ago) for ago in range(7, 0, -1)], table
    star = built.yesterday / demo.LAKE / "star"
    assert sorted(p.relative_to(star).as_posix() for p in star.rglob("*") if p.is_file()) == sorted(
        f"{table}/part-0.parquet" for table in ANALYTICS
    )


def test_today_adds_one_partition_and_keeps_the_older_ones_byte_for_byte(built: Demo) -> None:
    for table in RAW:
        expected = [day(ago) for ago in range(7, -1 if table != "payments" else 0, -1)]
        assert partition_days(built.today, table) == expected, table
    before, after = lake_files(built.yesterday), lake_files(built.today)
    raw = {path: digest for path, digest in before.items() if path.startswith("raw/")}
    assert raw.items() <= after.items()


def test_raw_exports_are_the_sales_tables_without_loaded_at(built: Demo) -> None:
    for table in RAW:
        file = partition(built.yesterday, table, 1)
        exported = [name for name in columns(built.yesterday, f"sales.{table}") if name != "loaded_at"]
        assert list(arrow_types(file)) == exported, table
    assert arrow_types(partition(built.yesterday, "orderdetails", 3)) == {
        "order_number": "int32", "product_code": "string", "quantity_ordered": "int32",
        "price_each": "decimal128(10, 2)", "order_line_number": "int16",
    }


def test_each_partition_holds_the_records_of_the_day_before_its_date(built: Demo) -> None:
    for ago in range(1, 8):
        since = f"DATE '{day(ago + 1)}'"
        orders = parquet(partition(built.yesterday, "orders", ago))
        assert {row["order_date"] for row in orders} == {day(ago + 1)}
        placed = f"SELECT order_number FROM sales.orders WHERE order_date = {since} ORDER BY order_number"
        assert [row["order_number"] for row in orders] == [n for (n,) in rows(built.yesterday, placed)]
        lines = parquet(partition(built.yesterday, "orderdetails", ago))
        assert {row["order_number"] for row in lines} == {row["order_number"] for row in orders}
        assert len(lines) == value(
            built.yesterday,
            "SELECT count(*) FROM sales.orderdetails JOIN sales.orders USING (order_number)"
            f" WHERE order_date = {since}",
        )
        payments = parquet(partition(built.yesterday, "payments", ago))
        assert payments and {row["payment_date"] for row in payments} == {day(ago + 1)}
        assert len(payments) == value(
            built.yesterday, f"SELECT count(*) FROM sales.payments WHERE payment_date = {since}"
        )
        assert len(parquet(partition(built.yesterday, "customers", ago))) == 122


def test_star_files_are_the_star_tables(built: Demo) -> None:
    for table in ANALYTICS:
        file = built.yesterday / demo.LAKE / "star" / table / "part-0.parquet"
        assert list(arrow_types(file)) == list(columns(built.yesterday, f"analytics.{table}")), table
        count = value(built.yesterday, f"SELECT count(*) FROM analytics.{table}")
        assert pq.read_metadata(file).num_rows == count, table
    fact = built.yesterday / demo.LAKE / "star" / "fact_orders" / "part-0.parquet"
    assert arrow_types(fact)["loaded_at"] == "timestamp[us, tz=UTC]"


def test_file_times_are_relative_to_now(built: Demo) -> None:
    """Lake freshness is a file's mtime: yesterday's files are fresh on yesterday's clock, today's on now."""
    exported, built_at = timedelta(hours=3), timedelta(minutes=10)
    second = SECOND.replace(tzinfo=UTC)
    for table in RAW:
        for ago in range(1, 8):
            assert mtime(partition(built.today, table, ago)) == second - timedelta(days=ago) - exported
    assert mtime(partition(built.today, "orders", 0)) == second - exported
    for table in ANALYTICS:
        star = Path(demo.LAKE, "star", table, "part-0.parquet")
        assert mtime(built.yesterday / star) == second - timedelta(days=1) - built_at
        assert mtime(built.today / star) == second - built_at


def test_the_payments_export_is_late(built: Demo) -> None:
    assert not partition(built.today, "payments", 0).parent.exists()
    age = NOW - mtime(partition(built.today, "payments", 1))
    assert timedelta(hours=26) < age < timedelta(hours=28)
    assert f"landed {age // timedelta(hours=1)} hours ago" in " ".join(demo.DEFECTS)


def test_todays_orderdetails_partition_retyped_price_each(built: Demo) -> None:
    today = arrow_types(partition(built.today, "orderdetails", 0))
    usual = arrow_types(partition(built.today, "orderdetails", 1))
    assert today["price_each"] == "double" and usual["price_each"] == "decimal128(10, 2)"
    assert {**today, "price_each": usual["price_each"]} == usual
    for ago in range(1, 8):
        assert arrow_types(partition(built.today, "orderdetails", ago)) == usual
    lines = parquet(partition(built.today, "orderdetails", 0))
    last = max(row["order_number"] for row in parquet(partition(built.today, "orderdetails", 1)))
    newer = f"SELECT order_number, order_line_number FROM sales.orderdetails WHERE order_number > {last}"
    assert sorted((row["order_number"], row["order_line_number"]) for row in lines) == sorted(
        rows(built.today, newer)
    )


def test_todays_orders_partition_was_cut_short(built: Demo) -> None:
    today = parquet(partition(built.today, "orders", 0))
    yesterday = parquet(partition(built.today, "orders", 1))
    assert len(today) == demo.defects.CUT_SHORT_ORDERS
    assert len(yesterday) >= 14 and len(today) < 0.5 * len(yesterday)
    assert {row["order_date"] for row in today} == {day(1)}
    oldest = partition(built.today, "orders", 7)
    assert arrow_types(partition(built.today, "orders", 0)) == arrow_types(oldest)


def test_the_rest_of_todays_lake_is_healthy(built: Demo) -> None:
    """The star schema is exported before today's defects hit the warehouse."""
    star = built.today / demo.LAKE / "star"
    assert arrow_types(star / "dim_products" / "part-0.parquet")["msrp"] == "decimal128(10, 2)"
    assert "phone" in arrow_types(star / "dim_customers" / "part-0.parquet")
    fact = pq.read_table(star / "fact_orders" / "part-0.parquet")
    assert min(fact.column("quantity").to_pylist()) > 0
    assert fact.column("loaded_at").to_pylist()[0] == (SECOND - timedelta(minutes=10)).replace(tzinfo=UTC)
    assert max(fact.column("order_date").to_pylist()) == day(1)
    assert pq.read_metadata(star / "daily_revenue" / "part-0.parquet").num_rows >= 28


def test_todays_customers_export_lost_country_codes_and_repeats_a_customer(built: Demo) -> None:
    today = parquet(partition(built.today, "customers", 0))
    usual = {row["customer_number"]: row for row in parquet(partition(built.today, "customers", 1))}
    numbers = [row["customer_number"] for row in today]
    assert numbers == sorted(numbers) and set(numbers) == set(usual) and len(today) == len(usual) + 1
    twice = [row for row in today if numbers.count(row["customer_number"]) == 2]
    assert len(twice) == 2 and twice[0] == twice[1] == usual[twice[0]["customer_number"]]
    changed = [(usual[row["customer_number"]], row) for row in today if row != usual[row["customer_number"]]]
    assert len(changed) == demo.defects.NO_COUNTRY_CODE
    for before, after in changed:
        assert {**after, "phone": before["phone"]} == before
        country_code = before["phone"].split(" ")[0]
        assert country_code.startswith("+") and before["phone"] == f"{country_code} {after['phone']}"
    types = [arrow_types(partition(built.today, "customers", ago)) for ago in (0, 1)]
    assert types[0] == types[1]


def test_the_lake_thresholds_match_the_injected_defects(built: Demo) -> None:
    params = {spec.id: spec.params for spec in load_config(built.yesterday / demo.CONFIG).checks}
    payments = params["raw_payments.freshness"]
    assert isinstance(payments, FreshnessParams) and payments.fail_after == 26 * 3600  # 27h old: fail
    orders = params["raw_orders.volume"]
    assert isinstance(orders, VolumeParams)
    assert (orders.metric, orders.scope, orders.max_drop) == ("rows", "latest_partition", 0.5)
    lines = params["raw_orderdetails.schema"]
    assert isinstance(lines, SchemaParams) and lines.on_drift == "warn"
    assert lines.columns["price_each"] == "decimal"
    for table in RAW:  # the healthy partitions of today, and yesterday's on yesterday's clock, pass
        fresh = params[f"raw_{table}.freshness"]
        assert isinstance(fresh, FreshnessParams) and fresh.fail_after is not None
        assert timedelta(hours=3) < timedelta(seconds=fresh.fail_after) < timedelta(hours=27)


def test_a_failing_lake_export_leaves_the_warehouse_as_it_was(tmp_path: Path) -> None:
    from monitor.app.demo import lake, warehouse

    demo.prepare(tmp_path, NOW)
    before = fingerprint(tmp_path)
    with pytest.raises(duckdb.CatalogException, match="nothing"):
        warehouse.load(
            tmp_path / demo.WAREHOUSE, NOW, days_ago=1,
            export=lambda con: lake.export(con, tmp_path / demo.LAKE, NOW, [0], {"orders": "FROM nothing"}),
        )
    assert fingerprint(tmp_path) == before
    assert not partition(tmp_path, "orders", 0).exists()


# --- prepare and advance on the file system ----------------------------------------------------------


def test_prepare_removes_a_previous_demo(tmp_path: Path) -> None:
    demo.prepare(tmp_path, NOW)
    demo.advance(tmp_path, NOW)
    (tmp_path / demo.STATE).mkdir()
    (tmp_path / demo.STATE / "state.db").write_bytes(b"old results")
    (tmp_path / f"{demo.WAREHOUSE}.wal").write_bytes(b"")
    stray = tmp_path / demo.LAKE / "raw" / "orders" / "dt=1999-01-01" / "part-0.parquet"
    stray.parent.mkdir()
    stray.write_bytes(b"an old export")
    config = demo.prepare(tmp_path, NOW)
    assert config == tmp_path / "demon.yml"
    assert not (tmp_path / demo.STATE).exists()
    assert not (tmp_path / f"{demo.WAREHOUSE}.wal").exists()
    assert "analytics.daily_revenue" in tables(tmp_path)
    assert "phone" in columns(tmp_path, "analytics.dim_customers")
    assert partition_days(tmp_path, "orders") == [day(ago) for ago in range(7, 0, -1)]


def test_prepare_creates_a_missing_directory(tmp_path: Path) -> None:
    config = demo.prepare(tmp_path / "nested" / "o'demo", NOW)  # a quote in the path: COPY TO '...'
    assert config.is_file()
    assert (config.parent / demo.WAREHOUSE).is_file()
    assert partition_days(config.parent, "orders") == [day(ago) for ago in range(7, 0, -1)]


def test_advance_needs_a_prepared_demo(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="prepare the demo first"):
        demo.advance(tmp_path, NOW)
    assert not (tmp_path / demo.WAREHOUSE).exists()


def test_importing_the_demo_does_not_import_duckdb() -> None:
    code = "import sys, monitor.app.demo; print('duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- demon.yml -------------------------------------------------------------------------------------


def test_demon_yml_validates(built: Demo) -> None:
    text = (built.yesterday / demo.CONFIG).read_text(encoding="utf-8")
    config = config_model(plugins()).model_validate(yaml.safe_load(text))
    source = config.sources["warehouse"]
    assert isinstance(source, SqlSourceConfig)
    assert source.url == "duckdb:///warehouse.duckdb"
    assert source.query_timeout == 30.0 and source.max_concurrency == 4
    lake = config.sources["local_lake"]
    assert isinstance(lake, FilesSourceConfig) and lake.root == demo.LAKE
    assert config.state.url == "sqlite:///.demon/state.db"
    assert set(config.sources) == {"warehouse", "local_lake"}
    assert not config.alerting.channels and not config.alerting.routes


def test_demon_yml_passes_the_loader(built: Demo) -> None:
    """The loader also checks references (upstream, sources) and check ids."""
    config = load_config(built.yesterday / demo.CONFIG)
    assert config.datasets["fact_orders"].upstream == ["orders", "orderdetails"]
    assert config.datasets["fact_orders"].pii_columns == ["customer_email"]
    assert config.datasets["fact_orders"].where == "order_date >= CURRENT_DATE - INTERVAL 30 DAY"


def test_every_dataset_names_a_table_of_the_warehouse_or_a_folder_of_the_lake(built: Demo) -> None:
    config = load_config(built.yesterday / demo.CONFIG)
    on = {name: config.sources[dataset.source].kind for name, dataset in config.datasets.items()}
    assert set(on.values()) == {"sql", "files"}
    sql = [dataset for name, dataset in config.datasets.items() if on[name] == "sql"]
    assert {dataset.table for dataset in sql} <= tables(built.yesterday)
    lake = [dataset for name, dataset in config.datasets.items() if on[name] == "files"]
    assert {dataset.path for dataset in lake} >= {f"raw/{table}/" for table in RAW}
    for dataset in lake:
        assert dataset.path and dataset.format == "parquet"
        folder = built.today / demo.LAKE / dataset.path
        assert any(folder.rglob("*.parquet")), dataset.path
        assert dataset.partitioning == ("hive" if dataset.path.startswith("raw/") else "none")


def test_demon_yml_checks_each_kind_of_outcome(built: Demo) -> None:
    config = load_config(built.yesterday / demo.CONFIG)
    ids = {spec.id for spec in config.checks}
    assert set(demo.EXPECTED_OUTCOMES) <= ids
    assert set(demo.EXPECTED_OUTCOMES.values()) == {"warn", "fail", "error"}
    assert len(ids - set(demo.EXPECTED_OUTCOMES)) >= 20  # the passing rest


def test_the_thresholds_match_the_injected_defects(built: Demo) -> None:
    params = {spec.id: spec.params for spec in load_config(built.yesterday / demo.CONFIG).checks}
    fact, payments = params["fact_orders.freshness"], params["payments.freshness"]
    assert isinstance(fact, FreshnessParams) and isinstance(payments, FreshnessParams)
    assert (fact.warn_after, fact.fail_after) == (2 * 3600, 6 * 3600)  # loaded 3h ago: warn
    assert payments.fail_after == 86400  # loaded 3 days ago: fail
    orders = params["orders.volume"]
    assert isinstance(orders, VolumeParams) and orders.max_drop == 0.5  # ~60% fewer rows: fail
    negative = params["fact_orders.metric.negative_totals"]
    assert isinstance(negative, MetricParams) and negative.max == 0
    products, customers = params["dim_products.schema"], params["dim_customers.schema"]
    assert isinstance(products, SchemaParams) and isinstance(customers, SchemaParams)
    assert products.columns["msrp"] == "decimal" and customers.columns["phone"] == "string"


def test_defects_have_one_sentence_each_naming_their_checks() -> None:
    assert len(demo.DEFECTS) == 14
    for sentence, defect in zip(demo.DEFECTS, demo.defects.TODAY, strict=True):
        assert sentence.endswith(".") and "\n" not in sentence
        for check in defect.outcomes:
            assert check in sentence


def test_a_failing_defect_statement_leaves_the_warehouse_as_it_was(tmp_path: Path) -> None:
    from monitor.app.demo import warehouse

    demo.prepare(tmp_path, NOW)
    before = fingerprint(tmp_path)
    with pytest.raises(duckdb.CatalogException):
        warehouse.load(tmp_path / demo.WAREHOUSE, NOW, days_ago=1, statements=["DROP TABLE sales.nothing"])
    assert fingerprint(tmp_path) == before


def test_order_history_is_stable_across_loads(built: Demo) -> None:
    """Today's load keeps yesterday's order history and adds a day; the partial orders keep the oldest."""
    cutoff = NOW.date() - timedelta(days=2)
    fact = "SELECT order_number, order_line, quantity FROM analytics.fact_orders"
    fact += f" WHERE order_date <= DATE '{cutoff}'"
    assert set(rows(built.today, fact)) == set(rows(built.yesterday, fact))
    key = "SELECT order_number, order_date, customer_number FROM sales.orders"
    assert set(rows(built.today, key)) < set(rows(built.yesterday, key))


# --- quality checks: the Pandera schemas beside demon.yml ---------------------------------------------

QUALITY = {"fact_orders.quality", "orders.quality", "raw_customers.quality"}


@dataclass(frozen=True)
class QualityRuns:
    yesterday: dict[str, dict[str, Any]]  # check id -> its JSON result
    today: dict[str, dict[str, Any]]
    today_text: str  # what `demon check --format json` printed today


def check_quality(directory: Path) -> tuple[int, str]:
    config = str(directory / demo.CONFIG)
    result = CliRunner().invoke(main, ["check", "-c", config, "--select", "*.quality", "--format", "json"])
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def quality(built: Demo) -> QualityRuns:
    found = []
    for directory, expected_exit in ((built.yesterday, 0), (built.today, 1)):
        code, text = check_quality(directory)
        assert code == expected_exit, text
        found.append((text, {r["check"]: r for r in json.loads(text)["results"]}))
    return QualityRuns(found[0][1], found[1][1], found[1][0])


def failing_rules(result: dict[str, Any]) -> dict[tuple[str | None, str], int]:
    """(column, check name without its arguments) -> failing rows, for the rules that failed."""
    return {
        (rule["column"], rule["check"].split("(")[0]): rule["failing_rows"]
        for rule in result["details"]["rules"]
        if rule["failing_rows"]
    }


def test_prepare_writes_the_schemas_the_quality_checks_name_beside_the_config(built: Demo) -> None:
    from importlib.resources import files

    for name in demo.SHIPPED:
        shipped = files("monitor.app.demo").joinpath(name).read_text(encoding="utf-8")
        assert (built.yesterday / name).read_text(encoding="utf-8") == shipped, name
    specs = [spec for spec in load_config(built.yesterday / demo.CONFIG).checks if spec.kind == "quality"]
    assert {spec.id for spec in specs} == QUALITY
    refs = []
    for spec in specs:
        assert isinstance(spec.params, QualityParams)
        refs.append(spec.params.schema_ref)
    assert sorted(refs) == ["demo_schemas:FactOrders", "demo_schemas:Orders", "raw_customers.pandera.yml"]
    assert set(demo.SHIPPED) == {demo.CONFIG, "demo_schemas.py", "raw_customers.pandera.yml"}


def test_the_quality_thresholds_match_the_injected_defects(built: Demo) -> None:
    params = {spec.id: spec.params for spec in load_config(built.yesterday / demo.CONFIG).checks}
    fact, orders, customers = (params[check] for check in sorted(QUALITY))
    assert isinstance(fact, QualityParams) and isinstance(orders, QualityParams)
    assert isinstance(customers, QualityParams)
    assert fact.max_failing_rows == 0 and fact.sample < 9000  # custom checks see a part of 30 days' lines
    # 5 unknown statuses in ~1,100 orders: under 1%, so only the warn threshold is crossed.
    assert (orders.warn_failing_rows, orders.max_failing_pct) == (0, 0.01)
    assert (customers.scope, customers.sample) == ("latest_partition", 1000)
    pii = load_config(built.yesterday / demo.CONFIG).datasets["raw_customers"].pii_columns
    assert "phone" in pii


def test_yesterday_passes_every_quality_check_with_every_rule_run(quality: QualityRuns) -> None:
    assert set(quality.yesterday) == QUALITY
    for check, result in quality.yesterday.items():
        assert (result["outcome"], result["value"]) == ("pass", 0), result["message"]
        assert all(rule["failing_rows"] == 0 and "error" not in rule for rule in result["details"]["rules"])
        assert all(rule["rows"] > 100 for rule in result["details"]["rules"]), check
    modes = {
        check: {(rule["check"], rule["mode"]) for rule in result["details"]["rules"]}
        for check, result in quality.yesterday.items()
    }
    assert ("known_scale", "on_sample") in modes["fact_orders.quality"]  # the custom checks ran
    assert ("required_after_ordered", "on_sample") in modes["orders.quality"]
    assert ("multiple_fields_uniqueness", "in_warehouse") in modes["fact_orders.quality"]
    assert {mode for _, mode in modes["raw_customers.quality"]} == {"on_sample"}
    assert quality.yesterday["fact_orders.quality"]["details"]["sample_rows"] == 5000


def test_today_each_quality_check_catches_exactly_the_injected_bad_values(quality: QualityRuns) -> None:
    defects = demo.defects
    assert {check: r["outcome"] for check, r in quality.today.items()} == {
        check: demo.EXPECTED_OUTCOMES[check] for check in QUALITY
    }
    assert failing_rules(quality.today["fact_orders.quality"]) == {
        ("quantity", "in_range"): defects.NEGATIVE_LINES,
        ("order_number, order_line", "multiple_fields_uniqueness"): 2 * defects.TWICE_LINES,
    }
    assert failing_rules(quality.today["orders.quality"]) == {("status", "isin"): defects.RETURNED_ORDERS}
    assert failing_rules(quality.today["raw_customers.quality"]) == {
        ("phone", "str_matches"): defects.NO_COUNTRY_CODE,
        ("customer_number", "field_uniqueness"): 2,
        ("customer_name", "field_uniqueness"): 2,
    }
    statuses = quality.today["orders.quality"]["details"]["rules"]
    returned = next(rule for rule in statuses if rule["check"].startswith("isin"))
    assert returned["values"] == ["Returned"] * defects.RETURNED_ORDERS
    assert quality.today["fact_orders.quality"]["value"] == 2 * defects.TWICE_LINES  # the worst rule's rows


EMAILS = "SELECT DISTINCT customer_email FROM analytics.fact_orders"


def test_pii_columns_are_checked_but_never_shown(built: Demo, quality: QualityRuns) -> None:
    customers = quality.today["raw_customers.quality"]["details"]["rules"]
    phone = next(rule for rule in customers if rule["check"].startswith("str_matches"))
    assert phone["column"] == "phone" and phone["failing_rows"] == demo.defects.NO_COUNTRY_CODE
    assert "values" not in phone and len(phone["sample"]) == demo.defects.NO_COUNTRY_CODE
    fact = quality.today["fact_orders.quality"]["details"]["rules"]
    assert ("customer_email", "str_matches") in {(rule["column"], rule["check"][:11]) for rule in fact}
    samples = [row for rule in customers + fact for row in rule.get("sample", [])]
    assert samples and all(not {"phone", "customer_email"} & set(row) for row in samples)
    phones = {row["phone"] for day in (0, 1) for row in parquet(partition(built.today, "customers", day))}
    emails = {email for (email,) in rows(built.today, EMAILS)}
    assert len(phones) > 122 and len(emails) > 50
    assert not [secret for secret in phones | emails if secret in quality.today_text]
