"""Check kinds judge observations: thresholds, baselines, snapshots and odd values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from checks.kinds import KINDS, Context
from checks.kinds.freshness import FreshnessParams
from checks.kinds.metric import MetricParams
from checks.kinds.schema import SchemaParams
from checks.kinds.volume import VolumeParams
from checks.probes import Answers, Column, Columns, MaxValue, RowCount, ScalarQuery
from monitor.core.config.models import DatasetConfig
from monitor.core.results import Evaluation, Outcome

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATASET = DatasetConfig(source="warehouse", table="analytics.t")


def judge(kind: str, params: Any, observed: dict[Any, Any], **context: Any) -> Evaluation:
    return KINDS[kind].evaluate(params, Answers(observed), Context(DATASET, NOW, **context))


def details(evaluation: Evaluation) -> dict[str, Any]:
    """The evidence as results show it (JSON `details`)."""
    return evaluation.evidence.dump() if evaluation.evidence is not None else {}


def freshness(newest: Any, rows: int = 10) -> Evaluation:
    params = FreshnessParams.model_validate({"column": "loaded_at", "warn_after": "2h", "fail_after": "6h"})
    return judge("freshness", params, {MaxValue("loaded_at"): newest, RowCount(): rows})


@pytest.mark.parametrize(
    ("age", "outcome"),
    [
        (timedelta(minutes=30), Outcome.PASS),
        (timedelta(hours=3), Outcome.WARN),
        (timedelta(hours=7), Outcome.FAIL),
    ],
)
def test_freshness_thresholds(age: timedelta, outcome: Outcome) -> None:
    result = freshness(NOW - age)
    assert result.outcome == outcome
    assert result.value == pytest.approx(age.total_seconds())
    assert result.thresholds == {"warn_after": 7200.0, "fail_after": 21600.0}


def test_freshness_message_names_column_age_and_threshold() -> None:
    assert freshness(NOW - timedelta(hours=3)).message == "newest loaded_at is 3h old (warn after 2h)"


def test_naive_timestamps_are_utc_and_aware_ones_are_converted() -> None:
    naive = freshness((NOW - timedelta(hours=3)).replace(tzinfo=None))
    new_york = freshness((NOW - timedelta(hours=3)).astimezone(timezone(timedelta(hours=-5))))
    assert naive.value == new_york.value == pytest.approx(3 * 3600)


def test_a_date_is_its_midnight_utc() -> None:
    assert freshness(date(2026, 11, 23)).value == pytest.approx(12 * 3600)


def test_empty_dataset_fails_freshness() -> None:
    result = freshness(None, rows=0)
    assert result.outcome == Outcome.FAIL
    assert "empty" in result.message


def test_all_null_column_fails_freshness_saying_so() -> None:
    result = freshness(None, rows=5)
    assert result.outcome == Outcome.FAIL
    assert "NULL in every row" in result.message


def test_a_future_timestamp_is_age_zero_and_flagged() -> None:
    result = freshness(NOW + timedelta(minutes=5))
    assert result.value == 0.0
    assert details(result)["future"] is True
    assert result.message == "newest loaded_at is 5m in the future"


def test_a_non_time_newest_value_is_an_error() -> None:
    assert freshness("yesterday").outcome == Outcome.ERROR


def volume(rows: float, baseline: float | None = None, **params: Any) -> Evaluation:
    return judge("volume", VolumeParams.model_validate(params), {RowCount(): rows}, baseline=baseline)


@pytest.mark.parametrize(
    ("rows", "outcome"),
    [
        (6000, Outcome.PASS),
        (4000, Outcome.WARN),
        (999, Outcome.FAIL),
        (20001, Outcome.FAIL),
        (15001, Outcome.WARN),
    ],
)
def test_volume_bounds(rows: int, outcome: Outcome) -> None:
    result = volume(rows, min=1000, warn_min=5000, max=20000, warn_max=15000)
    assert result.outcome == outcome
    assert result.unit == "rows"


def test_volume_first_run_has_no_baseline_and_says_so() -> None:
    result = volume(100, None, max_drop="50%")
    assert result.outcome == Outcome.PASS
    assert "no baseline" in result.message
    assert details(result)["baseline"] is None


def test_volume_drop_beyond_max_drop_fails() -> None:
    result = volume(400, 1000, max_drop="50%")
    assert result.outcome == Outcome.FAIL
    assert details(result)["change"] == pytest.approx(-0.6)
    assert "fell 60%" in result.message
    assert result.thresholds == {"max_drop": 0.5}


def test_volume_drop_within_max_drop_passes() -> None:
    assert volume(600, 1000, max_drop="50%").outcome == Outcome.PASS


def test_volume_growth_beyond_max_growth_fails_but_a_drop_is_not_growth() -> None:
    assert volume(5000, 1000, max_growth="300%").outcome == Outcome.FAIL
    assert volume(100, 1000, max_growth="300%").outcome == Outcome.PASS


def test_volume_unchanged_since_baseline_says_so() -> None:
    assert "unchanged since the last successful run" in volume(100, 100, max_drop="50%").message


def test_volume_baseline_of_zero_does_not_divide() -> None:
    assert volume(10, 0, max_growth="10%").outcome == Outcome.PASS


def schema(table: list[tuple[str, str]], snapshot: dict[str, str] | None = None, **params: Any) -> Evaluation:
    observed = {Columns(): [Column(name, type_name) for name, type_name in table]}
    return judge("schema", SchemaParams.model_validate(params), observed, snapshot=snapshot)


TABLE = [("id", "BIGINT"), ("price", "DECIMAL(10,2)"), ("loaded_at", "TIMESTAMP WITH TIME ZONE")]


def test_schema_as_expected_passes_and_snapshots() -> None:
    result = schema(TABLE, columns={"id": "integer", "price": "decimal", "loaded_at": "timestamp"})
    assert result.outcome == Outcome.PASS
    assert result.value == 0
    assert result.snapshot == {"id": "integer", "price": "decimal", "loaded_at": "timestamp"}


def test_schema_missing_and_retyped_columns_fail() -> None:
    result = schema(
        [("id", "BIGINT"), ("price", "VARCHAR")],
        columns={"id": "integer", "price": "decimal", "phone": "string"},
    )
    assert result.outcome == Outcome.FAIL
    assert details(result)["missing"] == ["phone"]
    assert details(result)["retyped"] == [{"column": "price", "expected": "decimal", "actual": "string"}]
    assert result.value == 2
    assert "missing phone" in result.message and "price is string, expected decimal" in result.message


def test_schema_extra_columns_fail_only_when_not_allowed() -> None:
    assert schema(TABLE, columns={"id": "integer"}).outcome == Outcome.PASS
    strict = schema(TABLE, columns={"id": "integer"}, allow_extra=False)
    assert strict.outcome == Outcome.FAIL
    assert details(strict)["unexpected"] == ["price", "loaded_at"]


def test_schema_names_match_case_insensitively() -> None:
    assert schema([("ID", "NUMBER(38,0)")], columns={"id": "decimal"}).outcome == Outcome.PASS


@pytest.mark.parametrize(
    ("on_drift", "outcome"), [("warn", Outcome.WARN), ("fail", Outcome.FAIL), ("ignore", Outcome.PASS)]
)
def test_schema_drift_against_snapshot(on_drift: str, outcome: Outcome) -> None:
    before = {"id": "integer", "price": "decimal", "gone": "string"}
    result = schema(TABLE, snapshot=before, on_drift=on_drift)
    assert result.outcome == outcome
    if on_drift != "ignore":
        assert details(result)["drift"] == {"added": ["loaded_at"], "removed": ["gone"], "retyped": []}
        assert "+loaded_at" in result.message and "-gone" in result.message


def test_schema_without_snapshot_has_no_drift() -> None:
    result = schema(TABLE)
    assert result.outcome == Outcome.PASS
    assert details(result)["drift"] == {}


def metric(value: Any, **params: Any) -> Evaluation:
    spec = MetricParams.model_validate({"sql": "select 1", "name": "m", **params})
    return judge("metric", spec, {ScalarQuery("select 1"): value})


@pytest.mark.parametrize(
    ("value", "outcome"),
    [(0, Outcome.PASS), (Decimal("3.5"), Outcome.WARN), (11, Outcome.FAIL), (-1, Outcome.FAIL)],
)
def test_metric_thresholds(value: Any, outcome: Outcome) -> None:
    assert metric(value, min=0, max=10, warn_max=2).outcome == outcome


@pytest.mark.parametrize("value", [None, "abc", True, float("nan"), Decimal("Infinity")])
def test_metric_non_number_is_an_error(value: Any) -> None:
    result = metric(value, max=0)
    assert result.outcome == Outcome.ERROR
    assert "expected a number" in result.message
