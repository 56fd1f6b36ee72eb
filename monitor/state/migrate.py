"""Bring a state store to the latest schema; alembic is imported only when a migration is due."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from monitor.state.engine import writing
from monitor.state.errors import StateStoreError

# Must equal alembic's head of migrations/versions (a test checks): an up-to-date store opens with one SELECT.
HEAD_REVISION = "0005"
MIGRATIONS = Path(__file__).parent / "migrations"

# Two processes opening a new store at once must not both create its tables. SQLite's BEGIN IMMEDIATE already
# serialises them; PostgreSQL needs an explicit lock (held to the end of the transaction).
_MIGRATION_LOCKS = {"postgresql": "SELECT pg_advisory_xact_lock(4242004242)"}
# alembic's `context` and `op` are module-level proxies: two migrations in one process must not overlap.
_ALEMBIC_LOCK = threading.Lock()


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def ensure_head(engine: Engine) -> None:
    with engine.connect() as conn:
        if current_revision(conn) == HEAD_REVISION:
            return
    _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _ALEMBIC_LOCK, writing(engine) as conn:
        lock = _MIGRATION_LOCKS.get(conn.dialect.name)
        if lock:
            conn.exec_driver_sql(lock)
        found = current_revision(conn)
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise StateStoreError(
                f"state store is at schema revision {found!r}, unknown to this demon "
                f"(head {HEAD_REVISION}): was it written by a newer demon? ({exc})"
            ) from exc
