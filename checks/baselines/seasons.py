"""Seasonal slots, in UTC: which slot a time falls in, how a slot reads, and which seasons a series allows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

Seasonality = Literal["none", "hour_of_day", "day_of_week", "hour_of_week"]

# Coarse to fine: ties in the seasonality choice go to the earlier (simpler) season.
SEASONS: tuple[Seasonality, ...] = ("none", "hour_of_day", "day_of_week", "hour_of_week")
WEEKLY: frozenset[Seasonality] = frozenset({"day_of_week", "hour_of_week"})

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def allowed(bucket: timedelta | None) -> tuple[Seasonality, ...]:
    """The seasons a series can show: an hour slot needs buckets of at most an hour, a weekday slot at most
    a day (daily buckets have no hour of day). A series of runs (no bucket) allows them all."""
    if bucket is None or bucket <= HOUR:
        return SEASONS
    return ("none", "day_of_week") if bucket <= DAY else ("none",)


def coarser(season: Seasonality) -> tuple[Seasonality, ...]:
    """The seasons whose slots are unions of `season`'s: where a thin slot may fall back to."""
    if season == "hour_of_week":
        return ("none", "hour_of_day", "day_of_week")
    return () if season == "none" else ("none",)


def slot_of(season: Seasonality, at: datetime) -> int:
    """The slot of a UTC time: 0 for none, the hour, the weekday (Monday 0), or weekday * 24 + hour."""
    if season == "none":
        return 0
    if season == "hour_of_day":
        return at.hour
    if season == "day_of_week":
        return at.weekday()
    return at.weekday() * 24 + at.hour


def slot_keys(season: Seasonality, weekdays: Sequence[int], hours: Sequence[int]) -> list[int]:
    """slot_of() for many times at once, from their weekdays and hours: a daily refit's hot loop."""
    if season == "hour_of_day":
        return list(hours)
    if season == "day_of_week":
        return list(weekdays)
    if season == "hour_of_week":
        return [weekday * 24 + hour for weekday, hour in zip(weekdays, hours, strict=True)]
    return [0] * len(hours)


def _hours(hour: int) -> str:
    return f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"


def slot_label(season: Seasonality, slot: int) -> str:
    """'09:00-10:00 Mon', 'Mon', '09:00-10:00', or '' for none."""
    if season == "hour_of_day":
        return _hours(slot)
    if season == "day_of_week":
        return _DAYS[slot]
    if season == "hour_of_week":
        return f"{_hours(slot % 24)} {_DAYS[slot // 24]}"
    return ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def trained_label(season: Seasonality, slot: int, points: int, dates: int) -> str:
    """What trained a slot, in the words of a message: '8 Mondays', '28 days at 09:00', '8 Mondays at 09:00',
    '14 points'; '96 points on 4 Mondays' when a date gave the slot several points (hourly points, runs)."""
    if season == "none":
        return _plural(points, "point")
    if season == "hour_of_day":
        periods, at = _plural(dates, "day"), f" at {slot:02d}:00"
    elif season == "day_of_week":
        periods, at = _plural(dates, _WEEKDAYS[slot]), ""
    else:
        periods, at = _plural(dates, _WEEKDAYS[slot // 24]), f" at {slot % 24:02d}:00"
    prefix = "" if points == dates else f"{_plural(points, 'point')} on "
    return f"{prefix}{periods}{at}"

