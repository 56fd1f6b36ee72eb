"""The registry of check kinds, by the key they take in a dataset's `checks:` list."""

from __future__ import annotations

from checks.kinds.base import CheckKind, Context
from checks.kinds.freshness import Freshness
from checks.kinds.metric import Metric
from checks.kinds.schema import Schema
from checks.kinds.volume import Volume

KINDS: dict[str, CheckKind] = {
    "freshness": Freshness(),
    "volume": Volume(),
    "schema": Schema(),
    "metric": Metric(),
}

__all__ = ["KINDS", "CheckKind", "Context"]
