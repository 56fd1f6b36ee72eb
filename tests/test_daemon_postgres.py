"""`demon run` with a real PostgreSQL as a source and as the state store, stopped and started under it.

These tests stop and restart the server, so they use a disposable one of their own rather than the
session's: another test's database must never vanish under it. Each test gets its own databases; the
daemon lock is per database, so tests on a PostgreSQL state store never see each other's daemons.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.state.errors import StateStoreError
from monitor.state.lock import DaemonLock, LockHeld
from monitor.state.store import StateStore
from tests.daemon_support import Daemon, dataset, source, wait_for, write_config
from tests.pgserver import PostgresServer, destroy, start_postgres
from tests.warehouse import execute

Spawn = Callable[..., Daemon]
PASSWORD = "s3cret-pw"
EXIT_OK, EXIT_CANNOT_START = 0, 3
_names = itertools.count()


# --- the server and its databases ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    started = start_postgres()
    assert started.password == PASSWORD  # the secret every test looks for in what demon prints
    yield started
    destroy(started)


@pytest.fixture
def pg(server: PostgresServer) -> Iterator[PostgresServer]:
    """The module's server; started again after a test that left it stopped (say, failing halfway)."""
    yield server
    if not answers(server):
        server.start()


def answers(server: PostgresServer) -> bool:
    try:
        server.psql("SELECT 1")
    except subprocess.CalledProcessError:
        return False
    return True


def new_database(server: PostgresServer) -> str:
    name = f"d{next(_names)}"
    server.psql(f"CREATE DATABASE {name} OWNER {server.user}")
    return name


def events_table(server: PostgresServer) -> str:
    """A new database with a 10-row `events` table (loaded now); returns the database's name."""
    database = new_database(server)
    server.psql(
        "CREATE TABLE events (id integer, loaded_at timestamptz); "
        "INSERT INTO events SELECT g, now() FROM generate_series(1, 10) AS t(g)",
        database,
    )
    return database


def scalar(server: PostgresServer, sql: str, database: str) -> str:
    return server.psql(sql, database).strip()


def active_queries(server: PostgresServer, database: str, text: str) -> int:
    """Statements containing `text` running on `database` now (psql's own query excluded)."""
    return int(scalar(
        server,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
        f"AND datname = '{database}' AND query LIKE '%{text}%'",
        "postgres",
    ))


def lock_holders(server: PostgresServer, database: str) -> list[str]:
    """The application names of the sessions holding an advisory lock in `database`."""
    out = server.psql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted "
        f"AND l.database = (SELECT oid FROM pg_database WHERE datname = '{database}')",
        "postgres",
    )
    return out.splitlines()


def names_pid(application_name: str, pid: int) -> bool:
    """Whether a lock holder's session names that process (demon puts its pid in application_name)."""
    found = re.search(rf"\b{pid}\b", application_name)
    return application_name.startswith("demon run ") and found is not None


# --- configs and what the daemon left behind -------------------------------------------------------------


def pg_source(url: str, query_timeout: str = "30s") -> str:
    """A `pg` source; the URL carries the password literally, so only demon's own masking hides it."""
    return source("pg", url, query_timeout, concurrency=4)


def duckdb_source(directory: Path) -> str:
    """A `warehouse` source: a DuckDB file with a 5-row main.orders table."""
    url = f"duckdb:///{directory / 'warehouse.duckdb'}"
    execute(url, ["CREATE TABLE orders AS SELECT range AS id FROM range(5)"])
    return source("warehouse", url)


ORDERS = dataset("orders", "- volume: {min: 1}")
SQLITE_STATE = "sqlite:///.demon/state.db"


def query(directory: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows from the SQLite state store beside the config, read-only (the daemon keeps writing)."""
    path = directory / ".demon" / "state.db"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def stored(directory: Path, check: str, after: int = 0) -> list[tuple[int, str, str]]:
    """(id, outcome, message) of the check's results stored after result id `after`, oldest first."""
    sql = "SELECT id, outcome, message FROM results WHERE check_id = ? AND id > ? ORDER BY id"
    return [(int(row[0]), str(row[1]), str(row[2])) for row in query(directory, sql, check, after)]


def latest_outcome(directory: Path, check: str, after: int) -> str | None:
    found = stored(directory, check, after)
    return found[-1][1] if found else None


def last_id(directory: Path) -> int:
    return int(query(directory, "SELECT coalesce(max(id), 0) FROM results")[0][0])


def logged(daemon: Daemon, check: str, outcome: str) -> list[dict[str, Any]]:
    return [line for line in daemon.checks_logged() if line["check"] == check and line["outcome"] == outcome]


def source_lines(daemon: Daemon, source: str, words: str) -> list[dict[str, Any]]:
    return [line for line in daemon.logs() if line.get("source") == source and words in line["message"]]


def source_up(daemon: Daemon, source: str) -> float | None:
    return daemon.metric("demon_source_up", f'source="{source}"')


def healthz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    response = daemon.get("/healthz")
    assert PASSWORD not in response.body
    return response.status, json.loads(response.body)


# --- a PostgreSQL source going down and coming back ------------------------------------------------------


def test_a_stopped_postgresql_source_errors_and_recovers_by_itself(
    pg: PostgresServer, spawn: Spawn, tmp_path: Path
) -> None:
    database = events_table(pg)
    datasets = dataset("events", "- volume: {min: 1}", "- freshness: {column: loaded_at, fail_after: 1d}",
                       source="pg", table="public.events")
    config = write_config(tmp_path, pg_source(pg.url(database), "5s"), datasets, SQLITE_STATE)
    checks = ("events.volume", "events.freshness")
    daemon = spawn(config)
    wait_for(lambda: all(logged(daemon, check, "pass") for check in checks), what="first passes")
    wait_for(lambda: source_up(daemon, "pg") == 1.0, what="demon_source_up 1")

    pg.stop()
    before_down = last_id(tmp_path)

    def refused(check: str) -> list[tuple[int, str, str]]:
        return [row for row in stored(tmp_path, check, before_down) if "connection refused" in row[2]]

    wait_for(lambda: all(refused(check) for check in checks), what="stored 'connection refused' errors")
    for check in checks:
        assert {outcome for _, outcome, _ in refused(check)} == {"error"}
        assert logged(daemon, check, "error")
    wait_for(lambda: source_up(daemon, "pg") == 0.0, what="demon_source_up 0")
    # Logged once, when it goes down. The reason is the first failed run's: while the server was still
    # shutting down (longer on a loaded machine) it may be another than "connection refused".
    down = wait_for(lambda: source_lines(daemon, "pg", "source pg is down"), what="a 'down' log line")
    assert down[0]["level"] == "warning"
    assert daemon.alive()
    status, body = healthz(daemon)
    sources = body.pop("sources")
    assert (status, body) == (200, {"status": "ok", "scheduler": "running", "state_store": "ok"})
    assert sources["pg"]["up"] is False
    assert down[-1]["message"] == f"source pg is down: {sources['pg']['reason']}"  # since that same run
    masked = f"postgresql+psycopg://demon:***@127.0.0.1:{pg.port}/{database}"
    assert sources["pg"]["reason"].startswith(f"cannot connect to source pg ({masked}): ")
    assert "s3cret-pw" not in json.dumps(sources)

    back_from = last_id(tmp_path)
    pg.start()
    wait_for(lambda: all(latest_outcome(tmp_path, check, back_from) == "pass" for check in checks),
             what="passes after the restart")
    wait_for(lambda: source_up(daemon, "pg") == 1.0, what="demon_source_up back to 1")
    up = wait_for(lambda: source_lines(daemon, "pg", "source pg is up again"), what="an 'up again' line")
    assert up[0]["level"] == "info"
    assert daemon.alive()
    text = daemon.text()
    assert PASSWORD not in text
    assert all(PASSWORD not in message for check in checks for _, _, message in stored(tmp_path, check))


# --- PostgreSQL as the state store ---------------------------------------------------------------------


def results_in(server: PostgresServer, database: str, check: str, outcome: str = "pass") -> int:
    sql = f"SELECT count(*) FROM results WHERE check_id = '{check}' AND outcome = '{outcome}'"
    return int(scalar(server, sql, database))


def test_healthz_turns_503_while_the_postgresql_state_store_is_down_and_recovers(
    pg: PostgresServer, spawn: Spawn, tmp_path: Path
) -> None:
    state = new_database(pg)
    config = write_config(tmp_path, duckdb_source(tmp_path), ORDERS, pg.url(state))
    daemon = spawn(config)
    assert healthz(daemon)[0] == 200
    wait_for(lambda: results_in(pg, state, "orders.volume") > 0, what="results in the PostgreSQL store")

    pg.stop()
    body = wait_for(lambda: (found := healthz(daemon))[0] == 503 and found[1], what="/healthz 503")
    assert body["status"] == "unhealthy"
    assert body["scheduler"] == "running"
    reason = body["state_store"]
    assert f"postgresql+psycopg://demon:***@127.0.0.1:{pg.port}/{state}" in reason
    assert "could not answer" in reason and "refused" in reason.lower()
    # The checks keep running while the store is away; what they cannot store is logged, not fatal.
    wait_for(lambda: "not stored" in daemon.text(), what="a 'results not stored' log line")
    assert daemon.alive()
    assert healthz(daemon)[0] == 503

    pg.start()
    wait_for(lambda: healthz(daemon)[0] == 200, what="/healthz 200 again")
    assert healthz(daemon)[1]["state_store"] == "ok"
    stored_before = results_in(pg, state, "orders.volume")
    wait_for(lambda: results_in(pg, state, "orders.volume") > stored_before, what="results stored again")
    assert daemon.alive()
    assert PASSWORD not in daemon.text()


def test_a_second_daemon_is_refused_until_the_first_is_killed(
    pg: PostgresServer, spawn: Spawn, tmp_path: Path
) -> None:
    state = new_database(pg)
    config = write_config(tmp_path, duckdb_source(tmp_path), ORDERS, pg.url(state))
    first = spawn(config)

    second = spawn(config, wait_healthy=False)
    assert second.wait() == EXIT_CANNOT_START
    refusal = second.text()
    assert f"is in use by demon run pid {first.process.pid} on " in refusal
    assert f"postgresql+psycopg://demon:***@127.0.0.1:{pg.port}/{state}" in refusal
    assert PASSWORD not in refusal
    assert first.alive() and healthz(first)[0] == 200

    [holder] = lock_holders(pg, state)  # a session's advisory lock, not a lease that has to expire
    assert names_pid(holder, first.process.pid)
    first.process.kill()  # kill -9: no chance to release anything, the server drops the session's lock
    first.wait()
    wait_for(lambda: lock_holders(pg, state) == [], what="the killed daemon's lock gone with its session")
    third = spawn(config)  # waits for /healthz 200, failing if it exits
    assert "is in use" not in third.text()
    wait_for(lambda: len(lock_holders(pg, state)) == 1, what="the third daemon's advisory lock")
    assert names_pid(lock_holders(pg, state)[0], third.process.pid)
    # The refused daemon never started a run: only the first's and the third's are in the store.
    assert scalar(pg, "SELECT count(*) FROM runs WHERE command = 'run'", state) == "2"


# --- the lock after a server restart (in process: the daemon verifies it every 30 s) -----------------


@contextmanager
def locked_store(pg: PostgresServer, tmp_path: Path) -> Iterator[tuple[str, StateStore, DaemonLock]]:
    """A fresh state database, its store, and the daemon lock this process holds on it until the end."""
    state = new_database(pg)
    store = StateStore.open(pg.url(state), tmp_path)
    lock = store.lock_daemon()
    try:
        yield state, store, lock
    finally:
        lock.release()
        store.close()


def test_the_advisory_lock_is_taken_again_after_the_server_restarts(
    pg: PostgresServer, tmp_path: Path
) -> None:
    with locked_store(pg, tmp_path) as (state, store, lock):
        assert len(lock_holders(pg, state)) == 1
        pg.stop()
        pg.start()
        assert lock_holders(pg, state) == []  # the restart ended the session and its lock
        lock.verify()
        holders = lock_holders(pg, state)
        assert len(holders) == 1 and names_pid(holders[0], os.getpid())
        with pytest.raises(LockHeld, match="is in use by"):
            store.lock_daemon()
        lock.verify()  # still held: verifying again changes nothing
        assert len(lock_holders(pg, state)) == 1
    assert lock_holders(pg, state) == []


def test_the_lock_is_taken_again_after_housekeeping_found_the_server_down(
    pg: PostgresServer, tmp_path: Path
) -> None:
    """The daemon verifies every 30 s: an outage longer than that is seen down, then up again."""
    with locked_store(pg, tmp_path) as (state, _, lock):
        pg.stop()
        for _ in range(2):  # two housekeeping rounds while the server is down
            with pytest.raises(StateStoreError) as down:
                lock.verify()
            assert not isinstance(down.value, LockHeld)  # unreachable is not lost: the daemon keeps going
            assert f"127.0.0.1:{pg.port}" in str(down.value) and PASSWORD not in str(down.value)
        pg.start()
        lock.verify()
        holders = lock_holders(pg, state)
        assert len(holders) == 1 and names_pid(holders[0], os.getpid())


def test_a_lock_taken_by_another_daemon_during_the_restart_is_reported_lost(
    pg: PostgresServer, spawn: Spawn, tmp_path: Path
) -> None:
    with locked_store(pg, tmp_path) as (state, _, lock):
        pg.stop()
        pg.start()
        config = write_config(tmp_path, duckdb_source(tmp_path), ORDERS, pg.url(state))
        other = spawn(config)  # gets in while this lock is gone
        with pytest.raises(LockHeld, match="is in use by") as lost:
            lock.verify()
        assert f"pid {other.process.pid} " in str(lost.value)
        assert other.alive()
        assert len(lock_holders(pg, state)) == 1  # the other daemon's, untouched by the failed attempt


# --- slow and hung queries -------------------------------------------------------------------------------


def run_row(directory: Path) -> tuple[str | None, dict[str, int]]:
    finished, summary = query(directory, "SELECT finished_at, summary FROM runs WHERE command = 'run'")[0]
    return finished, json.loads(summary) if summary else {}


HELD = 4711  # an advisory lock key: a statement taking it shared waits while the test holds it
WAITING_SQL = f"SELECT count(*) FROM (SELECT pg_advisory_xact_lock_shared({HELD})) AS held"


@contextmanager
def holding(server: PostgresServer, database: str) -> Iterator[None]:
    """Hold the advisory lock HELD on `database` (as the superuser): WAITING_SQL runs until this ends."""
    with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname=database,
                         autocommit=True) as conn:
        conn.execute(f"SELECT pg_advisory_lock({HELD})")
        yield


def test_sigterm_waits_for_a_slow_postgresql_query_and_stores_its_result(
    pg: PostgresServer, spawn: Spawn, tmp_path: Path
) -> None:
    database = events_table(pg)
    datasets = dataset("slow", f"- metric: {{name: sleepy, sql: '{WAITING_SQL}', min: 1}}",
                       source="pg", table="public.events", schedule="every 2s")
    config = write_config(tmp_path, pg_source(pg.url(database), "10m"), datasets, SQLITE_STATE)
    with holding(pg, database):  # the statement runs until the stop signal has been taken
        daemon = spawn(config)
        wait_for(lambda: active_queries(pg, database, "pg_advisory_xact_lock_shared") == 1,
                 what="the slow query to run")
        before = stored(tmp_path, "slow.metric.sleepy")
        daemon.signal(signal.SIGTERM)
        wait_for(lambda: any(line["message"].startswith("stopping:") for line in daemon.logs()),
                 what="the daemon stopping")
        assert daemon.alive()  # waiting for the running check
        assert stored(tmp_path, "slow.metric.sleepy") == before
    assert daemon.wait() == EXIT_OK

    after = stored(tmp_path, "slow.metric.sleepy")
    assert len(after) == len(before) + 1
    assert after[-1][1] == "pass", after[-1]
    lines = daemon.logs()
    stopping = next(i for i, line in enumerate(lines) if line["message"].startswith("stopping:"))
    finished = [i for i, line in enumerate(lines) if line.get("check") == "slow.metric.sleepy"]
    assert finished and finished[-1] > stopping  # the check finished after SIGTERM, not before
    assert lines[finished[-1]]["outcome"] == "pass"
    assert not any("still running" in line["message"] for line in lines)
    finished_at, summary = run_row(tmp_path)
    assert finished_at is not None
    assert summary["pass"] == 1 and summary["error"] == 0
    assert active_queries(pg, database, "pg_advisory_xact_lock_shared") == 0


def test_a_query_past_its_timeout_errors_and_other_datasets_keep_their_schedule(
    pg: PostgresServer, spawn: Spawn, tmp_path: Path
) -> None:
    database = events_table(pg)
    datasets = dataset(
        "slow", "- metric: {name: hung, sql: SELECT count(*) FROM pg_sleep(120), min: 1}",
        source="pg", table="public.events", schedule="every 2s",
    ) + dataset("quick", "- volume: {min: 1}", source="pg", table="public.events")
    config = write_config(tmp_path, pg_source(pg.url(database), "1s"), datasets, SQLITE_STATE)
    daemon = spawn(config)

    timed_out = wait_for(lambda: len(logged(daemon, "slow.metric.hung", "error")) >= 2 and
                         logged(daemon, "slow.metric.hung", "error"), what="two timed-out runs")
    # A 120 s statement stopped after its 1 s timeout: a generous bound, far below the statement's length.
    assert all(line["duration"] < 20 for line in timed_out)
    rows = stored(tmp_path, "slow.metric.hung")
    assert len(rows) >= 2
    assert all(outcome == "error" and message == "query timed out after 1s" for _, outcome, message in rows)

    passes_then = len(logged(daemon, "quick.volume", "pass"))
    wait_for(lambda: len(logged(daemon, "quick.volume", "pass")) >= passes_then + 3,
             what="the quick dataset to keep running on its schedule")
    assert not [line for line in daemon.checks_logged() if line["check"] == "quick.volume"
                and line["outcome"] != "pass"]
    assert {outcome for _, outcome, _ in stored(tmp_path, "quick.volume")} == {"pass"}
    # A timeout is not an outage: the source answered its ping.
    assert source_up(daemon, "pg") == 1.0
    assert not source_lines(daemon, "pg", "is down")
    assert daemon.alive() and healthz(daemon)[0] == 200
