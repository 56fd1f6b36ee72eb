"""Paste-able queries: every check's short statement, run on the same database, shows what the check saw.

Checks run as `demon check` runs them (the Runner, a real DuckDB file or the real PostgreSQL), on a table
whose schema, name and columns need quoting and whose values hold quotes; then each result's query is run
by hand, as a person pasting it would, and must agree with the value or failing rows the check reported.
"""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from alerting.context import check_context
from checks.sources.queries import MAX_QUERY, bounded
from monitor.app.config import load_config
from monitor.app.runner import Runner
from monitor.core.evidence import FreshnessEvidence, QualityReport, SchemaEvidence
from monitor.core.results import Result
from tests.motoserver import S3Lake
from tests.warehouse import execute

TABLE = '"sälës"."or""d ers"'
SETUP = [
    'CREATE SCHEMA "sälës"',
    'CREATE TABLE "sälës"."or""d ers" (id BIGINT, "st\'atus" VARCHAR, amount FLOAT8, "Üpdated at" TIMESTAMP)',
    """INSERT INTO "sälës"."or""d ers" VALUES
        (1, 'paid', 10, '2024-03-01 10:00:00'), (2, 'it''s late', -5, '2024-03-02 11:00:00'),
        (2, 'paid', 7, '2024-03-03 12:00:00'), (3, 'can''t', 1, '2024-03-04 09:30:00'),
        (4, 'lost', -1, '2024-03-05 08:00:00'), (5, 'paid', 3, '2024-03-06 07:00:00')""",
]
WHERE = "\"st'atus\" <> 'can''t'"  # the dataset's rows: every row but id 3
SCHEMA = """
    import pandera.pandas as pa

    orders = pa.DataFrameSchema({
        "id": pa.Column(int, unique=True),
        "st'atus": pa.Column(str, pa.Check.isin(["paid", "it's late"])),
        "amount": pa.Column(float, pa.Check.ge(0)),
    })
"""
CHECKS: list[dict[str, Any]] = [
    {"volume": {"min": 100}},
    {"freshness": {"column": "Üpdated at", "fail_after": "1h"}},
    {"schema": {"columns": {"id": "integer", "gone": "string"}}},
    {"quality": {"schema": "query_schemas:orders"}},
    {"metric": {"name": "paid", "max": 1,
                "sql": "SELECT count(*) FROM \"sälës\".\"or\"\"d ers\" WHERE \"st'atus\" = 'paid'"}},
]


@pytest.fixture(autouse=True)
def forget_schema_modules() -> Iterator[None]:
    yield
    sys.modules.pop("query_schemas", None)


def run_checks(directory: Path, url: str, shown_url: str | None = None, **dataset: Any) -> dict[str, Result]:
    """The checks of one dataset on the test table, run by the Runner; results by kind."""
    execute(url, SETUP)
    (directory / "query_schemas.py").write_text(textwrap.dedent(SCHEMA))
    document = {
        "version": 1,
        "sources": {"warehouse": {"kind": "sql", "url": shown_url or url}},
        "datasets": {"orders": {"source": "warehouse", "table": TABLE, "where": WHERE, **dataset,
                                "checks": CHECKS}},
    }
    path = directory / "demon.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    config = load_config(path)
    runner = Runner(config, None)
    try:
        results = runner.run(config.checks)
    finally:
        runner.close()
    return {result.kind: result for result in results}


def rows(url: str, query: str | None) -> list[tuple[Any, ...]]:
    """A query run as pasted: its text, nothing bound."""
    assert query is not None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


def test_every_kind_has_a_query_that_agrees_with_what_it_reported(tmp_path: Path, warehouse_url: str) -> None:
    found = run_checks(tmp_path, warehouse_url)

    volume = found["volume"]
    assert volume.value == 5
    assert rows(warehouse_url, volume.query) == [(5,)]

    freshness = found["freshness"]
    assert isinstance(freshness.evidence, FreshnessEvidence)
    [(newest,)] = rows(warehouse_url, freshness.query)
    assert newest.replace(tzinfo=UTC) == freshness.evidence.newest == datetime(2024, 3, 6, 7, tzinfo=UTC)

    schema = found["schema"]
    assert isinstance(schema.evidence, SchemaEvidence) and schema.evidence.missing == ("gone",)
    assert [name for name, _ in rows(warehouse_url, schema.query)] == list(schema.evidence.columns)

    metric = found["metric"]
    assert metric.query == CHECKS[4]["metric"]["sql"]
    assert rows(warehouse_url, metric.query) == [(metric.value,)] == [(3,)]


def test_each_failing_rule_has_a_query_returning_its_failing_rows(tmp_path: Path, warehouse_url: str) -> None:
    quality = run_checks(tmp_path, warehouse_url)["quality"]
    assert isinstance(quality.evidence, QualityReport)
    failing = {rule.check: rule for rule in quality.evidence.rules if rule.failing}
    assert {name: rule.failing for name, rule in failing.items()} == {
        "field_uniqueness": 2, "isin(['paid', \"it's late\"])": 1, "greater_than_or_equal_to(0)": 2,
    }
    unique = failing.pop("field_uniqueness")
    assert unique.query is not None and "GROUP BY" in unique.query and "LIMIT 20" in unique.query
    assert rows(warehouse_url, unique.query) == [(2, 2)]  # the key, its rows
    for rule in failing.values():
        assert rule.query is not None and rule.query.startswith("SELECT *")
        assert len(rows(warehouse_url, rule.query)) == rule.failing
    negative = failing["greater_than_or_equal_to(0)"]
    assert quality.value == 2 and quality.query in {unique.query, negative.query}


def test_the_context_carries_the_query_and_each_failing_rules(tmp_path: Path, warehouse_url: str) -> None:
    found = run_checks(tmp_path, warehouse_url)
    config = load_config(tmp_path / "demon.yml")
    for result in found.values():
        assert check_context(config, result, [], []).get("query") == result.query is not None
    context = check_context(config, found["quality"], [], [])
    assert all("query" in rule for rule in context["failing_rules"])


def test_a_secret_of_the_source_never_appears(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sa.make_url(postgres_url)
    password = url.password
    assert password
    monkeypatch.setenv("WAREHOUSE_URL", postgres_url)
    found = run_checks(tmp_path, postgres_url, shown_url="${WAREHOUSE_URL}")
    queries = [result.query for result in found.values() if result.query]
    assert len(queries) == len(CHECKS)
    assert not any(password in query or postgres_url in query for query in queries)


def test_a_secret_in_the_where_is_masked(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "s3cr3t-t0ken")
    found = run_checks(tmp_path, warehouse_url, where="\"st'atus\" <> '${SHOP_TOKEN}'")
    assert found["volume"].query is not None and "s3cr3t-t0ken" not in found["volume"].query
    assert "***" in found["volume"].query


def test_a_long_in_list_is_clipped_and_says_so() -> None:
    values = ", ".join(f"'v''{index}'" for index in range(200))
    query = f"SELECT * FROM t WHERE NOT (coalesce(s IN ({values}), false)) LIMIT 20"
    shown = bounded(query)
    assert shown is not None and len(shown) <= MAX_QUERY
    assert "IN ('v''0', 'v''1', 'v''2', 'v''3', 'v''4' /* and 195 more values */)" in shown
    assert bounded("SELECT 1") == "SELECT 1"
    assert bounded("SELECT " + "x + " * 500 + "1") is None


# --- lakes -------------------------------------------------------------------------------------------------

LAKE_CHECKS: list[dict[str, Any]] = [
    {"volume": {"min": 100}},
    {"freshness": {"column": "loaded at", "fail_after": "1h"}},
    {"schema": {"columns": {"id": "integer"}}},
    {"volume": {"name": "files", "metric": "files", "min": 100}},
]


def lake_results(directory: Path, source: dict[str, Any], path: str, fmt: str, checks: list[dict[str, Any]]
                 ) -> dict[str, Result]:
    document = {
        "version": 1, "sources": {"lake": source},
        "datasets": {"orders": {"source": "lake", "path": path, "format": fmt, "checks": checks}},
    }
    config_path = directory / "demon.yml"
    config_path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    config = load_config(config_path)
    runner = Runner(config, None)
    try:
        return {result.check: result for result in runner.run(config.checks)}
    finally:
        runner.close()


def write_parquet(path: Path, ids: list[int], loaded: list[datetime]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids, "loaded at": loaded}), path)


def duck_rows(query: str | None) -> list[tuple[Any, ...]]:
    assert query is not None
    with duckdb.connect() as conn:
        return conn.execute(query).fetchall()


def test_lake_queries_read_the_files_as_the_checks_did(tmp_path: Path) -> None:
    root = tmp_path / "la'ke ü"
    write_parquet(root / "orders/dt=2024-03-01/part-0.parquet", [1], [datetime(2024, 3, 1, 10)])
    write_parquet(root / "orders/dt=2024-03-02/part-0.parquet", [2, 3],
                  [datetime(2024, 3, 2, 10), datetime(2024, 3, 2, 11)])
    (root / "orders/_SUCCESS").write_text("")
    found = lake_results(tmp_path, {"kind": "files", "root": root.name}, "orders", "parquet", LAKE_CHECKS)

    volume = found["orders.volume"]
    assert volume.query is not None and "read_parquet('" in volume.query
    assert duck_rows(volume.query) == [(volume.value,)] == [(3,)]
    files = found["orders.volume.files"]
    assert duck_rows(files.query) == [(files.value,)] == [(2,)]
    freshness = found["orders.freshness"]
    assert isinstance(freshness.evidence, FreshnessEvidence)
    [(newest,)] = duck_rows(freshness.query)
    assert newest.replace(tzinfo=UTC) == freshness.evidence.newest
    schema = found["orders.schema"]
    assert isinstance(schema.evidence, SchemaEvidence)
    assert schema.query is not None and schema.query.startswith("DESCRIBE SELECT")
    assert [row[0] for row in duck_rows(schema.query)][:2] == list(schema.evidence.columns)


def test_a_csv_lake_counts_its_rows_alike(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake/a.csv").write_text("id,name\n1,x\n2,\"it's\"\n")
    (tmp_path / "lake/b.csv").write_text("id,name\n3,y\n")
    found = lake_results(tmp_path, {"kind": "files", "root": "lake"}, "", "csv", [{"volume": {"min": 100}}])
    volume = found["orders.volume"]
    assert volume.query is not None and "read_csv(" in volume.query
    assert duck_rows(volume.query) == [(volume.value,)] == [(3,)]


def test_an_s3_lake_query_names_the_bucket_and_no_credentials(tmp_path: Path, s3: S3Lake) -> None:
    s3.bucket("shop")
    body = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2]}), body)
    s3.put("shop", {f"raw/orders/part-{index}.parquet": body.getvalue() for index in range(2)})
    source = {"kind": "s3", "bucket": "shop", "prefix": "raw/", "region": "us-east-1",
              "endpoint_url": s3.endpoint_url}
    found = lake_results(tmp_path, source, "orders", "parquet", [{"volume": {"min": 100}}])
    query = found["orders.volume"].query
    assert query is not None and "read_parquet('s3://shop/raw/orders/*.parquet')" in query
    assert "AKIA" not in query and "secret" not in query.lower()
