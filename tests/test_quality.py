"""The quality check end to end: Pandera schemas run by `demon check` on DuckDB files and PostgreSQL.

Schemas live beside demon.yml as real modules or Pandera YAML files, as users write them. Most tests
go through the CLI in-process (click's CliRunner); a few run the `demon` console script in a
subprocess, where the working directory and sys.path are the process's own. Request counts come
from the SQL source itself (`SqlSource.requests`), called directly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandera.pandas as pa
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from checks.probes import Validation
from checks.quality.plan import build_plan
from checks.quality.rules import QualityPlan
from checks.sources.dialects import spill_folder
from checks.sources.settings import SqlSourceConfig
from checks.sources.sql import SqlSource
from monitor.app.cli import main
from monitor.core.config.models import DatasetConfig
from monitor.core.evidence import QualityReport
from monitor.core.redact import Redactor
from tests.warehouse import execute, write_config

DEMON = Path(sys.executable).with_name("demon")
ROWS = 1000
# 1000 orders; rows 1..600 are in the `eu` region. Failing rows, over all rows / over `eu` only:
# amount < 0 every 100th (10 / 6), status 'lost' every 250th (4 / 2), a malformed (pii) email every
# 200th (5 / 3), amount >= 1000 from id 667 on except the negative ones (330 / 0), ids that are
# multiples of 7 (142 / 85).
ORDERS_SQL = [
    "CREATE TABLE orders (id INTEGER, amount DOUBLE PRECISION, status VARCHAR(20), email VARCHAR(100),"
    " region VARCHAR(5))",
    "INSERT INTO orders SELECT g, CASE WHEN g % 100 = 0 THEN -1.5 ELSE g * 1.5 END,"
    " CASE WHEN g % 250 = 0 THEN 'lost' WHEN g % 2 = 0 THEN 'shipped' ELSE 'new' END,"
    " CASE WHEN g % 200 = 0 THEN 'PII-SECRET-' || g ELSE 'secret' || g || '@pii.example' END,"
    " CASE WHEN g <= 600 THEN 'eu' ELSE 'us' END"
    f" FROM generate_series(1, {ROWS}) AS t(g)",
]
PII_MARKERS = ("pii.example", "PII-SECRET")
ORDERS_MODULE = """
    import pandera.pandas as pa

    class Orders(pa.DataFrameModel):
        id: int = pa.Field(unique=True, ge=1)
        amount: float = pa.Field(ge=0)
        status: str = pa.Field(isin=["new", "shipped"])
        email: str = pa.Field(str_matches=r"[^@]+@[^@]+")
        region: str = pa.Field(isin=["eu", "us"])

        @pa.check("amount")
        def below_1000(cls, amount):
            return amount < 1000

        @pa.check("email")
        def no_pii_marker(cls, email):
            return ~email.str.startswith("PII-")

        @pa.dataframe_check
        def id_not_multiple_of_7(cls, frame):
            return frame["id"] % 7 != 0

    ORDERS = pa.DataFrameSchema(
        {
            "id": pa.Column(int, pa.Check.ge(1), unique=True),
            "amount": pa.Column(float, pa.Check.ge(0)),
            "status": pa.Column(str, pa.Check.isin(["new", "shipped"])),
        }
    )
"""
AMOUNT_GE = ("amount", "greater_than_or_equal_to(0)")
STATUS_ISIN = ("status", "isin(['new', 'shipped'])")
EMAIL_MATCHES = ("email", "str_matches('[^@]+@[^@]+')")
BELOW_1000 = ("amount", "below_1000")
NO_PII_MARKER = ("email", "no_pii_marker")
MULTIPLE_OF_7 = (None, "id_not_multiple_of_7")


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def forget_schema_modules(tmp_path: Path) -> Iterator[None]:
    """Schema modules of one test must not be reused by the next: they share names like `schemas`."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]




@pytest.fixture
def duck(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


def write_module(directory: Path, name: str, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def quality(schema: str, **params: Any) -> dict[str, Any]:
    return {"quality": {"schema": schema, **params}}


def config(
    directory: Path, url: str, table: str, *checks: dict[str, Any], source_extra: str = "", **dataset: Any
) -> Path:
    """demon.yml in `directory`: one dataset `d` on `table` with the given checks (tests.warehouse style)."""
    body = {"d": {"source": "warehouse", "table": table, **dataset, "checks": list(checks)}}
    block = textwrap.indent(yaml.safe_dump(body, sort_keys=False), "  ")
    return write_config(directory, url, block, source_extra=source_extra)


def check_json(path: Path | str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "-c", str(path), "--format", "json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.stderr
    return result.exit_code, json.loads(result.stdout)


def only(document: dict[str, Any]) -> dict[str, Any]:
    (result,) = document["results"]
    assert isinstance(result, dict)
    return result


def rules(result: dict[str, Any]) -> dict[tuple[str | None, str], dict[str, Any]]:
    found = {(rule["column"], rule["check"]): rule for rule in result["details"]["rules"]}
    assert len(found) == len(result["details"]["rules"]), "two rules with one (column, check)"
    return found


def failing(result: dict[str, Any]) -> dict[tuple[str | None, str], int]:
    return {key: rule["failing_rows"] for key, rule in rules(result).items() if rule["failing_rows"]}


@contextmanager
def warehouse_statements() -> Iterator[list[str]]:
    """The statements sent to the warehouse (DuckDB or PostgreSQL; the state store is SQLite)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn.engine.url.get_backend_name() != "sqlite":
            seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


def seed_orders(url: str) -> None:
    execute(url, ORDERS_SQL)


def orders_config(directory: Path, url: str, **params: Any) -> Path:
    """The orders dataset with the Orders model beside demon.yml; extra keys go to the dataset."""
    write_module(directory, "schemas", ORDERS_MODULE)
    check = quality("schemas:Orders", **params.pop("check", {}))
    return config(directory, url, "orders", check, pii_columns=["email"], **params)


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# --- results ---------------------------------------------------------------------------------------


def test_a_data_frame_model_reports_every_rule(tmp_path: Path, warehouse_url: str) -> None:
    seed_orders(warehouse_url)
    code, document = check_json(orders_config(tmp_path, warehouse_url))
    result = only(document)
    assert (result["outcome"], result["kind"], result["unit"], code) == ("fail", "quality", "rows", 1)
    assert failing(result) == {
        AMOUNT_GE: 10, STATUS_ISIN: 4, EMAIL_MATCHES: 5,
        BELOW_1000: 330, NO_PII_MARKER: 5, MULTIPLE_OF_7: 142,
    }
    assert result["value"] == 330  # the worst rule's failing rows
    assert result["details"]["rows"] == ROWS and result["details"]["sample_rows"] == ROWS
    assert result["message"].startswith("6 rules failing (over 1,000 rows, on a sample of 1,000 rows): ")
    assert "amount below_1000: 330 rows (33%) on the sample" in result["message"]

    found = rules(result)
    assert {key for key, rule in found.items() if rule["mode"] == "on_sample"} == {
        BELOW_1000, NO_PII_MARKER, MULTIPLE_OF_7
    }
    assert found[("id", "field_uniqueness")]["failing_rows"] == 0
    assert found[("id", "dtype('int64')")] == {
        "column": "id", "check": "dtype('int64')", "mode": "in_warehouse", "rows": ROWS,
        "failing_rows": 0, "failing_pct": 0.0,
    }
    amount = found[AMOUNT_GE]
    assert (amount["mode"], amount["rows"], amount["failing_pct"]) == ("in_warehouse", ROWS, 0.01)
    assert amount["values"] == [-1.5] * 10
    assert len(amount["sample"]) == 10
    assert all(set(row) == {"id", "amount", "status", "region"} for row in amount["sample"])
    assert sorted(row["id"] for row in amount["sample"]) == list(range(100, 1001, 100))
    assert found[STATUS_ISIN]["values"] == ["lost"] * 4
    assert {row["id"] for row in found[STATUS_ISIN]["sample"]} == {250, 500, 750, 1000}
    below = found[BELOW_1000]
    assert (below["rows"], below["failing_pct"]) == (ROWS, 0.33)
    assert len(below["values"]) == 10 and all(value >= 1000 for value in below["values"])
    frame_check = found[MULTIPLE_OF_7]
    assert "values" not in frame_check  # a check of the whole frame has no column to show
    assert [row["id"] % 7 for row in frame_check["sample"]] == [0] * 10


def test_a_data_frame_schema_by_import_path(tmp_path: Path, duck: str) -> None:
    seed_orders(duck)
    write_module(tmp_path, "schemas", ORDERS_MODULE)
    code, document = check_json(config(tmp_path, duck, "orders", quality("schemas:ORDERS")))
    result = only(document)
    assert failing(result) == {AMOUNT_GE: 10, STATUS_ISIN: 4}
    assert result["details"]["sample_rows"] is None  # nothing left for a sample: none was read
    assert all(rule["mode"] == "in_warehouse" for rule in result["details"]["rules"])
    assert code == 1


def test_where_scopes_compiled_rules_samples_and_custom_checks(tmp_path: Path, warehouse_url: str) -> None:
    seed_orders(warehouse_url)
    _, document = check_json(orders_config(tmp_path, warehouse_url, where="region = 'eu'"))
    result = only(document)
    assert result["details"]["rows"] == 600 and result["details"]["sample_rows"] == 600
    assert failing(result) == {
        AMOUNT_GE: 6, STATUS_ISIN: 2, EMAIL_MATCHES: 3, NO_PII_MARKER: 3, MULTIPLE_OF_7: 85,
    }
    found = rules(result)
    assert found[BELOW_1000]["failing_rows"] == 0  # every failure lies outside the scope
    samples = [row for rule in found.values() for row in rule.get("sample", [])]
    assert samples and {row["region"] for row in samples} == {"eu"}
    assert all(rule["rows"] == 600 for rule in found.values())


def test_custom_checks_run_on_a_bounded_sample(tmp_path: Path, duck: str) -> None:
    seed_orders(duck)
    _, document = check_json(orders_config(tmp_path, duck, check={"sample": 50}))
    result = only(document)
    assert result["details"]["sample_rows"] == 50
    found = rules(result)
    for key in (BELOW_1000, NO_PII_MARKER, MULTIPLE_OF_7):
        assert (found[key]["mode"], found[key]["rows"]) == ("on_sample", 50)
        assert found[key]["failing_rows"] <= 50
    assert found[AMOUNT_GE]["rows"] == ROWS  # compiled rules still count every row
    assert found[AMOUNT_GE]["failing_rows"] == 10
    assert "on a sample of 50 rows" in result["message"]


def test_a_custom_check_that_raises_is_an_error_naming_it(tmp_path: Path, duck: str) -> None:
    seed_orders(duck)
    write_module(tmp_path, "broken", """
        import pandera.pandas as pa

        class Orders(pa.DataFrameModel):
            id: int

            @pa.check("id")
            def explodes(cls, ids):
                raise RuntimeError("no such luck")
    """)
    code, document = check_json(config(tmp_path, duck, "orders", quality("broken:Orders")))
    result = only(document)
    assert result["outcome"] == "error" and code == 3
    assert result["message"].startswith("rule id explodes could not run: ")
    assert "no such luck" in result["message"]
    assert rules(result)[("id", "explodes")]["mode"] == "on_sample"


ODD_TABLE = {
    "duckdb": [
        'CREATE TABLE odd ("order" INTEGER, "Unit Price" NUMERIC(12, 2), ts TIMESTAMP, d DATE,'
        " flag BOOLEAN, b BLOB)",
        "INSERT INTO odd VALUES (1, -2.50, '2024-01-02 03:04:05', '2024-01-02', true, '\\xAA\\xBB'::BLOB),"
        " (2, 3.00, NULL, NULL, NULL, NULL)",
    ],
    "postgresql": [
        'CREATE TABLE odd ("order" INTEGER, "Unit Price" NUMERIC(12, 2), ts TIMESTAMP, d DATE,'
        " flag BOOLEAN, b BYTEA)",
        "INSERT INTO odd VALUES (1, -2.50, '2024-01-02 03:04:05', '2024-01-02', true, '\\xaabb'::BYTEA),"
        " (2, 3.00, NULL, NULL, NULL, NULL)",
    ],
}


def test_quoted_names_and_every_type_reach_the_json_sample(tmp_path: Path, warehouse_url: str) -> None:
    execute(warehouse_url, ODD_TABLE[warehouse_url.split(":")[0].split("+")[0]])
    write_module(tmp_path, "odd", """
        import pandas as pd
        import pandera.pandas as pa

        Odd = pa.DataFrameSchema(
            {
                "order": pa.Column(int, pa.Check.le(1)),
                "Unit Price": pa.Column(float, pa.Check.ge(0)),
                # a pandas Timestamp in the rule: bound, not inlined (it has no literal in SQLAlchemy)
                "ts": pa.Column("datetime64[ns]", pa.Check.ge(pd.Timestamp("2024-01-03")), nullable=True),
                "d": pa.Column(nullable=True),
                "flag": pa.Column(bool, nullable=True),
                "b": pa.Column(nullable=True),
            },
            checks=[pa.Check(lambda frame: frame["order"] < 2, name="order_below_2")],
        )
    """)
    code, document = check_json(config(tmp_path, warehouse_url, "odd", quality("odd:Odd")))
    result = only(document)
    assert failing(result) == {
        ("order", "less_than_or_equal_to(1)"): 1,
        ("Unit Price", "greater_than_or_equal_to(0)"): 1,
        ("ts", "greater_than_or_equal_to(2024-01-03 00:00:00)"): 1,
        (None, "order_below_2"): 1,
    }
    found = rules(result)
    assert found[("Unit Price", "greater_than_or_equal_to(0)")]["sample"] == [{
        "order": 1, "Unit Price": "-2.50", "ts": "2024-01-02T03:04:05", "d": "2024-01-02", "flag": True,
        "b": "aabb",
    }]
    assert found[(None, "order_below_2")]["sample"] == [{
        "order": 2, "Unit Price": "3.00", "ts": None, "d": None, "flag": None, "b": None,
    }]
    assert found[("ts", "dtype('datetime64[ns]')")]["failing_rows"] == 0
    assert code == 1


# --- pii and hostile values ------------------------------------------------------------------------


def test_pii_values_never_leave_the_warehouse(tmp_path: Path, warehouse_url: str) -> None:
    seed_orders(warehouse_url)
    _, document = check_json(orders_config(tmp_path, warehouse_url))
    text = json.dumps(document)
    assert not [marker for marker in PII_MARKERS if marker in text]
    found = rules(only(document))
    for key in (EMAIL_MATCHES, NO_PII_MARKER):  # the pii column fails, in the warehouse and on a sample
        assert found[key]["failing_rows"] == 5
        assert "values" not in found[key]
        assert found[key]["sample"] and all("email" not in row for row in found[key]["sample"])
    assert all("email" not in row for rule in found.values() for row in rule.get("sample", []))


def test_a_duplicated_pii_value_is_not_in_the_statements(tmp_path: Path, warehouse_url: str) -> None:
    """The uniqueness sample selects the rows of the duplicated value the count found; the statement
    shown in the result has a placeholder for it, as the value is data of a pii column."""
    execute(warehouse_url, [
        "CREATE TABLE people (id INTEGER, email VARCHAR(40))",
        "INSERT INTO people VALUES (1, 'secret.one@example.com'), (2, 'secret.one@example.com'),"
        " (3, 'b@x.io')",
    ])
    write_module(tmp_path, "people_schema", """
        import pandera.pandas as pa

        class People(pa.DataFrameModel):
            id: int
            email: str = pa.Field(unique=True)
    """)
    path = config(tmp_path, warehouse_url, "people", quality("people_schema:People"), pii_columns=["email"])
    code, document = check_json(path)
    result = only(document)
    assert result["outcome"] == "fail" and code == 1
    unique = rules(result)[("email", "field_uniqueness")]
    assert unique["failing_rows"] == 2 and "values" not in unique
    assert sorted(row["id"] for row in unique["sample"]) == [1, 2]
    assert any(":duplicated" in statement for statement in result["statements"])
    assert "secret.one" not in json.dumps(document)


UNIQUE_IDS_MODULE = """
    import pandera.pandas as pa

    IDS = pa.DataFrameSchema(
        {"id": pa.Column(int, unique=True, nullable=True), "region": pa.Column(str)}, unique=["id", "region"]
    )
"""


@pytest.mark.parametrize("duplicated", [False, True])
def test_uniqueness_groups_the_table_only_when_a_key_is_duplicated(
    tmp_path: Path, warehouse_url: str, duplicated: bool
) -> None:
    """On PostgreSQL the fused statement counts distinct keys, and only a duplicated one costs a grouping
    statement, for the failing rows of the rule that has one; on DuckDB, where a grouping costs what a
    distinct count does, the fused statement groups the keys itself (once per rule: a materialised CTE read
    for the failing rows and a duplicated value). Either way a failing rule costs a sample of its rows."""
    execute(warehouse_url, [
        "CREATE TABLE ids (id INTEGER, region VARCHAR(5))",
        "INSERT INTO ids VALUES (1, 'eu'), (2, 'eu'), (3, 'us'), (NULL, 'us'), (NULL, 'eu')"
        + (", (3, 'us'), (3, 'eu'), (NULL, 'us')" if duplicated else ""),
    ])
    write_module(tmp_path, "ids_schema", UNIQUE_IDS_MODULE)
    path = config(tmp_path, warehouse_url, "ids", quality("ids_schema:IDS"))
    with warehouse_statements() as ran:
        code, document = check_json(path)
    result = only(document)
    fused = result["statements"][0]
    grouped = warehouse_url.startswith("duckdb")
    if grouped:
        assert "count(DISTINCT" not in fused and fused.count("AS MATERIALIZED") == 2
    else:
        assert "count(DISTINCT" in fused and "GROUP BY" not in fused
    if not duplicated:
        assert result["outcome"] == "pass" and code == 0
        assert len(result["statements"]) == 1 and len(ran) == 2  # the metadata, the fused statement
        return
    # nulls are no duplicates of one column, but equal to each other in a key of several
    assert failing(result) == {("id", "field_uniqueness"): 3, ("id, region", "multiple_fields_uniqueness"): 4}
    # the fused statement, then per failing rule its grouping (not on DuckDB) and its sample
    counts = [statement for statement in result["statements"][1:] if "sum(demon_dup.n)" in statement]
    samples = [statement for statement in result["statements"][1:] if "LIMIT 10" in statement]
    assert len(samples) == 2 and len(counts) == (0 if grouped else 2)
    assert len(result["statements"]) == 1 + len(counts) + len(samples) and len(ran) == 2 + len(counts) + 2
    # the sample of the one-column rule shows the rows of the least duplicated value the count found
    unique = rules(result)[("id", "field_uniqueness")]
    assert sorted(row["region"] for row in unique["sample"]) == ["eu", "us", "us"]


def test_work_mem_is_set_for_the_statements_reading_rows(
    tmp_path: Path, postgres_url: str, statements: list[str]
) -> None:
    """`work_mem` of a PostgreSQL source: SET LOCAL in the transactions of the fused statement and of the
    grouping, not in the metadata statement's."""
    execute(postgres_url, ["CREATE TABLE ids (id INTEGER, region VARCHAR(5))",
                           "INSERT INTO ids VALUES (1, 'eu'), (1, 'us'), (2, 'eu')"])
    write_module(tmp_path, "ids_schema", UNIQUE_IDS_MODULE)
    memory = "    work_mem: 64MB\n"
    path = config(tmp_path, postgres_url, "ids", quality("ids_schema:IDS"), source_extra=memory)
    statements.clear()
    _, document = check_json(path)
    assert failing(only(document)) == {("id", "field_uniqueness"): 2}
    sets = [index for index, statement in enumerate(statements) if statement == "SET LOCAL work_mem = '64MB'"]
    after = [statements[index + 1] for index in sets]
    assert len(after) == 3 and "count(DISTINCT" in after[0] and "GROUP BY" in after[1] and "LIMIT" in after[2]
    assert not any("pg_catalog" in statement for statement in after)


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(("key", "url", "refused"), [
    ("work_mem", "duckdb:///warehouse.duckdb", "applies to PostgreSQL sources only, not duckdb"),
    ("memory_limit", "postgresql://demon@127.0.0.1:1/db", "applies to DuckDB sources only, not postgresql"),
    ("memory_limit", "duckdb:///MD:analytics", "applies to local DuckDB databases, not MotherDuck"),
])
def test_a_memory_setting_is_refused_on_another_database(
    tmp_path: Path, key: str, url: str, refused: str
) -> None:
    """Named at its own line and key; a size without its unit or in another unit says what to write."""
    for value, problem in (("64MB", refused),
                           ("lots", "expected a memory size like 256MB (kB, MB, GB or TB), got 'lots'"),
                           ("1GiB", "expected a memory size like 256MB (kB, MB, GB or TB), got '1GiB'"),
                           ("128", "got 128: add a unit, as in 128MB")):
        path = config(tmp_path, url, "ids", {"volume": {"min": 1}}, source_extra=f"    {key}: {value}\n")
        result = CliRunner().invoke(main, ["validate", "-c", str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"demon.yml:{line_of(path, key)}: sources.warehouse.{key}: " in result.output, result.output
        assert problem in result.output


def test_memory_limit_bounds_duckdb_which_spills_to_a_folder_of_demons_own(tmp_path: Path, duck: str) -> None:
    """A DuckDB source's `memory_limit` reaches its connections; a grouping of 1.5M keys, far past 32MB,
    spills (else DuckDB fails for want of memory) to a private folder of demon's, not beside the database,
    which holds nothing once the check is done."""
    execute(duck, ["CREATE TABLE ids AS SELECT range % 1500000 AS id FROM range(1600000)"])
    write_module(tmp_path, "ids_schema", """
        import pandera.pandas as pa

        IDS = pa.DataFrameSchema({"id": pa.Column(int, unique=True)})
    """)
    applied = ("SELECT count(*) FROM duckdb_settings() WHERE name = 'memory_limit' AND value = '30.5 MiB'"
               " OR name = 'temp_directory' AND value LIKE '%demon-duckdb-%'")
    metric, limit = {"metric": {"name": "applied", "sql": applied, "min": 2}}, "    memory_limit: 32MB\n"
    path = config(tmp_path, duck, "ids", quality("ids_schema:IDS"), metric, source_extra=limit)
    _, document = check_json(path)
    checked, setting = document["results"]
    assert failing(checked) == {("id", "field_uniqueness"): 200_000} and checked["outcome"] == "fail"
    assert setting["outcome"] == "pass" and setting["value"] == 2
    assert [found.name for found in tmp_path.glob("warehouse*")] == ["warehouse.duckdb"]
    folder = Path(spill_folder(str(tmp_path / "warehouse.duckdb")))  # the one the check used, made then
    assert folder.parent == Path(tempfile.gettempdir()) and folder.stat().st_mode & 0o777 == 0o700
    assert not list(folder.iterdir())


@pytest.mark.parametrize("query", ["memory_limit=1GB", "MAX_MEMORY=1GB", "temp_directory=/tmp/x",
                                   "threads=2&Max_Temp_Directory_Size=1GB"])
def test_a_duckdb_url_may_not_say_where_or_when_to_spill(tmp_path: Path, query: str) -> None:
    """DuckDB told its memory or temporary folder by the URL would spill beside the database it reads."""
    path = config(tmp_path, f"duckdb:///warehouse.duckdb?{query}", "ids", {"volume": {"min": 1}})
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    assert f"demon.yml:{line_of(path, 'url:')}: sources.warehouse.url: " in result.output, result.output
    assert "in a DuckDB URL: give the source memory_limit instead" in result.output


def test_pii_columns_are_hidden_whatever_their_case_in_the_schema(tmp_path: Path, duck: str) -> None:
    """pii_columns name the table's columns; the schema may spell them in another case (names match
    case-insensitively), and their values must stay hidden all the same."""
    seed_orders(duck)
    write_module(tmp_path, "upper", """
        import pandera.pandas as pa

        class Orders(pa.DataFrameModel):
            id: int
            EMAIL: str = pa.Field(str_matches=r"[^@]+@[^@]+")

            @pa.check("EMAIL")
            def no_pii_marker(cls, email):
                return ~email.str.startswith("PII-")
    """)
    path = config(tmp_path, duck, "orders", quality("upper:Orders"), pii_columns=["email"])
    _, document = check_json(path)
    assert failing(only(document)) == {
        ("EMAIL", "str_matches('[^@]+@[^@]+')"): 5, ("EMAIL", "no_pii_marker"): 5,
    }
    text = json.dumps(document)
    assert not [marker for marker in PII_MARKERS if marker in text]


def test_hostile_values_are_shown_as_data_and_cut_to_200_characters(tmp_path: Path, duck: str) -> None:
    long = "x" * 5000
    execute(duck, [
        "CREATE TABLE notes (id INTEGER, body VARCHAR)",
        "INSERT INTO notes VALUES (1, '<!channel> ping'), (3, 'fine'),"
        " (4, 'line one' || chr(10) || 'line two')",
        f"INSERT INTO notes VALUES (2, '{long}')",
    ])
    write_module(tmp_path, "notes", """
        import pandera.pandas as pa

        class Notes(pa.DataFrameModel):
            id: int
            body: str = pa.Field(str_length={"max_value": 10})

            @pa.check("body")
            def short(cls, body):
                return body.str.len() <= 3
    """)
    _, document = check_json(config(tmp_path, duck, "notes", quality("notes:Notes")))
    result = only(document)
    found = rules(result)
    in_warehouse = found[("body", "str_length(None, 10)")]
    on_sample = found[("body", "short")]
    assert in_warehouse["failing_rows"] == 3 and on_sample["failing_rows"] == 4
    cut = "x" * 200 + "..."
    hostile = ["<!channel> ping", cut, "line one\nline two"]
    assert sorted(in_warehouse["values"]) == sorted(hostile)
    assert sorted(on_sample["values"]) == sorted([*hostile, "fine"])
    for rule in (in_warehouse, on_sample):
        assert {row["body"] for row in rule["sample"]} == set(rule["values"])
    assert max(len(text) for text in strings(result["details"])) == len(cut)
    assert "<!channel>" not in result["message"] and "xxxx" not in result["message"]


# --- thresholds ------------------------------------------------------------------------------------

# Rule `a < 96` fails 5 of 100 rows (5%), rule `b != 37` fails 1 (1%).
THRESHOLD_CASES = [
    ({}, "fail", {"max_failing_rows": 0}),
    ({"max_failing_rows": 5}, "pass", {"max_failing_rows": 5}),  # per rule: 5 and 1, not 6 in all
    ({"max_failing_rows": 4}, "fail", {"max_failing_rows": 4}),
    ({"max_failing_pct": "5%"}, "pass", {"max_failing_pct": 0.05}),
    ({"max_failing_pct": "4%"}, "fail", {"max_failing_pct": 0.04}),
    ({"warn_failing_rows": 0}, "warn", {"warn_failing_rows": 0}),  # no fail threshold: never fails
    ({"warn_failing_rows": 10}, "pass", {"warn_failing_rows": 10}),
    ({"warn_failing_rows": 1, "max_failing_rows": 10}, "warn",
     {"warn_failing_rows": 1, "max_failing_rows": 10}),
    ({"warn_failing_pct": "0.5%", "max_failing_pct": "50%"}, "warn",
     {"warn_failing_pct": 0.005, "max_failing_pct": 0.5}),
    ({"warn_failing_pct": "1%", "max_failing_rows": 4}, "fail",
     {"warn_failing_pct": 0.01, "max_failing_rows": 4}),
    ({"warn_failing_pct": "10%", "max_failing_pct": "50%"}, "pass",
     {"warn_failing_pct": 0.1, "max_failing_pct": 0.5}),
]


@pytest.mark.parametrize(("limits", "outcome", "thresholds"), THRESHOLD_CASES)
def test_thresholds_hold_per_rule(
    tmp_path: Path, duck: str, limits: dict[str, Any], outcome: str, thresholds: dict[str, float]
) -> None:
    execute(duck, ["CREATE TABLE t AS SELECT g AS a, g AS b FROM generate_series(1, 100) AS s(g)"])
    write_module(tmp_path, "limits", """
        import pandera.pandas as pa

        class Limits(pa.DataFrameModel):
            a: int = pa.Field(lt=96)
            b: int = pa.Field(ne=37)
    """)
    code, document = check_json(config(tmp_path, duck, "t", quality("limits:Limits", **limits)))
    result = only(document)
    assert result["outcome"] == outcome, result["message"]
    assert result["thresholds"] == thresholds
    assert result["value"] == 5
    assert failing(result) == {("a", "less_than(96)"): 5, ("b", "not_equal_to(37)"): 1}
    assert code == (1 if outcome == "fail" else 0)
    if outcome == "warn":
        assert check_json(config(tmp_path, duck, "t", quality("limits:Limits", **limits)),
                          "--warn-is-failure")[0] == 1


def test_a_clean_table_passes_with_no_failing_rows(tmp_path: Path, duck: str) -> None:
    execute(duck, ["CREATE TABLE t AS SELECT g AS a, g AS b FROM generate_series(1, 100) AS s(g)"])
    write_module(tmp_path, "limits", """
        import pandera.pandas as pa

        class Limits(pa.DataFrameModel):
            a: int = pa.Field(le=100, unique=True)
            b: int = pa.Field(in_range={"min_value": 1, "max_value": 100})
    """)
    code, document = check_json(config(tmp_path, duck, "t", quality("limits:Limits")))
    result = only(document)
    assert (result["outcome"], result["value"], code) == ("pass", 0, 0)
    assert result["message"] == "no failing rows (over 100 rows)"
    assert failing(result) == {}
    (statement,) = result["statements"]  # the fused one; no sample was read
    assert "FROM main.t" in statement and "LIMIT" not in statement


# --- dtypes and strictness -------------------------------------------------------------------------

DTYPE_MODULE = """
    import pandera.pandas as pa

    class Plain(pa.DataFrameModel):
        code: int
        amount: float

    class Coerced(pa.DataFrameModel):
        code: int = pa.Field(coerce=True)
        amount: float

    class CoercedSchema(pa.DataFrameModel):
        code: int
        amount: float

        class Config:
            coerce = True

    class Strict(pa.DataFrameModel):
        code: str

        class Config:
            strict = True

    class WithValues(pa.DataFrameModel):
        code: int = pa.Field(ge=0)
        amount: float = pa.Field(ge=0)
"""


@pytest.fixture
def typed(tmp_path: Path, warehouse_url: str) -> str:
    """A VARCHAR `code` and a NUMERIC `amount` (which a float schema accepts), three rows."""
    execute(warehouse_url, [
        "CREATE TABLE typed (code VARCHAR(10), amount NUMERIC(12, 2))",
        "INSERT INTO typed VALUES ('5', 1.50), ('-1', 2.00), ('x', 3.25)",
    ])
    write_module(tmp_path, "dtypes", DTYPE_MODULE)
    return warehouse_url


def test_a_dtype_mismatch_fails_every_row(tmp_path: Path, typed: str) -> None:
    code, document = check_json(config(tmp_path, typed, "typed", quality("dtypes:Plain")))
    result = only(document)
    assert result["outcome"] == "fail" and code == 1
    assert failing(result) == {("code", "dtype('int64')"): 3}  # decimal satisfies float
    mismatch = rules(result)[("code", "dtype('int64')")]
    assert (mismatch["failing_pct"], mismatch["values"]) == (1.0, ["code is string, expected integer"])
    assert "code dtype('int64'): code is string, expected integer" in result["message"]


def test_coerce_skips_the_dtype_rule(tmp_path: Path, typed: str) -> None:
    _, document = check_json(config(tmp_path, typed, "typed", quality("dtypes:Coerced")))
    result = only(document)
    assert result["outcome"] == "pass"
    assert ("code", "dtype('int64')") not in rules(result)
    assert ("amount", "dtype('float64')") in rules(result)


def test_coerce_on_the_whole_schema_skips_every_dtype_rule(tmp_path: Path, duck: str) -> None:
    """A schema-level `coerce=True` (`Config.coerce`, `DataFrameSchema(coerce=True)`) coerces every column, as
    in Pandera: no dtype rule for any of them."""
    execute(duck, [
        "CREATE TABLE typed (code VARCHAR(10), amount NUMERIC(12, 2))",
        "INSERT INTO typed VALUES ('5', 1.50)",
    ])
    write_module(tmp_path, "dtypes", DTYPE_MODULE)
    _, document = check_json(config(tmp_path, duck, "typed", quality("dtypes:CoercedSchema")))
    result = only(document)
    assert ("code", "dtype('int64')") not in rules(result)
    assert result["outcome"] == "pass", result["message"]


def test_strict_fails_on_an_extra_column(tmp_path: Path, typed: str) -> None:
    _, document = check_json(config(tmp_path, typed, "typed", quality("dtypes:Strict")))
    result = only(document)
    assert result["outcome"] == "fail"
    extra = rules(result)[(None, "column_in_schema")]
    assert (extra["failing_rows"], extra["values"]) == (3, ["amount"])


def test_a_dtype_mismatch_with_value_checks_fails_rather_than_errors(tmp_path: Path, typed: str) -> None:
    """`int` with `ge=0` on a VARCHAR column is a `fail` of the dtype rule, as Pandera reports it: the value
    rule the warehouse would refuse (`code >= 0`) is left out instead of turning the check into `error`."""
    code, document = check_json(config(tmp_path, typed, "typed", quality("dtypes:WithValues")))
    result = only(document)
    assert result["outcome"] == "fail", result["message"]
    assert rules(result)[("code", "dtype('int64')")]["failing_rows"] == 3
    assert rules(result)[("amount", "greater_than_or_equal_to(0)")]["failing_rows"] == 0
    assert code == 1


def test_shape_problems_fail_an_empty_table_too(tmp_path: Path, duck: str) -> None:
    """A dtype mismatch or an extra column fails on an empty table (or an empty `where` scope) too: shape
    rules are judged by their problems, not by failing rows, as Pandera reports a wrong dtype on no rows."""
    execute(duck, ["CREATE TABLE typed (code VARCHAR(10), amount NUMERIC(12, 2))"])
    write_module(tmp_path, "dtypes", DTYPE_MODULE)
    path = config(tmp_path, duck, "typed", quality("dtypes:Plain", name="plain"),
                  quality("dtypes:Strict", name="strict"))
    code, document = check_json(path)
    assert {r["check"]: r["outcome"] for r in document["results"]} == {
        "d.quality.plain": "fail", "d.quality.strict": "fail",
    }
    assert code == 1


# --- where the schema comes from -------------------------------------------------------------------


def test_the_config_folder_comes_first_on_sys_path_wherever_the_cwd(
    tmp_path: Path, duck: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_orders(duck)
    decoy = tmp_path / "decoy"
    write_module(decoy, "schemas", """
        import pandera.pandas as pa
        Orders = pa.DataFrameSchema({"id": pa.Column(int, pa.Check.ge(5000))})
    """)
    project = tmp_path / "project"
    project.mkdir()
    orders_config(project, duck)
    monkeypatch.chdir(decoy)
    monkeypatch.syspath_prepend(str(decoy))
    path_before = list(sys.path)
    code, document = check_json(Path("..") / "project" / "demon.yml")
    assert failing(only(document))[AMOUNT_GE] == 10
    assert ("id", "greater_than_or_equal_to(5000)") not in rules(only(document))
    assert sys.path == path_before  # the config folder is taken off again
    assert code == 1


def test_the_console_script_imports_from_the_config_folder(tmp_path: Path, duck: str) -> None:
    seed_orders(duck)
    decoy = tmp_path / "decoy"
    write_module(decoy, "schemas", "raise RuntimeError('the decoy was imported')\n")
    project = tmp_path / "project"
    project.mkdir()
    path = orders_config(project, duck)
    env = {**os.environ, "PYTHONPATH": str(decoy)}
    done = subprocess.run(
        [DEMON, "check", "-c", str(path), "-f", "json"], cwd=decoy, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert failing(only(json.loads(done.stdout)))[AMOUNT_GE] == 10


def test_a_pandera_yaml_schema_relative_to_the_config(
    tmp_path: Path, duck: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_orders(duck)
    schema = pa.DataFrameSchema({
        "id": pa.Column(int, pa.Check.ge(1), unique=True),
        "amount": pa.Column(float, pa.Check.ge(0)),
        "status": pa.Column(str, pa.Check.isin(["new", "shipped"])),
        "email": pa.Column(str, pa.Check.str_matches(r"[^@]+@[^@]+")),
    })
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "orders.yml").write_text(schema.to_yaml() or "")
    path = config(tmp_path, duck, "orders", quality("schemas/orders.yml"), pii_columns=["email"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, document = check_json(path)
    result = only(document)
    assert failing(result) == {AMOUNT_GE: 10, STATUS_ISIN: 4, EMAIL_MATCHES: 5}
    assert code == 1
    assert not [marker for marker in PII_MARKERS if marker in json.dumps(document)]


def test_a_model_and_its_yaml_share_one_fused_statement(tmp_path: Path, warehouse_url: str) -> None:
    """Two quality checks with the same rules (one by import path, one as YAML): each count runs once."""
    seed_orders(warehouse_url)
    write_module(tmp_path, "schemas", ORDERS_MODULE)
    same_as_module = pa.DataFrameSchema({
        "id": pa.Column(int, pa.Check.ge(1), unique=True),
        "amount": pa.Column(float, pa.Check.ge(0)),
        "status": pa.Column(str, pa.Check.isin(["new", "shipped"])),
    })
    (tmp_path / "orders.yml").write_text(same_as_module.to_yaml() or "")
    path = config(tmp_path, warehouse_url, "orders", quality("schemas:ORDERS", name="model"),
                  quality("orders.yml", name="yaml"), {"volume": {"min": 1}})
    _, document = check_json(path)
    model, from_yaml, volume = document["results"]
    assert failing(model) == failing(from_yaml) == {AMOUNT_GE: 10, STATUS_ISIN: 4}
    # one fused statement for all three checks, then, for each quality check, its failing rules' samples
    statement = volume["statements"][0]
    assert model["statements"][0] == from_yaml["statements"][0] == statement
    assert len(volume["statements"]) == 1 and len(model["statements"]) == 3
    assert all("LIMIT 10" in sample for sample in model["statements"][1:])
    # count(*) shared with the volume check; not_nullable x3, ge(1), ge(0), isin and the uniqueness of
    # id: one expression each, though two checks asked for them (uniqueness is a distinct count, no id is
    # duplicated, so nothing groups the table; on DuckDB one grouping, its count and a duplicated value)
    parts = set(re.findall(r"AS (demon_p\d+)", statement))
    assert statement.count("count(CASE WHEN") == 6
    if warehouse_url.startswith("duckdb"):
        assert len(parts) == 9 and statement.count("GROUP BY id") == 1 and "DISTINCT" not in statement
    else:
        assert len(parts) == 8
        assert statement.count("count(DISTINCT id)") == 1 and "GROUP BY" not in json.dumps(document)


# --- errors ----------------------------------------------------------------------------------------

ERROR_MODULES = {
    "schemas": """
        import pandera.pandas as pa
        N = 3

        class Orders(pa.DataFrameModel):
            id: int
    """,
    "boom": "raise RuntimeError('no warehouse today')\n",
    "syntax": "import pandera.pandas as pa\n\nclass Orders(pa.DataFrameModel)\n    id: int\n",
}
ERROR_FILES = {
    "invalid.yml": "schema_type: dataframe\ncolumns:\n  id: dtype: int64\n",
    "list.yml": "- id\n- amount\n",
    "dtype.yml": "schema_type: dataframe\ncolumns:\n  id:\n    dtype: no_such_type\n",
}
# schema ref -> what the one-line message must say ({dir}: the config's folder)
ERROR_CASES = {
    "nomodule:Orders": ["schema nomodule:Orders: module nomodule not found", "(searched {dir} first)"],
    "schemas:Nope": ["schema schemas:Nope: module schemas has no attribute Nope"],
    "schemas:N": [
        "schema schemas:N: not a Pandera DataFrameModel or pandera.pandas DataFrameSchema (got int)"
    ],
    "boom:Orders": ["schema boom:Orders: importing boom failed: RuntimeError: no warehouse today"],
    "syntax:Orders": ["schema syntax:Orders: {dir}/syntax.py:3: expected ':'"],
    "schemas": ["schema 'schemas': expected module:attr or a .yml/.yaml file"],
    "missing.yml": ["Pandera YAML schema {dir}/missing.yml: No such file or directory"],
    "invalid.yml": ["Pandera YAML schema {dir}/invalid.yml:3: invalid YAML: "],
    "list.yml": ["Pandera YAML schema {dir}/list.yml: not a Pandera schema (no `columns` mapping)"],
    "dtype.yml": ["Pandera YAML schema {dir}/dtype.yml: not a valid schema: ", "no_such_type"],
}


@pytest.mark.parametrize("ref", list(ERROR_CASES))
def test_an_unloadable_schema_is_an_error_with_a_one_line_message(
    tmp_path: Path, duck: str, ref: str
) -> None:
    seed_orders(duck)
    for name, source in ERROR_MODULES.items():
        write_module(tmp_path, name, source)
    for name, text in ERROR_FILES.items():
        (tmp_path / name).write_text(text)
    code, document = check_json(config(tmp_path, duck, "orders", quality(ref), {"volume": {"min": 1}}))
    result, volume = document["results"]
    assert result["outcome"] == "error"
    for part in ERROR_CASES[ref]:
        assert part.format(dir=tmp_path) in result["message"]
    assert "\n" not in result["message"] and "Traceback" not in result["message"]
    assert volume["outcome"] == "pass"  # the other checks of the dataset still run
    assert code == 3


def test_an_error_beside_a_failure_exits_1(tmp_path: Path, duck: str) -> None:
    seed_orders(duck)
    write_module(tmp_path, "schemas", ORDERS_MODULE)
    path = config(tmp_path, duck, "orders", quality("schemas:ORDERS", name="ok"),
                  quality("schemas:Missing", name="bad"))
    code, document = check_json(path)
    assert [r["outcome"] for r in document["results"]] == ["fail", "error"]
    assert code == 1


@pytest.mark.parametrize("where", ["module", "check"])
def test_messages_stay_on_one_line_when_python_errors_do_not(tmp_path: Path, duck: str, where: str) -> None:
    """An exception text with a line break becomes a one-line message (its first line)."""
    seed_orders(duck)
    write_module(tmp_path, "multi", """
        import pandera.pandas as pa
        if RAISE_AT_IMPORT:
            raise ValueError("first line\\nsecond line")

        class Orders(pa.DataFrameModel):
            id: int

            @pa.check("id")
            def explodes(cls, ids):
                raise ValueError("first line\\nsecond line")
    """.replace("RAISE_AT_IMPORT", str(where == "module")))
    _, document = check_json(config(tmp_path, duck, "orders", quality("multi:Orders")))
    result = only(document)
    assert result["outcome"] == "error"
    assert "first line" in result["message"]
    assert "\n" not in result["message"]


def test_a_schema_module_calling_sys_exit_does_not_end_the_run(tmp_path: Path, duck: str) -> None:
    """`sys.exit()` while importing a schema module ends only that check, as `error`, not the whole run (nor a
    daemon's job)."""
    seed_orders(duck)
    write_module(tmp_path, "quits", "import sys\nsys.exit(2)\n")
    path = config(tmp_path, duck, "orders", quality("quits:Orders"), {"volume": {"min": 1}})
    result = CliRunner().invoke(main, ["check", "-c", str(path), "--format", "json"])
    assert result.stdout, f"no results printed; exit {result.exit_code}"
    document = json.loads(result.stdout)
    assert [r["outcome"] for r in document["results"]] == ["error", "pass"]
    assert "importing quits failed: SystemExit" in document["results"][0]["message"]
    assert result.exit_code == 3


def test_a_missing_required_column_is_an_error_listing_the_columns(
    tmp_path: Path, warehouse_url: str
) -> None:
    seed_orders(warehouse_url)
    write_module(tmp_path, "columns", """
        import pandera.pandas as pa

        class Orders(pa.DataFrameModel):
            id: int = pa.Field(ge=1)
            discount: float = pa.Field(ge=0)
    """)
    code, document = check_json(config(tmp_path, warehouse_url, "orders", quality("columns:Orders")))
    result = only(document)
    assert result["outcome"] == "error" and code == 3
    assert "column discount not found in" in result["message"]
    assert "orders (columns: id, amount, status, email, region)" in result["message"]
    assert "\n" not in result["message"]


def test_a_missing_optional_column_skips_its_rules(tmp_path: Path, duck: str) -> None:
    seed_orders(duck)
    write_module(tmp_path, "columns", """
        from typing import Optional

        import pandera.pandas as pa

        class Orders(pa.DataFrameModel):
            id: int = pa.Field(ge=1)
            discount: Optional[float] = pa.Field(ge=0)
    """)
    code, document = check_json(config(tmp_path, duck, "orders", quality("columns:Orders")))
    result = only(document)
    assert (result["outcome"], code) == ("pass", 0)
    assert all(rule["column"] != "discount" for rule in result["details"]["rules"])
    assert ("id", "greater_than_or_equal_to(1)") in rules(result)


def test_custom_checks_of_a_missing_optional_column_are_not_reported_as_run(
    tmp_path: Path, duck: str
) -> None:
    """A custom check on an absent optional column is not reported as run: Pandera skips it, and so do the
    results."""
    seed_orders(duck)
    write_module(tmp_path, "columns", """
        from typing import Optional

        import pandera.pandas as pa

        class Orders(pa.DataFrameModel):
            id: int = pa.Field(ge=1)
            discount: Optional[float] = pa.Field(ge=0)

            @pa.check("discount")
            def small(cls, discount):
                return discount < 0.5
    """)
    _, document = check_json(config(tmp_path, duck, "orders", quality("columns:Orders")))
    result = only(document)
    assert result["outcome"] == "pass"
    assert [rule for rule in result["details"]["rules"] if rule["column"] == "discount"] == []


def test_coerced_columns_are_checked_as_their_coerced_type(tmp_path: Path, duck: str) -> None:
    """`coerce=True` with a value check on a VARCHAR column is judged as Pandera judges it (a value that does
    not coerce fails), not turned into `error` by a comparison the warehouse refuses."""
    execute(duck, [
        "CREATE TABLE typed (code VARCHAR(10), amount NUMERIC(12, 2))",
        "INSERT INTO typed VALUES ('5', 1.50), ('-1', 2.00), ('x', 3.25)",
    ])
    write_module(tmp_path, "coerced", """
        import pandera.pandas as pa

        class Coerced(pa.DataFrameModel):
            code: int = pa.Field(ge=0, coerce=True)
    """)
    code, document = check_json(config(tmp_path, duck, "typed", quality("coerced:Coerced")))
    result = only(document)
    assert result["outcome"] == "fail", result["message"]
    assert not [rule for rule in result["details"]["rules"] if "error" in rule]
    assert code == 1


def test_a_yaml_file_that_is_no_pandera_schema_is_an_error(tmp_path: Path, duck: str) -> None:
    """A YAML mapping that is not a Pandera schema (`hello: world`, an empty file) is refused rather than
    loaded as an empty schema that checks nothing."""
    seed_orders(duck)
    (tmp_path / "mapping.yml").write_text("hello: world\n")
    (tmp_path / "empty.yml").write_text("")
    path = config(tmp_path, duck, "orders", quality("mapping.yml", name="mapping"),
                  quality("empty.yml", name="empty"))
    code, document = check_json(path)
    assert [r["outcome"] for r in document["results"]] == ["error", "error"]
    assert all("not a valid schema" in r["message"] or "not a Pandera" in r["message"]
               for r in document["results"])
    assert code == 3


def test_a_statement_timeout_interrupts_the_run(tmp_path: Path, warehouse_url: str) -> None:
    """A view that would take minutes to count is stopped by query_timeout; the check says so."""
    slow = (
        "CREATE VIEW huge AS SELECT range AS id FROM range(100000000000)"
        if warehouse_url.startswith("duckdb")
        else "CREATE VIEW huge AS SELECT 1 AS id FROM pg_sleep(120)"
    )
    execute(warehouse_url, [slow])
    write_module(tmp_path, "huge", """
        import pandera.pandas as pa

        class Huge(pa.DataFrameModel):
            id: int = pa.Field(ge=0)
    """)
    timeout = "    query_timeout: 1s\n"
    path = config(tmp_path, warehouse_url, "huge", quality("huge:Huge"), source_extra=timeout)
    started = time.monotonic()
    code, document = check_json(path)
    result = only(document)
    assert result["outcome"] == "error" and code == 3
    assert "timed out after 1s" in result["message"]
    assert "\n" not in result["message"]
    assert time.monotonic() - started < 60


# --- statements ------------------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path, warehouse_url: str) -> Iterator[SqlSource]:
    seed_orders(warehouse_url)
    opened = SqlSource("warehouse", SqlSourceConfig(kind="sql", url=warehouse_url), tmp_path, Redactor())
    opened.ping()
    yield opened
    opened.close()


ORDERS = DatasetConfig(source="warehouse", table="orders")
CLEAN = pa.DataFrameSchema(
    {"id": pa.Column(int, pa.Check.ge(1), unique=True), "amount": pa.Column(float), "region": pa.Column(str)},
    unique=["id", "region"],
)
TWO_FAILING = pa.DataFrameSchema({
    "id": pa.Column(int, pa.Check.le(ROWS)),
    "amount": pa.Column(float, pa.Check.ge(0)),
    "status": pa.Column(str, pa.Check.isin(["new", "shipped"])),
})
WITH_CUSTOM = TWO_FAILING.add_columns({"region": pa.Column(str, pa.Check(lambda s: s != "eu"))})


def plan_of(schema: Any, ref: str = "orders", sample: int = 100) -> QualityPlan:
    return build_plan(schema, ref, sample=sample, scope="all", pii=[])


def validate(source: SqlSource, *plans: QualityPlan) -> tuple[list[QualityReport], int]:
    """The reports of one observe() of these plans, and how many statements it ran."""
    before = source.requests["statement"]
    observed = source.observe(ORDERS, [Validation(plan) for plan in plans])
    answers = [observed[Validation(plan)] for plan in plans]
    assert all(answer.ok and isinstance(answer.value, QualityReport) for answer in answers), answers
    return [answer.value for answer in answers], source.requests["statement"] - before


def test_nothing_failing_costs_a_metadata_and_one_fused_statement(source: SqlSource) -> None:
    (report,), statements = validate(source, plan_of(CLEAN))
    assert statements == 2
    assert report.rows == ROWS and report.sample_rows is None
    assert {rule.check for rule in report.rules} >= {"dtype('int64')", "field_uniqueness",
                                                     "multiple_fields_uniqueness", "not_nullable"}
    assert all(rule.failing == 0 and rule.mode == "in_warehouse" for rule in report.rules)


def test_each_failing_rule_adds_one_sample_statement(source: SqlSource) -> None:
    (report,), statements = validate(source, plan_of(TWO_FAILING))
    assert statements == 2 + 2
    assert {(rule.column, rule.check): rule.failing for rule in report.rules if rule.failing} == {
        AMOUNT_GE: 10, STATUS_ISIN: 4,
    }


def test_custom_checks_add_one_statement_for_their_sample(source: SqlSource) -> None:
    (report,), statements = validate(source, plan_of(WITH_CUSTOM, sample=700))
    assert statements == 2 + 2 + 1
    assert report.sample_rows == 700
    (custom,) = [rule for rule in report.rules if rule.mode == "on_sample"]
    assert custom.rows == 700 and custom.column == "region"


def test_equal_plans_run_once_and_equal_rules_are_counted_once(source: SqlSource) -> None:
    (first, second), statements = validate(source, plan_of(CLEAN), plan_of(CLEAN))
    assert statements == 2 and first == second
    # two checks with the same rules but another ref and sample size (two plans) still share the counts
    (one, other), statements = validate(source, plan_of(CLEAN), plan_of(CLEAN, ref="copy.yml", sample=5))
    assert statements == 2 and one.rules == other.rules
    # and the samples of their failing rules: 2 + one per failing rule, not per check
    (one, other), statements = validate(
        source, plan_of(TWO_FAILING), plan_of(TWO_FAILING, ref="copy.yml", sample=5)
    )
    assert statements == 2 + 2 and one.rules == other.rules


# --- schema changes in a running process -----------------------------------------------------------


def test_an_edited_schema_module_is_reloaded(tmp_path: Path, duck: str) -> None:
    seed_orders(duck)
    module = write_module(tmp_path, "edited", """
        import pandera.pandas as pa
        Orders = pa.DataFrameSchema({"amount": pa.Column(float, pa.Check.ge(0))})
    """)
    (tmp_path / "edited.yml").write_text(
        pa.DataFrameSchema({"id": pa.Column(int, pa.Check.le(990))}).to_yaml() or ""
    )
    path = config(tmp_path, duck, "orders", quality("edited:Orders", name="module"),
                  quality("edited.yml", name="yaml"))
    _, first = check_json(path)
    assert [failing(r) for r in first["results"]] == [
        {AMOUNT_GE: 10}, {("id", "less_than_or_equal_to(990)"): 10},
    ]

    module.write_text(module.read_text().replace("pa.Check.ge(0)", "[pa.Check.ge(-10), pa.Check.le(10)]"))
    (tmp_path / "edited.yml").write_text(
        pa.DataFrameSchema({"id": pa.Column(int, pa.Check.le(900))}).to_yaml() or ""
    )
    later = time.time() + 5  # another mtime, whatever the file system's clock resolution
    for edited in (module, tmp_path / "edited.yml"):
        os.utime(edited, (later, later))
    _, second = check_json(path)
    assert [failing(r) for r in second["results"]] == [
        {("amount", "less_than_or_equal_to(10)"): 984}, {("id", "less_than_or_equal_to(900)"): 100},
    ]


RELOAD_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from click.testing import CliRunner
from monitor.app.cli import main

config, module = Path(sys.argv[1]), Path(sys.argv[2])
second = int(time.time()) + 10
counts = []
for bound, offset in (("1", 0.1), ("7", 0.6)):  # same size, same whole second, another mtime
    module.write_text(module.read_text().replace("le(1)", f"le({bound})").replace("le(7)", f"le({bound})"))
    os.utime(module, (second + offset, second + offset))
    done = CliRunner().invoke(main, ["check", "-c", str(config), "-f", "json"])
    counts.append(json.loads(done.stdout)["results"][0]["details"]["rules"][-1]["failing_rows"])
print(json.dumps(counts))
"""


def test_an_edit_within_one_second_is_not_hidden_by_cached_bytecode(tmp_path: Path, duck: str) -> None:
    """An edit that keeps the file's size, within the second of the last import, is seen: cached bytecode
    records the source's mtime in whole seconds. (A subprocess, since PYTHONDONTWRITEBYTECODE=1 hides it.)"""
    execute(duck, ["CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) AS s(g)"])
    module = write_module(tmp_path, "same_size", """
        import pandera.pandas as pa
        S = pa.DataFrameSchema({"id": pa.Column(int, pa.Check.le(1))})
    """)
    path = config(tmp_path, duck, "t", quality("same_size:S"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(path), str(module)], env=env, capture_output=True,
        text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [9, 3]


def test_two_configs_with_same_named_schema_modules_each_get_their_own(tmp_path: Path, duck: str) -> None:
    """A schema module of the same name from another config folder is not reused: each config runs its own
    `schemas.py`, also in one process (tests, a daemon reloading another config, `demo` then `check`)."""
    seed_orders(duck)
    for folder, bound in (("first", 0), ("second", 1000)):
        write_module(tmp_path / folder, "schemas", f"""
            import pandera.pandas as pa
            Orders = pa.DataFrameSchema({{"id": pa.Column(int, pa.Check.gt({bound}))}})
        """)
        config(tmp_path / folder, duck, "orders", quality("schemas:Orders"))
    _, first = check_json(tmp_path / "first" / "demon.yml")
    _, second = check_json(tmp_path / "second" / "demon.yml")
    assert failing(only(first)) == {}
    assert failing(only(second)) == {("id", "greater_than(1000)"): ROWS}


def test_an_invalid_where_errors_the_check_without_running_a_grouping(
    tmp_path: Path, warehouse_url: str
) -> None:
    """On DuckDB a uniqueness rule's grouping is a subquery of the fused statement, yet scoped by `where` like
    every count: an invalid `where` is named, and nothing runs the grouping again on its own."""
    execute(warehouse_url, ["CREATE TABLE ids (id INTEGER, region VARCHAR(5))",
                            "INSERT INTO ids VALUES (1, 'eu')"])
    write_module(tmp_path, "ids_schema", UNIQUE_IDS_MODULE)
    path = config(tmp_path, warehouse_url, "ids", quality("ids_schema:IDS"), where="no_such_column > 1")
    with warehouse_statements() as ran:
        code, document = check_json(path)
    result = only(document)
    assert result["outcome"] == "error" and code == 3
    assert result["message"].startswith("the dataset's where is not valid: ")
    assert not [statement for statement in ran[2:] if "GROUP BY" in statement]  # metadata, fused, where probe


def test_two_schemas_spelling_a_unique_column_otherwise_share_a_statement(tmp_path: Path, duck: str) -> None:
    """Two quality checks with the same uniqueness on a column, spelt `id` by one schema and `ID` by the
    other: two rules of the fused statement, each its own grouping (two CTEs of one name are no statement)."""
    execute(duck, ["CREATE TABLE ids (id INTEGER)", "INSERT INTO ids VALUES (1), (2), (2)"])
    for name, column in (("lower", "id"), ("upper", "ID")):
        write_module(tmp_path, name, f"""
            import pandera.pandas as pa

            IDS = pa.DataFrameSchema({{"{column}": pa.Column(int, unique=True)}})
        """)
    checks = quality("lower:IDS", name="lower"), quality("upper:IDS", name="upper")
    path = config(tmp_path, duck, "ids", *checks)
    _, document = check_json(path)
    lower, upper = document["results"]
    assert failing(lower) == {("id", "field_uniqueness"): 2}
    assert failing(upper) == {("ID", "field_uniqueness"): 2}
    assert lower["statements"][0] == upper["statements"][0]
    assert lower["statements"][0].count("AS MATERIALIZED") == 2


def test_duckdb_spills_to_demons_folder_without_a_memory_limit_too(tmp_path: Path, duck: str) -> None:
    """Past DuckDB's own limit (80% of RAM) it would spill beside the database: to demon's folder instead."""
    execute(duck, ["CREATE TABLE ids AS SELECT range AS id FROM range(10)"])
    ours = ("SELECT count(*) FROM duckdb_settings() WHERE name = 'temp_directory'"
            f" AND value = '{spill_folder(str(tmp_path / 'warehouse.duckdb'))}'")
    path = config(tmp_path, duck, "ids", {"metric": {"name": "spill", "sql": ours, "min": 1}})
    _, document = check_json(path)
    assert only(document)["value"] == 1 and only(document)["outcome"] == "pass"


@pytest.mark.parametrize(("limit", "start"), [
    ("1kB", "cannot connect to source warehouse"), ("4MB", "Out of Memory Error"),
])
def test_a_statement_past_the_memory_limit_says_what_to_raise(
    tmp_path: Path, duck: str, limit: str, start: str
) -> None:
    """DuckDB out of the memory the source allows (too little to open the file, or to count distinct keys):
    the check's error says which setting to raise."""
    execute(duck, ["CREATE TABLE ids AS SELECT range % 400000 AS id FROM range(500000)"])
    metric = {"metric": {"name": "dups", "expression": "count(id) - count(DISTINCT id)", "max": 0}}
    path = config(tmp_path, duck, "ids", metric, source_extra=f"    memory_limit: {limit}\n")
    code, document = check_json(path)
    result = only(document)
    assert result["outcome"] == "error" and code == 3
    assert result["message"].startswith(start) and "Out of Memory Error" in result["message"]
    assert result["message"].endswith("(raise the source's memory_limit)")
