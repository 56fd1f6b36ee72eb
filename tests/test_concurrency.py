"""Datasets run in parallel, but never more statements against a source than its `max_concurrency`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from monitor.cli import main
from tests.pgserver import PostgresServer
from tests.warehouse import execute, write_config


def peak_sleepers(server: PostgresServer, database: str, stop: threading.Event) -> list[int]:
    """Poll pg_stat_activity (as the superuser, outside demon) for demon's sleeping statements."""
    # autocommit: pg_stat_activity is a snapshot taken once per transaction
    url = f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/{database}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    seen: list[int] = []
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep(0.4)%'"
        " AND pid <> pg_backend_pid()"
    )
    with engine.connect() as conn:
        while not stop.is_set():
            seen.append(int(conn.execute(query).scalar_one()))
            stop.wait(0.02)
    engine.dispose()
    return seen


@pytest.mark.parametrize("limit", [1, 3])
def test_statements_in_flight_never_exceed_max_concurrency(
    tmp_path: Path, postgres: PostgresServer, postgres_url: str, limit: int
) -> None:
    execute(postgres_url, ["CREATE TABLE t (id INTEGER)", "INSERT INTO t VALUES (1)"])
    block = "".join(
        f"  d{i}:\n    source: warehouse\n    table: t\n    checks:\n"
        "      - metric: {name: slow, sql: 'SELECT count(*) FROM pg_sleep(0.4)'}\n"
        for i in range(6)
    )
    config = write_config(tmp_path, postgres_url, block, source_extra=f"    max_concurrency: {limit}\n")
    stop = threading.Event()
    samples: list[int] = []
    database = postgres_url.rsplit("/", 1)[1]
    poller = threading.Thread(target=lambda: samples.extend(peak_sleepers(postgres, database, stop)))
    poller.start()
    try:
        result = CliRunner().invoke(main, ["check", "-c", str(config), "--format", "json"])
    finally:
        stop.set()
        poller.join()
    assert result.exit_code == 0, result.output
    assert max(samples) == limit, samples  # reached, never exceeded
