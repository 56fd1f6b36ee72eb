"""The one wall clock demon reads. Everything that needs the time takes a `Clock` (defaulting to `utcnow`), so
tests and replays can pass their own, and a result, an incident and a prune of one run agree on "now"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: Any) -> datetime:
    """The spec's reading of a timestamp or date: a naive timestamp is UTC, a date is its midnight UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"expected a timestamp or date, got {type(value).__name__} {value!r}")
