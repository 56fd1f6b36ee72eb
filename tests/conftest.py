"""Shared fixtures: a real PostgreSQL server for the whole session, fresh databases per test."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.state.store import StateStore
from tests.daemon_support import Daemon, start_daemon
from tests.motoserver import DUMMY_ENV, FOREIGN_ENV, MotoServer, S3Lake, Topics, start_moto
from tests.pgserver import PostgresServer, closed_port, destroy, start_postgres
from tests.promserver import Prometheus, Pushgateway

_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    """A shell without job control starts background commands with SIGINT ignored, and their children inherit
    that: the tests send SIGINT to demon processes and expect what a terminal's Ctrl-C does."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    destroy(server)


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A port nothing listens on for the whole test (tests/pgserver.py `closed_port`): connections are
    refused, and no other process can start listening there meanwhile."""
    with closed_port() as port:
        yield port


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A SQLAlchemy URL (postgresql+psycopg, with a password) to a new, empty database."""
    name = f"t{next(_counter)}"
    postgres.psql(f"CREATE DATABASE {name} OWNER {postgres.user}")
    return postgres.url(name)


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on an empty DuckDB file and on a new PostgreSQL database."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto S3 server on 127.0.0.1 for the session (real HTTP)."""
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """The moto server emptied, with dummy AWS credentials in the environment (boto3's standard chain, and
    what a spawned daemon inherits) and nothing of the developer's own AWS setup."""
    for name in FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/demon-test-aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/demon-test-aws-credentials")
    moto_server.reset()
    yield moto_server
    moto_server.reset()


@pytest.fixture
def s3(aws_env: MotoServer) -> S3Lake:
    return S3Lake(aws_env)


@pytest.fixture
def topics(aws_env: MotoServer) -> Topics:
    """SNS topics and SQS queues on the emptied moto server."""
    return Topics(aws_env)


@pytest.fixture
def spawn() -> Iterator[Callable[..., Daemon]]:
    """`spawn(config_path, *args, **kwargs)` starts a real `demon run` (see tests/daemon_support.py); every
    daemon a test started is killed when it ends, whatever happened."""
    started: list[Daemon] = []

    def spawn(config: Path, *args: str, **kwargs: Any) -> Daemon:
        daemon = start_daemon(config, *args, on_start=started.append, **kwargs)
        return daemon

    yield spawn
    for daemon in started:
        daemon.kill()


@pytest.fixture
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Prometheus]]:
    """`prometheus_server(targets, rule_files=..., extra_jobs=...)` starts a real Prometheus on 127.0.0.1
    (arguments of `Prometheus.start`, tests/promserver.py); all a test started are stopped when it ends."""
    started: list[Prometheus] = []

    def start(*args: Any, **kwargs: Any) -> Prometheus:
        server = Prometheus.start(tmp_path_factory.mktemp("prometheus"), *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A real Pushgateway on 127.0.0.1, empty, stopped when the test ends."""
    server = Pushgateway.start(tmp_path_factory.mktemp("pushgateway"))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state store URL, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(state_url: str, tmp_path: Path) -> Iterator[StateStore]:
    """The real state store, on SQLite and on PostgreSQL."""
    with StateStore.open(state_url, tmp_path) as opened:
        yield opened


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[StateStore]:
    """A SQLite state store, for what does not depend on the backend."""
    with StateStore.open(f"sqlite:///{tmp_path / 'lite.db'}", tmp_path) as opened:
        yield opened


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine sends to a driver while the test runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", record)
