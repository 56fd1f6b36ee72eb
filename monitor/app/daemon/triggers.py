"""When each dataset runs: its schedule, shifted by a stable per-dataset offset.

A hundred datasets on `every 5m` must not fire in the same second. APScheduler's `jitter` is random on every
fire, which makes planned times (and so lag and missed runs) unknowable; a fixed offset derived from the
dataset's name spreads them just as well, keeps each dataset on an exact period, and survives restarts.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from apscheduler.triggers.cron import CronTrigger

from monitor.core.config.types import Schedule

CRON_SPREAD = 60.0  # seconds: cron datasets fire within a minute of their cron time
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_CRON_SAMPLE = 48  # fire times looked at to find a cron schedule's shortest period


def offset_of(name: str, spread: float) -> float:
    """A stable offset in [0, spread) seconds for `name` (the same in every process and release)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * spread


class Phased:
    """Fires on `schedule` plus a fixed offset; never sooner than half a period after the previous run.

    The half-period floor matters after the start-up run (which is not on the phase) and after the wall clock
    steps: without it a dataset whose phase falls a second later would run twice in a row.
    """

    def __init__(self, schedule: Schedule, name: str) -> None:
        self.schedule = schedule
        self._cron = None if schedule.cron is None else CronTrigger.from_crontab(schedule.cron, timezone=UTC)
        self.period = schedule.interval if schedule.interval is not None else self._cron_period()
        self.offset = offset_of(name, self.period if self._cron is None else min(self.period, CRON_SPREAD))

    def next_fire(self, now: datetime, previous: datetime | None = None) -> datetime:
        """The first fire time at or after `now`, and at least half a period after `previous` if given."""
        floor = now if previous is None else max(now, previous + timedelta(seconds=self.period / 2))
        return self._next_at_or_after(floor)

    def _next_at_or_after(self, moment: datetime) -> datetime:
        if self._cron is None:
            assert self.schedule.interval is not None
            phase = _EPOCH + timedelta(seconds=self.offset)
            periods = -(-(moment - phase).total_seconds() // self.schedule.interval)  # ceiling
            return phase + timedelta(seconds=periods * self.schedule.interval)
        shift = timedelta(seconds=self.offset)
        fire: datetime = self._cron.get_next_fire_time(None, moment - shift)  # a crontab always fires again
        return fire + shift

    def _cron_period(self) -> float:
        """The shortest gap between consecutive fire times (`0 6,7 * * *` -> 1h), over the next few."""
        assert self._cron is not None
        fires: list[datetime] = []
        moment = _EPOCH
        for _ in range(_CRON_SAMPLE):
            fire = self._cron.get_next_fire_time(None, moment)
            assert fire is not None
            fires.append(fire)
            moment = fire + timedelta(microseconds=1)
        return min((later - earlier).total_seconds() for earlier, later in pairwise(fires))

    def __str__(self) -> str:
        return f"{self.schedule} (+{self.offset:.1f}s)"
