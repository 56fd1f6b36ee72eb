"""The state store on real SQLite files and a real PostgreSQL: migrations, round trips, queries, failures."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.core.results import Outcome, Result
from monitor.state import tables
from monitor.state.lock import LockHeld
from monitor.state.migrate import HEAD_REVISION, MIGRATIONS
from monitor.state.store import PruneRefused, StateStore, StateStoreError, Success
from tests.pgserver import PostgresServer, free_port

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LONG_AGO = T0 - timedelta(days=120)


def make_result(check: str = "orders.volume", outcome: Outcome = Outcome.PASS, value: float | None = 1.0,
                at: datetime = T0, **fields: Any) -> Result:
    dataset, kind = check.split(".")[:2]
    base = Result(check=check, dataset=dataset, kind=kind, source="warehouse", outcome=outcome,
                  message=f"{kind} is {value}", started_at=at, duration_seconds=0.25, value=value)
    return replace(base, **fields)



def scalar(url: str, sql: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def execute(url: str, statement: str | sa.Executable) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement) if isinstance(statement, str) else statement)
    finally:
        engine.dispose()


def backdate(url: str, table: sa.Table, column: str, *where: sa.ColumnElement[bool]) -> None:
    """Age rows as if written long ago (the store stamps runs and snapshots with the current time)."""
    execute(url, sa.update(table).where(*where).values({column: LONG_AGO}))


# --- migrations ----------------------------------------------------------------------------------


def test_head_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def every_table() -> sa.MetaData:
    """The state store's tables and alerting's: the migrations create both."""
    from alerting import tables as alerting_tables

    combined = sa.MetaData()
    for table in (*tables.metadata.tables.values(), *alerting_tables.metadata.tables.values()):
        table.to_metadata(combined)
    return combined


def test_empty_store_is_migrated_to_head_and_matches_the_tables(store: StateStore, state_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert scalar(state_url, "SELECT version_num FROM alembic_version") == HEAD_REVISION
    engine = sa.create_engine(state_url)
    try:
        with engine.connect() as conn:
            assert {"runs", "results", "schema_snapshots"} <= set(sa.inspect(conn).get_table_names())
            assert compare_metadata(MigrationContext.configure(conn), every_table()) == []
    finally:
        engine.dispose()


def migrate_to(url: str, revision: str, direction: str = "upgrade") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            getattr(command, direction)(config, revision)
    finally:
        engine.dispose()


def test_results_stored_before_statements_were_interned_keep_their_statements(
    state_url: str, tmp_path: Path
) -> None:
    migrate_to(state_url, "0001")
    fused, other = "SELECT count(*) FROM t", "SELECT 'it''s' AS quote -- ünïcødé"
    execute(state_url, "INSERT INTO runs (id, command, started_at) VALUES (1, 'check', '2026-11-23 10:00')")
    for row_id, texts in ((1, [fused]), (2, [fused, other]), (3, [])):
        execute(state_url, sa.text(
            "INSERT INTO results (id, run_id, check_id, dataset, kind, source, outcome, thresholds, message,"
            " started_at, duration_seconds, statements, details) VALUES (:id, 1, 'orders.volume', 'orders',"
            " 'volume', 'warehouse', 'pass', '{}', 'ok', :at, 0.1, :texts, '{}')"
        ).bindparams(
            sa.bindparam("texts", texts, type_=sa.JSON()), id=row_id, at=T0 + timedelta(minutes=row_id)
        ))

    with StateStore.open(state_url, tmp_path) as store:  # migrates 0001 -> head
        history = store.history("orders.volume")
    assert [result.statements for result in history] == [(), (fused, other), (fused,)]
    assert scalar(state_url, "SELECT count(*) FROM statements") == 2

    migrate_to(state_url, "0001", "downgrade")
    stored = [json.loads(text) if isinstance(text, str) else text
              for (text,) in _rows(state_url, "SELECT statements FROM results ORDER BY id")]
    assert stored == [[fused], [fused, other], []]


def test_each_statement_is_stored_once_however_many_results_use_it(store: StateStore, state_url: str) -> None:
    run = store.start_run("check")
    fused = "SELECT count(*) AS demon_p0, max(loaded_at) AS demon_p1 FROM orders"
    checks = ("orders.volume", "orders.freshness")
    for minute in range(3):
        store.record(run, [make_result(check, at=T0 + timedelta(minutes=minute), statements=(fused,))
                           for check in checks])
    store.record(run, [make_result("orders.metric", at=T0, statements=(fused, "SELECT 1"))])
    assert scalar(state_url, "SELECT count(*) FROM statements") == 2
    assert [result.statements for result in store.history("orders.metric")] == [(fused, "SELECT 1")]
    assert {result.statements for result in store.history("orders.volume")} == {(fused,)}


def test_prune_drops_statements_only_old_results_used(store: StateStore, state_url: str) -> None:
    run = store.start_run("check")
    store.record(run, [make_result(at=LONG_AGO, statements=("SELECT 'old'", "SELECT 'shared'"))])
    backdate(state_url, tables.statements, "last_used_at")
    store.record(run, [make_result(at=T0, statements=("SELECT 'shared'", "SELECT 'new'"))])

    assert store.prune(T0 - timedelta(days=90), store.start_run("check")) == 1
    remaining = {row[0] for row in _rows(state_url, "SELECT text FROM statements")}
    assert remaining == {"SELECT 'shared'", "SELECT 'new'"}  # 'shared' was used again, so it was refreshed
    assert [result.statements for result in store.history("orders.volume")] == [
        ("SELECT 'shared'", "SELECT 'new'")]


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


_OPEN_AND_REPORT = """
import json, pathlib, sys
from monitor.state.store import StateStore
with StateStore.open(sys.argv[1], pathlib.Path(sys.argv[2])) as store:
    runs = store.history("orders.volume")
print(json.dumps({"alembic": "alembic" in sys.modules, "history": len(runs)}))
"""


def open_in_fresh_process(url: str, base_dir: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _OPEN_AND_REPORT, url, str(base_dir)],
                          check=True, capture_output=True, text=True)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_reopen_is_idempotent_and_never_imports_alembic(state_url: str, tmp_path: Path) -> None:
    assert open_in_fresh_process(state_url, tmp_path) == {"alembic": True, "history": 0}  # had to migrate
    with StateStore.open(state_url, tmp_path) as store:
        store.record(store.start_run("check"), [make_result()])
    assert open_in_fresh_process(state_url, tmp_path) == {"alembic": False, "history": 1}
    with StateStore.open(state_url, tmp_path) as store:
        assert len(store.history("orders.volume")) == 1
    assert scalar(state_url, "SELECT count(*) FROM alembic_version") == 1


_OPEN_ON_SIGNAL = """
import pathlib, sys, time
from monitor.state.store import StateStore
go = pathlib.Path(sys.argv[3])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
StateStore.open(sys.argv[1], pathlib.Path(sys.argv[2])).close()
"""


def test_processes_opening_a_new_store_at_once_migrate_it_once(state_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    argv = [sys.executable, "-c", _OPEN_ON_SIGNAL, state_url, str(tmp_path), str(go)]
    processes = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    for process in processes:  # all imported and waiting: then they race for the empty store
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
    go.touch()
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    assert scalar(state_url, "SELECT version_num FROM alembic_version") == HEAD_REVISION


def test_threads_migrating_different_stores_at_once_do_not_collide(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def open_store(name: str) -> None:
        try:
            StateStore.open(f"sqlite:///{tmp_path / name}", tmp_path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store, args=(f"state{n}.db",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in range(4):
        url = f"sqlite:///{tmp_path / f'state{n}.db'}"
        assert scalar(url, "SELECT version_num FROM alembic_version") == HEAD_REVISION


def test_a_store_from_a_newer_demon_is_refused(state_url: str, tmp_path: Path) -> None:
    StateStore.open(state_url, tmp_path).close()
    execute(state_url, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StateStoreError, match=r"revision '9999'.*newer demon"):
        StateStore.open(state_url, tmp_path)


# --- round trips ---------------------------------------------------------------------------------


def test_record_and_history_round_trip_every_field(store: StateStore) -> None:
    run = store.start_run("demon check --select 'orders.*'")
    full = make_result(
        outcome=Outcome.WARN, value=10800.5, unit="seconds",
        thresholds={"warn_after": 7200.0, "fail_after": 21600.0},
        message="newest loaded_at is 3h old — ünïcødé ✓ 数据", at=T0 + timedelta(minutes=1),
        statements=("SELECT count(*) FROM analytics.orders", "SELECT 'it''s' AS quote"),
        details={"rules": [{"rule": "amount >= 0", "failing": 3, "sample": [{"id": 1, "amount": -2.5}]}],
                 "nested": {"deep": {"deeper": [None, True, 1.5, "x"]}}, "empty": {}},
    )
    errored = make_result(outcome=Outcome.ERROR, value=None, message="source unreachable: connection refused",
                          at=T0 + timedelta(minutes=2), duration_seconds=30.0)
    store.record(run, [full, errored])

    history = store.history("orders.volume")
    assert history == [errored, full]  # newest first, every field equal
    for result in history:
        assert result.started_at.tzinfo is UTC
        assert isinstance(result.outcome, Outcome)
        assert isinstance(result.statements, tuple)
    assert store.history("orders.volume", limit=1) == [errored]
    assert store.history("nothing.here") == []


def test_times_come_back_in_utc_whatever_their_zone(state_url: str, tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    if state_url.startswith("postgresql"):  # a server session in another zone must not shift anything
        server: PostgresServer = request.getfixturevalue("postgres")
        database = sa.engine.make_url(state_url).database
        server.psql(f"ALTER DATABASE {database} SET timezone = 'America/New_York'")
    tokyo = timezone(timedelta(hours=9))
    result = make_result(at=datetime(2026, 11, 23, 19, 0, tzinfo=tokyo))
    with StateStore.open(state_url, tmp_path) as store:
        store.record(store.start_run("check"), [result])
        (back,) = store.history("orders.volume")
    assert back.started_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert back.started_at.tzinfo is UTC


def test_runs_record_their_command_and_summary(store: StateStore, state_url: str) -> None:
    run = store.start_run("demon run")
    assert store.start_run("demon check") == run + 1
    store.finish_run(run, {"pass": 3, "warn": 1, "fail": 0, "error": 2})
    assert scalar(state_url, f"SELECT command FROM runs WHERE id = {run}") == "demon run"
    summary = scalar(state_url, f"SELECT summary FROM runs WHERE id = {run}")
    assert (json.loads(summary) if isinstance(summary, str) else summary) == {
        "pass": 3, "warn": 1, "fail": 0, "error": 2}
    assert scalar(state_url, f"SELECT finished_at FROM runs WHERE id = {run}") is not None
    with pytest.raises(StateStoreError, match="no run 999"):
        store.finish_run(999, {})


def test_last_successes_take_the_latest_pass_or_warn(store: StateStore) -> None:
    run = store.start_run("check")
    # recorded out of time order: "latest" is by started_at, not by insertion
    store.record(run, [make_result(outcome=Outcome.WARN, value=2.0, at=T0 + timedelta(hours=1)),
                       make_result(outcome=Outcome.FAIL, value=3.0, at=T0 + timedelta(hours=2)),
                       make_result(outcome=Outcome.ERROR, value=None, at=T0 + timedelta(hours=3)),
                       make_result(outcome=Outcome.PASS, value=None, at=T0 + timedelta(hours=4)),
                       make_result("orders.freshness", outcome=Outcome.PASS, value=60.0),
                       make_result("users.volume", outcome=Outcome.FAIL, value=0.0),
                       make_result("users.freshness", outcome=Outcome.PASS, value=5.0)])
    store.record(run, [make_result(outcome=Outcome.PASS, value=1.0, at=T0)])
    wanted = ["orders.volume", "orders.freshness", "users.volume", "missing.check"]
    found = store.last_successes(wanted, T0 + timedelta(days=1))
    assert {check: success.value for check, success in found.items()} == {
        "orders.volume": None, "orders.freshness": 60.0}
    assert store.last_successes([], T0) == {}


def test_last_successes_ignore_results_from_the_future(store: StateStore) -> None:
    """A run with the clock 120 days ahead stored a result "from the future": it is no baseline now."""
    run = store.start_run("check")
    store.record(run, [make_result(value=100.0, at=T0 - timedelta(days=1)),
                       make_result(value=1000.0, at=T0 + timedelta(days=120))])
    assert store.last_successes(["orders.volume"], T0) == {
        "orders.volume": Success(T0 - timedelta(days=1), 100.0)}
    later = T0 + timedelta(days=121)
    assert store.last_successes(["orders.volume"], later)["orders.volume"].value == 1000.0


def test_a_snapshot_is_stored_only_when_it_changes(store: StateStore, state_url: str) -> None:
    run = store.start_run("check")
    first = {"id": "integer", "amount": "decimal"}
    store.record(run, [], {"orders.schema": first, "users.schema": {"id": "integer"}})
    store.record(run, [], {"orders.schema": dict(reversed(first.items()))})  # same columns, other order
    assert scalar(state_url, "SELECT count(*) FROM schema_snapshots") == 2
    changed = {"id": "integer", "amount": "float"}
    store.record(run, [], {"orders.schema": changed})
    assert store.last_snapshots(["orders.schema", "users.schema", "missing.schema"]) == {
        "orders.schema": changed, "users.schema": {"id": "integer"}}
    store.record(run, [], {"orders.schema": first})  # changing back is a change too
    assert store.last_snapshots(["orders.schema"]) == {"orders.schema": first}
    assert scalar(state_url, "SELECT count(*) FROM schema_snapshots") == 4
    assert store.last_snapshots([]) == {}


def test_prune_deletes_old_results_and_what_only_they_used(store: StateStore, state_url: str) -> None:
    old_run, new_run = store.start_run("old"), store.start_run("new")
    old = [make_result(at=T0 - timedelta(days=100)), make_result("users.volume", at=T0 - timedelta(days=95))]
    store.record(old_run, old, {"orders.schema": {"id": "integer"}, "users.schema": {"id": "integer"}})
    store.record(old_run, [], {"orders.schema": {"id": "string"}})
    new = make_result(at=T0)
    store.record(new_run, [new])
    backdate(state_url, tables.runs, "started_at", tables.runs.c.id == old_run)
    backdate(state_url, tables.schema_snapshots, "taken_at")
    pruning = store.start_run("check")

    assert store.prune(T0 - timedelta(days=90), pruning) == 2
    assert store.history("orders.volume") == [new]
    assert store.history("users.volume") == []
    # the latest snapshot of each check survives, however old: it is the baseline for drift
    assert store.last_snapshots(["orders.schema", "users.schema"]) == {
        "orders.schema": {"id": "string"}, "users.schema": {"id": "integer"}}
    assert scalar(state_url, "SELECT count(*) FROM schema_snapshots") == 2
    assert scalar(state_url, "SELECT count(*) FROM runs") == 3  # the old run still holds snapshots
    assert store.prune(T0 - timedelta(days=90), pruning) == 0
    with pytest.raises(StateStoreError, match="naive"):
        store.prune(datetime(2026, 1, 1), pruning)


def test_prune_drops_runs_left_empty(store: StateStore, state_url: str) -> None:
    old_run = store.start_run("old")
    store.record(old_run, [make_result(at=T0 - timedelta(days=100))])
    backdate(state_url, tables.runs, "started_at", tables.runs.c.id == old_run)
    recent = store.start_run("recent")
    store.record(recent, [make_result(at=T0)])
    empty = store.start_run("recent but empty")
    assert store.prune(T0 - timedelta(days=90), empty) == 1
    assert {row[0] for row in _rows(state_url, "SELECT id FROM runs")} == {recent, empty}


def test_prune_refuses_a_cutoff_later_than_all_that_came_before_the_run(
    store: StateStore, state_url: str
) -> None:
    """A run with the clock 120 days ahead: its cutoff, 30 days ahead, would delete the whole history."""
    earlier = store.start_run("check")
    store.record(earlier, [make_result(at=T0 - timedelta(days=100)), make_result(at=T0 - timedelta(days=1))])
    ahead = store.start_run("check")
    store.record(ahead, [make_result(at=T0 + timedelta(days=120))])
    newest = (T0 - timedelta(days=1)).isoformat()
    with pytest.raises(PruneRefused) as refused:
        store.prune(T0 + timedelta(days=30), ahead)
    assert str(refused.value) == (
        f"the cutoff {(T0 + timedelta(days=30)).isoformat()} is later than the newest result stored before "
        f"this run ({newest}): the clock may be wrong, so nothing was deleted")
    assert scalar(state_url, "SELECT count(*) FROM results") == 3
    # A daemon's run lasts: its own results are no evidence, the monotonic time it has run is.
    with pytest.raises(PruneRefused, match=re.escape(f"({newest}) plus the 24.0h this run has lasted")):
        store.prune(T0 + timedelta(days=1), ahead, lasted=timedelta(hours=24))
    assert store.prune(T0 - timedelta(hours=1), ahead, lasted=timedelta(hours=24)) == 2
    assert store.prune(T0 - timedelta(days=90), store.start_run("check")) == 0  # the future's result stays
    assert scalar(state_url, "SELECT count(*) FROM results") == 1


def test_threads_record_concurrently(state_url: str, tmp_path: Path) -> None:
    # two stores on one database stand for the daemon and a `demon check` beside it
    stores = [StateStore.open(state_url, tmp_path) for _ in range(2)]
    run = stores[0].start_run("check")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            store = stores[worker % 2]
            for step in range(15):
                check = f"d{worker}.volume"
                store.record(run, [make_result(check, value=float(step), at=T0 + timedelta(seconds=step))])
                assert store.last_successes([check], T0 + timedelta(days=1))[check].value == float(step)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []
    assert scalar(state_url, "SELECT count(*) FROM results") == 6 * 15


# --- failures ------------------------------------------------------------------------------------


def test_a_failed_record_leaves_nothing_behind(store: StateStore, state_url: str) -> None:
    run = store.start_run("check")
    bad = make_result("users.volume", details={"when": datetime.now(UTC)})  # not JSON
    with pytest.raises(StateStoreError, match=r"record results.*not JSON serializable"):
        store.record(run, [make_result(), bad, make_result("orders.freshness")],
                     {"orders.schema": {"id": "integer"}})
    not_json: Any = {"id": object()}
    with pytest.raises(StateStoreError, match="record results"):
        store.record(run, [make_result()], {"orders.schema": {"id": "integer"}, "users.schema": not_json})
    with pytest.raises(StateStoreError, match="record results"):  # NaN is not JSON on any backend
        store.record(run, [make_result(details={"ratio": float("nan")})])
    with pytest.raises(StateStoreError, match="record results"):  # no such run
        store.record(run + 100, [make_result()])
    with pytest.raises(StateStoreError, match="naive"):
        store.record(run, [make_result(), make_result(at=datetime(2026, 11, 23, 10, 0))])
    assert scalar(state_url, "SELECT count(*) FROM results") == 0
    assert scalar(state_url, "SELECT count(*) FROM schema_snapshots") == 0
    store.record(run, [make_result()])  # the store is still usable
    assert len(store.history("orders.volume")) == 1


def test_history_rejects_a_limit_below_one(store: StateStore) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        store.history("orders.volume", limit=0)


def test_relative_sqlite_path_is_relative_to_the_config_folder(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir, elsewhere = tmp_path / "project", tmp_path / "cwd"
    config_dir.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    StateStore.open("sqlite:///.demon/state.db", config_dir).close()
    assert (config_dir / ".demon" / "state.db").is_file()
    assert not (elsewhere / ".demon").exists()
    absolute = tmp_path / "abs" / "deeper" / "state.db"
    StateStore.open(f"sqlite:///{absolute}", config_dir).close()
    assert absolute.is_file()
    path = config_dir / ".demon" / "state.db"
    journal = scalar(f"sqlite:///{path}", "PRAGMA journal_mode")
    assert journal == "wal"


def test_unreachable_postgresql_names_the_store_without_its_password() -> None:
    url = f"postgresql+psycopg://demon:t0p-s3cret@127.0.0.1:{free_port()}/demon"
    with pytest.raises(StateStoreError) as caught:
        StateStore.open(url, Path())
    message = str(caught.value)
    assert "t0p-s3cret" not in message
    assert f"postgresql+psycopg://demon:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in message
    assert "OperationalError" in message


def test_wrong_postgresql_password_is_reported_without_either_password(postgres_url: str) -> None:
    url = postgres_url.replace(":s3cret-pw@", ":wr0ng-pw@")
    with pytest.raises(StateStoreError, match="could not open it") as caught:
        StateStore.open(url, Path())
    assert "wr0ng-pw" not in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(("url", "expected"), [
    ("not a url", "invalid state URL"),
    ("mysql+pymysql://demon:hunter2@localhost/db", r"unsupported state store mysql\+pymysql://demon:\*\*\*@"),
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
])
def test_bad_urls_are_refused_clearly(url: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(StateStoreError, match=expected) as caught:
        StateStore.open(url, tmp_path)
    assert "hunter2" not in str(caught.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite " * 500)
    with pytest.raises(StateStoreError, match=r"could not open it.*not a database"):
        StateStore.open(f"sqlite:///{path}", tmp_path)


def test_opening_waits_for_a_writer_longer_than_the_drivers_default_busy_timeout(tmp_path: Path) -> None:
    """A store another process is creating stays locked while it migrates (long under load): opening
    waits up to demon's busy_timeout from the very first statement, not sqlite3's default 5 s."""
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE being_migrated (id INTEGER)")
    releaser = threading.Timer(6.0, lambda: (holder.execute("COMMIT"), holder.close()))
    releaser.start()
    try:
        store = StateStore.open(f"sqlite:///{path}", tmp_path)
    finally:
        releaser.join()
    store.close()
    assert scalar(f"sqlite:///{path}", "SELECT version_num FROM alembic_version") == HEAD_REVISION


# --- the one-daemon lock ---------------------------------------------------------------------------


def test_the_daemon_lock_is_exclusive_and_names_its_holder(store: StateStore, state_url: str,
                                                           tmp_path: Path) -> None:
    lock = store.lock_daemon()
    with StateStore.open(state_url, tmp_path) as other, pytest.raises(LockHeld) as refused:
        other.lock_daemon()
    assert f"is in use by demon run pid {os.getpid()} on {socket.gethostname()}" in str(refused.value)
    assert "s3cret-pw" not in str(refused.value)
    lock.release()
    with StateStore.open(state_url, tmp_path) as other:
        other.lock_daemon().release()  # free again once released


def test_a_removed_lock_file_is_taken_again_or_reported_lost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with StateStore.open(url, tmp_path) as store, StateStore.open(url, tmp_path) as other:
        lock = store.lock_daemon()
        (tmp_path / "state.db.lock").unlink()
        lock.verify()  # re-took the lock on a new file, so nobody else can
        with pytest.raises(LockHeld):
            other.lock_daemon()
        (tmp_path / "state.db.lock").unlink()
        intruder = other.lock_daemon()  # another daemon locks the new file first
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
            lock.verify()
        intruder.release()
