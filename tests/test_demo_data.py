"""The data and config behind `demon demo`: real DuckDB files built by prepare/advance, queried directly."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from monitor import demo
from monitor.config import load_config
from monitor.config.models import (
    Config,
    FreshnessParams,
    MetricParams,
    SchemaParams,
    SqlSourceConfig,
    VolumeParams,
)

NOW = datetime(2031, 5, 14, 9, 26, 53, 589793, tzinfo=UTC)
SECOND = NOW.replace(microsecond=0, tzinfo=None)  # loaded_at values are naive UTC, whole seconds

SALES = ["offices", "employees", "customers", "productlines", "products", "orders", "orderdetails",
         "payments"]
ANALYTICS = ["fact_orders", "dim_customers", "dim_products", "dim_locations", "daily_revenue"]


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
    demo.advance(tmp_path, NOW)
    assert fingerprint(tmp_path) == fingerprint(built.today)


def test_another_now_builds_other_data(tmp_path: Path, built: Demo) -> None:
    demo.prepare(tmp_path, NOW + timedelta(days=1))
    mine, theirs = fingerprint(tmp_path), fingerprint(built.yesterday)
    assert mine.keys() == theirs.keys()
    assert mine["sales.orders"] != theirs["sales.orders"]


# --- today's defects -------------------------------------------------------------------------------


def test_fact_orders_was_loaded_three_hours_ago(built: Demo) -> None:
    newest = value(built.today, "SELECT max(loaded_at) FROM analytics.fact_orders")
    assert newest == (SECOND - timedelta(hours=3)).replace(tzinfo=UTC)


def test_fact_orders_has_a_handful_of_negative_quantities(built: Demo) -> None:
    negative = "SELECT count(*) FROM analytics.fact_orders WHERE price_each * quantity < 0"
    assert value(built.yesterday, negative) == 0
    assert value(built.today, negative) == 6


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


# --- prepare and advance on the file system ----------------------------------------------------------


def test_prepare_removes_a_previous_demo(tmp_path: Path) -> None:
    demo.prepare(tmp_path, NOW)
    demo.advance(tmp_path, NOW)
    (tmp_path / demo.STATE).mkdir()
    (tmp_path / demo.STATE / "state.db").write_bytes(b"old results")
    (tmp_path / f"{demo.WAREHOUSE}.wal").write_bytes(b"")
    config = demo.prepare(tmp_path, NOW)
    assert config == tmp_path / "demon.yml"
    assert not (tmp_path / demo.STATE).exists()
    assert not (tmp_path / f"{demo.WAREHOUSE}.wal").exists()
    assert "analytics.daily_revenue" in tables(tmp_path)
    assert "phone" in columns(tmp_path, "analytics.dim_customers")


def test_prepare_creates_a_missing_directory(tmp_path: Path) -> None:
    config = demo.prepare(tmp_path / "nested" / "demo", NOW)
    assert config.is_file()
    assert (config.parent / demo.WAREHOUSE).is_file()


def test_advance_needs_a_prepared_demo(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="prepare the demo first"):
        demo.advance(tmp_path, NOW)
    assert not (tmp_path / demo.WAREHOUSE).exists()


def test_importing_the_demo_does_not_import_duckdb() -> None:
    code = "import sys, monitor.demo; print('duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- demon.yml -------------------------------------------------------------------------------------


def test_demon_yml_validates(built: Demo) -> None:
    text = (built.yesterday / demo.CONFIG).read_text(encoding="utf-8")
    config = Config.model_validate(yaml.safe_load(text))
    source = config.sources["warehouse"]
    assert isinstance(source, SqlSourceConfig)
    assert source.url == "duckdb:///warehouse.duckdb"
    assert source.query_timeout == 30.0 and source.max_concurrency == 4
    assert config.state.url == "sqlite:///.demon/state.db"
    assert set(config.sources) == {"warehouse"}
    assert not config.alerting.channels and not config.alerting.routes


def test_demon_yml_passes_the_loader(built: Demo) -> None:
    """The loader also checks references (upstream, sources) and check ids."""
    config = load_config(built.yesterday / demo.CONFIG)
    assert config.datasets["fact_orders"].upstream == ["orders", "orderdetails"]
    assert config.datasets["fact_orders"].pii_columns == ["customer_email"]
    assert config.datasets["fact_orders"].where == "order_date >= CURRENT_DATE - INTERVAL 30 DAY"


def test_every_dataset_names_a_table_of_the_warehouse(built: Demo) -> None:
    config = load_config(built.yesterday / demo.CONFIG)
    assert {dataset.table for dataset in config.datasets.values()} <= tables(built.yesterday)


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
    assert len(demo.DEFECTS) == 7
    for sentence, defect in zip(demo.DEFECTS, demo.defects.TODAY, strict=True):
        assert sentence.endswith(".") and "\n" not in sentence
        for check in defect.outcomes:
            assert check in sentence


def test_a_failing_defect_statement_leaves_the_warehouse_as_it_was(tmp_path: Path) -> None:
    from monitor.demo import warehouse

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
