"""Learned baselines (checks.baselines) against an Elementary-style z-score, on synthetic series.

Each scenario comes from a seeded random.Random: weekly and daily seasonality, trend, noise at several levels
(and day-to-day luck shared by a day's hours), holidays and missing buckets, plus injected faults: drop,
spike, stuck at zero, stuck at a repeated value, slow decline, level shift; late and missed loads for
freshness. Both methods judge every point as if it were the latest:
- demon: `replay` with default Settings (freshness: direction spike, as the freshness check calls it); after
  a level shift the user marks the new level expected (`expected=`), as they would after the first page;
- z-score: mean +- 3 sd of the generator's seasonal slot (weekday for daily series, hour of week for hourly
  ones) over the last 14 periods, the point itself included (Elementary's default window).
An event is caught when any of its points fails; its delay counts points from its start to the first failure.
A failure outside every event is a false alarm; holidays count as neither (a calendar question, not a fault).
A level shift's event lasts one training window (28 days): the baseline relearns the new level meanwhile.
Defaults are tuned on all scenarios at once, never one by one.

Run: .venv/bin/python -m bench.bench_anomaly [--seeds 5]
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.bench_startup import machine
from checks.baselines.model import Direction, Point, Settings, replay

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
DAILY_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
HOURLY_START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
HOLIDAYS = [datetime(2025, month, day, tzinfo=UTC) for month, day in
            ((4, 18), (4, 21), (5, 1), (5, 29), (8, 15), (12, 24), (12, 25), (12, 26))]


@dataclass(frozen=True)
class Event:
    kind: str
    start: datetime
    end: datetime  # exclusive

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass
class Series:
    name: str
    daily: bool  # judged against the daily goals (a false alarm a month) or the hourly ones (one a week)
    bucket: timedelta | None
    zslot: Callable[[datetime], int]
    zperiod: timedelta
    points: list[Point] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    ignored: list[Event] = field(default_factory=list)  # holidays
    expected: set[datetime] = field(default_factory=set)
    direction: Direction = "both"


def day_slot(at: datetime) -> int:
    return at.weekday()


def week_hour_slot(at: datetime) -> int:
    return at.weekday() * 24 + at.hour


# --- generators ------------------------------------------------------------------------------------------

def daily_shape(hour: int) -> float:
    """Rows by hour of day: a night trough at 04:00 (15% of the afternoon peak)."""
    return 0.15 + 0.85 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4) / 24))


@dataclass(frozen=True)
class Volume:
    name: str
    hourly: bool
    level: float  # rows per bucket at the weekday peak
    noise: float  # multiplicative (log-normal) noise per bucket, on top of Poisson counting
    day_noise: float  # hourly series: a busy or a slow day moves all its hours together
    weekend: float  # weekend level relative to weekdays
    trend: float  # growth per year
    days: int


def expected_rows(shape: Volume, at: datetime, start: datetime) -> float:
    years = (at - start) / timedelta(days=365)
    weekly = shape.weekend if at.weekday() >= 5 else 1.0
    hourly = daily_shape(at.hour) if shape.hourly else 1.0
    holiday = 0.45 if at.replace(hour=0) in HOLIDAYS else 1.0
    return shape.level * weekly * hourly * holiday * (1 + shape.trend * years)


def count(rng: random.Random, mean: float, noise: float) -> float:
    """Log-normal level noise, then Poisson counting (normal approximation): rows are whole and never < 0."""
    mu = mean * math.exp(rng.gauss(0, noise) - noise**2 / 2)
    return float(max(0, round(rng.gauss(mu, math.sqrt(mu)))))


def place(rng: random.Random, times: list[datetime], taken: list[Event], length: timedelta, gap: timedelta,
          fits: Callable[[datetime], bool], before: datetime) -> datetime:
    """A random start for an event that overlaps no other (nor its `gap` margin) and satisfies `fits`."""
    for _ in range(10_000):
        start = rng.choice(times)
        end = start + length
        if end <= before and fits(start) and all(end + gap <= e.start or e.end + gap <= start for e in taken):
            return start
    raise RuntimeError("no room for an event")


def volume(rng: random.Random, shape: Volume) -> Series:
    start = HOURLY_START if shape.hourly else DAILY_START
    step = HOUR if shape.hourly else DAY
    times = [start + step * i for i in range(shape.days * (24 if shape.hourly else 1))]
    base = {at: expected_rows(shape, at, start) for at in times}
    days = {at.replace(hour=0): math.exp(rng.gauss(0, shape.day_noise)) for at in times}
    values = {at: count(rng, base[at] * days[at.replace(hour=0)], shape.noise) for at in times}
    series = Series(shape.name, not shape.hourly, step, week_hour_slot if shape.hourly else day_slot, WEEK)
    series.ignored = [Event("holiday", day, day + DAY) for day in HOLIDAYS]
    inject_volume_faults(rng, shape, series, times, base, values)
    missing = set(rng.sample(times, len(times) // 70))  # collector down: ~1.5% of buckets never recorded
    if shape.hourly:
        outage = rng.choice(times[: len(times) // 2])
        missing |= {outage + HOUR * k for k in range(6)}
    missing -= {at for at in times for event in series.events if at in event and event.kind != "level shift"}
    series.points = [Point(at, values[at]) for at in times if at not in missing]
    return series


def inject_volume_faults(rng: random.Random, shape: Volume, series: Series, times: list[datetime],
                         base: dict[datetime, float], values: dict[datetime, float]) -> None:
    step = HOUR if shape.hourly else DAY
    warm = times[0] + (timedelta(days=28) if shape.hourly else timedelta(days=42))
    shift_at = times[0] + timedelta(days=shape.days * 2 // 3)
    shift_at += (7 - shift_at.weekday()) % 7 * DAY  # a Monday, so a daily shift does not start on a weekend
    if shape.hourly:
        shift_at += 10 * HOUR
    candidates = [at for at in times if warm <= at]
    taken = [Event("holiday", day - DAY, day + 2 * DAY) for day in HOLIDAYS]
    peak = max(base.values())

    def busy(at: datetime) -> bool:  # hourly faults land where a fault shows: at least a third of the peak
        return not shape.hourly or base[at] >= peak / 3

    # A slow decline to 40% over 2 days (hourly) or 3 weeks (daily), then fixed. Placed first: it is long.
    length = 48 if shape.hourly else 21
    at = place(rng, candidates, taken + series.events, step * length, 3 * step, lambda _: True, shift_at)
    record(series, "slow decline", [at + step * k for k in range(length)],
           lambda t, k: round(values[t] * (1 - 0.6 * (k + 1) / length)), values)
    faults: list[tuple[str, int, Callable[[datetime, int], float]]] = [
        ("drop", 2 if shape.hourly else 1, lambda at, k: round(values[at] * 0.4)),
        ("drop", 2 if shape.hourly else 1, lambda at, k: round(values[at] * 0.4)),
        ("spike", 1, lambda at, k: round(values[at] * 2.5)),
        ("spike", 1, lambda at, k: round(values[at] * 2.5)),
        ("stuck at 0", 3 if shape.hourly else 2, lambda at, k: 0.0),
    ]
    for kind, length, change in faults:
        at = place(rng, candidates, taken + series.events, step * length, 3 * step, busy, shift_at)
        record(series, kind, [at + step * k for k in range(length)], change, values)
    if shape.hourly or shape.weekend != 1.0:
        stuck_repeated(rng, shape, series, candidates, taken, values, shift_at)
    # A level shift (down to 55% or up to 170%) that stays: the user marks the new level expected.
    factor = rng.choice((0.55, 1.7))
    shifted = [t for t in times if t >= shift_at]
    for t in shifted:
        values[t] = round(values[t] * factor)
    series.expected |= set(shifted)
    series.events.append(Event("level shift", shift_at, shift_at + timedelta(days=28)))


def stuck_repeated(rng: random.Random, shape: Volume, series: Series, candidates: list[datetime],
                   taken: list[Event], values: dict[datetime, float], before: datetime) -> None:
    """A snapshot that stopped refreshing, over the weekend (daily) or the evening into the night (hourly),
    where the season moves and a frozen value shows. (Where nothing moves, a frozen value is a normal one to
    any range: only a freshness check sees it.)"""
    step = HOUR if shape.hourly else DAY
    length = 8 if shape.hourly else 3
    friday_or_evening = (lambda at: at.weekday() < 5 and at.hour == 18) if shape.hourly else \
        (lambda at: at.weekday() == 4)
    at = place(rng, candidates, taken + series.events, step * length, 3 * step, friday_or_evening, before)
    frozen = values[at - step]
    record(series, "stuck repeated", [at + step * k for k in range(length)], lambda _, k: frozen, values)


def record(series: Series, kind: str, ats: list[datetime], change: Callable[[datetime, int], float],
           values: dict[datetime, float]) -> None:
    for k, at in enumerate(ats):
        values[at] = float(change(at, k))
    series.events.append(Event(kind, ats[0], ats[-1] + (series.bucket or DAY)))


def freshness(rng: random.Random, hourly: bool) -> Series:
    """Gaps between loads, as the freshness check sees them: a point per gap, at its start (the previous
    load), valued in seconds. Hourly: loads at :05 on weekdays only. Daily: 06:00 on weekdays, 09:00 at
    weekends."""
    days = 84 if hourly else 365
    start = HOURLY_START if hourly else DAILY_START
    if hourly:
        planned = [start + DAY * d + HOUR * h + timedelta(minutes=5) for d in range(days) for h in range(24)
                   if (start + DAY * d).weekday() < 5]
    else:
        planned = [start + DAY * d + HOUR * (9 if (start + DAY * d).weekday() >= 5 else 6)
                   for d in range(days)]
    jitter = 2 if hourly else 12  # minutes
    loads = [at + timedelta(minutes=rng.gauss(0, jitter)) for at in planned]
    name = "freshness, hourly loads on weekdays" if hourly else "freshness, daily loads (weekends later)"
    series = Series(name, not hourly, None, week_hour_slot if hourly else day_slot, WEEK, direction="spike")
    warm = 28 if hourly else 42
    late = [(90, "late 1.5h"), (120, "late 2h"), (180, "late 3h"), (0, "missed load"), (150, "late 2.5h"),
            (0, "missed load")] if hourly else \
        [(180, "late 3h"), (300, "late 5h"), (480, "late 8h"), (0, "missed load"), (240, "late 4h"),
         (0, "missed load")]
    spaced = range(len(loads) * warm // days, len(loads) - 30, 6)
    indices = sorted(rng.sample(spaced, len(late)), reverse=True)  # latest first: deleting keeps the rest
    for index, (minutes, kind) in zip(indices, late, strict=True):
        gap_start = loads[index - 1]
        if minutes:  # late: the loads planned meanwhile happen with it (a pipeline catching up)
            loads[index] += timedelta(minutes=minutes)
            while loads[index + 1] <= loads[index]:
                del loads[index + 1]
        else:
            del loads[index]
        series.events.append(Event(kind, gap_start, gap_start + timedelta(seconds=1)))
    series.points = [Point(prev, (nxt - prev).total_seconds()) for prev, nxt in itertools.pairwise(loads)]
    return series


def scenarios(rng: random.Random) -> list[Series]:
    shapes = [
        Volume("daily rows, weekend dip, noise 3%", False, 50_000, 0.03, 0, 0.55, 0.3, 365),
        Volume("daily rows, weekend dip, noise 8%", False, 20_000, 0.08, 0, 0.6, 0.3, 365),
        Volume("daily rows, weekend dip, noise 12%", False, 8_000, 0.12, 0, 0.5, 0.5, 365),
        Volume("daily rows, no weekly pattern, ~200/day", False, 200, 0.04, 0, 1.0, 0.4, 365),
        Volume("hourly rows, busy (5k/h), noise 5%", True, 5_000, 0.05, 0.04, 0.6, 0.2, 84),
        Volume("hourly rows, quiet (150/h), noise 5%", True, 150, 0.05, 0.04, 0.6, 0.2, 84),
        Volume("hourly rows, noisy (2k/h), noise 12%", True, 2_000, 0.12, 0.06, 0.7, 0.2, 84),
    ]
    return [volume(rng, shape) for shape in shapes] + [freshness(rng, False), freshness(rng, True)]


# --- the two methods -------------------------------------------------------------------------------------

def demon_flags(series: Series) -> list[bool]:
    settings = Settings(direction=series.direction)
    verdicts = replay(series.points, settings, bucket=series.bucket, expected=series.expected)
    return [verdict.outcome == "fail" for verdict in verdicts]


def zscore_flags(series: Series, periods: int = 14, limit: float = 3.0) -> list[bool]:
    """Elementary's band: mean +- 3 sd of the slot's points over the last 14 periods, this point included."""
    slots: dict[int, deque[tuple[datetime, float]]] = defaultdict(deque)
    flags = []
    for point in series.points:
        slot = slots[series.zslot(point.at)]
        slot.append((point.at, point.value))
        while slot[0][0] <= point.at - series.zperiod * periods:
            slot.popleft()
        values = [value for _, value in slot]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        z = (point.value - statistics.fmean(values)) / sd if sd else 0.0
        flags.append((series.direction != "spike" and z < -limit)
                     or (series.direction != "drop" and z > limit))
    return flags


# --- scoring ---------------------------------------------------------------------------------------------

@dataclass
class Score:
    events: int = 0
    caught: int = 0
    false_alarms: int = 0
    weeks: float = 0.0
    delays: list[int] = field(default_factory=list)
    missed: Counter[str] = field(default_factory=Counter)

    def add(self, other: Score) -> None:
        self.events += other.events
        self.caught += other.caught
        self.false_alarms += other.false_alarms
        self.weeks += other.weeks
        self.delays += other.delays
        self.missed += other.missed

    @property
    def per_week(self) -> float:
        return self.false_alarms / self.weeks

    @property
    def per_month(self) -> float:
        return self.per_week * 365.25 / 12 / 7

    def delay(self) -> str:
        return f"{statistics.median(self.delays):g}" if self.delays else "-"


def score(series: Series, flags: list[bool]) -> Score:
    ats = [point.at for point in series.points]
    result = Score(events=len(series.events), weeks=(ats[-1] - ats[0]) / WEEK)
    for event in series.events:
        inside = [index for index, at in enumerate(ats) if at in event]
        hits = [index for index in inside if flags[index]]
        if hits:
            result.caught += 1
            result.delays.append(hits[0] - inside[0])
        else:
            result.missed[event.kind] += 1
    for at, flagged in zip(ats, flags, strict=True):
        if flagged and not any(at in event for event in series.events + series.ignored):
            result.false_alarms += 1
    return result


# --- report ----------------------------------------------------------------------------------------------

def table(totals: dict[str, tuple[Score, Score]], daily: dict[str, bool]) -> None:
    print(f"{'scenario':41} {'events':>6} | {'caught':>13} | {'false alarms/week':>17} | {'per month':>11} | "
          f"{'median delay':>12}")
    print(f"{'':41} {'':>6} | {'demon':>6} {'z':>6} | {'demon':>8} {'z':>8} | {'demon':>5} {'z':>5} | "
          f"{'demon':>5} {'z':>6}")
    for name, (demon, z) in totals.items():
        month = f"{demon.per_month:5.2f} {z.per_month:5.2f}" if daily[name] else f"{'':5} {'':5}"
        print(f"{name:41} {demon.events:6} | {demon.caught:6} {z.caught:6} | {demon.per_week:8.2f} "
              f"{z.per_week:8.2f} | {month} | {demon.delay():>5} {z.delay():>6}")
    print("\nmissed by demon:")
    for name, (demon, _) in totals.items():
        if demon.missed:
            print(f"  {name}: " + ", ".join(f"{kind} {n}" for kind, n in sorted(demon.missed.items())))


def goals(totals: dict[str, tuple[Score, Score]], daily: dict[str, bool]) -> None:
    checks = []
    for name, (demon, z) in totals.items():
        if daily[name]:
            checks.append((f"{name}: every event caught, <= 1 false alarm/month",
                           demon.caught == demon.events and demon.per_month <= 1))
        else:
            checks.append((f"{name}: <= 1 false alarm/week", demon.per_week <= 1))
        checks.append((f"{name}: catches >= the z-score's", demon.caught >= z.caught))
        checks.append((f"{name}: false alarms <= the z-score's", demon.false_alarms <= z.false_alarms))
    demon_all, z_all = Score(), Score()
    for demon, z in totals.values():
        demon_all.add(demon)
        z_all.add(z)
    checks.append(("overall: strictly better than the z-score on catches or false alarms",
                   demon_all.caught > z_all.caught or demon_all.false_alarms < z_all.false_alarms))
    print(f"\noverall: demon caught {demon_all.caught}/{demon_all.events} with {demon_all.false_alarms} "
          f"false alarms; the z-score caught {z_all.caught}/{z_all.events} with {z_all.false_alarms}")
    print("(a point in its own training of n <= 14 has |z| <= (n - 1) / sqrt(n) <= 3.47: the z-score can "
          "hardly fire, right or wrong)")
    print("goals:")
    for text, met in checks:
        print(f"  [{'met' if met else 'NOT MET'}] {text}")


def time_replay() -> None:
    shape = Volume("a year of hourly rows", True, 5_000, 0.05, 0.04, 0.6, 0.2, 365)
    rng = random.Random(0)
    start = HOURLY_START
    points = [Point(start + HOUR * i, count(rng, expected_rows(shape, start + HOUR * i, start), shape.noise))
              for i in range(365 * 24)]
    wall, cpu = [], []
    for _ in range(3):
        began, began_cpu = time.perf_counter(), time.process_time()
        replay(points, Settings(), bucket=HOUR)
        wall.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    print(f"replay of a year of hourly points ({len(points):,}): {statistics.median(wall):.2f} s wall, "
          f"{statistics.median(cpu):.2f} s CPU (median of 3)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    totals: dict[str, tuple[Score, Score]] = {}
    daily: dict[str, bool] = {}
    for seed in range(args.seeds):
        for series in scenarios(random.Random(seed)):
            demon, z = totals.setdefault(series.name, (Score(), Score()))
            daily[series.name] = series.daily
            demon.add(score(series, demon_flags(series)))
            z.add(score(series, zscore_flags(series)))
    print(f"{args.seeds} seeds, summed; demon: replay() with default Settings; z-score: Elementary-style\n")
    table(totals, daily)
    goals(totals, daily)
    print()
    time_replay()


if __name__ == "__main__":
    main()
