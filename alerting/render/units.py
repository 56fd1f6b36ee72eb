"""Numbers of a notification in the units a person reads them in: `max_drop 50%`, not `0.5`; `fail_after 2h`,
not `7200`; `1,070 rows`, not `1070`.

Checks keep thresholds as plain floats (fractions, seconds, counts: see checks/kinds); which one a number is
follows from its name, or else from the unit of the value it bounds. One registry says so for every channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from monitor.core import humanize

Format = Callable[[float, str | None], str]  # a number, and the unit of the check's value


def percent(fraction: float, unit: str | None = None) -> str:
    """A fraction as a percentage: 0.5 -> `50%`, 0.00087108 -> `0.0871%` (as the checks' messages say it)."""
    return humanize.percent(fraction)


def duration(seconds: float, unit: str | None = None) -> str:
    return humanize.duration(seconds)


def plain(value: float, unit: str | None = None) -> str:
    return humanize.number(value)


def approximate(value: float, unit: str | None = None) -> str:
    """A learned bound is an estimate: whole numbers from 10 up, two significant digits below."""
    if not math.isfinite(value):
        return str(value)
    if unit == "seconds":
        return humanize.duration(value)
    return f"{round(value):,}" if abs(value) >= 10 else f"{value:.2g}"


def in_unit(value: float, unit: str | None = None) -> str:
    """A bound in the unit of the value it bounds: seconds as a duration, the rest as a number."""
    return _BY_UNIT.get(unit or "", plain)(value, unit)


_BY_UNIT: Mapping[str, Format] = {"seconds": duration}

# Threshold names whose number is not in the value's unit (or is an estimate); the others (min, max,
# warn_min, warn_max, max_failing_rows, ...) are in the value's unit.
THRESHOLDS: Mapping[str, Format] = {
    "max_drop": percent,  # volume: a fraction of the last successful run's value
    "max_growth": percent,
    "max_failing_pct": percent,  # quality: a fraction of the rows a rule ran over
    "warn_failing_pct": percent,
    "warn_after": duration,  # freshness: seconds
    "fail_after": duration,
    "expected": approximate,  # learned baselines, in the value's unit
    "expected_min": approximate,
    "expected_max": approximate,
    "expected_warn_min": approximate,
    "expected_warn_max": approximate,
}


def threshold(name: str, value: float, unit: str | None = None) -> str:
    """One threshold's number as its name means it: `threshold("max_drop", 0.5)` -> `50%`."""
    return THRESHOLDS.get(name, in_unit)(value, unit) if math.isfinite(value) else str(value)


def observed(value: float | None, unit: str | None) -> str:
    """The check's value with its unit: `3h` (seconds), `1,070 rows`, `6` (no unit), `none`."""
    if value is None:
        return "none"
    if not math.isfinite(value):  # never from demon's context (it keeps finite numbers); said all the same
        return str(value)
    if unit == "seconds":
        return humanize.duration(value)
    return humanize.count(value, unit) if unit else humanize.number(value)
