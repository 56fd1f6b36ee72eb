"""What a notification says first, in words (alerting/headline.py), and numbers in the units of the message
(alerting/render/units.py): from the values the demo's injected defects really produce."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.context import check_context, source_context
from alerting.headline import LIMIT, headline
from alerting.model import Context, Point
from alerting.render.text import expected_text, observed_line, sparkline
from alerting.render.units import observed, threshold
from monitor.app.config import plugins
from monitor.core.config.models import config_model
from monitor.core.evidence import QualityReport, RuleResult, SchemaEvidence
from monitor.core.evidence import Retyped as EvidenceRetyped
from monitor.core.results import Outcome, Result

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def rule(name: str, column: str | None, rows: int) -> dict[str, Any]:
    return {"rule": name, "column": column, "failing_rows": rows, "failing_pct": None, "sample": []}


def context(**fields: Any) -> Context:
    return cast(Context, {"dataset": "fact_orders", "outcome": "fail", **fields})


def trend(*values: float | None) -> list[Point]:
    return [Point(at="t", outcome="fail" if index == 0 else "pass", value=value)
            for index, value in enumerate(values)]


# --- by kind: the demo's defects ---------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "said"), [
    # quality: a unique rule, a not-null rule, any other rule; the worst first, the others counted
    ({"kind": "quality", "failing_rules": [rule("field_uniqueness", "order_id", 8)]},
     "8 rows of fact_orders share their order_id with another row"),
    ({"kind": "quality", "failing_rules": [rule("multiple_fields_uniqueness", "order_number, order_line", 8),
                                           rule("in_range(1, 1000)", "quantity", 6)]},
     "8 rows of fact_orders share their (order_number, order_line) with another row "
     "(and 1 more failing rule)"),
    ({"kind": "quality", "failing_rules": [rule("not_nullable", "customer_id", 12)]},
     "12 rows of fact_orders with no customer_id"),
    ({"kind": "quality", "failing_rules": [rule("in_range(1, 1000)", "quantity", 5)]},
     "5 rows of fact_orders fail in_range(1, 1000) on quantity"),
    ({"kind": "quality", "failing_rules": [rule("custom", None, 1)]}, "1 row of fact_orders fails custom"),
    # volume: against a learned baseline, the last good run (max_drop), a fixed bound
    ({"kind": "volume", "value": 40.0, "unit": "rows",
      "thresholds": {"expected": 183.0, "expected_min": 76.886, "expected_max": 289.11}},
     "fact_orders has 40 rows, 78.1% fewer than expected (77 to 289)"),
    ({"kind": "volume", "value": 1070.0, "unit": "rows", "thresholds": {"min": 100.0, "max_drop": 0.5},
      "trend": trend(1070.0, 2657.0)},
     "fact_orders has 1,070 rows, 59.7% fewer than the last good run (2,657)"),
    ({"kind": "volume", "value": 3.0, "unit": "rows", "thresholds": {"min": 100.0}},
     "fact_orders has 3 rows, below min 100"),
    # the bound it broke, not a drop within what max_drop allows, nor a band it is inside of
    ({"kind": "volume", "value": 900.0, "unit": "rows", "thresholds": {"min": 1000.0, "max_drop": 0.5},
      "trend": trend(900.0, 918.0)},
     "fact_orders has 900 rows, below min 1,000"),
    ({"kind": "volume", "value": 900.0, "unit": "rows",
      "thresholds": {"min": 950.0, "expected": 950.0, "expected_min": 800.0, "expected_max": 1100.0}},
     "fact_orders has 900 rows, below min 950"),
    # a learned baseline of rows per bucket: the bucket's rows, not the table's
    ({"kind": "volume", "value": 40.0, "unit": "rows", "learned": {"slot": "Sun", "trained": "4 Sundays"},
      "thresholds": {"expected": 183.0, "expected_min": 76.886, "expected_max": 289.11}},
     "fact_orders has 40 rows (Sun), 78.1% fewer than expected (77 to 289)"),
    ({"kind": "volume", "value": 1.0, "unit": "files"}, "fact_orders has 1 file"),
    # freshness: the age, and the bound it broke in its unit
    ({"kind": "freshness", "value": 25200.0, "unit": "seconds",
      "thresholds": {"warn_after": 3600.0, "fail_after": 7200.0}},
     "fact_orders last loaded 7h ago (fail_after 2h)"),
    ({"kind": "freshness", "value": 10806.4, "unit": "seconds",
      "thresholds": {"warn_after": 7200.0, "fail_after": 21600.0}},
     "fact_orders last loaded 3h ago (warn_after 2h)"),
    # schema: removed, retyped, added
    ({"kind": "schema", "schema": {"added": ["z"], "removed": ["x"],
                                   "retyped": [{"column": "y", "before": "int", "after": "text"}]}},
     "fact_orders: columns x removed, y retyped int→text, z added"),
    ({"kind": "schema", "schema": {"added": [], "removed": ["phone"], "retyped": []}},
     "fact_orders: column phone removed"),
    # metric: its name, its value, the bound broken
    ({"kind": "metric", "check": "fact_orders.metric.negative_totals", "value": 6.0,
      "thresholds": {"max": 0.0}},
     "negative_totals of fact_orders is 6, above max 0"),
    # kinds whose message says it already
    ({"kind": "dbt", "message": "not_null_orders_id failed: Got 3 results"},
     "fact_orders: not_null_orders_id failed: Got 3 results"),
    # an error says the check could not run, whatever its kind
    ({"kind": "volume", "check": "daily_revenue.volume", "outcome": "error",
      "message": "table analytics.daily_revenue not found in source warehouse"},
     "daily_revenue.volume could not run: table analytics.daily_revenue not found in source warehouse"),
    # what the registry does not know, or a context short of what a kind needs: the check and the message
    ({"kind": "novel", "check": "fact_orders.novel", "message": "boom"}, "fact_orders.novel failed: boom"),
    ({"kind": "schema", "check": "raw.schema", "outcome": "warn", "message": "1 file(s) with another schema"},
     "raw.schema warns: 1 file(s) with another schema"),
    ({"kind": "freshness", "check": "fact_orders.freshness", "value": None,
      "message": "dataset is empty: no newest loaded_at"},
     "fact_orders.freshness failed: dataset is empty: no newest loaded_at"),
])
def test_the_headline_says_what_is_wrong_in_words(fields: dict[str, Any], said: str) -> None:
    assert headline(context(**fields)) == said


def test_an_error_message_is_clipped() -> None:
    said = headline(context(kind="volume", check="x.volume", outcome="error", message="boom " * 500))
    assert said.startswith("x.volume could not run: boom boom") and said.endswith("more characters")
    assert len(said) <= LIMIT


@given(st.dictionaries(st.sampled_from(["kind", "check", "dataset", "message", "outcome", "source"]),
                       st.text(max_size=3000)))
def test_any_context_has_a_short_headline_on_one_line(fields: dict[str, Any]) -> None:
    said = headline(cast(Context, fields))
    assert said and len(said) <= LIMIT and "\n" not in said


# --- set by the context builders, end to end ----------------------------------------------------------------


CONFIG = config_model(plugins()).model_validate({
    "version": 1, "sources": {"wh": {"kind": "sql", "url": "duckdb:///x"}},
    "datasets": {"fact_orders": {"source": "wh", "table": "fact_orders"}}})


def test_check_context_sets_the_headline_from_the_evidence() -> None:
    rules = (RuleResult("order_id", "field_uniqueness", "in_warehouse", 8623, 8),
             RuleResult("customer_id", "not_nullable", "in_warehouse", 8623, 0))
    found = Result("fact_orders.quality", "fact_orders", "quality", "wh", Outcome.FAIL, "1 rule failing", T0,
                   0.1, value=8.0, unit="rows", evidence=QualityReport(rules))
    said = "8 rows of fact_orders share their order_id with another row"
    assert check_context(CONFIG, found, [], [])["headline"] == said


def test_check_context_sets_the_headline_of_a_schema_change() -> None:
    evidence = SchemaEvidence(columns={}, missing=("phone",),
                              retyped=(EvidenceRetyped("msrp", "decimal", "string"),))
    found = Result("fact_orders.schema", "fact_orders", "schema", "wh", Outcome.FAIL, "2 problems", T0, 0.1,
                   value=2.0, unit="problems", evidence=evidence)
    assert check_context(CONFIG, found, [], [])["headline"] == (
        "fact_orders: columns phone removed, msrp retyped decimal→string")


def test_a_source_incident_says_the_source_is_unreachable() -> None:
    failed = Result("fact_orders.volume", "fact_orders", "volume", "wh", Outcome.ERROR, "refused", T0, 0.1)
    assert source_context(CONFIG, "wh", [failed], "refused")["headline"] == "source wh is unreachable"


# --- units --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "unit", "said"), [
    ("max_drop", 0.5, "rows", "50%"), ("max_growth", 2.0, "rows", "200%"),
    ("max_failing_pct", 0.01, "rows", "1%"), ("warn_failing_pct", 0.005, "rows", "0.5%"),
    ("fail_after", 7200.0, "seconds", "2h"), ("warn_after", 93600.0, "seconds", "1d 2h"),
    ("min", 1000.0, "rows", "1,000"), ("max", 0.0, None, "0"), ("max_failing_rows", 0.0, "rows", "0"),
    ("expected_max", 289.1139, "rows", "289"), ("expected_min", 0.123, None, "0.12"),
    ("expected_max", 5400.0, "seconds", "1h 30m"),  # a learned freshness band is in seconds
    ("unheard_of", 3600.0, "seconds", "1h"), ("unheard_of", 1234.5, "bytes", "1,234.5"),
])
def test_thresholds_are_in_the_units_of_the_message(name: str, value: float, unit: str | None,
                                                      said: str) -> None:
    assert threshold(name, value, unit) == said


def test_expected_and_observed_read_as_the_checks_messages_do() -> None:
    volume = Context(value=1070.0, unit="rows", thresholds={"min": 100.0, "max_drop": 0.5})
    assert observed_line(volume) == "observed 1,070 rows; expected max_drop 50%, min 100"
    freshness = Context(value=10806.4, unit="seconds",
                        thresholds={"warn_after": 7200.0, "fail_after": 21600.0})
    assert expected_text(freshness) == "fail_after 6h, warn_after 2h"
    assert observed_line(freshness) == "observed 3h; expected fail_after 6h, warn_after 2h"
    assert (observed(None, "rows"), observed(1.0, "rows"), observed(6.0, None)) == ("none", "1 row", "6")


# --- the sparkline ------------------------------------------------------------------------------------------


def test_the_sparkline_runs_oldest_to_newest_with_a_gap_for_no_value() -> None:
    assert sparkline(trend(3.0, 16.0, None, 9.5)) == "▅·█▁"  # given newest first
    assert sparkline(trend(5.0, 5.0)) == "▅▅"  # no spread: the middle
    assert sparkline(trend(None)) == "·" and sparkline([]) == ""
    assert sparkline(trend(float("nan"), 1.0)) == "▅·"
