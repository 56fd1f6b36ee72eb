"""The root-cause context: built from real schema and quality results of checks run on DuckDB files, and
from hand-made results where a case (hostile or huge details, scrambled history) is easier to build so."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from alerting.context import (
    CELL,
    MAX_RULES,
    MAX_SAMPLE,
    MAX_STATEMENTS,
    MAX_TREND,
    TEXT,
    check_context,
    dashboard_url,
    source_context,
    upstream_state,
)
from alerting.model import Context, SchemaChange, Upstream
from monitor.app.config import load_config, plugins
from monitor.app.runner import Runner
from monitor.core.config.models import Config, config_model
from monitor.core.evidence import Drift, QualityReport, RuleResult, SchemaEvidence
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore
from tests.warehouse import execute, write_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PII_MARKER = "pii.example"
ORDERS_SQL = [
    "CREATE TABLE orders (id INTEGER, amount DOUBLE, email VARCHAR, note VARCHAR)",
    "INSERT INTO orders SELECT g, CASE WHEN g % 10 = 0 THEN -1 ELSE g END, 'secret' || g || '@pii.example',"
    " 'note ' || g FROM range(1, 101) t(g)",
]
ORDERS_SCHEMA = """
    import pandera.pandas as pa

    class Orders(pa.DataFrameModel):
        id: int = pa.Field(ge=1)
        amount: float = pa.Field(ge=0)
        email: str = pa.Field(str_matches=r"^x")
        note: str
"""


class Warehouse:
    """A DuckDB file, a demon.yml beside it and the state store: checks run as `demon check` runs them."""

    def __init__(self, directory: Path, datasets: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.url = f"duckdb:///{directory / 'warehouse.duckdb'}"
        execute(self.url, ORDERS_SQL)
        (directory / "schemas.py").write_text(textwrap.dedent(ORDERS_SCHEMA))
        path = write_config(directory, self.url, textwrap.indent(textwrap.dedent(datasets), "  "))
        self.config = load_config(path)

    def run(self) -> dict[str, Result]:
        with StateStore.open(self.config.state.url, self.config.base_dir) as store:
            runner = Runner(self.config, store)
            try:
                results = runner.run(self.config.checks, store.start_run("check"))
            finally:
                runner.close()
        return {result.check: result for result in results}

    def history(self, check: str) -> list[Result]:
        with StateStore.open(self.config.state.url, self.config.base_dir) as store:
            return store.history(check, 20)


QUALITY = '[{quality: {schema: "schemas:Orders"}}]'


def orders(directory: Path, pii: str = "[]", checks: str = QUALITY) -> Warehouse:
    return Warehouse(directory, f"""
        orders:
          source: warehouse
          table: orders
          owner: sales-analytics
          tags: [sales, tier-1]
          description: Orders as the shop writes them
          runbook: https://wiki.example/orders
          pii_columns: {pii}
          checks: {checks}
    """)


def config(datasets: dict[str, Any], grafana_url: str | None = None) -> Config:
    return config_model(plugins()).model_validate({
        "version": 1,
        "sources": {"wh": {"kind": "sql", "url": "duckdb:///x.duckdb"}},
        "datasets": {name: {"source": "wh", "table": name, **body} for name, body in datasets.items()},
        "alerting": {"grafana_url": grafana_url},
    })


def result(check: str = "orders.quality", outcome: Outcome = Outcome.FAIL, **fields: Any) -> Result:
    dataset, kind = check.split(".")[:2]
    return Result(**{
        "check": check, "dataset": dataset, "kind": kind, "source": "wh", "outcome": outcome,
        "message": "failed", "started_at": T0, "duration_seconds": 0.1, **fields,
    })


def dumped(context: Context) -> str:
    """The context as the outbox stores it: strict JSON (NaN would be refused)."""
    return json.dumps(context, allow_nan=False)


# --- quality ------------------------------------------------------------------------------------


def test_quality_rules_from_a_real_run_worst_first_with_samples(tmp_path: Path) -> None:
    warehouse = orders(tmp_path, pii="[email]")
    found = warehouse.run()["orders.quality"]
    assert found.outcome == Outcome.FAIL
    context = check_context(warehouse.config, found, [], [])
    rules = context["failing_rules"]
    assert [(rule["column"], rule["failing_rows"]) for rule in rules] == [("email", 100), ("amount", 10)]
    email, amount = rules
    assert email["sample"] == []  # a pii column's rule shows no values at all
    assert amount["rule"] == "greater_than_or_equal_to(0)" and amount["failing_pct"] == pytest.approx(0.1)
    assert len(amount["sample"]) == MAX_SAMPLE
    assert all(set(row) == {"id", "amount", "note"} and row["amount"] == -1 for row in amount["sample"])
    assert PII_MARKER not in dumped(context)
    assert context["kind"] == "quality" and context["value"] == 100 and context["unit"] == "rows"
    assert context["statements"] and len(context["statements"]) <= MAX_STATEMENTS


def test_pii_columns_declared_after_the_run_are_removed_again(tmp_path: Path) -> None:
    """Details stored before `pii_columns` listed the column still hold its values: the context drops them."""
    warehouse = orders(tmp_path)
    found = warehouse.run()["orders.quality"]
    assert PII_MARKER in json.dumps(found.all_details)  # the run itself kept them: nothing hid them yet
    declared = orders(tmp_path / "later", pii="[EMAIL]").config  # another spelling: names match in any case
    context = check_context(declared, found, [found], [])
    assert PII_MARKER not in dumped(context)
    email = next(rule for rule in context["failing_rules"] if rule["column"] == "email")
    assert email["sample"] == []
    amount = next(rule for rule in context["failing_rules"] if rule["column"] == "amount")
    assert amount["sample"] and all("email" not in row for row in amount["sample"])


def rules(*found: RuleResult) -> QualityReport:
    return QualityReport(rules=found)


def test_a_rule_on_several_columns_hides_its_sample_when_one_is_pii() -> None:
    sample = ({"id": 1, "email": "a@pii.example"},)
    unique = RuleResult("id, Email", "unique", "in_warehouse", 4, 2, sample=sample)
    cfg = config({"orders": {"pii_columns": ["email"]}})
    context = check_context(cfg, result(evidence=rules(unique)), [], [])
    assert context["failing_rules"][0]["sample"] == [] and PII_MARKER not in dumped(context)


def test_passing_rules_are_left_out_and_errors_and_broken_shapes_kept() -> None:
    report = rules(
        RuleResult("id", "not_nullable", "in_warehouse", 10, 0),
        RuleResult("amount", "dtype('float64')", "in_warehouse", 0, 0,
                   values=("amount is string, expected float",), broken=True),
        RuleResult(None, "custom", "on_sample", 0, 0, error="boom"),
        RuleResult("status", "isin", "in_warehouse", 10, 3),
    )
    context = check_context(config({"orders": {}}), result(evidence=report), [], [])
    shown = context["failing_rules"]
    assert [rule["rule"] for rule in shown] == ["custom (could not run: boom)", "isin", "dtype('float64')"]
    assert shown[2]["sample"] == [{"amount": "amount is string, expected float"}]


def test_no_failing_rules_no_key() -> None:
    clean = rules(RuleResult("id", "not_nullable", "in_warehouse", 10, 0))
    passed = result(outcome=Outcome.PASS, evidence=clean)
    context = check_context(config({"orders": {}}), passed, [], [])
    assert "failing_rules" not in context


def test_hostile_and_huge_details_are_bounded_and_strict_json() -> None:
    huge = "<!channel> & ```\n" + "x" * 10_000
    row = {"id": 1, "note": huge, "ratio": float("nan"), "big": float("inf"), "when": "2026-01-01", huge: 1}
    report = rules(*(
        RuleResult(f"c{index}", huge, "on_sample", 0, index + 1, sample=(row,) * 50)
        for index in range(MAX_RULES + 7)
    ))
    found = result(
        message=huge, evidence=report, value=float("nan"), statements=tuple([huge] * 9),
        thresholds={"max": 1.0, "odd": float("inf")},
    )
    context = check_context(config({"orders": {"description": huge, "runbook": huge, "owner": huge}}),
                            found, [], [])
    text = dumped(context)
    assert len(context["failing_rules"]) == MAX_RULES
    assert context["truncated"] == ["7 more failing rules"]
    assert context["failing_rules"][0]["failing_rows"] == MAX_RULES + 7  # the worst are kept
    for rule in context["failing_rules"]:
        assert len(rule["sample"]) == MAX_SAMPLE and len(rule["rule"]) <= CELL
        assert rule["failing_pct"] is None
        for cells in rule["sample"]:
            assert all(len(key) <= CELL for key in cells)
            assert all(len(value) <= CELL for value in cells.values() if isinstance(value, str))
            assert cells["ratio"] == "nan" and cells["big"] == "inf" and cells["id"] == 1
    assert len(context["message"]) <= TEXT and context["message"].endswith("more characters")
    assert all(len(str(context.get(key))) <= TEXT for key in ("description", "runbook", "owner"))
    assert len(context["statements"]) == MAX_STATEMENTS and all(len(s) <= TEXT for s in context["statements"])
    assert context["value"] is None and context["thresholds"] == {"max": 1.0}
    assert len(text) < 20 * MAX_SAMPLE * 3 * CELL + 50_000


# --- schema -------------------------------------------------------------------------------------


def test_schema_change_combines_the_config_and_the_drift(tmp_path: Path) -> None:
    warehouse = orders(tmp_path, checks="[{schema: {columns: {id: integer, amount: float, zzz: string},"
                                        " on_drift: fail}}]")
    first = warehouse.run()["orders.schema"]
    assert first.outcome == Outcome.FAIL
    assert check_context(warehouse.config, first, [], [])["schema"] == SchemaChange(
        added=[], removed=["zzz"], retyped=[],
    )
    execute(warehouse.url, [
        "ALTER TABLE orders ADD COLUMN extra INTEGER", "ALTER TABLE orders DROP COLUMN note",
        "ALTER TABLE orders ALTER amount TYPE VARCHAR",
    ])
    second = warehouse.run()["orders.schema"]
    context = check_context(warehouse.config, second, warehouse.history("orders.schema"), [])
    assert context["schema"] == {
        "added": ["extra"],
        "removed": ["zzz", "note"],
        "retyped": [{"column": "amount", "before": "float", "after": "string"}],  # once, not per source
    }
    assert [point["outcome"] for point in context["trend"]] == ["fail", "fail"]


def test_schema_unexpected_columns_are_added_and_a_passing_schema_has_no_change(tmp_path: Path) -> None:
    warehouse = orders(tmp_path, checks="[{schema: {columns: {id: integer}, allow_extra: false}},"
                                        " {schema: {name: ok, columns: {id: integer}}}]")
    found = warehouse.run()
    strict = check_context(warehouse.config, found["orders.schema"], [], [])
    assert strict["schema"] == SchemaChange(added=["amount", "email", "note"], removed=[], retyped=[])
    assert found["orders.schema.ok"].outcome == Outcome.PASS
    assert "schema" not in check_context(warehouse.config, found["orders.schema.ok"], [], [])


def test_a_thousand_new_columns_are_cut_with_a_count() -> None:
    evidence = SchemaEvidence(columns={}, drift=Drift(added=tuple(f"c{i}" for i in range(1000))))
    found = result("orders.schema", evidence=evidence)
    change = check_context(config({"orders": {}}), found, [], [])["schema"]
    assert len(change["added"]) == 51 and change["added"][-1] == "... 950 more"


# --- trend, times, about, links -----------------------------------------------------------------


def test_trend_from_the_stored_history_newest_first(tmp_path: Path) -> None:
    warehouse = orders(tmp_path)
    runs = [warehouse.run()["orders.quality"] for _ in range(3)]
    history = warehouse.history("orders.quality")
    context = check_context(warehouse.config, runs[-1], history, [])
    expected = [run.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for run in reversed(runs)]
    assert [point["at"] for point in context["trend"]] == expected
    assert [point["value"] for point in context["trend"]] == [100.0] * 3


def test_trend_is_sorted_bounded_and_holds_the_current_result() -> None:
    earlier = [
        result(outcome=Outcome.PASS if index % 2 else Outcome.FAIL, value=float(index),
               started_at=(T0 - timedelta(minutes=index)).replace(tzinfo=None))  # naive: read as UTC
        for index in range(1, 15)
    ]
    scrambled = earlier[::3] + earlier[1::3] + earlier[2::3]
    now = result(value=0.0)
    trend = check_context(config({"orders": {}}), now, scrambled, [])["trend"]
    assert len(trend) == MAX_TREND
    assert [point["value"] for point in trend] == [float(index) for index in range(MAX_TREND)]
    assert trend[0]["at"] == "2026-03-01T12:00:00Z" and trend[1]["at"] == "2026-03-01T11:59:00Z"
    assert [point["outcome"] for point in trend[:3]] == ["fail", "pass", "fail"]
    assert check_context(config({"orders": {}}), now, [now], [])["trend"] == [trend[0]]  # not twice


def test_times_are_utc_with_z() -> None:
    cest = datetime(2026, 6, 1, 16, 30, 5, 999, tzinfo=timezone(timedelta(hours=2)))
    context = check_context(config({"orders": {}}), result(last_success_at=cest), [], [])
    assert context["last_passed_at"] == "2026-06-01T14:30:05Z"
    assert check_context(config({"orders": {}}), result(), [], [])["last_passed_at"] is None


def test_about_the_dataset_and_the_dashboard_link() -> None:
    cfg = config({"orders": {"owner": "sales", "tags": ["a", "b"], "description": "d", "runbook": "r"}},
                 grafana_url="https://grafana.example/sub/")
    context = check_context(cfg, result(), [], [])
    assert (context["owner"], context["tags"], context["description"], context["runbook"]) == (
        "sales", ["a", "b"], "d", "r")
    assert context["dashboard_url"] == "https://grafana.example/sub/d/demon-dataset/?var-dataset=orders"
    assert check_context(config({"orders": {}}), result(), [], [])["dashboard_url"] is None


def test_the_dashboard_url_names_the_bundled_dashboard_and_quotes_the_dataset() -> None:
    bundled = json.loads((Path(__file__).parents[1] / "dashboards/grafana/demon-dataset.json").read_text())
    assert "dataset" in [variable["name"] for variable in bundled["templating"]["list"]]
    url = dashboard_url("http://g:3000", "a b&c=d#e/f?")
    assert url is not None
    parts = urlsplit(url)
    assert parts.path == f"/d/{bundled['uid']}/" and not parts.fragment
    assert parse_qs(parts.query) == {"var-dataset": ["a b&c=d#e/f?"]}
    assert dashboard_url(None, "x") is None and dashboard_url("", "x") is None


def test_a_dataset_no_longer_in_the_config_still_gets_a_context() -> None:
    context = check_context(config({}), result("gone.volume"), [], [])
    assert context["dataset"] == "gone" and "owner" not in context and "tags" not in context


def test_upstream_and_downstream_are_carried() -> None:
    upstream = [Upstream(dataset="raw", outcome="fail", failing=["raw.volume"], incident=7)]
    context = check_context(config({"orders": {}}), result(), [], upstream, ["b", "a", "b"])
    assert context["upstream"] == upstream and context["downstream"] == ["a", "b"]


# --- upstream state -----------------------------------------------------------------------------


def graph() -> Config:
    checks = [{"volume": {}}, {"freshness": {"column": "t", "fail_after": "1h"}}]
    return config({
        "raw": {"checks": checks},
        "staging": {"checks": checks, "upstream": ["raw"]},
        "quiet": {"checks": checks},
        "orders": {"checks": checks, "upstream": ["raw", "staging", "quiet"]},
    })


def test_upstream_state_worst_outcome_failing_checks_and_open_incident() -> None:
    latest = {
        "raw.volume": result("raw.volume", Outcome.FAIL),
        "raw.freshness": result("raw.freshness", Outcome.ERROR),
        "staging.volume": result("staging.volume", Outcome.WARN),
        "staging.freshness": result("staging.freshness", Outcome.PASS),
        "orders.volume": result("orders.volume", Outcome.FAIL),
        "old.volume": result("old.volume", Outcome.ERROR),
    }
    assert upstream_state(graph(), "orders", latest, {"raw": 12, "orders": 13}) == [
        {"dataset": "raw", "outcome": "error", "failing": ["raw.freshness", "raw.volume"], "incident": 12},
        {"dataset": "staging", "outcome": "warn", "failing": [], "incident": None},
        {"dataset": "quiet", "outcome": "unknown", "failing": [], "incident": None},
    ]


def test_upstream_state_of_a_dataset_without_upstreams_or_unknown() -> None:
    assert upstream_state(graph(), "raw", {}, {}) == []
    assert upstream_state(graph(), "nope", {}, {}) == []


# --- source incidents ---------------------------------------------------------------------------


def test_source_context_lists_the_checks_owners_and_tags() -> None:
    cfg = config({
        "a": {"owner": "team-a", "tags": ["x", "y"]},
        "b": {"owner": "team-b", "tags": ["y", "z"]},
        "c": {"owner": "team-a"},
        "d": {"owner": "team-d", "tags": ["never"]},
    })
    results = [result("b.volume", Outcome.ERROR, statements=("select 1",)), result("a.volume", Outcome.ERROR),
               result("c.volume", Outcome.ERROR), result("a.freshness", Outcome.ERROR),
               result("d.volume", Outcome.PASS)]
    context = source_context(cfg, "wh", results, "cannot connect: connection refused")
    assert context == {
        "source": "wh", "headline": "source wh is unreachable", "outcome": "error",
        "message": "cannot connect: connection refused",
        "members": ["a.freshness", "a.volume", "b.volume", "c.volume"],
        "owner": "team-b, team-a", "tags": ["x", "y", "z"],
    }


def test_source_context_without_owners_and_with_a_long_reason() -> None:
    context = source_context(config({"a": {}}), "wh", [result("a.volume", Outcome.ERROR)], "r" * 50_000)
    assert context["owner"] is None and context["tags"] == [] and len(context["message"]) <= TEXT
    assert "statements" not in context
