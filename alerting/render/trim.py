"""Cutting a notification's context down to a byte limit, least needed part first, for the channels that
carry it whole as JSON (SNS, PagerDuty's `custom_details`): what was cut is named under `context.truncated`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from alerting.model import Context
from alerting.render.text import SAMPLE_ROWS, cell, clip

LONG_STRING = 10_000  # characters of one context string, the first cut
SHORT_STRING = 500  # characters of any string in the last resort

Data = dict[str, Any]  # a notification as a dict (Notification.to_dict)
# Cuts a part of the notification in place; says whether there was any (or, as a name, what it cut).
Cut = Callable[[Data], bool | str]


def trimmed(data: Data, cuts: int) -> Data:
    """The notification after the first `cuts` entries of CUTS, naming those that cut something."""
    if cuts == 0:
        return data
    smaller = dict(data, context=dict(data["context"]))
    said = [(name, cut(smaller)) for name, cut in CUTS[:cuts]]
    names = list(dict.fromkeys(done if isinstance(done, str) else name for name, done in said if done))
    smaller["context"]["truncated"] = [*data["context"].get("truncated", []), *names]
    return smaller


def _without(*keys: str) -> Cut:
    def cut(data: Data) -> bool:
        present = [key for key in keys if key in data["context"]]
        for key in present:
            del data["context"][key]
        return bool(present)
    return cut


def _changed(data: Data, key: str, value: Any) -> bool:
    changed: bool = data["context"].get(key) != value
    data["context"][key] = value
    return changed


def _clip_long(data: Data) -> bool:
    """A huge error message or cell should not cost the trend and the samples: first, bound every string."""
    changed = False
    for key, value in list(data["context"].items()):
        changed = _changed(data, key, _clipped(value, LONG_STRING)) or changed
    return changed


def _few_samples(data: Data) -> bool:
    """The first rows of each sample, each cell on one short line, as the text shows them."""
    rules = data["context"].get("failing_rules")
    if not isinstance(rules, list):
        return False
    return _changed(data, "failing_rules", [_few_rows(rule) for rule in rules])


def _few_rows(rule: Any) -> Any:
    if not isinstance(rule, dict) or not isinstance(rule.get("sample"), list):
        return rule
    rows = [{key: _short(value) for key, value in row.items()} if isinstance(row, dict) else _short(row)
            for row in rule["sample"][:SAMPLE_ROWS]]
    return {**rule, "sample": rows}


def _short(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float) else cell(value)


def _brief_group(data: Data) -> bool:
    """Each incident told with the lead by what it is (its id, outcome, headline or title), without its
    message and query: the lead's text still says how many fail and which."""
    group = data.get("group") or []
    brief = [_brief(member) for member in group]
    data["group"] = brief
    return brief != group


def _brief(member: Any) -> Any:
    if not isinstance(member, dict):
        return member
    return {**_clipped(member, SHORT_STRING), "message": "", "query": None}


def _no_group(data: Data) -> bool | str:
    """The incidents told with the lead go before the lead's own evidence; the cut says how many."""
    group = data.get("group") or []
    data["group"] = []
    return f"group ({len(group)} more checks)" if group else False


def _keep_scalars(data: Data) -> bool:
    """The last resort: what identifies the incident, every string short; bounded whatever came in."""
    context = {key: value for key, value in data["context"].items()
               if key in _CONTEXT_KEYS and not isinstance(value, dict | list)}
    data.update(_clipped({**data, "context": context}, SHORT_STRING))
    return True


def _clipped(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, dict):
        return {key: _clipped(item, limit) for key, item in value.items()}
    if isinstance(value, list):
        return [_clipped(item, limit) for item in value]
    return value


_CONTEXT_KEYS = frozenset(Context.__annotations__)
# Cut first to last until the request fits: the least needed part first.
CUTS: list[tuple[str, Cut]] = [
    ("long_strings", _clip_long),
    ("samples", _few_samples),
    ("trend", _without("trend")),
    ("statements", _without("statements")),
    ("group", _brief_group),
    ("group", _no_group),
    ("failing_rules", _without("failing_rules")),
    ("members", _without("members")),
    ("schema", _without("schema")),
    ("upstream", _without("upstream", "downstream")),
    ("details", _keep_scalars),
]


def jsonable(value: Any) -> Any:
    """Plain JSON values only: no NaN (not JSON; None instead), no lone surrogates (not UTF-8), no other
    types (their str)."""
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "replace").decode()
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {jsonable(str(key)): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return jsonable(str(value))
