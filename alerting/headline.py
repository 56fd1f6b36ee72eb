"""What is wrong, in words, from a notification's context: `8 duplicated order_id values in fact_orders`, not
`fact_orders.quality failed`. The first line a responder reads at 3 a.m.

Pure: a registry keyed by check kind turns the context (value, unit, thresholds, trend and the kind's
evidence: failing rules, schema changes) into one bounded line; a kind it does not know, or a context short
of what its entry needs, falls back to the check and the message, so there is always a headline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from alerting.model import Context, FailingRule
from alerting.render.text import clip
from alerting.render.units import approximate, in_unit, observed, percent, threshold
from monitor.core import humanize

LIMIT = 200  # characters of a headline
MESSAGE = 120  # characters of a message quoted in one
NAME = 80  # characters of a rule, column or dataset name in one
NAMES = 3  # columns named per list of a schema change
_GOOD = frozenset({"pass", "warn"})  # a run whose value counts as the last good one
_ARGUMENTS = re.compile(r"\(.*\)$", re.DOTALL)

Words = Callable[[Context], str | None]  # None: the context lacks what this kind's words need


def headline(context: Context) -> str:
    """One line saying what is wrong; never empty, at most LIMIT characters."""
    if context.get("outcome") == "error":
        return clip(_could_not_run(context), LIMIT)
    words = KINDS.get(context.get("kind") or "", _fallback)(context) or _fallback(context)
    return clip(" ".join(words.split()), LIMIT)


def _name(text: str | None) -> str:
    return clip(text or "", NAME)


def _dataset(context: Context) -> str:
    return _name(context.get("dataset") or context.get("check") or context.get("source") or "the dataset")


def _message(context: Context) -> str:
    return clip(" ".join((context.get("message") or "").split()), MESSAGE)


def _could_not_run(context: Context) -> str:
    what = context.get("check") or f"source {context.get('source') or '?'}"
    return f"{_name(what)} could not run: {_message(context) or 'no reason given'}"


def _fallback(context: Context) -> str:
    """`<check> <outcome>: <message>`: what the title says, and why."""
    what = _name(context.get("check") or context.get("dataset") or context.get("source") or "check")
    outcome = _OUTCOMES.get(context.get("outcome") or "", context.get("outcome") or "failed")
    message = _message(context)
    return f"{what} {outcome}" + (f": {message}" if message else "")


_OUTCOMES: Mapping[str, str] = {"fail": "failed", "warn": "warns", "pass": "passes"}


def _said_by_dataset(context: Context) -> str | None:
    """`<dataset>: <message>`: the kinds whose message already says it in words (profile, dbt)."""
    message = _message(context)
    return f"{_dataset(context)}: {message}" if message else None


# --- quality: the worst failing rule, in words ------------------------------------------------------------


def _quality(context: Context) -> str | None:
    rules = context.get("failing_rules") or []
    if not rules:
        return None
    worst = rules[0]  # the context lists them worst first
    said = RULES.get(_rule_kind(worst["rule"]), _rule_fails)(worst, _dataset(context))
    more = len(rules) - 1
    return said + (f" (and {more} more failing rule{'s' if more != 1 else ''})" if more else "")


def _rule_kind(rule: str) -> str:
    """`in_range(1, 1000)` -> `in_range`: Pandera's check name without its arguments."""
    return _ARGUMENTS.sub("", rule).strip()


def _rows(count: int) -> str:
    return humanize.count(count, "rows")


def _columns(rule: FailingRule) -> str:
    column = _name(rule["column"])
    return f"({column})" if "," in column else column


def _duplicated(rule: FailingRule, dataset: str) -> str:
    """Pandera counts every row of a duplicated key: `8 rows of fact_orders share their order_id`."""
    verb = "shares its" if rule["failing_rows"] == 1 else "share their"
    return f"{_rows(rule['failing_rows'])} of {dataset} {verb} {_columns(rule)} with another row"


def _missing_values(rule: FailingRule, dataset: str) -> str:
    return f"{_rows(rule['failing_rows'])} of {dataset} with no {_columns(rule)}"


def _rule_fails(rule: FailingRule, dataset: str) -> str:
    where = f" on {_columns(rule)}" if rule["column"] else ""
    verb = "fails" if rule["failing_rows"] == 1 else "fail"
    return f"{_rows(rule['failing_rows'])} of {dataset} {verb} {_name(rule['rule'])}{where}"


# Pandera's checks by name (demon's rules are Pandera checks: see checks/quality); the rest read generically.
RULES: Mapping[str, Callable[[FailingRule, str], str]] = {
    "field_uniqueness": _duplicated,
    "multiple_fields_uniqueness": _duplicated,
    "unique": _duplicated,
    "not_nullable": _missing_values,
}


# --- numbers against what was expected ----------------------------------------------------------------


def _versus_expected(context: Context, value: float) -> str | None:
    """Against a learned baseline: `62% fewer than expected (77 to 289)`."""
    thresholds, unit = context.get("thresholds") or {}, context.get("unit")
    expected = thresholds.get("expected")
    if not expected:
        return None
    band = ""
    if "expected_min" in thresholds and "expected_max" in thresholds:
        if thresholds["expected_min"] <= value <= thresholds["expected_max"]:
            return None  # within the band: something else failed it
        low, high = (approximate(thresholds[name], unit) for name in ("expected_min", "expected_max"))
        band = f" ({low} to {high})"
    return f"{_relative(value, expected)} than expected{band}"


def _relative(value: float, reference: float) -> str:
    change = value / reference - 1
    return f"{percent(abs(change))} {'fewer' if change < 0 else 'more'}"


def _versus_last_good(context: Context, value: float) -> str | None:
    """Against the last good run in the trend (what max_drop and max_growth compare with):
    `60% fewer than the last good run (2,657)`."""
    thresholds = context.get("thresholds") or {}
    if "max_drop" not in thresholds and "max_growth" not in thresholds:
        return None
    earlier = (context.get("trend") or [])[1:]
    good = next((point["value"] for point in earlier if point["outcome"] in _GOOD and point["value"]), None)
    if good is None or good == value:
        return None
    return f"{_relative(value, good)} than the last good run ({in_unit(good, context.get('unit'))})"


# Fixed bounds a value broke, tried in order: (name, whether it is a maximum).
_BOUNDS: Sequence[tuple[str, bool]] = (("min", False), ("max", True), ("warn_min", False), ("warn_max", True))


def _versus_bound(context: Context, value: float) -> str | None:
    """The first bound the value broke: `below min 100`, `above max 0`."""
    thresholds, unit = context.get("thresholds") or {}, context.get("unit")
    for name, upper in _BOUNDS:
        bound = thresholds.get(name)
        if bound is not None and (value > bound if upper else value < bound):
            return f"{'above' if upper else 'below'} {name} {threshold(name, bound, unit)}"
    return None


def _compared(context: Context, value: float) -> str:
    """What the value broke: a fixed bound first (it fails whatever else says), then a learned band it is
    outside of, then the drop or growth since the last good run."""
    for compare in (_versus_bound, _versus_expected, _versus_last_good):
        said = compare(context, value)
        if said:
            return f", {said}"
    return ""


def _volume(context: Context) -> str | None:
    """`fact_orders has 1,070 rows, 60% fewer than the last good run (2,657)`."""
    value = context.get("value")
    if value is None:
        return None
    amount = observed(value, context.get("unit") or "rows")
    learned = context.get("learned")
    slot = f" ({learned['slot']})" if learned and learned["slot"] else ""  # a bucket's rows, not the table's
    return f"{_dataset(context)} has {amount}{slot}{_compared(context, value)}"


def _metric(context: Context) -> str | None:
    """`negative_totals of fact_orders is 6, above max 0`: the metric's name is its check id's last part."""
    value = context.get("value")
    if value is None:
        return None
    name = _name((context.get("check") or "metric").rsplit(".", 1)[-1])
    amount = observed(value, context.get("unit"))
    return f"{name} of {_dataset(context)} is {amount}{_compared(context, value)}"


# --- freshness: how long since the last load, against the bound it broke ---------------------------------

_AGE_BOUNDS = ("fail_after", "expected_max", "warn_after")  # the most telling first


def _freshness(context: Context) -> str | None:
    """`fact_orders last loaded 3h ago (warn_after 2h)`."""
    value = context.get("value")
    if value is None:
        return None
    thresholds = context.get("thresholds") or {}
    broken = next((name for name in _AGE_BOUNDS if name in thresholds and value > thresholds[name]), None)
    bound = f" ({broken} {threshold(broken, thresholds[broken], 'seconds')})" if broken else ""
    return f"{_dataset(context)} last loaded {humanize.duration(value)} ago{bound}"


# --- schema: the columns that changed ----------------------------------------------------------------------


def _schema(context: Context) -> str | None:
    """`fact_orders: column x removed, y retyped int→text`: what changed, column by column."""
    change = context.get("schema")
    if not change:
        return None
    items = [f"{_name(name)} removed" for name in change["removed"]]
    items += [f"{_name(item['column'])} retyped {item['before']}→{item['after']}"
              for item in change["retyped"]]
    items += [f"{_name(name)} added" for name in change["added"]]
    if not items:
        return None
    more = f" and {len(items) - NAMES} more" if len(items) > NAMES else ""
    noun = "column" if len(items) == 1 else "columns"
    return f"{_dataset(context)}: {noun} {', '.join(items[:NAMES])}{more}"


# The words of each check kind (checks/kinds); a kind missing here reads as `<check> failed: <message>`.
KINDS: Mapping[str, Words] = {
    "freshness": _freshness,
    "volume": _volume,
    "schema": _schema,
    "quality": _quality,
    "metric": _metric,
    "profile": _said_by_dataset,
    "dbt": _said_by_dataset,
}


def source_headline(source: str) -> str:
    """A source incident: every check of its datasets errored because the source did not answer."""
    return clip(f"source {source} is unreachable", LIMIT)
