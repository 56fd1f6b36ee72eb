"""The daemon's Phased trigger: each dataset on its schedule, shifted by a stable offset of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from apscheduler.triggers.cron import CronTrigger

from monitor.app.daemon.triggers import CRON_SPREAD, Phased, offset_of
from monitor.core.config.types import parse_schedule

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)  # a Monday, on every cron's minute and hour
NAMES = [f"dataset_{i:03d}" for i in range(100)]


def phased(schedule: str, name: str = "orders") -> Phased:
    return Phased(parse_schedule(schedule), name)


def next_fire(trigger: Phased, previous: datetime | None, now: datetime) -> datetime:
    return trigger.next_fire(now, previous)


def fires(trigger: Phased, start: datetime, count: int) -> list[datetime]:
    """The first `count` fire times from `start`, each computed from the previous as the scheduler does."""
    moments = [next_fire(trigger, None, start)]
    while len(moments) < count:
        moments.append(next_fire(trigger, moments[-1], moments[-1]))
    return moments


def test_offsets_are_stable_across_instances_and_processes() -> None:
    schedule = parse_schedule("every 5m")
    assert Phased(schedule, "orders").offset == Phased(schedule, "orders").offset
    assert Phased(schedule, "orders").offset != Phased(schedule, "payments").offset
    script = "from monitor.app.daemon.triggers import offset_of; print(repr(offset_of('orders', 300.0)))"
    for seed in ("1", "2"):  # str hashes differ between these processes; the offset must not
        shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                               env={**os.environ, "PYTHONHASHSEED": seed})
        assert shown.stdout.strip() == repr(offset_of("orders", 300.0))


@pytest.mark.parametrize("spread", [1.0, 60.0, 300.0, 86400.0])
def test_an_offset_stays_within_its_spread(spread: float) -> None:
    assert all(0 <= offset_of(name, spread) < spread for name in NAMES)


def test_a_hundred_datasets_on_one_interval_spread_over_it() -> None:
    first = [next_fire(phased("every 5m", name), None, NOW) for name in NAMES]
    assert all(NOW <= fire < NOW + timedelta(minutes=5) for fire in first)
    per_second = Counter(int((fire - NOW).total_seconds()) for fire in first)
    assert max(per_second.values()) <= 3
    per_tenth = Counter(int((fire - NOW).total_seconds() // 30) for fire in first)
    assert sorted(per_tenth) == list(range(10)) and min(per_tenth.values()) >= 5


@pytest.mark.parametrize("schedule", ["every 1s", "every 90s", "every 5m", "every 1d"])
def test_interval_fires_are_exactly_one_period_apart_and_on_phase(schedule: str) -> None:
    trigger = phased(schedule)
    period = timedelta(seconds=trigger.period)
    moments = fires(trigger, NOW, 20)
    assert NOW <= moments[0] < NOW + period
    assert all(later - earlier == period for earlier, later in pairwise(moments))
    epoch = datetime(2000, 1, 1, tzinfo=UTC)  # phases count from here, the same in every process
    phases = {((moment - epoch) % period).total_seconds() for moment in moments}
    assert len(phases) == 1 and phases.pop() == pytest.approx(trigger.offset, abs=1e-6)


@pytest.mark.parametrize("cron", ["* * * * *", "*/5 * * * *", "0 6,7 * * *", "30 2 * * 1-5", "0,1 * * * *"])
def test_cron_fires_are_the_cron_times_shifted_by_less_than_a_minute(cron: str) -> None:
    trigger = phased(cron)
    assert 0 <= trigger.offset < CRON_SPREAD
    shift = timedelta(seconds=trigger.offset)
    plain = CronTrigger.from_crontab(cron, timezone=UTC)
    expected = [plain.get_next_fire_time(None, NOW)]
    while len(expected) < 30:
        expected.append(plain.get_next_fire_time(expected[-1], expected[-1] + timedelta(microseconds=1)))
    assert fires(trigger, NOW, 30) == [moment + shift for moment in expected]  # none skipped, none added


def test_cron_datasets_keep_the_order_of_the_cron_times() -> None:
    """Every dataset's 10:00 run comes before any dataset's 10:05 run, however their offsets fall."""
    runs = [fires(phased("*/5 * * * *", name), NOW, 2) for name in NAMES]
    latest_first = max(first for first, _ in runs)
    earliest_second = min(second for _, second in runs)
    assert min(first for first, _ in runs) >= NOW
    assert latest_first < NOW + timedelta(seconds=CRON_SPREAD)
    assert latest_first < earliest_second
    assert len({int(first.timestamp()) for first, _ in runs}) > 40  # spread over the minute, not bunched


@pytest.mark.parametrize("before_phase", [1.0, 29.0, 30.0, 31.0, 59.0])
def test_the_run_after_the_start_up_run_comes_at_least_half_a_period_later(before_phase: float) -> None:
    """The start-up run is off-phase; the next lands on the phase, skipping one sooner than half a period."""
    trigger = phased("every 1m")
    phase = next_fire(trigger, None, NOW)
    start = phase - timedelta(seconds=before_phase)  # the start-up run, this long before a phase point
    following = next_fire(trigger, start, start)
    expected = phase if before_phase >= 30 else phase + timedelta(minutes=1)
    assert following == expected
    assert following - start >= timedelta(seconds=30)


def test_cron_periods_are_the_shortest_gap_between_fire_times() -> None:
    periods = {cron: phased(cron).period for cron in
               ("0 6,7 * * *", "*/15 * * * *", "0 0 * * *", "0 9 * * 1-5", "0,1 * * * *")}
    assert periods == {"0 6,7 * * *": 3600.0, "*/15 * * * *": 900.0, "0 0 * * *": 86400.0,
                       "0 9 * * 1-5": 86400.0, "0,1 * * * *": 60.0}
    assert phased("every 2h").period == 7200.0


def test_a_cron_with_a_long_period_runs_only_at_its_times() -> None:
    """`0 6,7 * * *`: a one-hour period, so 06:00 and 07:00 both run, then nothing until the next day."""
    moments = fires(phased("0 6,7 * * *"), NOW, 4)
    assert [(moment.day, moment.hour, moment.minute) for moment in moments] == [
        (24, 6, 0), (24, 7, 0), (25, 6, 0), (25, 7, 0)
    ]


def test_the_trigger_names_its_schedule_and_offset() -> None:
    trigger = phased("every 5m")
    assert str(trigger) == f"every 5m (+{trigger.offset:.1f}s)"
