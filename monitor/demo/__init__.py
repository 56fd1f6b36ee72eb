"""The embedded demo of `demon demo`: a sales warehouse as of two daily loads.

`prepare` builds "yesterday": a healthy load, on which a first `demon check` records volume baselines
and schema snapshots. `advance` applies "today": the next load, with the defects of `defects.TODAY`
injected, so the second `demon check` shows pass, warn, fail and error outcomes. All times are
relative to `now` (pass the current time): freshness ages come out the same whenever the demo runs.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from importlib.resources import files
from pathlib import Path

from monitor.demo.defects import TODAY

WAREHOUSE = "warehouse.duckdb"
CONFIG = "demon.yml"
STATE = ".demon"

DEFECTS: list[str] = [defect.sentence for defect in TODAY]
EXPECTED_OUTCOMES: dict[str, str] = {check: out for defect in TODAY for check, out in defect.outcomes.items()}
"""The outcome of each check of demon.yml that today's defects break; every other check passes."""


def prepare(directory: Path, now: datetime) -> Path:
    """(Re)create directory/warehouse.duckdb with yesterday's healthy load and directory/demon.yml; return the
    config path. Removes a previous demo's warehouse and directory/.demon state first."""
    _require_aware(now)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (directory / WAREHOUSE, directory / f"{WAREHOUSE}.wal"):
        stale.unlink(missing_ok=True)
    if (directory / STATE).exists():
        shutil.rmtree(directory / STATE)
    from monitor.demo import warehouse  # lazy: duckdb is heavy

    warehouse.load(directory / WAREHOUSE, now, days_ago=2)
    config = directory / CONFIG
    config.write_text(files("monitor.demo").joinpath(CONFIG).read_text(encoding="utf-8"), encoding="utf-8")
    return config


def advance(directory: Path, now: datetime) -> None:
    """Apply today's load to the warehouse, with the defects injected."""
    _require_aware(now)
    path = directory / WAREHOUSE
    if not path.is_file():
        raise FileNotFoundError(f"no demo warehouse at {path}: prepare the demo first")
    from monitor.demo import warehouse  # lazy: duckdb is heavy

    warehouse.load(path, now, days_ago=1, statements=[sql for defect in TODAY for sql in defect.statements])


def _require_aware(now: datetime) -> None:
    """A naive time is ambiguous (local or UTC?) and would shift every freshness result by the UTC offset."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware time, got naive {now.isoformat()}")
