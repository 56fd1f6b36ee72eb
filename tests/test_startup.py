"""What `demon` imports at start-up (issue 20): the modules a command loads, never its timing.

Each command runs in a fresh interpreter that, on exit, writes the names in `sys.modules` to a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from bench.bench_startup import build_sql_config
from checks.sources.dialects import inline_values

# Runs `demon <argv>` as the console script does, then (atexit) writes what was imported to $DEMON_MODULES.
PROBE = """\
import atexit, json, os, sys

def written():
    with open(os.environ["DEMON_MODULES"], "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(written)
sys.argv = ["demon", *sys.argv[1:]]
from monitor.app.cli import main
main()
"""
# The same, with every scan of the installed distributions' entry points failing.
NO_SCAN = PROBE.replace("atexit.register(written)\n", """atexit.register(written)
import importlib.metadata
def scanned(**group):
    raise AssertionError(f"entry points scanned: {group}")
importlib.metadata.entry_points = scanned
""")
# Libraries a SQL-only `demon check` needs none of: data frames and lakes, S3, the daemon's, schema export's.
NOT_FOR_SQL = {"pandas", "pandera", "pyarrow", "numpy", "boto3", "botocore", "prometheus_client",
               "apscheduler", "jsonschema", "alembic", "rich", "slack_sdk", "psycopg", "psycopg2", "pymysql"}
# `demon --help` needs click only: no config, no source, no store.
NOT_FOR_HELP = NOT_FOR_SQL | {"sqlalchemy", "duckdb", "duckdb_sqlalchemy", "pydantic", "pydantic_core",
                              "yaml", "checks", "alerting"}


def imported(
    argv: list[str], cwd: Path, probe: str = PROBE
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """The finished `demon <argv>` and the modules it imported."""
    modules = cwd / "modules.json"
    env = {**os.environ, "DEMON_MODULES": str(modules)}
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    return done, set(json.loads(modules.read_text()))


def packages(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


@pytest.fixture
def sql_only(tmp_path: Path) -> Path:
    """The SQL-only config `bench_startup` times: what a check of it loads is pinned here."""
    return build_sql_config(tmp_path)


def test_check_on_a_sql_only_config_imports_no_data_frame_or_lake_library(sql_only: Path) -> None:
    argv = ["check", "-c", str(sql_only), "-f", "json"]
    first, modules = imported(argv, sql_only.parent)
    assert first.returncode == 0, first.stderr
    assert packages(modules) & NOT_FOR_SQL <= {"alembic"}  # the new store's tables are made by its migrations
    done, modules = imported(argv, sql_only.parent)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert len(results) == 7 and {result["outcome"] for result in results} == {"pass"}
    assert packages(modules) & NOT_FOR_SQL == set()
    # Discovery (and the lake and dbt readers under it) only loads for a config with `discover:` entries.
    assert not {name for name in modules if name.startswith(("checks.discovery", "checks.sources.lake"))}
    # SQLAlchemy's dialects: DuckDB's is PostgreSQL's (duckdb-sqlalchemy builds on it); the store's SQLite.
    dialects = {name.split(".")[2] for name in modules if name.startswith("sqlalchemy.dialects.")}
    assert dialects <= {"postgresql", "sqlite", "_typing"}
    # Only the format asked for is loaded.
    assert "monitor.app.report.junit" not in modules and "monitor.app.report.table" not in modules
    # Without --notify alerting lends the config its channels' settings, nothing more.
    assert {name for name in modules if name.startswith("alerting")} == {
        "alerting", "alerting.channels", "alerting.channels.settings"}


def test_check_scans_no_distribution_for_plugins_or_dialects(sql_only: Path) -> None:
    """Pydantic's plugins (switched off by the CLI) and DuckDB's SQLAlchemy dialect (registered by name) are
    not looked for among every installed distribution's entry points (once the store exists: Alembic, which
    makes it, looks for its plugins)."""
    argv = ["check", "-c", str(sql_only), "-f", "json"]
    assert imported(argv, sql_only.parent)[0].returncode == 0
    done, _ = imported(argv, sql_only.parent, NO_SCAN)
    assert done.returncode == 0, done.stderr
    assert {result["outcome"] for result in json.loads(done.stdout)["results"]} == {"pass"}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["check", "--help"]])
def test_help_and_version_import_click_and_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    done, modules = imported(argv, tmp_path)
    assert done.returncode == 0, done.stderr
    assert packages(modules) & NOT_FOR_HELP == set()


def test_duckdb_statements_carry_exact_values_inline_and_find_the_same_rows() -> None:
    """DuckDB's client imports pandas to convert any bound value: strings, integers, dates and timestamps are
    sent as literals instead, comparing exactly as the bound values do; floats stay bound."""
    moment = datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC)
    naive = moment.replace(tzinfo=None)
    table = sa.table("t", sa.column("s"), sa.column("ts"), sa.column("tz"), sa.column("d"), sa.column("f"))
    conditions = [
        table.c.s == "it's \\ %s $1 é",
        table.c.ts >= sa.bindparam("a", naive, type_=sa.DateTime()),
        table.c.ts > sa.bindparam("b", naive - timedelta(microseconds=1), type_=sa.DateTime()),
        table.c.tz >= sa.bindparam("c", moment, type_=sa.DateTime(timezone=True)),
        table.c.tz > sa.bindparam("e", moment, type_=sa.DateTime(timezone=True)),
        table.c.d >= sa.bindparam("g", date(2026, 1, 2), type_=sa.Date()),
        table.c.s.in_(["a", "it's \\ %s $1 é"]),
        table.c.f > 2,
        # subclasses SQLAlchemy has no literal for (pandas' Timestamp, as a Pandera rule has it) stay bound
        table.c.ts >= sa.literal(pd.Timestamp("2026-01-01")),
        table.c.s == sa.literal(np.str_("it's \\ %s $1 é")),
    ]
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TimeZone = 'America/New_York'")
        conn.exec_driver_sql("CREATE TABLE t (s VARCHAR, ts TIMESTAMP, tz TIMESTAMPTZ, d DATE, f DOUBLE)")
        conn.exec_driver_sql("INSERT INTO t VALUES ('it''s \\ %s $1 é', '2026-01-02 03:04:05.000001',"
                             " '2026-01-02 03:04:05.000001+00', '2026-01-02', 2.5)")
        for condition in conditions:
            statement = sa.select(sa.func.count()).select_from(table).where(condition)
            assert conn.execute(inline_values(statement)).scalar() == conn.execute(statement).scalar()
    statement = inline_values(sa.select(table.c.s).where(table.c.s == "x", table.c.f > 1.5))
    compiled = statement.compile(engine, compile_kwargs={"render_postcompile": True})
    assert "t.s = 'x'" in str(compiled) and list(compiled.params.values()) == [1.5]
