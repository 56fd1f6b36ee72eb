"""Datasets run in parallel, but never more statements against a source than its `max_concurrency`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.daemon_support import wait_for
from tests.pgserver import PostgresServer
from tests.warehouse import execute, write_config

HELD = 4711  # an advisory lock key: a statement taking it shared waits while the test holds it
WAITING_SQL = f"SELECT count(*) FROM (SELECT pg_advisory_xact_lock_shared({HELD})) AS held"


def waiting(conn: psycopg.Connection[tuple[int]]) -> int:
    """demon's statements running now (waiting for the lock), seen in pg_stat_activity from outside demon."""
    found = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()"
        " AND query LIKE %s",
        (f"%pg_advisory_xact_lock_shared({HELD})%",),
    ).fetchone()
    assert found is not None
    return int(found[0])


@pytest.mark.parametrize("limit", [1, 3])
def test_statements_in_flight_never_exceed_max_concurrency(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str, limit: int
) -> None:
    execute(postgres_url, ["CREATE TABLE t (id INTEGER)", "INSERT INTO t VALUES (1)"])
    block = "".join(
        f"  d{i}:\n    source: warehouse\n    table: t\n    checks:\n"
        f"      - metric: {{name: slow, sql: '{WAITING_SQL}'}}\n"
        for i in range(6)
    )
    config = write_config(tmp_path, postgres_url, block,
                          source_extra=f"    max_concurrency: {limit}\n    query_timeout: 10m\n")
    database = postgres_url.rsplit("/", 1)[1]
    # autocommit: pg_stat_activity is a snapshot taken once per transaction
    with (
        psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname=database,
                        autocommit=True) as holder,
        psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname=database,
                        autocommit=True) as watcher,
    ):
        holder.execute(f"SELECT pg_advisory_lock({HELD})")  # every statement waits until it is released
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "check", "-c", str(config), "--format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        )
        try:
            # Statements cannot end while the lock is held: as many as the source allows pile up, and a
            # source that let more through would show them here.
            wait_for(lambda: waiting(watcher) >= limit or process.poll() is not None,
                     what=f"{limit} statements in flight")
            samples = [waiting(watcher)]
            watched_until = time.monotonic() + 1.0
            while time.monotonic() < watched_until:
                samples.append(waiting(watcher))
                time.sleep(0.02)
            holder.execute(f"SELECT pg_advisory_unlock({HELD})")
            while process.poll() is None:
                samples.append(waiting(watcher))
                time.sleep(0.02)
            out, err = process.communicate(timeout=120)
        finally:
            process.kill()
    assert process.returncode == 0, err
    assert [result["outcome"] for result in json.loads(out)["results"]] == ["pass"] * 6
    assert max(samples) == limit, samples  # reached, never exceeded
