"""The embedded demo of `demon demo`: a sales warehouse and its local Parquet lake, as of two daily loads.

`prepare` builds "yesterday": a healthy load (and a week of the lake's daily raw exports), on which a
first `demon check` records volume baselines and schema snapshots and passes every quality check.
`advance` applies "today": the next load and export, with the defects of `defects.TODAY` injected, so
the second `demon check` shows pass, warn, fail and error outcomes. All times (file mtimes too) are
relative to `now` (pass the current time): freshness ages come out the same whenever the demo runs.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from importlib.resources import files
from pathlib import Path

from monitor.app.demo.defects import TODAY

WAREHOUSE = "warehouse.duckdb"
LAKE = "lake"
CONFIG = "demon.yml"
STATE = ".demon"
LISTEN = "127.0.0.1:9108"  # metrics.listen of the shipped demon.yml
# What prepare writes beside the warehouse: the config, and the Pandera schemas its quality checks name
# (a module imported from the config's directory, and a YAML schema relative to it).
SHIPPED = (CONFIG, "demo_schemas.py", "raw_customers.pandera.yml")

DEFECTS: list[str] = [defect.sentence for defect in TODAY]
EXPECTED_OUTCOMES: dict[str, str] = {check: out for defect in TODAY for check, out in defect.outcomes.items()}
"""The outcome of each check of demon.yml that today's defects break; every other check passes."""


def prepare(directory: Path, now: datetime, listen: str = LISTEN) -> Path:
    """(Re)create directory/warehouse.duckdb with yesterday's healthy load, directory/lake with the exports
    of the week up to yesterday, and directory/demon.yml (its daemon serving /metrics on `listen`) with the
    schemas of its quality checks; return the config path. Removes a previous demo's warehouse, lake and
    directory/.demon state first."""
    _require_aware(now)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (directory / WAREHOUSE, directory / f"{WAREHOUSE}.wal"):
        stale.unlink(missing_ok=True)
    for folder in (directory / STATE, directory / LAKE):
        if folder.exists():
            shutil.rmtree(folder)
    from monitor.app.demo import lake, warehouse  # lazy: duckdb is heavy

    week = range(lake.HISTORY_DAYS, 0, -1)
    warehouse.load(
        directory / WAREHOUSE,
        now,
        days_ago=2,
        export=lambda con: lake.export(con, directory / LAKE, now, week, {}),
    )
    for name in SHIPPED:
        text = files("monitor.app.demo").joinpath(name).read_text(encoding="utf-8")
        if name == CONFIG:  # quoted: YAML would read an address like 1:30 as a number
            text = text.replace(f"listen: {json.dumps(LISTEN)}", f"listen: {json.dumps(listen)}")
        (directory / name).write_text(text, encoding="utf-8")
    return directory / CONFIG


def advance(directory: Path, now: datetime) -> None:
    """Apply today's load to the warehouse and today's export to the lake, with the defects injected."""
    _require_aware(now)
    path = directory / WAREHOUSE
    if not path.is_file():
        raise FileNotFoundError(f"no demo warehouse at {path}: prepare the demo first")
    from monitor.app.demo import lake, warehouse  # lazy: duckdb is heavy

    replaced = {table: query for defect in TODAY for table, query in defect.exports.items()}
    warehouse.load(
        path,
        now,
        days_ago=1,
        statements=[sql for defect in TODAY for sql in defect.statements],
        export=lambda con: lake.export(con, directory / LAKE, now, [0], replaced),
    )


def _require_aware(now: datetime) -> None:
    """A naive time is ambiguous (local or UTC?) and would shift every freshness result by the UTC offset."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware time, got naive {now.isoformat()}")
