"""A PostgreSQL source that fails mid-statement: a backend that stops answering (a frozen process keeps its
TCP connection alive, so neither the server's statement_timeout nor TCP keepalives end the wait), and a
server killed while a statement runs. demon must end the statement itself, say what happened in one line,
and let Ctrl-C stop it at once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon_support import Daemon, dataset, source, wait_for
from tests.daemon_support import write_config as daemon_config
from tests.pgserver import PostgresServer, destroy, start_postgres
from tests.warehouse import execute, write_config

SLOW = "SELECT count(*) FROM pg_sleep(20)"
DATASET = ("  s1:\n    source: warehouse\n    table: t\n    checks:\n      - volume: {min: 1}\n"
           f"      - metric: {{name: slow, sql: '{SLOW}', min: 0}}\n")


def backend_running(server: PostgresServer, database: str) -> int | None:
    """The pid of the backend running demon's slow statement, once it runs."""
    found = server.psql("SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
                        "'%pg_sleep(20)%' AND pid <> pg_backend_pid()", database).split()
    return int(found[0]) if found else None


def start_check(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "monitor", "check", "-c", str(config), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=config.parent)


@pytest.fixture
def frozen(postgres: PostgresServer) -> Iterator[list[int]]:
    """Backends a test stops with SIGSTOP: woken and ended afterwards, whatever happened."""
    stopped: list[int] = []
    yield stopped
    for pid in stopped:
        os.kill(pid, signal.SIGCONT)
        postgres.psql(f"SELECT pg_terminate_backend({pid})")


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_backend_that_stops_answering_ends_as_an_error_saying_so(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str, frozen: list[int]
) -> None:
    execute(postgres_url, ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)"])
    config = write_config(tmp_path, postgres_url, DATASET, source_extra="    query_timeout: 2s\n")
    check = start_check(config)
    pid = wait_for(lambda: backend_running(postgres, database_of(postgres_url)), 60, what="the statement")
    os.kill(pid, signal.SIGSTOP)
    frozen.append(pid)
    out, err = check.communicate(timeout=120)  # without demon's own deadline: until the backend wakes
    assert check.returncode == 3, err
    messages = {result["message"] for result in json.loads(out)["results"]}
    assert messages == {"the server stopped answering: no reply within 12s, the connection was dropped"
                        " (one statement for 2 probes: row count, metric statement)"}
    assert "Traceback" not in err


def test_ctrl_c_ends_a_statement_the_server_does_not_answer(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str, frozen: list[int]
) -> None:
    execute(postgres_url, ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)"])
    config = write_config(tmp_path, postgres_url, DATASET, source_extra="    query_timeout: 10m\n")
    check = start_check(config)
    pid = wait_for(lambda: backend_running(postgres, database_of(postgres_url)), 60, what="the statement")
    os.kill(pid, signal.SIGSTOP)
    frozen.append(pid)
    check.send_signal(signal.SIGINT)
    _, err = check.communicate(timeout=120)  # the deadline itself is 10 minutes away
    assert check.returncode == 130
    assert err == "demon: interrupted: checks not started were cancelled\n"


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of the test's own, to kill."""
    server = start_postgres()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
        destroy(server)


def test_a_server_killed_mid_statement_is_one_line_and_no_traceback(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    url = own_postgres.url()
    execute(url, ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)"])
    config = write_config(tmp_path, url, DATASET, source_extra="    query_timeout: 1m\n")
    check = start_check(config)
    wait_for(lambda: backend_running(own_postgres, "demon"), 60, what="the statement")
    own_postgres.stop("immediate")
    out, err = check.communicate(timeout=120)
    assert check.returncode == 3
    assert "Traceback" not in err and "unexpected failure" not in err and "sqlalche.me" not in out
    results = json.loads(out)["results"]
    assert {result["outcome"] for result in results} == {"error"}
    for result in results:
        assert result["message"].startswith("lost the connection to source warehouse: "), result["message"]
        assert "\n" not in result["message"]
    again = subprocess.run([sys.executable, "-m", "monitor", "check", "-c", str(config), "--format", "json"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert {r["message"].split(":")[0] for r in json.loads(again.stdout)["results"]} == {
        "cannot connect to source warehouse (postgresql+psycopg"}  # the next run: gone from the start


def test_the_daemon_leaves_a_duckdb_file_free_for_its_loader_between_runs(
    tmp_path: Path, spawn: Callable[..., Daemon]
) -> None:
    """DuckDB admits one writer and no reader beside it: a file held open by demon could not be loaded.
    demon holds it only while a run reads it."""
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    execute(url, ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)"])
    config = daemon_config(tmp_path, source("warehouse", "duckdb:///warehouse.duckdb"),
                           dataset("loaded", "- volume: {min: 1}", table="t", schedule="every 1h"))
    daemon = spawn(config)
    wait_for(lambda: daemon.answers("/readyz"), 120, what="the first run")
    for value in range(2, 5):  # three loads in a row, as a pipeline would, between the daemon's runs
        execute(url, [f"INSERT INTO t VALUES ({value})"])
    assert daemon.alive()
