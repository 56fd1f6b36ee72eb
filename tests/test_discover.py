"""Discovery of sql sources on a real DuckDB file and a real PostgreSQL: globs, names, written datasets
winning, metadata-first checks (two catalog statements per run, whatever the number of tables), statistics
that move after inserts, ANALYZE and VACUUM, a schema the role may not read, and tables added and dropped
under a running `demon run`."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from checks.discovery.names import dataset_name
from checks.discovery.tables import selected
from checks.sources.catalog import Cached, split_name
from monitor.app.cli import main
from monitor.app.config import load_config
from monitor.app.runner import GROUP, Runner, groups, plan
from monitor.app.watch import Watched, watched
from monitor.core.config.types import parse_name
from monitor.core.evidence import ProfileEvidence
from monitor.core.results import Outcome, Result
from monitor.core.series import SeriesPoint, SeriesUpdate
from monitor.state.baselines import Baselines
from monitor.state.store import StateStore
from tests.daemon_support import Daemon, wait_for
from tests.pgserver import PostgresServer
from tests.warehouse import execute

Spawn = Callable[..., Daemon]
START = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def write(directory: Path, url: str, discover: str, datasets: str = "", extra: str = "") -> Path:
    path = directory / "demon.yml"
    path.write_text(
        "version: 1\n"
        f"sources:\n  warehouse: {{kind: sql, url: '{url}'}}\n"
        + (f"datasets:\n{datasets}" if datasets else "")
        + f"discover:\n{discover}"
        + "state: {url: 'sqlite:///state.db'}\n" + extra
    )
    return path


def discovered(path: Path) -> Watched:
    return watched(load_config(path))


def run_at(path: Path, at: datetime) -> tuple[dict[str, Result], int]:
    """One run of every check at `at`: the results by check, and the statements the source was sent."""
    found = discovered(path)
    config = found.config
    with StateStore.open(config.state.url, config.base_dir) as store:
        runner = Runner(config, store, clock=lambda: at)
        try:
            results = runner.run(config.checks, store.start_run("check"))
        finally:
            runner.close()
    statements = runner.requests()[("warehouse", "statement")]
    return {result.check: result for result in results}, statements


def cli(path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "-c", str(path)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_globs_match_schema_and_table_case_insensitively_and_exclude_wins() -> None:
    assert selected("Sales.Orders", ["sales.*"], [])
    assert not selected("sales.orders", ["sales.*"], ["*.ORDERS"])
    assert selected("sales.orders", ["orders"], [])  # no dot: the table's name in any schema
    assert not selected("sales.orders", ["finance.*"], [])
    assert not selected("sales.orders", [], [])


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, [
        "CREATE SCHEMA sales", "CREATE SCHEMA staging",
        "CREATE TABLE orders (id INTEGER, loaded_at TIMESTAMP)",
        "INSERT INTO orders SELECT i, now() FROM range(40) t(i)",
        "CREATE TABLE sales.orders (id INTEGER, email VARCHAR)",
        "CREATE TABLE sales.customers (id INTEGER)",
        "CREATE TABLE sales.tmp_load (id INTEGER)",
        "CREATE TABLE staging.raw (id INTEGER)",
        "CREATE VIEW sales.v_orders AS SELECT * FROM sales.orders",
        *[f"CREATE TABLE sales.t{i:02} (id INTEGER)" for i in range(30)],
    ])
    return url


def test_include_exclude_names_and_default_checks(tmp_path: Path, duckdb_url: str) -> None:
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n    include: ['main.*', 'sales.*']\n"
                                      "    exclude: ['*.tmp_*', 'sales.t2*']\n    owner: data-eng\n")
    found = discovered(path)
    config = found.config
    names = set(config.datasets)
    assert {"orders", "sales-orders", "sales-customers", "sales-v_orders"} <= names
    assert "sales-tmp_load" not in names and "staging-raw" not in names
    assert not any(name.startswith("sales-t2") for name in names) and "sales-t19" in names
    assert len(names) == 4 + 20
    assert config.origin("orders") == "discover" and config.datasets["orders"].owner == "data-eng"
    kinds = {spec.id: spec.kind for spec in config.checks}
    assert [check for check in kinds if check.startswith("orders.")] == [
        "orders.freshness", "orders.volume", "orders.schema"]
    assert [check for check in kinds if check.startswith("sales-v_orders.")] == ["sales-v_orders.schema"]
    assert found.problems == ()


def test_a_written_dataset_wins_and_a_taken_name_is_qualified(tmp_path: Path, duckdb_url: str) -> None:
    written = ("  orders_by_hand:\n    source: warehouse\n    table: ORDERS\n    checks:\n"
               "      - volume: {min: 1000}\n"
               "  sales-customers:\n    source: warehouse\n    table: staging.raw\n    checks:\n"
               "      - volume: {min: 1}\n")
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n    include: ['main.*', 'sales.*']\n", written)
    config = discovered(path).config
    assert "orders" not in config.datasets  # main.orders is written (as ORDERS, in the default schema)
    assert config.origin("orders_by_hand") == "config"
    assert config.datasets["warehouse-sales-customers"].table == "sales.customers"
    code, out, _ = cli(path, "datasets", "--format", "json")
    listed = {item["name"]: item for item in json.loads(out)["datasets"]}
    assert code == 0
    assert listed["orders_by_hand"]["origin"] == "config"
    assert listed["warehouse-sales-customers"] == {
        "name": "warehouse-sales-customers", "source": "warehouse", "table": "sales.customers", "owner": None,
        "upstream": [], "checks": ["warehouse-sales-customers.freshness", "warehouse-sales-customers.volume",
                                   "warehouse-sales-customers.schema"], "origin": "discover"}


def test_metadata_checks_send_two_statements_whatever_the_tables(tmp_path: Path, duckdb_url: str) -> None:
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n")
    results, statements = run_at(path, START)
    assert len(results) > 100 and statements == 2  # the statistics of every table, then every column
    assert all(result.outcome is Outcome.PASS for result in results.values()), [
        r.message for r in results.values() if r.outcome is not Outcome.PASS]
    volume = results["orders.volume"]
    assert volume.value == 40 and "estimate" in volume.message
    assert not any("orders" in statement for statement in volume.statements)  # nothing scanned
    assert "first seen now" in results["orders.freshness"].message


def test_discovered_and_defaults_apply_and_check_reports(tmp_path: Path, duckdb_url: str) -> None:
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n    include: [main.orders]\n",
                 extra="defaults: {owner: platform, tags: [auto], schedule: every 5m}\n")
    config = discovered(path).config
    assert config.datasets["orders"].owner == "platform" and config.datasets["orders"].tags == ["auto"]
    code, out, _ = cli(path, "check")
    assert code == 0 and "orders.volume" in out


def test_an_unreachable_source_is_reported_and_kept_on_reload(tmp_path: Path, duckdb_url: str) -> None:
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n    include: [main.orders]\n")
    before = discovered(path).config
    (tmp_path / "w.duckdb").rename(tmp_path / "moved.duckdb")
    again = watched(load_config(path), previous=before)
    assert again.failures and again.failures[0].startswith("discover[0]: ")
    assert "orders" in again.config.datasets  # what the entry found before stays watched
    assert "orders" not in watched(load_config(path)).config.datasets
    code, _, err = cli(path, "datasets")
    assert code == 3 and "discover[0]" in err


def test_bad_discover_entries_are_config_errors(tmp_path: Path, duckdb_url: str) -> None:
    said = {
        "  - source: warehose\n": "discover[0].source: unknown source 'warehose' (did you mean 'warehouse'?)",
        "  - source: warehouse\n    checks: [freshness, volumes]\n":
            "demon.yml:6: discover[0].checks[1]: expected 'freshness', 'volume', 'schema' or 'profile', "
            "got 'volumes'",
        "  - source: warehouse\n    run_results: x.json\n": "'run_results' needs 'dbt'",
        "  - source: warehouse\n    includes: ['*']\n": "discover[0].includes: unknown key",
    }
    for entry, message in said.items():
        code, _, err = cli(write(tmp_path, duckdb_url, entry), "validate")
        assert code == 2 and message in err, err


# --- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture
def pg(postgres: PostgresServer, postgres_url: str) -> tuple[PostgresServer, str, str]:
    database = postgres_url.rsplit("/", 1)[1]
    tables = "; ".join(
        f"CREATE TABLE {schema}.t{i:03} (id int, email text, loaded_at timestamptz)"
        for schema in ("sales", "finance", "secret") for i in range(100)
    )
    postgres.psql(f"CREATE SCHEMA sales; CREATE SCHEMA finance; CREATE SCHEMA secret; {tables}", database)
    return postgres, postgres_url, database


def live_rows(postgres: PostgresServer, database: str, table: str) -> int:
    schema, name = table.split(".")
    return int(postgres.psql(
        f"SELECT n_live_tup FROM pg_stat_user_tables WHERE schemaname = '{schema}' AND relname = '{name}'",
        database).strip() or -1)


def test_postgres_statistics_move_with_inserts_analyze_and_vacuum(
    tmp_path: Path, pg: tuple[PostgresServer, str, str]
) -> None:
    postgres, url, database = pg
    path = write(tmp_path, url, "  - source: warehouse\n    include: ['sales.*', 'finance.*', 'secret.*']\n")
    first, statements = run_at(path, START)
    assert statements == 2 and len(first) == 900
    assert first["sales-t000.volume"].value == 0
    postgres.psql("INSERT INTO sales.t000 SELECT i, 'a@b', now() FROM generate_series(1, 500) i", database)
    wait_for(lambda: live_rows(postgres, database, "sales.t000") == 500, what="statistics of the insert")
    second, _ = run_at(path, START + HOUR)
    assert second["sales-t000.volume"].value == 500
    assert second["sales-t000.freshness"].value == 0  # changed since the run before: seen now
    assert second["sales-t001.freshness"].value == HOUR.total_seconds()  # unchanged since first seen
    third, _ = run_at(path, START + 2 * HOUR)
    assert third["sales-t000.freshness"].value == HOUR.total_seconds()
    assert "as demon saw it" in third["sales-t000.freshness"].message
    postgres.psql("DELETE FROM sales.t000 WHERE id <= 200", database)
    postgres.psql("VACUUM ANALYZE sales.t000", database)
    wait_for(lambda: live_rows(postgres, database, "sales.t000") == 300, what="statistics after vacuum")
    fourth, _ = run_at(path, START + 3 * HOUR)
    assert fourth["sales-t000.volume"].value == 300 and fourth["sales-t000.freshness"].value == 0
    postgres.psql("ALTER TABLE finance.t000 ADD COLUMN note text", database)
    fifth, _ = run_at(path, START + 4 * HOUR)
    drift = fifth["finance-t000.schema"]
    assert drift.outcome is Outcome.WARN and "note" in drift.message


def test_a_schema_the_role_may_not_read_is_left_out_with_a_warning(
    tmp_path: Path, pg: tuple[PostgresServer, str, str]
) -> None:
    postgres, url, database = pg
    postgres.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN "
        "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; END IF; END $$", database)
    postgres.psql("GRANT USAGE ON SCHEMA sales, finance TO reader; "
                  "GRANT SELECT ON ALL TABLES IN SCHEMA sales, finance TO reader", database)
    reader = re.sub(r"//[^@]+@", "//reader:reader-pw@", url)
    path = write(tmp_path, reader, "  - source: warehouse\n")
    found = discovered(path)
    assert len(found.config.datasets) == 200
    assert found.warnings == (
        "discover[0]: 100 table(s) of schema secret left out: demon's role may not read them "
        "(grant USAGE on schema secret and SELECT on its tables)",)
    code, out, err = cli(path, "datasets")
    assert code == 0 and "200 datasets: 0 config, 200 discover" in out and "schema secret" in err
    assert "reader-pw" not in out + err


def test_tables_added_and_dropped_under_a_running_daemon(
    tmp_path: Path, pg: tuple[PostgresServer, str, str], spawn: Spawn
) -> None:
    postgres, url, database = pg
    postgres.psql("CREATE SCHEMA live; CREATE TABLE live.first (id int)", database)
    path = write(tmp_path, url, "  - source: warehouse\n    include: ['live.*']\n    rediscover: 1s\n",
                 extra="defaults: {schedule: every 1s}\nmetrics: {listen: '127.0.0.1:${DEMON_TEST_PORT}'}\n")
    daemon = spawn(path)
    checked = lambda name: f'check="{name}.volume"' in daemon.metrics()  # noqa: E731
    wait_for(lambda: checked("live-first"), what="the first table's checks")
    postgres.psql("CREATE TABLE live.second (id int)", database)
    wait_for(lambda: checked("live-second"), what="the new table watched after the next discovery")
    postgres.psql("DROP TABLE live.first", database)
    wait_for(lambda: not checked("live-first"), what="the dropped table's checks leaving the metrics")
    postgres.psql("CREATE TABLE live.third (id int)", database)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: checked("live-third"), what="a table found at a reload")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    logged = [line.get("message", "") for line in daemon.logs()]
    assert any(message.startswith("rediscovered: 1 datasets added") for message in logged), logged


def test_profile_on_discovered_tables_scans_only_those(tmp_path: Path, duckdb_url: str) -> None:
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n    include: [main.orders]\n"
                                      "    checks: [volume, profile]\n")
    results, statements = run_at(path, START)
    assert set(results) == {"orders.volume", "orders.profile"}
    assert results["orders.profile"].outcome is Outcome.PASS
    evidence = results["orders.profile"].evidence
    assert isinstance(evidence, ProfileEvidence)
    assert [column.column for column in evidence.report.columns] == ["id", "loaded_at"]
    assert statements == 3  # the statistics, then the table's columns and its one fused profile statement


def test_a_catalog_snapshot_is_read_once_a_minute_and_so_is_a_failure() -> None:
    now = [0.0]
    reads: list[float] = []
    cached: Cached[int] = Cached(max_age=60, clock=lambda: now[0])

    def read() -> tuple[int, str]:
        reads.append(now[0])
        if len(reads) == 2:
            raise RuntimeError("down")
        return len(reads), "SELECT ..."

    assert cached.get(read).value == 1
    now[0] = 59
    assert cached.get(read).value == 1 and reads == [0]
    now[0] = 61
    for _ in range(3):  # one attempt, remembered for every dataset asking meanwhile
        with pytest.raises(RuntimeError, match="down"):
            cached.get(read)
    assert reads == [0, 61]
    now[0] = 122
    assert cached.get(read).value == 3


def test_split_name_reads_quoted_three_part_names() -> None:
    assert split_name('"db"."main"."orders"') == ("db", "main", "orders")
    assert split_name('sales."odd.name"') == (None, "sales", "odd.name")
    assert split_name('"a""b"') == (None, None, 'a"b')
    assert split_name("orders") == (None, None, "orders")


def test_a_written_three_part_name_is_found_by_scan_and_by_metadata(tmp_path: Path, duckdb_url: str) -> None:
    written = ("  orders:\n    source: warehouse\n    table: '\"w\".\"main\".\"orders\"'\n    checks:\n"
               "      - volume: {min: 1}\n      - volume: {name: estimated, method: metadata, min: 1}\n"
               "      - freshness: {column: loaded_at, fail_after: 1d}\n")
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n    include: [main.orders]\n", written)
    config = discovered(path).config
    assert list(config.datasets) == ["orders"] and config.origin("orders") == "config"  # the written one won
    results, _ = run_at(path, datetime.now(UTC))
    volumes = {check: result.value for check, result in results.items() if check.startswith("orders.volume")}
    assert volumes == {"orders.volume": 40, "orders.volume.estimated": 40}
    assert results["orders.freshness"].outcome is Outcome.PASS


@pytest.mark.parametrize("parts", [("sales", "orders"), ("²", "x"), ("9lives",), ("a b", "c.d"), ("données",),
                                   ("-x",), ("👀",)])
def test_discovered_names_are_valid_names(parts: tuple[str, ...]) -> None:
    name = dataset_name(*parts)
    assert parse_name(name) == name


def test_datasets_run_in_groups_as_wide_as_the_source_runs_at_once(tmp_path: Path, duckdb_url: str) -> None:
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n")
    config = discovered(path).config
    jobs = plan(config, config.checks)
    batches = groups(config, jobs)
    assert [job for batch in batches for job in batch] == jobs  # every dataset once, in order
    assert len(batches) == 4 and max(map(len, batches)) <= GROUP  # max_concurrency 4 (the default)
    few = groups(config, jobs[:3])
    assert [len(batch) for batch in few] == [1, 1, 1]  # a few datasets still run side by side


def test_many_long_series_are_stored_in_one_record(state_url: str, tmp_path: Path) -> None:
    """A group's first run of hourly learned checks: 60 series of 672 points (28 days), stored at once, and
    stored again (replacing the same points) keeping a flag a user saw."""
    hours = [START - HOUR * index for index in range(672)]
    updates = [SeriesUpdate(f"s{index}", tuple(SeriesPoint(at, float(index), at == hours[0]) for at in hours))
               for index in range(60)]
    with StateStore.open(state_url, tmp_path) as store:
        run_id = store.start_run("check")
        store.record(run_id, [], {}, updates)
        store.record(run_id, [], {}, [SeriesUpdate("s7", (SeriesPoint(hours[0], 99.0, False),))])
        found = Baselines(store).histories({"c7": "s7", "c59": "s59"}, hours[-1])
    assert len(found["c59"].points) == 672
    latest = found["c7"].points[-1]
    assert (latest.at, latest.value, latest.flagged) == (hours[0], 99.0, True)


def test_a_table_keeps_its_name_while_another_source_is_down(tmp_path: Path) -> None:
    for name in ("a", "b"):
        execute(f"duckdb:///{tmp_path / name}.duckdb", ["CREATE TABLE orders (id INTEGER)"])
    path = tmp_path / "demon.yml"
    path.write_text(
        "version: 1\nsources:\n"
        + "".join(f"  {name}: {{kind: sql, url: 'duckdb:///{tmp_path / name}.duckdb'}}\n" for name in "ab")
        + "discover:\n  - source: a\n  - source: b\nstate: {url: 'sqlite:///state.db'}\n")
    first = discovered(path).config
    assert {name: first.datasets[name].source for name in first.datasets} == {"orders": "a", "b-orders": "b"}
    (tmp_path / "a.duckdb").rename(tmp_path / "away.duckdb")
    down = watched(load_config(path), previous=first)
    assert {name: down.config.datasets[name].source for name in down.config.datasets} == {
        "orders": "a", "b-orders": "b"}  # a's kept, and its name not handed to b's table
    (tmp_path / "away.duckdb").rename(tmp_path / "a.duckdb")
    back = watched(load_config(path), previous=down.config).config
    assert {name: back.datasets[name].source for name in back.datasets} == {"orders": "a", "b-orders": "b"}


def test_a_changed_name_carries_a_digest_so_look_alikes_never_compete(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    execute(url, ["CREATE TABLE my_table (id INTEGER)"])
    path = write(tmp_path, url, "  - source: warehouse\n")
    assert list(discovered(path).config.datasets) == ["my_table"]
    execute(url, ['CREATE TABLE "my table" (x INTEGER)'])
    names = list(discovered(path).config.datasets)
    assert "my_table" in names and len(names) == 2
    [other] = [name for name in names if name != "my_table"]
    assert re.fullmatch(r"my_table-[0-9a-f]{6}", other)


def test_an_engine_without_statistics_gets_schema_checks_and_says_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    execute(url, ["CREATE TABLE orders (id INTEGER)", "CREATE VIEW v_orders AS SELECT * FROM orders"])
    path = write(tmp_path, url, "  - source: warehouse\n")
    found = discovered(path)
    assert sorted(spec.id for spec in found.config.checks) == ["orders.schema", "v_orders.schema"]
    assert any("reads no table statistics on this engine" in warning for warning in found.warnings)
    results, _ = run_at(path, START)
    assert {check: result.outcome for check, result in results.items()} == {
        "orders.schema": Outcome.PASS, "v_orders.schema": Outcome.PASS}


def test_tables_differing_only_in_case_are_never_guessed_between(
    tmp_path: Path, pg: tuple[PostgresServer, str, str]
) -> None:
    postgres, url, database = pg
    postgres.psql('CREATE TABLE sales."Orders" (id int); CREATE TABLE sales.orders (id int, note text)',
                  database)
    written = "  orders:\n    source: warehouse\n    table: sales.orders\n    checks:\n      - schema: {}\n"
    path = write(tmp_path, url, "  - source: warehouse\n    include: ['sales.o*', 'sales.O*']\n", written)
    found = discovered(path)
    assert list(found.config.datasets) == ["orders"]
    assert any("differs from it only in case" in warning for warning in found.warnings)
    results, _ = run_at(path, START)
    assert results["orders.schema"].outcome is Outcome.ERROR
    assert "ambiguous: sales.Orders, sales.orders" in results["orders.schema"].message


def test_validate_says_discover_entries_run_with_connect(tmp_path: Path, duckdb_url: str) -> None:
    path = write(tmp_path, duckdb_url, "  - source: warehouse\n    include: [main.orders]\n")
    code, out, _ = cli(path, "validate")
    assert code == 0 and "0 datasets, 0 checks; 1 discover entries: --connect runs them)" in out
    code, out, _ = cli(path, "validate", "--connect")
    assert code == 0 and "discover[0] (source warehouse): 1 datasets" in out
