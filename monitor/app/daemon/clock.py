"""The daemon's two clocks: the wall clock names planned times (schedules, logs, results), the monotonic clock
measures every wait.

Waiting on wall time is what stalled the scheduler: a wall clock stepped back an hour (by an operator, NTP or
a resumed VM) made every planned run an hour away. A step moves the wall clock and not the monotonic one, so
the scheduler notices it by comparing the two, and plans again from the new wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.core.clock import utcnow

STEP_TOLERANCE = 1.0  # seconds the clocks may drift apart between two readings before it counts as a step


@dataclass(frozen=True)
class Reading:
    """Both clocks, read at once."""

    wall: datetime
    mono: float

    @classmethod
    def now(cls) -> Reading:
        return cls(utcnow(), time.monotonic())

    def wall_at(self, mono: float) -> datetime:
        """The wall time, in this reading's frame, of a monotonic moment."""
        return self.wall + timedelta(seconds=mono - self.mono)

    def mono_at(self, wall: datetime) -> float:
        """The monotonic moment of a wall time in this reading's frame."""
        return self.mono + (wall - self.wall).total_seconds()

    def step_since(self, before: Reading) -> float:
        """Seconds the wall clock jumped since `before` (positive: forward), or 0.0 for ordinary drift."""
        jump = (self.wall - before.wall).total_seconds() - (self.mono - before.mono)
        return jump if abs(jump) > STEP_TOLERANCE else 0.0
