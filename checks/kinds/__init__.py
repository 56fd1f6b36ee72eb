"""The registry of check kinds, by the key they take in a dataset's `checks:` list: one line per kind."""

from __future__ import annotations

from typing import Any

from checks.kinds.base import CheckSetupError, Context, Kind, Learning
from checks.kinds.dbt import Dbt
from checks.kinds.freshness import Freshness
from checks.kinds.metric import Metric
from checks.kinds.profile import Profile
from checks.kinds.quality import Quality
from checks.kinds.schema import Schema
from checks.kinds.volume import Volume

KINDS: dict[str, Kind[Any]] = {
    "freshness": Freshness(),
    "volume": Volume(),
    "schema": Schema(),
    "quality": Quality(),
    "metric": Metric(),
    "profile": Profile(),
    "dbt": Dbt(),
}

__all__ = ["KINDS", "CheckSetupError", "Context", "Kind", "Learning"]
