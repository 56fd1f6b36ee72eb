"""A metric's `expression`: an aggregate over the dataset's rows, one more column of its fused scan.

Run as `demon check` runs it, on a real DuckDB file and the real PostgreSQL: the statements the warehouse
receives, the values within the dataset's `where`, thresholds, the paste-able query; expressions refused
when the config is read, with file, line and field; and one that fails in the database ends its check as
`error`, the others of the dataset still judged.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from checks.kinds.metric import Metric, MetricParams
from monitor.app.cli import main
from monitor.core.config.models import DatasetConfig
from tests.test_quality import warehouse_statements
from tests.warehouse import execute, write_config

ORDERS = [
    "CREATE TABLE orders (id INTEGER, amount DOUBLE PRECISION, region VARCHAR(5))",
    "INSERT INTO orders VALUES (1, 10, 'eu'), (2, -4, 'eu'), (3, 30, 'eu'), (4, 1000, 'us'), (5, -1, 'us')",
]


def orders_config(directory: Path, url: str, *checks: dict[str, Any], **dataset: Any) -> Path:
    body = {"orders": {"source": "warehouse", "table": "orders", **dataset, "checks": list(checks)}}
    return write_config(directory, url, textwrap.indent(yaml.safe_dump(body, sort_keys=False), "  "))


def check_json(path: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    result = CliRunner().invoke(main, ["check", "-c", str(path), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    document = json.loads(result.stdout)
    return result.exit_code, {item["check"]: item for item in document["results"]}


def test_expressions_join_the_fused_scan_within_the_where(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, ORDERS)
    path = orders_config(
        tmp_path, warehouse_url,
        {"volume": {"min": 1}},
        {"metric": {"name": "mean", "expression": "avg(amount)", "max": 100}},
        {"metric": {"name": "negative", "expression": "count(*) FILTER (WHERE amount < 0)", "max": 0}},
        where="region = 'eu'",
    )
    with warehouse_statements() as statements:
        code, results = check_json(path)
    names = ("volume", "metric.mean", "metric.negative")
    volume, mean, negative = (results[f"orders.{name}"] for name in names)
    assert (volume["value"], mean["value"], negative["value"]) == (3, 12.0, 1)
    assert (mean["outcome"], negative["outcome"], code) == ("pass", "fail", 1)
    # the metadata statement and one scan, shared by the three checks
    assert len(statements) == 2
    assert volume["statements"] == mean["statements"] == negative["statements"]
    assert "avg(amount)" in statements[1] and "region = 'eu'" in statements[1]


def test_an_expression_has_a_paste_able_query(tmp_path: Path, warehouse_url: str) -> None:
    from monitor.app.config import load_config
    from monitor.app.runner import Runner

    execute(warehouse_url, ORDERS)
    metric = {"metric": {"expression": "sum(amount)"}}
    path = orders_config(tmp_path, warehouse_url, metric, where="region = 'us'")
    config = load_config(path)
    runner = Runner(config, None)
    try:
        (result,) = runner.run(config.checks)
    finally:
        runner.close()
    assert result.value == 999 and result.query is not None
    assert result.query.startswith("SELECT (sum(amount)) AS") and "WHERE (region = 'us')" in result.query
    engine = sa.create_engine(warehouse_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            assert [tuple(row) for row in conn.exec_driver_sql(result.query)] == [(999,)]
    finally:
        engine.dispose()


def test_an_expression_failing_in_the_database_is_an_error_of_its_own(
    tmp_path: Path, warehouse_url: str
) -> None:
    execute(warehouse_url, ORDERS)
    path = orders_config(
        tmp_path, warehouse_url,
        {"volume": {"min": 1}},
        {"metric": {"name": "bad", "expression": "avg(no_such_column)"}},
        {"metric": {"name": "text", "expression": "max(region)"}},
    )
    code, results = check_json(path)
    assert results["orders.volume"]["outcome"] == "pass" and results["orders.volume"]["value"] == 5
    bad, text = results["orders.metric.bad"], results["orders.metric.text"]
    assert bad["outcome"] == "error" and "no_such_column" in bad["message"]
    assert text["outcome"] == "error"
    assert "metric expression returned str 'us', expected a number" in text["message"]
    assert code == 3


BAD_EXPRESSIONS = {
    "avg(amount); DROP TABLE orders": "';' may not appear",
    "(SELECT avg(amount) FROM orders)": "SELECT may not appear",
    "amount": "it calls no aggregate function",
    "avg(amount) FROM other": "FROM outside parentheses",
    "avg(amount), max(amount)": ", outside parentheses",
    "avg(amount)) OR (1": "a ')' closes no '('",
    "avg(amount -- )": "comments may not appear",
    "sum(amount) OVER ()": "OVER may not appear",
    "max(length($$a$$))": "'$' may not appear",
    "avg(amount) AS mean": "AS outside parentheses",
}


@pytest.mark.parametrize("expression", sorted(BAD_EXPRESSIONS))
def test_a_bad_expression_is_refused_with_its_line(tmp_path: Path, expression: str) -> None:
    path = orders_config(tmp_path, "duckdb:///w.duckdb", {"metric": {"name": "m", "expression": expression}})
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "demon.yml:13: datasets.orders.checks[0].metric.expression: expected one " in result.output
    assert BAD_EXPRESSIONS[expression] in result.output


@pytest.mark.parametrize("metric", [{"name": "m"}, {"sql": "SELECT 1", "expression": "count(*)"}])
def test_a_metric_has_sql_or_an_expression(tmp_path: Path, metric: dict[str, Any]) -> None:
    path = orders_config(tmp_path, "duckdb:///w.duckdb", {"metric": metric})
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    assert "datasets.orders.checks[0].metric: expected exactly one of 'sql'" in result.output


def test_an_expression_is_its_own_learned_series() -> None:
    """Learned baselines of a metric are keyed by what it measures: its expression, or its statement."""
    dataset = DatasetConfig(source="warehouse", table="orders", where="region = 'eu'")
    expression = MetricParams.model_validate({"expression": "avg(amount)", "anomaly": {}})
    sql = MetricParams.model_validate({"sql": "SELECT avg(amount) FROM orders", "anomaly": {}})
    by_expression, by_sql = Metric().learns(expression, dataset), Metric().learns(sql, dataset)
    assert by_expression is not None and by_sql is not None
    assert by_expression.definition["expression"] == "avg(amount)" and "sql" not in by_expression.definition
    assert by_expression.definition != by_sql.definition


GOOD_EXPRESSIONS = [
    "avg(amount)",
    "count(*) FILTER (WHERE amount < 0 AND region = 'it''s (')",
    "sum(amount) / nullif(count(*), 0)",
    "avg(extract(epoch FROM loaded_at))",
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY amount)",
    'max("select")::float8',
    "COUNT(DISTINCT region)",
]


@pytest.mark.parametrize("expression", GOOD_EXPRESSIONS)
def test_an_aggregate_expression_is_accepted_as_written(expression: str) -> None:
    assert MetricParams.model_validate({"expression": expression}).expression == expression
