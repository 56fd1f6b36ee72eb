"""Shared fixtures: a real PostgreSQL server for the whole session, fresh databases per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.pgserver import PostgresServer, destroy, start_postgres

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    destroy(server)


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A SQLAlchemy URL (postgresql+psycopg, with a password) to a new, empty database."""
    name = f"t{next(_counter)}"
    postgres.psql(f"CREATE DATABASE {name} OWNER {postgres.user}")
    return postgres.url(name)
