"""The one wall clock demon reads. Everything that needs the time takes a `Clock` (defaulting to `utcnow`), so
tests and replays can pass their own, and a result, an incident and a prune of one run agree on "now"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)
