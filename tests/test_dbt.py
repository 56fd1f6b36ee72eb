"""dbt projects: a real project (tests/dbt_project) built once with dbt-core and dbt-duckdb, its manifest.json
discovered and its run_results.json reported through `demon check`, on the DuckDB file dbt built.

dbt lives in an environment of its own (.ci/run makes .venv-dbt and exports DEMON_TEST_DBT): dbt pins
libraries demon's tools need newer. Manifests are only ever derived from the one dbt wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from monitor.app.cli import main
from monitor.app.config import load_config
from monitor.app.watch import Watched, watched
from monitor.core.config.models import Config
from tests.warehouse import execute

PROJECT = Path(__file__).parent / "dbt_project"
REPO = Path(__file__).parent.parent
ENV_VAR = "DEMON_TEST_DBT"
DBT_MISSING = (
    f"dbt not found: set {ENV_VAR} to the dbt of an environment with dbt-core 1.10 and dbt-duckdb 1.10"
    " (bash .ci/run makes one in .venv-dbt, pinned by .ci/dbt-constraints.txt)"
)
RAW_ORDERS = [  # the project's source: written by the shop, not by dbt
    "CREATE SCHEMA raw",
    "CREATE TABLE raw.orders (order_id INTEGER, customer_id INTEGER, status VARCHAR, amount DECIMAL(10, 2),"
    " ordered_at TIMESTAMP)",
    "INSERT INTO raw.orders VALUES (1, 1, 'placed', 10, '2026-12-01 10:00'), (2, 1, 'shipped', 20,"
    " '2026-12-01 11:00'), (3, 2, 'returned', 5, '2026-12-02 09:00')",
]
DATASETS = ["orders_daily", "vip_customers", "customers", "stg_orders", "raw_customers", "customers_snapshot",
            "shop_raw-orders"]
# Every test of the project as a check, and the outcome its last dbt build gave it.
TEST_OUTCOMES = {
    "orders_daily.dbt.not_null_orders_daily_order_day": "pass",
    "vip_customers.dbt.not_null_vip_customers_customer_id": "error",  # skipped: customers' test failed
    "customers.dbt.unique_customers_customer_id": "pass",
    "customers.dbt.not_null_customers_email": "fail",
    "stg_orders.dbt.unique_stg_orders_order_id": "pass",
    "stg_orders.dbt.not_null_stg_orders_order_id": "pass",
    "stg_orders.dbt.accepted_values_stg_orders_status__placed__shipped": "warn",
    "stg_orders.dbt.assert_no_negative_amounts": "pass",  # a singular test
    # left out of the build (`--exclude tag:slow`)
    "stg_orders.dbt.relationships_stg_orders_customer_id__customer_id__ref_customers_": "error",
    "shop_raw-orders.dbt.source_not_null_shop_raw_orders_order_id": "pass",
}


def dbt_command() -> Path:
    """The dbt the tests run: $DEMON_TEST_DBT, else the one .ci/run installs; a missing one fails the tests
    that need it (they are part of the suite, not optional)."""
    given = os.environ.get(ENV_VAR)
    found = Path(given) if given else REPO / ".venv-dbt" / "bin" / "dbt"
    if not found.is_file() or not os.access(found, os.X_OK):
        pytest.fail(f"{DBT_MISSING}; tried {found}", pytrace=False)
    return found


@dataclass(frozen=True)
class Built:
    """What `dbt build` left: the warehouse and the target folder with manifest.json and run_results.json."""

    warehouse: Path
    target: Path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    dbt = dbt_command()
    directory = tmp_path_factory.mktemp("dbt")
    project = directory / "project"
    shutil.copytree(PROJECT, project)  # dbt writes beside its project (partial parsing, logs): not in tests/
    warehouse = directory / "warehouse.duckdb"
    execute(f"duckdb:///{warehouse}", RAW_ORDERS)
    env = {**os.environ, "DEMON_DBT_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DO_NOT_TRACK": "1"}
    command = [str(dbt), "build", "--project-dir", str(project), "--profiles-dir", str(project),
               "--target-path", str(directory / "target"), "--log-path", str(directory / "logs"),
               "--exclude", "tag:slow", "--no-version-check", "--no-use-colors"]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    # dbt exits 1 when a test fails: one does, on purpose.
    assert done.returncode == 1 and "PASS=11 WARN=1 ERROR=1 SKIP=2" in done.stdout, done.stdout + done.stderr
    return Built(warehouse, directory / "target")


@pytest.fixture
def project(built: Built, tmp_path: Path) -> Path:
    """The built warehouse and dbt's artifacts copied for one test (which may drop or break them)."""
    shutil.copy(built.warehouse, tmp_path / "warehouse.duckdb")
    target = tmp_path / "target"
    target.mkdir()
    for name in ("manifest.json", "run_results.json"):
        shutil.copy(built.target / name, target / name)
    return tmp_path


def write_config(directory: Path, discover: str = "", datasets: str = "", sources: str = "") -> Path:
    """A demon.yml over the DuckDB file dbt built, discovering the project (paths relative to the file)."""
    entry = discover or (
        "  - dbt: target/manifest.json\n"
        "    source: warehouse\n"
        "    run_results: target/run_results.json\n"
        "    owner: data-eng\n"
        "    tags: [dbt]\n"
    )
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        "sources:\n"
        "  warehouse:\n"
        "    kind: sql\n"
        f"    url: duckdb:///{directory / 'warehouse.duckdb'}\n"
        f"{sources}"
        f"discover:\n{entry}"
        f"{'datasets:' + chr(10) + datasets if datasets else ''}"
        "state:\n"
        "  url: sqlite:///.demon/state.db\n"
    )
    return path


def discovered(path: Path, previous: Config | None = None) -> Watched:
    return watched(load_config(path), previous)


def demon(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def check_json(path: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = demon("check", "-c", str(path), "--format", "json", *args)
    return result.exit_code, {item["check"]: item for item in json.loads(result.stdout)["results"]}


def edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    """Rewrite one of dbt's files, derived from what dbt wrote; a new mtime even within the same tick."""
    before = path.stat().st_mtime_ns
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


# --- what becomes a dataset ------------------------------------------------------------------------------


def test_models_seeds_snapshots_and_sources_become_datasets_with_lineage_owner_tags(project: Path) -> None:
    found = discovered(write_config(project))
    config = found.config
    assert found.problems == ()
    assert list(config.datasets) == DATASETS  # not the ephemeral int_order_amounts, not the disabled model
    datasets = config.datasets
    assert {name: config.origin(name) for name in datasets} == dict.fromkeys(DATASETS, "dbt")
    assert datasets["customers"].table == '"warehouse"."main"."customers"'  # dbt's relation, three parts
    assert datasets["shop_raw-orders"].table == '"warehouse"."raw"."orders"'
    assert {name: dataset.upstream for name, dataset in datasets.items()} == {
        "orders_daily": ["stg_orders"],  # through the ephemeral int_order_amounts dbt inlines
        "vip_customers": ["customers"],
        "customers": ["raw_customers", "stg_orders"],
        "stg_orders": ["shop_raw-orders"],
        "raw_customers": [],
        "customers_snapshot": ["raw_customers"],
        "shop_raw-orders": [],
    }
    owners = {name: dataset.owner for name, dataset in datasets.items()}
    assert owners["customers"] == "crm-team"  # meta.owner
    assert owners["orders_daily"] == "finance-analytics"  # its group's owner
    assert owners["shop_raw-orders"] == "ingest-team"  # the source table's meta.owner
    assert owners["stg_orders"] == owners["raw_customers"] == "data-eng"  # the entry's
    assert datasets["customers"].tags == ["crm", "dbt"]
    assert datasets["orders_daily"].tags == ["finance", "dbt"]
    assert datasets["customers"].description == "One row per customer with their number of orders"
    kinds = {name: [entry.kind for entry in dataset.checks] for name, dataset in datasets.items()}
    assert kinds["vip_customers"] == ["schema", "dbt"]  # views keep no statistics
    assert kinds["customers"] == ["freshness", "volume", "schema", "dbt", "dbt"]
    assert kinds["raw_customers"] == kinds["customers_snapshot"] == ["freshness", "volume", "schema"]


def test_include_and_exclude_select_by_dbt_names(project: Path) -> None:
    entry = ("  - dbt: target/manifest.json\n    source: warehouse\n    checks: [schema]\n"
             "    include: ['customers*', 'shop_raw.*', nothing_like_this]\n    exclude: ['*_snapshot']\n")
    found = discovered(write_config(project, entry))
    assert list(found.config.datasets) == ["customers", "shop_raw-orders"]
    assert found.config.datasets["customers"].upstream == []  # its parents are not watched
    assert found.problems == (
        "discover[0]: include 'nothing_like_this' matched no model, seed, snapshot or source of "
        "target/manifest.json",
    )


def test_a_written_dataset_for_the_same_table_wins_and_takes_its_place_upstream(project: Path) -> None:
    written = ("  staged_orders:\n    source: warehouse\n    table: main.stg_orders\n"
               "    checks: [{schema: {}}]\n")
    config = discovered(write_config(project, datasets=written)).config
    assert "stg_orders" not in config.datasets
    assert config.origin("staged_orders") == "config"
    assert config.datasets["customers"].upstream == ["raw_customers", "staged_orders"]
    assert config.datasets["orders_daily"].upstream == ["staged_orders"]


# --- dbt tests as results --------------------------------------------------------------------------------


def test_demon_check_reports_each_dbt_test_as_a_result(project: Path) -> None:
    code, results = check_json(write_config(project))
    assert code == 1  # a fail
    dbt = {check: result for check, result in results.items() if result["kind"] == "dbt"}
    assert {check: result["outcome"] for check, result in dbt.items()} == TEST_OUTCOMES
    failed = dbt["customers.dbt.not_null_customers_email"]
    assert failed["message"] == ("dbt test not_null_customers_email failed: Got 1 result, configured to fail "
                                 "if != 0")
    assert failed["value"] == 1 and failed["unit"] == "rows" and failed["statements"] == []
    assert failed["details"]["dbt_test"] == "test.shop.not_null_customers_email.da3cfcd534"
    assert failed["details"]["failures"] == 1
    assert re.fullmatch(r"2\d{3}-\d\d-\d\dT[\d:.]+Z", failed["details"]["generated_at"])
    warned = dbt["stg_orders.dbt.accepted_values_stg_orders_status__placed__shipped"]
    assert warned["message"].endswith("warned: Got 1 result, configured to warn if != 0")
    assert dbt["stg_orders.dbt.unique_stg_orders_order_id"]["message"] == (
        "dbt test unique_stg_orders_order_id passed")
    skipped = dbt["vip_customers.dbt.not_null_vip_customers_customer_id"]
    assert skipped["message"].endswith(": dbt skipped it (an upstream node failed)")
    assert skipped["reason"] == "data"
    absent = dbt["stg_orders.dbt.relationships_stg_orders_customer_id__customer_id__ref_customers_"]
    assert absent["message"].endswith(": not in run_results.json: dbt has not run it")
    assert absent["reason"] == "missing"
    # vip_customers was never built (dbt skipped it): its schema check says so, it does not crash
    assert results["vip_customers.schema"]["outcome"] == "error"
    assert results["vip_customers.schema"]["reason"] == "missing"
    assert results["customers.schema"]["outcome"] == "pass"


def test_dbt_failures_open_incidents_like_any_check(project: Path) -> None:
    result = demon("check", "-c", str(write_config(project)), "--notify", "--select", "customers")
    assert result.exit_code == 1
    assert "[high] customers.dbt.not_null_customers_email failed (opened)" in result.stderr
    assert "owner: crm-team" in result.stderr


def test_a_model_whose_table_was_dropped_ends_its_checks_in_error(project: Path) -> None:
    execute(f"duckdb:///{project / 'warehouse.duckdb'}", ["DROP TABLE main.orders_daily"])
    code, results = check_json(write_config(project))
    assert code == 1
    for kind in ("freshness", "volume", "schema"):
        dropped = results[f"orders_daily.{kind}"]
        assert dropped["outcome"] == "error" and dropped["reason"] == "missing"
        assert dropped["message"] == 'table "warehouse"."main"."orders_daily" not found in source warehouse'
    # what dbt found when it last ran is still what it found: the test result stands
    assert results["orders_daily.dbt.not_null_orders_daily_order_day"]["outcome"] == "pass"
    assert {results[f"customers.{kind}"]["outcome"] for kind in ("freshness", "volume", "schema")} == {"pass"}


def test_a_new_run_results_is_read_again(project: Path) -> None:
    config = write_config(project)
    assert check_json(config)[1]["customers.dbt.not_null_customers_email"]["outcome"] == "fail"

    def fixed(document: dict[str, Any]) -> dict[str, Any]:  # as if the data was fixed and dbt ran again
        for run in document["results"]:
            if run["unique_id"].startswith("test.shop.not_null_customers_email."):
                run.update(status="pass", failures=0, message=None)
        return document

    edit_json(project / "target" / "run_results.json", fixed)
    assert check_json(config)[1]["customers.dbt.not_null_customers_email"]["outcome"] == "pass"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda path: path.unlink(), r"cannot read dbt run_results .*run_results\.json: No such file"),
        (lambda path: path.write_text("{"), r"run_results .*run_results\.json is not valid JSON"),
        (lambda path: edit_json(path, lambda doc: {**doc, "metadata": {
            **doc["metadata"], "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v3.json"}}),
         r"run_results v3 is not supported \(demon reads v4-v6, dbt 1\.5-1\.10\)"),
    ],
    ids=["missing", "corrupt", "unsupported"],
)
def test_unreadable_run_results_end_the_dbt_checks_only(
    project: Path, damage: Callable[[Path], None], expected: str
) -> None:
    config = write_config(project)
    damage(project / "target" / "run_results.json")
    code, results = check_json(config)
    assert code == 3
    for check in TEST_OUTCOMES:
        assert results[check]["outcome"] == "error" and results[check]["reason"] == "setup"
        assert re.search(expected, results[check]["message"]), results[check]["message"]
    assert results["customers.schema"]["outcome"] == "pass"


def test_dbt_checks_suit_sql_datasets_only(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    sources = "  lake:\n    kind: files\n    root: lake\n"
    written = ("  events:\n    source: lake\n    path: events\n    format: parquet\n    checks:\n"
               "      - dbt: {test: test.shop.x, run_results: target/run_results.json}\n")
    path = write_config(tmp_path, datasets=written, sources=sources)
    result = demon("validate", "-c", str(path))
    assert result.exit_code == 2
    assert "dbt checks report a dbt project's tests: they need a dataset on a sql source" in result.stderr


# --- a manifest that cannot be read ----------------------------------------------------------------------


def _versioned(version: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        edit_json(path, lambda doc: {**doc, "metadata": {
            **doc["metadata"], "dbt_schema_version": f"https://schemas.getdbt.com/dbt/manifest/{version}.json"}})
    return damage


MANIFEST_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing": (lambda path: path.unlink(), "cannot read dbt manifest {path}: No such file or directory"),
    "not JSON": (lambda path: path.write_bytes(path.read_bytes()[:1000]),
                 "dbt manifest {path} is not valid JSON: "),
    "not a manifest": (lambda path: edit_json(path, lambda doc: {**doc, "nodes": list(doc["nodes"])}),
                       "dbt manifest {path} is not a dbt manifest: nodes: Input should be a valid "
                       "dictionary"),
    "run_results": (lambda path: shutil.copy(path.parent / "run_results.json", path),
                    "dbt manifest {path} is not a dbt manifest: metadata.dbt_schema_version is "
                    "'https://schemas.getdbt.com/dbt/run-results/v6.json'"),
    "older": (_versioned("v8"), "dbt manifest {path}: manifest v8 is not supported "
                                "(demon reads v9-v12, dbt 1.5-1.10)"),
    "newer": (_versioned("v13"), "dbt manifest {path}: manifest v13 is not supported "
                                 "(demon reads v9-v12, dbt 1.5-1.10)"),
}


@pytest.mark.parametrize("case", list(MANIFEST_DAMAGE))
def test_an_unreadable_manifest_is_one_line_naming_it_and_keeps_what_was_found(
    project: Path, case: str
) -> None:
    path = write_config(project)
    before = discovered(path).config
    manifest = project / "target" / "manifest.json"
    damage, expected = MANIFEST_DAMAGE[case]
    damage(manifest)
    after = discovered(path, previous=before)
    (problem,) = after.problems
    assert problem.startswith("discover[0]: " + expected.format(path=manifest)), problem
    assert "\n" not in problem and len(problem) < 300
    assert list(after.config.datasets) == DATASETS  # a bad deploy of the manifest drops no dataset
    assert after.config.origin("customers") == "dbt"
    assert discovered(path).config.datasets == {}  # without a previous config there is nothing to keep


def test_demon_check_says_which_manifest_it_cannot_read_and_runs_the_rest(project: Path) -> None:
    (project / "target" / "manifest.json").unlink()
    written = "  orders:\n    source: warehouse\n    table: raw.orders\n    checks: [{schema: {}}]\n"
    result = demon("check", "-c", str(write_config(project, datasets=written)))
    assert result.exit_code == 3
    assert re.search(r"^PASS +orders\.schema ", result.stdout, re.MULTILINE)  # the written dataset runs
    manifest = project / "target" / "manifest.json"
    assert f"demon: discover[0]: cannot read dbt manifest {manifest}: No such file" in result.stderr
