"""Learned baselines (checks.baselines.model): what trains, what is judged, and how bands read."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from checks.baselines.model import Point, Settings, Verdict, choose_seasonality, judge, replay
from checks.baselines.seasons import slot_label, trained_label

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)


def daily(values: list[float], start: datetime = MONDAY) -> list[Point]:
    return [Point(start + DAY * i, value) for i, value in enumerate(values)]


def weekly(days: int, seed: int = 1, noise: float = 0.03) -> list[Point]:
    """Daily rows with a weekend dip to 55%."""
    rng = random.Random(seed)
    return daily([round(1000 * (0.55 if i % 7 >= 5 else 1.0) * rng.gauss(1, noise)) for i in range(days)])


def noise(days: int, seed: int = 2) -> list[Point]:
    rng = random.Random(seed)
    return daily([round(rng.gauss(1000, 30)) for _ in range(days)])


def weekday_gaps(weeks: int, start: datetime = MONDAY) -> list[Point]:
    """Freshness as the check sees it: a point per gap between loads, at the earlier load, valued in seconds.
    Loads at :05 of every hour on weekdays, none at weekends."""
    loads = [start + DAY * d + HOUR * h + timedelta(minutes=5) for d in range(weeks * 7) for h in range(24)
             if (start + DAY * d).weekday() < 5]
    return [Point(a, (b - a).total_seconds()) for a, b in itertools.pairwise(loads)]


def fails(verdict: Verdict) -> bool:
    return verdict.outcome == "fail"


# --- learning -----------------------------------------------------------------------------------------

def test_learning_until_min_training_usable_points() -> None:
    history = weekly(13)
    verdict = judge(Point(MONDAY + 13 * DAY, 1000), history, Settings())
    assert (verdict.outcome, verdict.band, verdict.trained) == ("learning", None, 13)
    assert verdict.note == "13 of 14 points"
    judged = judge(Point(MONDAY + 14 * DAY, 1000), weekly(14), Settings())
    assert judged.outcome == "pass" and judged.trained == 14 and judged.band is not None


def test_empty_history_is_learning() -> None:
    verdict = judge(Point(MONDAY, 5), [], Settings())
    assert (verdict.outcome, verdict.trained, verdict.note) == ("learning", 0, "0 of 14 points")


def test_a_young_hourly_series_learns_its_first_two_weeks_where_weekly_seasons_may_apply() -> None:
    history = [Point(MONDAY + HOUR * i, 100) for i in range(24 * 5)]  # Monday to Friday
    saturday = Point(MONDAY + 5 * DAY + 10 * HOUR, 40)
    verdict = judge(saturday, history, Settings(), bucket=HOUR)
    assert (verdict.outcome, verdict.note) == ("learning", "5 of 14 days")
    assert fails(judge(saturday, history, Settings(seasonality="hour_of_day"), bucket=HOUR))


def test_flagged_points_do_not_count_as_training() -> None:
    history = [Point(p.at, p.value, flagged=i % 2 == 0) for i, p in enumerate(weekly(20))]
    verdict = judge(Point(MONDAY + 20 * DAY, 1000), history, Settings())
    assert verdict.outcome == "pass" and verdict.trained == 10


# --- what never trains --------------------------------------------------------------------------------

def test_a_huge_spike_fails_and_the_point_itself_never_trains() -> None:
    history = weekly(35)
    spike = Point(MONDAY + 35 * DAY, 50_000)
    alone = judge(spike, history, Settings())
    with_itself = judge(spike, [*history, spike], Settings())
    assert fails(alone) and alone == with_itself


def test_points_at_or_after_the_judged_one_and_before_the_window_are_ignored() -> None:
    history = weekly(60)
    point = Point(MONDAY + 45 * DAY, 1000)
    window = [p for p in history if point.at - timedelta(days=28) <= p.at < point.at]
    assert judge(point, history, Settings()).band == judge(point, window, Settings()).band


def test_flagged_and_excluded_points_never_train() -> None:
    clean = noise(30)
    point = Point(MONDAY + 30 * DAY, 1000)
    settings = Settings(seasonality="none")
    baseline = judge(point, clean, settings)
    outliers = [Point(MONDAY + DAY * i + HOUR, 9_000) for i in (10, 20, 25)]
    flagged = [Point(p.at, p.value, flagged=True) for p in outliers]
    assert judge(point, [*clean, *flagged], settings).band == baseline.band
    windows = [(p.at, p.at + HOUR) for p in outliers]
    assert judge(point, [*clean, *outliers], settings, excluded=windows).band == baseline.band
    trained = judge(point, [*clean, *outliers], settings)
    assert trained.band != baseline.band and trained.trained == baseline.trained + 3


# --- bands --------------------------------------------------------------------------------------------

def test_a_flat_series_passes_a_tiny_change_and_fails_a_big_one() -> None:
    flat = daily([1000] * 30)
    at = MONDAY + 30 * DAY
    assert judge(Point(at, 1010), flat, Settings()).outcome == "pass"  # 1% < min_change
    assert judge(Point(at, 960), flat, Settings()).outcome == "pass"
    assert fails(judge(Point(at, 1100), flat, Settings()))
    band = judge(Point(at, 1000), flat, Settings()).band
    assert band is not None and (band.low, band.high) == (950, 1050)


def test_a_count_stuck_at_zero_does_not_page_on_a_single_row() -> None:
    zeros = daily([0] * 30)
    at = MONDAY + 30 * DAY
    assert judge(Point(at, 1), zeros, Settings()).outcome == "pass"
    assert fails(judge(Point(at, 3), zeros, Settings()))


def test_a_fractional_flat_series_has_no_count_floor() -> None:
    flat = daily([0.25] * 30)
    band = judge(Point(MONDAY + 30 * DAY, 0.25), flat, Settings()).band
    assert band is not None and band.high == pytest.approx(0.2625)


def test_direction_decides_which_side_alerts() -> None:
    history = noise(40)
    at = MONDAY + 40 * DAY
    low, high = Point(at, 400), Point(at, 2000)
    assert fails(judge(low, history, Settings())) and fails(judge(high, history, Settings()))
    assert fails(judge(low, history, Settings(direction="drop")))
    assert judge(high, history, Settings(direction="drop")).outcome == "pass"
    assert judge(low, history, Settings(direction="spike")).outcome == "pass"
    assert fails(judge(high, history, Settings(direction="spike")))


def test_warn_between_the_warn_band_and_the_fail_band() -> None:
    history = noise(40)
    settings = Settings(warn_sensitivity=2)
    band = judge(Point(MONDAY + 40 * DAY, 1000), history, settings).band
    assert band is not None and band.warn_low is not None and band.warn_high is not None
    assert band.low < band.warn_low < band.expected < band.warn_high < band.high
    between = (band.warn_high + band.high) / 2
    assert judge(Point(MONDAY + 40 * DAY, between), history, settings).outcome == "warn"
    assert judge(Point(MONDAY + 40 * DAY, between), history, Settings()).outcome == "pass"
    assert Settings().warn_sensitivity is None and band.warn_low > 0


def test_a_non_negative_series_is_clipped_at_zero_a_signed_one_is_not() -> None:
    rng = random.Random(3)
    counts = daily([max(0, round(rng.gauss(5, 4))) for _ in range(40)])
    band = judge(Point(MONDAY + 40 * DAY, 5), counts, Settings()).band
    assert band is not None and band.low == 0
    signed = daily([rng.gauss(0, 4) for _ in range(40)])
    band = judge(Point(MONDAY + 40 * DAY, 0), signed, Settings()).band
    assert band is not None and band.low < 0


def test_points_inside_their_band_fail_as_a_drift_when_four_of_seven_sit_low() -> None:
    wiggle = [0, 30, -30, 45, -45, 15, -15]
    steady = daily([1000 + wiggle[i % 7] for i in range(42)])
    low = [Point(MONDAY + DAY * (42 + k), 925) for k in range(4)]  # 7.5% low: inside the band, 3 spreads wide
    verdicts = replay([*steady, *low], Settings(seasonality="none"))
    assert [v.outcome for v in verdicts[42:]] == ["pass", "pass", "pass", "fail"]
    last = verdicts[-1]
    assert last.band is not None and last.band.low < 925 < last.band.high
    assert last.note == "4 of the last 7 points below expected"
    spikes_only = Settings(seasonality="none", direction="spike")
    assert judge(low[-1], [*steady, *low[:-1]], spikes_only).outcome == "pass"


def test_hours_of_one_day_are_no_drift() -> None:
    rng = random.Random(5)
    hours = [Point(MONDAY + HOUR * i, round(1000 * rng.gauss(1, 0.03))) for i in range(24 * 30)]
    low_day = [Point(MONDAY + 30 * DAY + HOUR * h, 930) for h in range(8)]
    verdicts = replay([*hours, *low_day], Settings(seasonality="none"), bucket=HOUR)
    assert [v.outcome for v in verdicts[-8:]] == ["pass"] * 8


# --- seasons ------------------------------------------------------------------------------------------

def test_auto_picks_day_of_week_on_a_weekly_daily_series_and_none_on_noise() -> None:
    assert choose_seasonality(weekly(28), DAY) == "day_of_week"
    assert choose_seasonality(noise(28), DAY) == "none"
    assert choose_seasonality(noise(28), None) == "none"


def test_auto_picks_hour_of_week_for_hourly_loads_on_weekdays() -> None:
    assert choose_seasonality(weekday_gaps(4), None) == "hour_of_week"


def test_hour_seasons_need_buckets_of_an_hour_at_most() -> None:
    hourly_shape = [Point(MONDAY + HOUR * i, 100 if 8 <= i % 24 < 18 else 10) for i in range(24 * 28)]
    assert choose_seasonality(hourly_shape, HOUR) == "hour_of_day"
    assert choose_seasonality(hourly_shape, DAY) == "none"
    with pytest.raises(ValueError, match="hour_of_day needs buckets finer than 1 day"):
        judge(Point(MONDAY + 28 * DAY, 1), weekly(28), Settings(seasonality="hour_of_day"), bucket=DAY)


def test_a_table_loaded_hourly_on_weekdays_is_not_late_on_saturday() -> None:
    gaps = weekday_gaps(5)
    last_load = gaps[-1].at + timedelta(seconds=gaps[-1].value)  # Friday 23:05 of week 5
    assert last_load.weekday() == 4 and last_load.hour == 23
    freshness = Settings(direction="spike")

    def open_gap(now: datetime) -> Verdict:
        return judge(Point(last_load, (now - last_load).total_seconds()), gaps, freshness)

    saturday, sunday_night = last_load + timedelta(hours=13), last_load + timedelta(hours=48)
    monday_late = last_load + timedelta(hours=53)  # the 00:05 load is 4 hours late
    assert open_gap(saturday).outcome == "pass"
    assert open_gap(sunday_night).outcome == "pass"
    assert fails(open_gap(monday_late))
    verdict = open_gap(saturday)
    assert verdict.band is not None and verdict.band.season == "hour_of_week"
    assert verdict.band.trained_label == "4 Fridays at 23:00"
    tuesday_late = Point(last_load - 3 * DAY - 10 * HOUR, 3 * 3600)  # Tuesday 13:05, 3 hours without a load
    assert fails(judge(tuesday_late, [p for p in gaps if p.at < tuesday_late.at], freshness))


def test_a_thin_slot_falls_back_to_a_coarser_season() -> None:
    history = weekly(35)
    mondays = [p for p in history if p.at.weekday() == 0][-3:]
    thinned = [Point(p.at, p.value, flagged=p in mondays) for p in history]
    verdict = judge(Point(MONDAY + 35 * DAY, 1000), thinned, Settings(), bucket=DAY)
    assert verdict.band is not None and verdict.band.season == "none" and verdict.band.slot == ""


# --- labels -------------------------------------------------------------------------------------------

def test_slot_labels_and_what_trained_them() -> None:
    assert slot_label("hour_of_week", 9) == "09:00-10:00 Mon"
    assert slot_label("hour_of_week", 6 * 24 + 23) == "23:00-00:00 Sun"
    assert (slot_label("day_of_week", 0), slot_label("hour_of_day", 9), slot_label("none", 0)) == \
        ("Mon", "09:00-10:00", "")
    assert trained_label("day_of_week", 0, 8, 8) == "8 Mondays"
    assert trained_label("hour_of_day", 9, 28, 28) == "28 days at 09:00"
    assert trained_label("hour_of_week", 9, 8, 8) == "8 Mondays at 09:00"
    assert trained_label("none", 0, 14, 14) == "14 points"
    assert trained_label("day_of_week", 2, 1, 1) == "1 Wednesday"
    assert trained_label("day_of_week", 0, 96, 4) == "96 points on 4 Mondays"


def test_a_band_names_its_slot_and_training() -> None:
    verdict = judge(Point(MONDAY + 35 * DAY, 1000), weekly(35), Settings(), bucket=DAY)
    assert verdict.band is not None
    assert (verdict.band.season, verdict.band.slot, verdict.band.trained, verdict.band.trained_label) == \
        ("day_of_week", "Mon", 4, "4 Mondays")
    assert verdict.trained == 28


# --- replay -------------------------------------------------------------------------------------------

def test_replay_judges_every_point_in_input_order_and_agrees_with_judge() -> None:
    series = weekly(70)
    series[50] = Point(series[50].at, 20_000)  # a spike the replay fails
    verdicts = replay(series, Settings(), bucket=DAY)
    assert len(verdicts) == len(series)
    assert [v.outcome for v in verdicts[:14]] == ["learning"] * 14
    assert fails(verdicts[50])
    history = [Point(p.at, p.value, flagged=fails(v)) for p, v in zip(series[:-1], verdicts, strict=False)]
    assert verdicts[-1] == judge(series[-1], history, Settings(), bucket=DAY)
    shuffled = list(reversed(series))
    assert replay(shuffled, Settings(), bucket=DAY) == list(reversed(verdicts))


@pytest.mark.parametrize("index", [24 * 30 + 10, 24 * 37 + 3, 24 * 42 - 1])
def test_replay_agrees_with_judge_on_an_hourly_series_with_failures(index: int) -> None:
    rng = random.Random(6)
    shape = [(300 if 8 <= i % 24 < 20 else 60) * (0.6 if i // 24 % 7 >= 5 else 1) for i in range(24 * 42)]
    series = [Point(MONDAY + HOUR * i, round(level * rng.gauss(1, 0.05))) for i, level in enumerate(shape)]
    for i in range(24 * 30, 24 * 30 + 6):
        series[i] = Point(series[i].at, 0)
    verdicts = replay(series, Settings(), bucket=HOUR)
    assert any(fails(v) for v in verdicts[24 * 30: 24 * 30 + 6])
    history = [Point(p.at, p.value, flagged=fails(v)) for p, v in zip(series[:index], verdicts, strict=False)]
    assert verdicts[index] == judge(series[index], history, Settings(), bucket=HOUR)


def test_a_point_the_replay_fails_does_not_train_unless_expected() -> None:
    series = noise(40)
    spike_at = series[30].at
    series[30] = Point(spike_at, 9_000, flagged=False)
    settings = Settings(seasonality="none")
    plain = replay(series, settings)
    kept = replay(series, settings, expected=[spike_at])
    assert fails(plain[30]) and fails(kept[30])
    assert plain[31].trained == kept[31].trained - 1
    clean = replay([p for i, p in enumerate(series) if i != 30], settings)
    assert plain[31].band == clean[30].band


def test_replay_ignores_the_inputs_flags() -> None:
    series = noise(40)
    flagged = [Point(p.at, p.value, flagged=True) for p in series]
    assert replay(flagged, Settings()) == replay(series, Settings())


# --- bad input ----------------------------------------------------------------------------------------

def test_naive_times_are_refused_and_other_zones_become_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Point(datetime(2026, 1, 5, 9), 1)
    assert Point(datetime(2026, 1, 5, 10, tzinfo=timezone(HOUR)), 1).at == datetime(2026, 1, 5, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        judge(Point(MONDAY, 1), [], Settings(), excluded=[(datetime(2026, 1, 1), datetime(2026, 1, 2))])
    with pytest.raises(ValueError, match="timezone-aware"):
        replay([], Settings(), expected=[datetime(2026, 1, 1)])


@pytest.mark.parametrize(
    "fields",
    [
        {"sensitivity": 0},
        {"sensitivity": -1},
        {"sensitivity": float("nan")},
        {"warn_sensitivity": 3},
        {"warn_sensitivity": 0},
        {"min_training": 0},
        {"min_change": -0.1},
        {"training": timedelta(0)},
        {"seasonality": "monthly"},
        {"direction": "up"},
    ],
)
def test_bad_settings_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Settings(**fields)  # type: ignore[arg-type]


def test_bad_points_windows_and_buckets_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        Point(MONDAY, float("inf"))
    with pytest.raises(ValueError, match="end after it starts"):
        judge(Point(MONDAY, 1), [], Settings(), excluded=[(MONDAY, MONDAY)])
    with pytest.raises(ValueError, match="bucket"):
        judge(Point(MONDAY, 1), [], Settings(), bucket=timedelta(0))


def test_replay_of_nothing_is_nothing() -> None:
    assert replay([], Settings()) == []
