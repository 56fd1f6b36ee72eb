"""Writes the demo's DuckDB warehouse: one run of build.sql, the lake export, then the defect statements.

The whole load is one transaction, so an interrupted demo never leaves a half-built warehouse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import duckdb


def load(
    path: Path,
    now: datetime,
    days_ago: int,
    statements: Iterable[str] = (),
    export: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> None:
    """Rebuild the warehouse at `path` with the orders up to `days_ago` days before `now`, then run
    `export` (it sees the healthy load: the lake is exported from it) and `statements` (today's
    defects) in the same transaction."""
    build = files("monitor.app.demo").joinpath("build.sql").read_text(encoding="utf-8")
    utc_now = now.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET VARIABLE now = CAST(? AS TIMESTAMP)", [utc_now])
        con.execute("SET VARIABLE through = CAST(? AS DATE)", [(utc_now - timedelta(days=days_ago)).date()])
        con.execute("BEGIN TRANSACTION")
        con.execute(build)
        if export is not None:
            export(con)
        for statement in statements:
            con.execute(statement)
        con.execute("COMMIT")
