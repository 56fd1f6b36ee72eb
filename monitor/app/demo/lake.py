"""The demo's local lake: the order-entry system's nightly raw exports and the star schema, as Parquet.

`raw/<table>/dt=YYYY-MM-DD/part-0.parquet` holds what the export of day `dt` brought: the orders, order
lines and payments of the day before, and every customer. `star/<table>/part-0.parquet` is the star
schema as of the newest load. DuckDB writes the files from the warehouse while it is being loaded; their
mtimes are then set relative to `now`, because a lake's freshness is the age of its newest file, and the
demo's outcomes must not depend on when it runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import duckdb

FILE: Final = "part-0.parquet"
HISTORY_DAYS: Final = 7  # the partitions yesterday's lake already holds
RAW_LAG: Final = timedelta(hours=3)  # the nightly export lands 3 hours before the demo's `now`
STAR_LAG: Final = timedelta(minutes=10)  # the star schema's build time, as `built_at` in build.sql

# The export of each raw table for the partition of the date in variable `day`.
RAW: Final[Mapping[str, str]] = {
    "orders": "SELECT * EXCLUDE (loaded_at) FROM sales.orders"
    " WHERE order_date = getvariable('day') - 1 ORDER BY order_number",
    "orderdetails": "SELECT * EXCLUDE (loaded_at) FROM sales.orderdetails WHERE order_number IN"
    " (SELECT order_number FROM sales.orders WHERE order_date = getvariable('day') - 1)"
    " ORDER BY order_number, order_line_number",
    "payments": "SELECT * EXCLUDE (loaded_at) FROM sales.payments"
    " WHERE payment_date = getvariable('day') - 1 ORDER BY payment_date, customer_number, check_number",
    "customers": "SELECT * EXCLUDE (loaded_at) FROM sales.customers ORDER BY customer_number",
}
STAR: Final = ("fact_orders", "dim_customers", "dim_products", "dim_locations", "daily_revenue")


def export(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    now: datetime,
    days_ago: Iterable[int],
    replaced: Mapping[str, str | None],
) -> None:
    """Write the raw partitions of the exports `days_ago` days before `now`, then the star schema as of
    the newest of them. `replaced` maps a raw table to the query its exports run instead of the usual
    one, which they can read as `export` (None: the table is not exported)."""
    loads = sorted(now.astimezone(UTC).replace(microsecond=0) - timedelta(days=ago) for ago in days_ago)
    for load in loads:
        con.execute("SET VARIABLE day = CAST(? AS DATE)", [load.date()])
        for table, query in RAW.items():
            custom = replaced.get(table, "FROM export")
            if custom is not None:
                folder = root / "raw" / table / f"dt={load.date().isoformat()}"
                _copy(con, f"WITH export AS ({query}) {custom}", folder / FILE, load - RAW_LAG)
    for table in STAR:
        _copy(con, f"FROM analytics.{table}", root / "star" / table / FILE, loads[-1] - STAR_LAG)


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path, written: datetime) -> None:
    """One Parquet file, dated `written` (whole seconds, so its mtime is exact on every file system)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    literal = str(path).replace("'", "''")
    con.execute(f"COPY ({query}) TO '{literal}' (FORMAT PARQUET)")
    stamp = int(written.timestamp())
    os.utime(path, (stamp, stamp))
