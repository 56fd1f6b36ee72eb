"""Today's defects: what goes wrong in the demo's second load, and which checks of demon.yml catch it.

Each defect is a change applied to today's otherwise healthy load (or to its export to the lake), next
to the outcomes it must produce, so the story the demo tells, its data and its config cannot drift
apart. Every check of demon.yml that no defect names passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from monitor.app.demo.lake import RAW_LAG


@dataclass(frozen=True)
class Defect:
    what: str
    outcomes: Mapping[str, str]  # check id -> the outcome this defect gives it
    statements: tuple[str, ...] = ()  # DuckDB SQL; variables `now`, `through` and `loaded_at` are set
    # Raw lake table -> the query today's export runs instead (it reads the usual one as `export`);
    # None: the table is not exported today.
    exports: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def sentence(self) -> str:
        caught = ", ".join(f"{check}: {outcome}" for check, outcome in self.outcomes.items())
        return f"{self.what} ({caught})."


NEGATIVE_LINES = 6
TWICE_LINES = 4
RETURNED_ORDERS = 5
CUT_SHORT_ORDERS = 3
NO_COUNTRY_CODE = 3
LATE_HOURS = (timedelta(days=1) + RAW_LAG) // timedelta(hours=1)  # age of yesterday's export, today

TODAY: tuple[Defect, ...] = (
    Defect(
        "analytics.fact_orders was last loaded 3 hours ago: its hourly job is stuck",
        {"fact_orders.freshness": "warn"},
        (
            "UPDATE analytics.fact_orders"
            " SET loaded_at = CAST(getvariable('now') - INTERVAL 3 HOUR AS TIMESTAMPTZ)",
        ),
    ),
    Defect(
        "analytics.fact_orders got a quarter of yesterday's usual order lines (the extract stopped early),"
        " which every fixed threshold of it lets through",
        {"fact_orders.volume.daily": "fail"},
        (
            "DELETE FROM analytics.fact_orders WHERE order_date = getvariable('through')"
            " AND hash(order_number, 'short') % 4 <> 0",
        ),
    ),
    Defect(
        f"analytics.fact_orders received {NEGATIVE_LINES} order lines with a negative quantity",
        {"fact_orders.metric.negative_totals": "fail", "fact_orders.quality": "fail"},
        (
            "UPDATE analytics.fact_orders SET quantity = -quantity WHERE rowid IN ("
            " SELECT rowid FROM analytics.fact_orders WHERE order_date = getvariable('through')"
            f" ORDER BY hash(order_number, order_line) LIMIT {NEGATIVE_LINES})",
        ),
    ),
    Defect(
        f"analytics.fact_orders has {TWICE_LINES} order lines twice: a retried batch was inserted again",
        {"fact_orders.quality": "fail"},
        (
            "INSERT INTO analytics.fact_orders SELECT * FROM analytics.fact_orders"
            " WHERE order_date = getvariable('through') AND quantity > 0"
            f" ORDER BY hash(order_number, order_line, 'twice') LIMIT {TWICE_LINES}",
        ),
    ),
    Defect(
        "sales.payments was last loaded 3 days ago: its nightly extract keeps failing",
        {"payments.freshness": "fail"},
        (
            "DELETE FROM sales.payments WHERE payment_date > getvariable('through') - 3",
            "UPDATE sales.payments SET loaded_at = getvariable('loaded_at') - INTERVAL 3 DAY",
        ),
    ),
    Defect(
        "analytics.dim_products.msrp was retyped from DECIMAL(10,2) to VARCHAR",
        {"dim_products.schema": "fail"},
        ("ALTER TABLE analytics.dim_products ALTER COLUMN msrp SET DATA TYPE VARCHAR",),
    ),
    Defect(
        "analytics.dim_customers lost its phone column",
        {"dim_customers.schema": "fail"},
        ("ALTER TABLE analytics.dim_customers DROP COLUMN phone",),
    ),
    Defect(
        "sales.orders was loaded partially: about 60% of its rows are missing",
        {"orders.volume": "fail"},
        (
            "DELETE FROM sales.orders"
            " WHERE order_number > (SELECT quantile_disc(order_number, 0.4) FROM sales.orders)",
        ),
    ),
    Defect(
        f"sales.orders has {RETURNED_ORDERS} orders with the status 'Returned', which the order-entry system"
        " started to use without telling anyone",
        {"orders.quality": "warn"},
        (
            "UPDATE sales.orders SET status = 'Returned' WHERE order_number IN ("
            " SELECT order_number FROM sales.orders WHERE status = 'Shipped'"
            f" ORDER BY hash(order_number, 'returned') LIMIT {RETURNED_ORDERS})",
        ),
    ),
    Defect(
        "analytics.daily_revenue was dropped",
        {"daily_revenue.freshness": "error", "daily_revenue.volume": "error"},
        ("DROP TABLE analytics.daily_revenue",),
    ),
    Defect(
        "lake/raw/payments/ has no partition for today: the payments export is late, its newest file"
        f" landed {LATE_HOURS} hours ago",
        {"raw_payments.freshness": "fail"},
        exports={"payments": None},
    ),
    Defect(
        "lake/raw/orderdetails/ today's partition has price_each as DOUBLE instead of DECIMAL(10,2)",
        {"raw_orderdetails.schema": "warn"},
        exports={"orderdetails": "SELECT * REPLACE (CAST(price_each AS DOUBLE) AS price_each) FROM export"},
    ),
    Defect(
        f"lake/raw/orders/ today's partition was cut short: {CUT_SHORT_ORDERS} orders instead of"
        " a whole day's",
        {"raw_orders.volume": "fail"},
        exports={"orders": f"FROM export ORDER BY order_number LIMIT {CUT_SHORT_ORDERS}"},
    ),
    Defect(
        f"lake/raw/customers/ today's export lost the country code of {NO_COUNTRY_CODE} phone numbers and"
        " has one customer twice",
        {"raw_customers.quality": "fail"},
        exports={
            # Customers picked by a hash: the first NO_COUNTRY_CODE lose it, the next one comes twice.
            "customers": "SELECT * EXCLUDE (n, copy) REPLACE ("
            f" IF(n <= {NO_COUNTRY_CODE}, regexp_replace(phone, '^[+][0-9]+ ', ''), phone) AS phone)"
            " FROM (SELECT *, row_number() OVER (ORDER BY hash(customer_number, 'damaged')) AS n"
            f" FROM export), range(2) AS copies(copy) WHERE copy = 0 OR n = {NO_COUNTRY_CODE + 1}"
            " ORDER BY customer_number"
        },
    ),
)
