"""Learned baselines: the expected range of a series' next point, learned from its own history.

For each judged point:
- training: the usable points of the `training` window before it: never the point itself, a point judged
  anomalous (flagged), or a point in an excluded window;
- season: of those the series allows and covers, the one whose slot medians best predict the window's points
  left out one at a time (mean absolute error, a small penalty per finer season). Flagged points count here,
  as the series' shape: else a run of flagged weekends would make a weekly series look seasonless, and its
  weekends would fail for ever;
- centre: the median of the point's slot; a slot with too few dates falls back to the next season;
- spread: pooled over all slots (a slot holds 4 points in 4 weeks; all of them, hundreds): the mean absolute
  leave-one-out residual, capped per residual, as a power of the level fitted on the quiet and the busy half
  (a count's noise grows as its square root, a volume's in proportion);
- band: centre +- max(sensitivity x spread, min_change x |centre|, 1 for counts), so a flat series does not
  page on its smallest possible change;
- drift: a point inside its band still fails when it and 3 of the 6 points before it, on separate days, all
  lie over 1.5 spreads on one side: a slow decline passes point by point, trains, and widens the band;
- the season ranking and pooled spreads are refit once per UTC day, the rest per point: replay() slides one
  window along the series, so a year of hourly points takes seconds, and agrees with judge() to the bit.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Literal

from checks.baselines.seasons import (
    DAY,
    SEASONS,
    WEEKLY,
    Seasonality,
    allowed,
    coarser,
    slot_keys,
    slot_label,
    slot_of,
    trained_label,
)

__all__ = ["Band", "Direction", "Point", "Seasonality", "Settings", "Verdict", "choose_seasonality", "judge",
           "replay"]

Direction = Literal["both", "drop", "spike"]
Outcome = Literal["pass", "warn", "fail", "learning"]

MAD_TO_SD = 1.4826  # MAD x this estimates the standard deviation of normal noise
L1_TO_SD = math.sqrt(math.pi / 2)  # so does the mean absolute deviation x this
MIN_SLOT_DATES = 2  # dates a slot needs before its median is the centre (its spread is pooled)
COVER_DATES = 2  # dates the typical slot of a season needs before the season may be chosen
WINSOR = 2.5  # robust deviations where a residual stops counting more (a normal residual rarely gets there)
RELEARN = 3  # usable points below which a series judged before relearns (all else was flagged)
DRIFT_RUN, DRIFT_HITS, DRIFT_Z = 7, 4, 1.5  # a drift: 4 of the last 7 points beyond 1.5 spreads, one side
YOUNG = timedelta(weeks=2)  # a weekly season needs two of each weekday
LEVELS, DEFAULT_POWER = 1.5, 0.5  # busy over quiet level needed to fit how the spread grows; else the root
PENALTY: dict[Seasonality, float] = {"none": 1.0, "hour_of_day": 1.05, "day_of_week": 1.05,
                                     "hour_of_week": 1.1}


def _utc(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class Point:
    """One observation. `at` is normalised to UTC; `flagged` marks a point judged anomalous earlier (and not
    marked expected by a user), which never trains a baseline."""

    at: datetime
    value: float
    flagged: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _utc(self.at, "Point.at"))
        if not math.isfinite(self.value):
            raise ValueError(f"Point.value must be finite, got {self.value!r}")
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class Settings:
    """The `anomaly:` block of a check."""

    seasonality: Literal["auto"] | Seasonality = "auto"
    sensitivity: float = 3.0
    warn_sensitivity: float | None = None
    direction: Direction = "both"
    min_training: int = 14
    min_change: float = 0.05
    training: timedelta = timedelta(days=28)

    def __post_init__(self) -> None:
        if self.seasonality != "auto" and self.seasonality not in SEASONS:
            raise ValueError(f"seasonality must be auto or one of {', '.join(SEASONS)}, "
                             f"got {self.seasonality!r}")
        if self.direction not in ("both", "drop", "spike"):
            raise ValueError(f"direction must be both, drop or spike, got {self.direction!r}")
        if not (math.isfinite(self.sensitivity) and self.sensitivity > 0):
            raise ValueError(f"sensitivity must be a positive number, got {self.sensitivity!r}")
        warn = self.warn_sensitivity
        if warn is not None and not (math.isfinite(warn) and 0 < warn < self.sensitivity):
            raise ValueError(f"warn_sensitivity must be positive and below sensitivity ({self.sensitivity}), "
                             f"got {warn!r}")
        if self.min_training < 1:
            raise ValueError(f"min_training must be at least 1, got {self.min_training!r}")
        if not (math.isfinite(self.min_change) and self.min_change >= 0):
            raise ValueError(f"min_change must be a non-negative fraction, got {self.min_change!r}")
        if self.training <= timedelta(0):
            raise ValueError(f"training must be a positive duration, got {self.training}")


@dataclass(frozen=True)
class Band:
    """The expected range of one point and what it was learned from. Both sides are always given; the
    settings' direction decides which side alerts."""

    expected: float
    low: float
    high: float
    warn_low: float | None
    warn_high: float | None
    season: Seasonality
    slot: str
    trained: int
    trained_label: str


@dataclass(frozen=True)
class Verdict:
    """`trained` counts the usable training points. `note` says what a learning verdict waits for ('5 of 14
    points', '9 of 14 days'), or why a point inside its band fails: a drift ('4 of the last 7 points below
    expected')."""

    outcome: Outcome
    band: Band | None
    trained: int
    note: str = ""


@dataclass
class _Slot:
    """The training values of one slot, sorted, and how many came from each UTC date."""

    values: list[float] = field(default_factory=list)
    dates: Counter[date] = field(default_factory=Counter)

    def add(self, at: datetime, value: float) -> None:
        insort(self.values, value)
        self.dates[at.date()] += 1

    def remove(self, at: datetime, value: float) -> None:
        del self.values[bisect_left(self.values, value)]
        day = at.date()
        self.dates[day] -= 1
        if not self.dates[day]:
            del self.dates[day]

    def dates_before(self, at: datetime) -> int:
        """The dates other than `at`'s: the earlier hours of the judged point's own day are not a period."""
        return len(self.dates) - (at.date() in self.dates)


class _Window:
    """The points of the training window before a judged point, oldest first: all of them (`seen`: each
    with whether it shows the series' shape, i.e. is not in an excluded window), and the usable ones by slot
    for each season allowed. judge() builds one at once, replay() slides one along the series."""

    def __init__(self, seasons: Iterable[Seasonality]) -> None:
        self.seen: deque[tuple[datetime, float, bool, bool]] = deque()
        self.points: deque[tuple[datetime, float]] = deque()
        self.slots: dict[Seasonality, dict[int, _Slot]] = {season: {} for season in seasons}
        self.negative = 0
        self.fractional = 0

    def __len__(self) -> int:
        return len(self.points)

    def add(self, at: datetime, value: float, shape: bool, usable: bool) -> None:
        self.seen.append((at, value, shape, usable))
        if not usable:
            return
        self.points.append((at, value))
        for season, slots in self.slots.items():
            key = slot_of(season, at)
            slot = slots.get(key) or slots.setdefault(key, _Slot())
            slot.add(at, value)
        self.negative += value < 0
        self.fractional += not value.is_integer()

    def drop_before(self, start: datetime) -> None:
        while self.seen and self.seen[0][0] < start:
            self.seen.popleft()
        while self.points and self.points[0][0] < start:
            at, value = self.points.popleft()
            for season, slots in self.slots.items():
                slots[slot_of(season, at)].remove(at, value)
            self.negative -= value < 0
            self.fractional -= not value.is_integer()

    def slot(self, season: Seasonality, at: datetime) -> _Slot | None:
        found = self.slots[season].get(slot_of(season, at))
        return found if found and found.values else None


_Law = tuple[float, float]  # a spread k * |centre| ** power, as (k, power)


@dataclass
class _Fit:
    """What is refit once a day: the seasons to try, best first (ending with none), and for each season how
    its spread grows with the centre, pooled over all its slots: `scale` over the usable points (None when
    too few), `wide` over all but the excluded (a thin slot's fallback: how far the season misses), from
    each season's (level, residual) pairs, sorted, on demand."""

    ranking: tuple[Seasonality, ...]
    scale: dict[Seasonality, _Law | None]
    pairs: dict[Seasonality, list[tuple[float, float]]]
    signed: bool
    wide: dict[Seasonality, _Law] = field(default_factory=dict)

    def spread(self, season: Seasonality, centre: float, fallback: bool) -> float | None:
        if fallback and season not in self.wide and len(self.pairs.get(season, ())) >= 2:
            self.wide[season] = _law(self.pairs[season], False, self.signed)
        law = self.wide.get(season) if fallback else self.scale[season]
        return None if law is None else law[0] * math.pow(abs(centre), law[1])


_Seen = tuple[datetime, float, bool]  # a point of the window: time, value, usable


def _median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _median_without(ordered: Sequence[float], value: float) -> float:
    """The median of a sorted sequence less one occurrence of `value`, without copying it."""
    gone = bisect_left(ordered, value)
    middle, odd = divmod(len(ordered) - 1, 2)
    upper = ordered[middle if middle < gone else middle + 1]
    if odd:
        return upper
    lower = ordered[middle - 1 if middle - 1 < gone else middle]
    return (lower + upper) / 2


def _medians_without(ordered: list[float], values: Iterable[float]) -> list[float]:
    """_median_without(ordered, value) for each value (each one of `ordered`) at once: a fit's hot loop.
    Leaving one out of n sorted values leaves one of three medians, by where the value sits."""
    size = len(ordered)
    if size % 2:  # an even number left
        half = size // 2
        above = (ordered[half - 1] + ordered[half]) / 2
        at = (ordered[half - 1] + ordered[half + 1]) / 2
        below = (ordered[half] + ordered[half + 1]) / 2
        low, mid = ordered[half - 1], ordered[half]
        return [below if value <= low else at if value <= mid else above for value in values]
    half = size // 2 - 1
    low, below, above = ordered[half], ordered[half + 1], ordered[half]
    return [below if value <= low else above for value in values]


def _predictions(points: Sequence[_Seen], days: list[date], keys: list[int], overall: list[float]
                 ) -> tuple[list[float], list[float], list[int]]:
    """Each point's predictions when left out, by the median of its slot's usable points from other dates
    (failing those, `overall`): an anomaly is never an expectation. For ranking, a slot without usable points
    is predicted by its flagged ones instead: the only trace left of a weekday whose points were all flagged.
    And the dates each slot has seen."""
    members: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        members.setdefault(key, []).append(index)
    expected, ranked = list(overall), list(overall)
    dates = []
    for indices in members.values():
        seen_days = {days[i] for i in indices}
        dates.append(len(seen_days))
        trained = [i for i in indices if points[i][2]]
        trained_days = {days[i] for i in trained}
        ordered = sorted(points[i][1] for i in trained)
        orphans = []
        if len(trained_days) > 1:  # each trained point has a date besides its own
            for i, predicted in zip(trained, _medians_without(ordered, (points[i][1] for i in trained)),
                                    strict=True):
                expected[i] = ranked[i] = predicted
        else:
            orphans += trained
        for i in indices:
            if not points[i][2]:
                if len(trained_days) - (days[i] in trained_days):
                    expected[i] = ranked[i] = _median(ordered)
                else:
                    orphans.append(i)
        if orphans and len(seen_days) > 1:  # no usable point from another date: the flagged ones rank it
            everything = sorted(points[i][1] for i in indices)
            for i, predicted in zip(orphans, _medians_without(everything, (points[i][1] for i in orphans)),
                                    strict=True):
                ranked[i] = predicted
    return expected, ranked, dates


def _overall(points: Sequence[_Seen]) -> list[float]:
    """Each point's prediction by the median of all the others (usable ones where there are any)."""
    usable = sorted(value for _, value, ok in points if ok)
    if len(usable) < 2:
        seen = sorted(value for _, value, _ in points)
        return [_median(usable) if usable and not ok else _median_without(seen, value)
                for _, value, ok in points]
    centre = _median(usable)
    left_out = iter(_medians_without(usable, (value for _, value, ok in points if ok)))
    return [next(left_out) if ok else centre for _, _, ok in points]


def _pooled(errors: list[float], robust: bool) -> float:
    """The spread of leave-one-out residuals from their mean absolute value: it uses the few residuals a
    window has nearly twice as well as the MAD. `robust` caps each at WINSOR robust deviations first, so a
    slow decline that trained a little cannot widen the band as it goes."""
    if robust:
        cap = WINSOR * MAD_TO_SD * _median(sorted(errors))
        errors = [error if error < cap else cap for error in errors]
    return L1_TO_SD * math.fsum(errors) / len(errors)


def _law(pairs: list[tuple[float, float]], robust: bool, signed: bool) -> _Law:
    """How the spread of residuals grows with the level, from (|prediction|, residual) pairs sorted by level:
    a power law through the spreads of the quieter and the busier half (a count's noise grows as its square
    root, a volume's in proportion, a duration's hardly), the power kept between 0 and 1. A signed series
    gets a constant spread; one whose levels are too alike to tell, the square root."""
    errors = [error for _, error in pairs]
    if signed:
        return _pooled(errors, robust), 0.0
    half = len(pairs) // 2
    levels = [level for level, _ in pairs]
    low, high = (_median(levels[:half]) if half else 0.0), _median(levels[half:])
    if not high:  # mostly empty: levels say nothing
        return _pooled(errors, robust), 0.0
    power = DEFAULT_POWER
    if half >= RELEARN and low and high >= LEVELS * low:  # a few points a side, and levels apart
        spread_low, spread_high = _pooled(errors[:half], robust), _pooled(errors[half:], robust)
        if spread_low and spread_high:
            power = min(1.0, max(0.0, math.log(spread_high / spread_low) / math.log(high / low)))
    scaled = [error / level ** power for level, error in pairs if level]
    return (_pooled(scaled, robust) if scaled else 0.0), power


def _fit(points: Sequence[_Seen], seasons: Sequence[Seasonality]) -> _Fit:
    """Rank the seasons on every point given (flagged ones too: they show the series' shape) by penalised
    leave-one-out error, among those the points cover (their typical slot has seen COVER_DATES dates);
    pool each season's spread over the usable points, and its wide spread over all. Exact sums: the same
    points in any order give the same fit, so judge() and replay() agree to the last bit."""
    if len(points) < 2:
        return _Fit(("none",), dict.fromkeys(seasons), {}, False)
    days = [at.date() for at, _, _ in points]
    weekdays, hours = [day.weekday() for day in days], [at.hour for at, _, _ in points]
    overall = _overall(points)
    values = [value for _, value, _ in points]
    scores: dict[Seasonality, float] = {}
    residuals: dict[Seasonality, tuple[list[float], list[float]]] = {}
    for season in seasons:
        expected, ranked, dates = (overall, overall, []) if season == "none" else \
            _predictions(points, days, slot_keys(season, weekdays, hours), overall)
        errors = [abs(value - predicted) for value, predicted in zip(values, expected, strict=True)]
        residuals[season] = errors, expected
        if season == "none" or (len(dates) >= 2 and _median(sorted(dates)) >= COVER_DATES):
            ranking_errors = errors if ranked == expected else \
                [abs(value - predicted) for value, predicted in zip(values, ranked, strict=True)]
            scores[season] = math.fsum(ranking_errors) / len(ranking_errors) * PENALTY[season]
    ranking = tuple(sorted(scores, key=scores.__getitem__))
    signed = min(values) < 0
    pairs: dict[Seasonality, list[tuple[float, float]]] = {}
    scale: dict[Seasonality, _Law | None] = {}
    usable = [ok for _, _, ok in points]
    for season, (errors, predictions) in residuals.items():
        by_level = sorted(zip((abs(predicted) for predicted in predictions), errors, usable, strict=True))
        pairs[season] = [(level, error) for level, error, _ in by_level]
        trained = pairs[season] if all(usable) else [(level, error) for level, error, ok in by_level if ok]
        scale[season] = _law(trained, True, signed) if len(trained) >= RELEARN else None
    return _Fit(ranking, scale, pairs, signed)


def _epoch(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _daily_fit(at: datetime, window: _Window, settings: Settings, seasons: Sequence[Seasonality]) -> _Fit:
    """The fit of `at`'s UTC day, from the points that stay in the training window all that day: every
    point of the day sees the same fit, and replay() refits once a day."""
    end = _epoch(at)
    start = end + DAY - settings.training
    return _fit([(seen, value, usable) for seen, value, shape, usable in window.seen
                 if start <= seen < end and shape], seasons)


def _candidates(fit: _Fit, settings: Settings) -> tuple[Seasonality, ...]:
    if settings.seasonality == "auto":
        return fit.ranking
    chosen = settings.seasonality
    return (chosen, *(season for season in fit.ranking if season in coarser(chosen)))


def _waiting(point: Point, first: datetime, window: _Window, settings: Settings) -> str:
    """What a learning point waits for, or ''. First min_training points; a series judged before and whose
    window was then all flagged (a lasting change nobody marked expected) relearns below RELEARN usable
    points. Where a weekly season may be learned, also a series two weeks old (from its first point): a new
    check's first weekends are learned, not paged, for once paged they would never train."""
    needed = settings.min_training if len(window.seen) < settings.min_training else \
        min(RELEARN, settings.min_training)
    if len(window) < needed:
        return f"{len(window)} of {needed} points"
    seasonality = settings.seasonality
    weekly = seasonality in WEEKLY or (seasonality == "auto" and "day_of_week" in window.slots)
    age = point.at - first
    if weekly and settings.training > YOUNG and age < YOUNG:
        return f"{age.days} of {YOUNG.days} days"
    return ""


def _slot(at: datetime, window: _Window, fit: _Fit, settings: Settings) -> tuple[Seasonality, _Slot, bool]:
    """The first candidate season whose slot for the point has MIN_SLOT_DATES dates (and whether it is a
    fallback); none as the last resort (its one slot is the whole window)."""
    candidates = _candidates(fit, settings)
    for season in candidates:
        slot = window.slot(season, at)
        if slot and slot.dates_before(at) >= MIN_SLOT_DATES:
            return season, slot, season != candidates[0]
    whole = window.slot("none", at)
    assert whole is not None  # the window is not empty: _waiting() saw to that
    return "none", whole, candidates[0] != "none"


@dataclass(frozen=True)
class _Expected:
    """What the model expects at one time: the season and slot used, the centre, the spread, and the floor
    of a band's half-width (min_change of the centre; 1 for a count, which cannot change by less)."""

    season: Seasonality
    slot: _Slot
    centre: float
    spread: float
    floor: float

    def half_width(self, sensitivity: float) -> float:
        return max(sensitivity * self.spread, self.floor)

    def side(self, value: float, sensitivity: float, direction: Direction) -> int:
        """-1 below the band of this sensitivity, 1 above, 0 inside or on a side `direction` ignores."""
        half = self.half_width(sensitivity)
        if direction != "spike" and value < self.centre - half:
            return -1
        return 1 if direction != "drop" and value > self.centre + half else 0


def _expect(at: datetime, value: float, trained: bool, window: _Window, fit: _Fit, settings: Settings
            ) -> _Expected:
    """The expectation at `at`; `trained` when the point is in the window, whose slot then leaves it out."""
    season, slot, fallback = _slot(at, window, fit, settings)
    values = slot.values
    centre = _median_without(values, value) if trained and len(values) > 1 else _median(values)
    spread = fit.spread(season, centre, fallback)
    if spread is None:  # too few points before today to pool (a young series, a short window): the slot's own
        spread = MAD_TO_SD * _median(sorted(abs(other - centre) for other in values))
    floor = max(settings.min_change * abs(centre), 0.0 if window.fractional else 1.0)
    return _Expected(season, slot, centre, spread, floor)


def _drift(point: Point, expected: _Expected, window: _Window, fit: _Fit, settings: Settings) -> str:
    """A slow change no single point shows: this point and DRIFT_HITS - 1 of the DRIFT_RUN - 1 before it
    (flagged or not, each on its own date) beyond DRIFT_Z spreads on the same side of what the model now
    expects of each. A slow decline that trained a little would otherwise drag its baseline down with it."""
    side = expected.side(point.value, DRIFT_Z, settings.direction)
    if not side:
        return ""
    recent = list(islice(((at, value, usable) for at, value, shape, usable in reversed(window.seen) if shape),
                         DRIFT_RUN - 1))
    if len({at.date() for at, _, _ in recent} | {point.at.date()}) < DRIFT_RUN:
        return ""  # the hours of a day share its luck: a drift is told apart over separate days
    hits = 1 + sum(_expect(at, value, usable, window, fit, settings).side(value, DRIFT_Z, settings.direction)
                   == side for at, value, usable in recent)
    if hits < DRIFT_HITS:
        return ""
    return f"{hits} of the last {len(recent) + 1} points {'below' if side < 0 else 'above'} expected"


def _band(point: Point, expected: _Expected, window: _Window, settings: Settings) -> Band:
    fail = expected.half_width(settings.sensitivity)
    warn = None if settings.warn_sensitivity is None else expected.half_width(settings.warn_sensitivity)
    bottom = 0.0 if not window.negative else -math.inf
    centre, season, slot = expected.centre, expected.season, expected.slot
    key = slot_of(season, point.at)
    return Band(
        expected=centre,
        low=max(centre - fail, bottom),
        high=centre + fail,
        warn_low=None if warn is None else max(centre - warn, bottom),
        warn_high=None if warn is None else centre + warn,
        season=season,
        slot=slot_label(season, key),
        trained=len(slot.values),
        trained_label=trained_label(season, key, len(slot.values), len(slot.dates)),
    )


def _outcome(value: float, band: Band, direction: Direction) -> Outcome:
    def outside(low: float, high: float) -> bool:
        return (direction != "spike" and value < low) or (direction != "drop" and value > high)

    if outside(band.low, band.high):
        return "fail"
    if band.warn_low is not None and band.warn_high is not None and outside(band.warn_low, band.warn_high):
        return "warn"
    return "pass"


def _verdict(point: Point, first: datetime, window: _Window, fit: _Fit, settings: Settings) -> Verdict:
    waiting = _waiting(point, first, window, settings)
    if waiting:
        return Verdict("learning", None, len(window), waiting)
    expected = _expect(point.at, point.value, False, window, fit, settings)
    band = _band(point, expected, window, settings)
    outcome = _outcome(point.value, band, settings.direction)
    drift = "" if outcome == "fail" else _drift(point, expected, window, fit, settings)
    return Verdict("fail" if drift else outcome, band, len(window), drift)


def _seasons(settings: Settings, bucket: timedelta | None) -> tuple[Seasonality, ...]:
    if bucket is not None and bucket <= timedelta(0):
        raise ValueError(f"bucket must be a positive duration, got {bucket}")
    seasons = allowed(bucket)
    if settings.seasonality != "auto" and settings.seasonality not in seasons:
        raise ValueError(f"seasonality {settings.seasonality} needs buckets finer than {bucket}")
    return seasons


def _windows(excluded: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    windows = []
    for start, end in excluded:
        start, end = _utc(start, "an excluded window's start"), _utc(end, "an excluded window's end")
        if end <= start:
            raise ValueError(f"an excluded window must end after it starts: {start} - {end}")
        windows.append((start, end))
    return windows


def _excluded(at: datetime, windows: list[tuple[datetime, datetime]]) -> bool:
    return any(start <= at < end for start, end in windows)


def judge(point: Point, history: Sequence[Point], settings: Settings, *, bucket: timedelta | None = None,
          excluded: Sequence[tuple[datetime, datetime]] = ()) -> Verdict:
    """Judge `point` against the points of `history` in the training window before it (pass at least
    those; the rest is ignored, except the oldest point, which dates the series). `bucket` is the series'
    bucket size, None for a series of runs, whose slots are the hours their points fall in."""
    seasons = _seasons(settings, bucket)
    windows = _windows(excluded)
    start = point.at - settings.training
    window = _Window(seasons)
    for seen in sorted((p for p in history if start <= p.at < point.at), key=lambda p: p.at):
        out = _excluded(seen.at, windows)
        window.add(seen.at, seen.value, not out, not (out or seen.flagged))
    first = min((p.at for p in history if p.at < point.at), default=point.at)
    return _verdict(point, first, window, _daily_fit(point.at, window, settings, seasons), settings)


def replay(series: Sequence[Point], settings: Settings, *, bucket: timedelta | None = None,
           excluded: Sequence[tuple[datetime, datetime]] = (),
           expected: Collection[datetime] = ()) -> list[Verdict]:
    """Backtest: each point judged, oldest first, as judge() would have when it was the latest; the verdicts
    line up with `series`. The input's `flagged` is ignored: a point this replay fails does not train later
    ones unless its time is in `expected`. A warn does train: it is within normal variation, and leaving
    warns out would narrow the band, page after page."""
    seasons = _seasons(settings, bucket)
    windows = _windows(excluded)
    keep = {_utc(at, "an expected time") for at in expected}
    order = sorted(range(len(series)), key=lambda i: series[i].at)
    verdicts: dict[int, Verdict] = {}
    window = _Window(seasons)
    pending: deque[tuple[Point, bool, bool]] = deque()  # judged, waiting for a later point to train
    day, fit = None, _fit((), seasons)
    for index in order:
        point = series[index]
        while pending and pending[0][0].at < point.at:
            done, shape, usable = pending.popleft()
            window.add(done.at, done.value, shape, usable)
        window.drop_before(point.at - settings.training)
        if _epoch(point.at) != day:
            day, fit = _epoch(point.at), _daily_fit(point.at, window, settings, seasons)
        verdict = verdicts[index] = _verdict(point, series[order[0]].at, window, fit, settings)
        out = _excluded(point.at, windows)
        pending.append((point, not out, not out and (verdict.outcome != "fail" or point.at in keep)))
    return [verdicts[index] for index in range(len(series))]


def choose_seasonality(history: Sequence[Point], bucket: timedelta | None) -> Seasonality:
    """The season that best explains `history` (flagged points too: they show its shape) among those
    `bucket` allows and the history covers: the one judge() tries first."""
    points = [(point.at, point.value, not point.flagged) for point in history]
    return _fit(points, _seasons(Settings(), bucket)).ranking[0]
