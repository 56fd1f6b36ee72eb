"""The checks a discovered dataset gets, by the names a `discover:` entry lists, as a user would write them.

Metadata first: on a sql table, freshness and volume read the engine's statistics (no scan) and learn
what is usual; schema watches for drift. A view keeps no statistics: it gets schema (and profile) only.
On a lake, freshness is the newest object and volume is what the listing and the footers tell: rows of
Parquet (the footers schema reads anyway), bytes of CSV and JSON lines (their rows cost a full read).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.core.config.models import DiscoveredCheck, Format

Written = dict[str, Any]  # one item of a dataset's `checks:` list

SQL_TABLE: dict[DiscoveredCheck, Written] = {
    "freshness": {"freshness": {"anomaly": {}}},
    "volume": {"volume": {"method": "metadata", "anomaly": {}}},
    "schema": {"schema": {}},
    "profile": {"profile": {}},
}
SQL_VIEW: dict[DiscoveredCheck, Written] = {"schema": SQL_TABLE["schema"], "profile": SQL_TABLE["profile"]}
_LAKE_FILES: dict[DiscoveredCheck, Written] = {
    "freshness": {"freshness": {"anomaly": {}}},
    "volume": {"volume": {"metric": "bytes", "anomaly": {}}},
    "schema": {"schema": {}},
}
LAKE: dict[Format, dict[DiscoveredCheck, Written]] = {
    "parquet": {**_LAKE_FILES, "volume": {"volume": {"metric": "rows", "anomaly": {}}}},
    "csv": _LAKE_FILES,
    "jsonl": _LAKE_FILES,
}


def checks_of(names: Iterable[DiscoveredCheck], written: dict[DiscoveredCheck, Written]) -> list[Written]:
    return [written[name] for name in names if name in written]
