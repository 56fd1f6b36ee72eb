"""`demon init` end to end: real DuckDB files, the suite's PostgreSQL, a local lake folder and moto's S3."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from checks.discovery import DISCOVERERS
from checks.discovery.tables import selected
from checks.probes import Column
from checks.sources.catalog import CatalogTable
from monitor.app.cli import main
from monitor.app.config import Config, load_config
from monitor.app.init.survey import freshness_column
from monitor.app.init.targets import from_urls, literal
from monitor.app.init.yamltext import comment, scalar
from monitor.app.watch import watched
from monitor.core.config.loader import load_document
from tests.motoserver import S3Lake
from tests.pgserver import PostgresServer
from tests.warehouse import execute

PASSWORD = "s3cret-pw"  # tests/pgserver.py's
# A lake's discover entry is written where this build discovers lakes, else commented out.
LAKE_ENTRIES = {name: [name] if "lake" in DISCOVERERS else [] for name in ("lake", "exports")}
SEED = [
    "CREATE SCHEMA analytics",
    "CREATE SCHEMA sales",
    "CREATE TABLE analytics.fact_orders (id INTEGER, created_at TIMESTAMP,"
    " loaded_at TIMESTAMP WITH TIME ZONE)",
    "INSERT INTO analytics.fact_orders SELECT g, now(), now() FROM generate_series(1, 50) AS t(g)",
    "CREATE TABLE analytics.dim_products (code VARCHAR(10), loaded_at VARCHAR(30))",  # text: no load time
    "CREATE TABLE sales.orders (id INTEGER, order_date DATE, updated_at TIMESTAMP)",
    "CREATE TABLE sales.daily (day DATE, inserted_at DATE)",
    "CREATE VIEW sales.recent AS SELECT * FROM sales.orders",
]
EXPECTED_COLUMNS = {
    "analytics-fact_orders": "loaded_at", "sales-orders": "updated_at", "sales-daily": "inserted_at"}


def init(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["init", *args], env=env, catch_exceptions=False)


def assert_connects(config: Path) -> None:
    """`demon validate --connect`: every source answers, every dataset is there, every entry discovers."""
    validated = CliRunner().invoke(main, ["validate", "--connect", "-c", str(config)], catch_exceptions=False)
    assert validated.exit_code == 0, validated.output


def freshness_columns(config: Config) -> dict[str, str | None]:
    return {name: getattr(dataset.checks[0].params, "column", None)
            for name, dataset in config.datasets.items()}


def duckdb(path: Path, statements: list[str]) -> str:
    url = f"duckdb:///{path}"
    execute(url, statements)
    return url


def test_a_warehouse_becomes_a_discover_entry_and_datasets_by_load_time(
    tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(warehouse_url, SEED)
    output = tmp_path / "out" / "demon.yml"
    output.parent.mkdir()
    result = init("--source", warehouse_url, "-o", str(output))
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert PASSWORD not in text and PASSWORD not in result.output
    database = sa.make_url(warehouse_url).database or ""
    name = "warehouse" if warehouse_url.startswith("duckdb") else database
    if not warehouse_url.startswith("duckdb"):  # the password is an environment reference, and said so
        variable = f"{name.upper()}_PASSWORD"
        assert f"url: \"postgresql+psycopg://demon:${{{variable}}}@" in text
        assert f"set {variable} in the environment" in result.output
        monkeypatch.setenv(variable, PASSWORD)
    config = load_config(output)
    assert config.sources[name].kind == "sql"
    entries = [(entry.source, entry.include) for entry in config.discover]
    assert entries == [(name, ["analytics.*", "sales.*"])]
    assert freshness_columns(config) == EXPECTED_COLUMNS
    assert config.datasets["sales-orders"].table == "sales.orders"
    assert_connects(output)
    found = watched(config)  # discovery adds the rest, and each glob selects tables
    assert found.problems == ()
    assert {name: found.config.origin(name) for name in found.config.datasets} == {
        **dict.fromkeys(EXPECTED_COLUMNS, "config"), "analytics-dim_products": "discover",
        "sales-recent": "discover"}
    assert found.config.datasets["sales-orders"].checks[1].params.model_dump()["method"] == "metadata"


def test_tables_the_role_cannot_read_are_left_out_and_said_so(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(postgres_url, ["CREATE TABLE public.orders (id INTEGER, loaded_at TIMESTAMP)",
                           "CREATE SCHEMA secret", "CREATE TABLE secret.salaries (loaded_at TIMESTAMP)"])
    url = sa.make_url(postgres_url)
    role = f"reader_{url.database}"
    postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'")
    postgres.psql(f"GRANT SELECT ON public.orders TO {role}", url.database or "")
    output = tmp_path / "demon.yml"
    reader = url.set(username=role, password="reader-pw").render_as_string(hide_password=False)
    assert init("--source", reader, "-o", str(output)).exit_code == 0
    assert "    # 1 table of schema secret left out: this role cannot read it\n" in output.read_text()
    monkeypatch.setenv(f"{(url.database or '').upper()}_PASSWORD", "reader-pw")
    config = load_config(output)
    assert config.discover[0].include == ["public.*"]
    assert freshness_columns(config) == {"orders": "loaded_at"}


def test_a_source_without_columns_to_read_gets_no_suggestion_and_a_warning(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    execute(url, ["CREATE TABLE orders (id INTEGER, loaded_at TIMESTAMP)"])
    output = tmp_path / "demon.yml"
    result = init("--source", url, "-o", str(output))
    assert result.exit_code == 0, result.output
    assert "  x: warning: no freshness column suggested: " in result.output
    config = load_config(output)
    assert config.discover[0].include == ["main.*"] and config.datasets == {}


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ([("created_at", "TIMESTAMP"), ("loaded_at", "TIMESTAMP WITH TIME ZONE")], "loaded_at"),
        ([("LOADED_AT", "TIMESTAMP_NTZ")], "LOADED_AT"),
        ([("loaded_at", "VARCHAR"), ("updated_at", "timestamp without time zone")], "updated_at"),
        ([("event_time", "DATE"), ("modified_at", "DATE")], "modified_at"),
        ([("order_date", "DATE"), ("loaded", "TIMESTAMP")], None),
        ([], None),
    ],
)
def test_the_freshness_column_is_the_likeliest_load_time(
    columns: list[tuple[str, str]], expected: str | None
) -> None:
    assert freshness_column([Column(name, type_name) for name, type_name in columns]) == expected


def test_at_most_ten_datasets_per_source_the_largest_and_the_rest_named(tmp_path: Path) -> None:
    statements = []
    for index in range(1, 13):
        statements += [f"CREATE TABLE t{index:02} (id INTEGER, loaded_at TIMESTAMP)",
                       f"INSERT INTO t{index:02} SELECT g, now() FROM range({index * 10}) AS r(g)"]
    url = duckdb(tmp_path / "shop.duckdb", statements)
    output = tmp_path / "demon.yml"
    assert init("--source", url, "-o", str(output)).exit_code == 0
    config = load_config(output)
    assert sorted(config.datasets) == [f"t{index:02}" for index in range(3, 13)]
    assert "# 2 more tables with one: main.t02 (loaded_at), main.t01 (loaded_at)" in output.read_text()
    assert list(config.sources) == ["shop"]


HOSTILE_SCHEMAS = ["we#ird: sch'ema", "dot.ted", "s[1]*", "s1x"]
HOSTILE_TABLES = ["new\nline", "has ${HOME} and $$ signs", 'quo"te #x: y', "a.b", "- [x]", "yes", "tab\there"]


def test_hostile_names_are_written_so_that_they_read_back(tmp_path: Path) -> None:
    statements = []
    for index, schema in enumerate(HOSTILE_SCHEMAS):
        table = HOSTILE_TABLES[index]
        statements += [f"CREATE SCHEMA {ident(schema)}",
                       f'CREATE TABLE {ident(schema)}.{ident(table)} (id INTEGER, "Loaded_At" TIMESTAMP)']
    statements += [f'CREATE TABLE main.{ident(table)} (id INTEGER, loaded_at TIMESTAMP)'
                   for table in HOSTILE_TABLES[len(HOSTILE_SCHEMAS):]]
    url = duckdb(tmp_path / "odd.duckdb", statements)
    output = tmp_path / "demon.yml"
    result = init("--source", url, "-o", str(output))
    assert result.exit_code == 0, result.output
    config = load_config(output)
    tables = catalog_of(url)
    assert sorted(dataset.table or "" for dataset in config.datasets.values()) == sorted(
        table.qualified for table in tables)
    include = config.discover[0].include
    selecting = [{table.schema for table in tables if selected(table.qualified, [glob], [])}
                 for glob in include]
    assert sorted(schema for schemas in selecting for schema in schemas) == sorted([*HOSTILE_SCHEMAS, "main"])
    assert watched(config).problems == ()
    assert {getattr(dataset.checks[0].params, "column", None) for dataset in config.datasets.values()} == {
        "Loaded_At", "loaded_at"}


def ident(name: str) -> str:
    return '"{}"'.format(name.replace('"', '""'))


def catalog_of(url: str) -> list[CatalogTable]:
    from checks.sources.settings import SqlSourceConfig
    from checks.sources.sql import SqlSource
    from monitor.core.redact import Redactor

    source = SqlSource("s", SqlSourceConfig(kind="sql", url=url), Path.cwd(), Redactor())
    try:
        return source.catalog().tables
    finally:
        source.close()


@given(st.text())
def test_any_text_reads_back_as_itself(text: str) -> None:
    document = load_document(f"key: {scalar(literal(text))}  # {comment(text)}\n", "f", {"HOME": "/root"})
    assert document.data == {"key": text}


@pytest.mark.parametrize("text", ["", "${HOME}", "$$", "a #b", "a: b", "yes", "123", "null", "~", "- x", "*a",
                                  "&a", "!x", "%x", "@x", "`x", "'q'", '"q"', "x\u2028y", "x\x85y", "\ufeffx",
                                  " lead", "trail ", "1e3", "0o7", "sales.orders", "demo/lake"])
def test_awkward_text_reads_back_as_itself(text: str) -> None:
    assert load_document(f"key: {scalar(literal(text))}\n", "f", {"HOME": "/root"}).data == {"key": text}


def test_plain_names_stay_plain() -> None:
    assert [scalar(text) for text in ("sql", "30s", "sales.orders", "../lake", "yes", "$$", ".inf")] == [
        "sql", "30s", "sales.orders", "../lake", '"yes"', '"$$"', '".inf"']


def test_names_are_readable_and_unique_and_passwords_become_references(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    targets = from_urls(
        ["duckdb:///a/shop.duckdb", "duckdb:///b/shop.duckdb", "postgresql://u:pa$word@h/shop",
         "postgresql://u@h/shop?sslmode=require&password=p%40ss", "s3://analytics-lake/exports", "a"],
        tmp_path, tmp_path / "b",
    )
    names = [target.name for target in targets]
    assert names == ["shop", "shop-2", "shop-3", "shop-4", "analytics-lake", "a"]
    assert [target.settings.get("url") for target in targets[:4]] == [
        "duckdb:///../a/shop.duckdb", "duckdb:///shop.duckdb", "postgresql://u:${SHOP_3_PASSWORD}@h/shop",
        "postgresql://u@h/shop?sslmode=require&password=${SHOP_4_PASSWORD}"]
    assert [target.hidden for target in targets[2:4]] == [{"SHOP_3_PASSWORD": "pa$word"},
                                                          {"SHOP_4_PASSWORD": "p%40ss"}]
    assert targets[4].settings == {"kind": "s3", "bucket": "analytics-lake", "prefix": "exports/",
                                   "endpoint_url": "${S3_ENDPOINT_URL:-}"}
    assert targets[5].settings == {"kind": "files", "root": "../a"}


def test_an_existing_file_is_replaced_only_with_force(tmp_path: Path) -> None:
    url = duckdb(tmp_path / "w.duckdb", ["CREATE TABLE t (loaded_at TIMESTAMP)"])
    output = tmp_path / "demon.yml"
    output.write_text("mine\n")
    refused = init("--source", url, "-o", str(output))
    assert refused.exit_code == 2
    assert f"demon: {output} exists: not overwritten (--force replaces it" in refused.stderr
    assert output.read_text() == "mine\n"
    forced = init("--source", url, "-o", str(output), "--force")
    assert forced.exit_code == 0, forced.output
    assert list(load_config(output).datasets) == ["t"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demon.yml", "w.duckdb"]  # no temporary left


def test_an_output_without_its_directory_is_bad_usage(tmp_path: Path, unused_port: int) -> None:
    unreachable = f"postgresql+psycopg://demon:{PASSWORD}@127.0.0.1:{unused_port}/shop"
    nowhere = tmp_path / "nowhere"
    result = init("--source", unreachable, "-o", str(nowhere / "demon.yml"))
    assert result.exit_code == 2  # not 3: no source was asked
    assert result.stderr == f"demon: cannot write {nowhere}/demon.yml: no directory {nowhere}\n"


def test_sources_of_an_existing_config_are_kept_as_written_and_moved(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "lake" / "raw").mkdir(parents=True)
    (project / "new").mkdir()
    duckdb(project / "warehouse.duckdb", ["CREATE TABLE orders (id INTEGER, updated_at TIMESTAMP)"])
    monkeypatch.setenv("INIT_TEST_URL", f"duckdb:///{project / 'warehouse.duckdb'}")
    (project / "demon.yml").write_text(
        "version: 1\nsources:\n"
        "  wh: {kind: sql, url: duckdb:///warehouse.duckdb, max_concurrency: 2}\n"
        f"  pg: {{kind: sql, url: '{postgres_url}'}}\n"
        "  lake: {kind: files, root: lake}\n"
        "  from_env: {kind: sql, url: '${INIT_TEST_URL}'}\n"
    )
    output = project / "new" / "demon.yml"
    result = init("-c", str(project / "demon.yml"), "-o", str(output))
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert PASSWORD not in text and PASSWORD not in result.output
    assert "set PG_PASSWORD in the environment: the password in source pg's URL" in result.output
    monkeypatch.setenv("PG_PASSWORD", PASSWORD)
    config = load_config(output)
    assert [entry.source for entry in config.discover] == ["wh", "pg", *LAKE_ENTRIES["lake"], "from_env"]
    assert 'url: "duckdb:///../warehouse.duckdb"\n    max_concurrency: 2\n' in text
    assert 'root: ../lake\n' in text and 'url: "${INIT_TEST_URL}"' in text
    assert freshness_columns(config) == {"orders": "updated_at", "from_env-orders": "updated_at"}
    assert_connects(output)


def test_the_config_read_is_not_overwritten_nor_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = init()
    assert missing.exit_code == 2
    assert "no --source given, and no demon.yml to take sources from" in missing.stderr
    Path("demon.yml").write_text("version: 1\nsources: {lake: {kind: files, root: .}}\n")
    refused = init()
    assert refused.exit_code == 2
    assert "demon.yml exists: not overwritten" in refused.stderr and "-o demon.new.yml" in refused.stderr
    assert init("-o", "demon.new.yml").exit_code == 0
    assert list(load_config("demon.new.yml").sources) == ["lake"]


def test_a_lake_folder_is_discovered_from_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exports" / "raw").mkdir(parents=True)
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    result = init("--source", "exports", "-o", "conf/demon.yml")
    assert result.exit_code == 0, result.output
    config = load_config("conf/demon.yml")
    expected = {"kind": "files", "root": "../exports", "max_concurrency": 8}
    assert config.sources["exports"].model_dump() == expected
    assert [(entry.source, entry.include) for entry in config.discover] == [
        (source, ["*"]) for source in LAKE_ENTRIES["exports"]]
    assert config.datasets == {}
    assert_connects(Path("conf/demon.yml"))


def test_an_s3_prefix_through_the_configured_endpoint(s3: S3Lake, tmp_path: Path) -> None:
    s3.bucket("analytics-lake", {"exports/raw/orders/part-0.csv": b"id\n1\n"})
    output = tmp_path / "demon.yml"
    env = {"S3_ENDPOINT_URL": s3.endpoint_url}
    result = init("--source", "s3://analytics-lake/exports", "-o", str(output), env=env)
    assert result.exit_code == 0, result.output
    assert "analytics-lake: s3://analytics-lake/exports/ answers" in result.output
    assert 'endpoint_url: "${S3_ENDPOINT_URL:-}"' in output.read_text()
    missing = init("--source", "s3://no-such-bucket", "-o", str(tmp_path / "other.yml"), env=env)
    assert missing.exit_code == 3
    assert "no-such-bucket" in missing.stderr and not (tmp_path / "other.yml").exists()


def test_an_unreachable_source_writes_nothing(tmp_path: Path, unused_port: int) -> None:
    url = f"postgresql+psycopg://demon:{PASSWORD}@127.0.0.1:{unused_port}/shop"
    output = tmp_path / "demon.yml"
    result = init("--source", url, "-o", str(output))
    assert result.exit_code == 3
    assert re.fullmatch(r"demon: cannot connect to source shop \(postgresql\+psycopg://demon:\*\*\*@127\.0\.0\.1:"
                        r"\d+/shop\): connection refused \(nothing written\)\n", result.stderr), result.stderr
    assert PASSWORD not in result.output and not output.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("postgresql://u:pw-secret@h:notaport/db",
         "--source postgresql://u:***@h:notaport/db: not a valid URL"),
        ("nosuchdialect://h/db", "cannot load the driver for nosuchdialect://h/db"),
        ("no-such-dir", "--source no-such-dir: not a directory, nor a URL"),
        ("s3://", "--source s3://: expected s3://bucket or s3://bucket/prefix/"),
        ("file://elsewhere/data", "expected file:///absolute/path"),
    ],
)
def test_a_bad_source_is_bad_usage(source: str, message: str, tmp_path: Path) -> None:
    result = init("--source", source, "-o", str(tmp_path / "demon.yml"))
    assert result.exit_code == 2
    assert message in result.stderr and "pw-secret" not in result.stderr
    assert not (tmp_path / "demon.yml").exists()


def test_the_commented_alerting_block_is_valid_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "demon.yml"
    assert init("--source", str(tmp_path), "-o", str(output)).exit_code == 0
    text = output.read_text()
    block = text[text.index("# alerting:"):text.index("\n\n", text.index("# alerting:"))]
    output.write_text(text.replace(block, "\n".join(line[2:] for line in block.splitlines())))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example.com/x")
    assert sorted(load_config(output).alerting.channels) == ["pager", "team-slack"]
