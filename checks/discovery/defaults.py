"""The checks a discovered dataset gets, by the names a `discover:` entry lists, as a user would write them.

Metadata first: on a sql table, freshness and volume read the engine's statistics (no scan) and learn
what is usual; schema watches for drift. A view keeps no statistics: it gets schema (and profile) only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.core.config.models import DiscoveredCheck

Written = dict[str, Any]  # one item of a dataset's `checks:` list

SQL_TABLE: dict[DiscoveredCheck, Written] = {
    "freshness": {"freshness": {"anomaly": {}}},
    "volume": {"volume": {"method": "metadata", "anomaly": {}}},
    "schema": {"schema": {}},
    "profile": {"profile": {}},
}
SQL_VIEW: dict[DiscoveredCheck, Written] = {"schema": SQL_TABLE["schema"], "profile": SQL_TABLE["profile"]}


def checks_of(names: Iterable[DiscoveredCheck], written: dict[DiscoveredCheck, Written]) -> list[Written]:
    return [written[name] for name in names if name in written]
