"""Engines for the state store: URL resolution, per-backend settings, and error messages without secrets."""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from monitor.state.errors import StateStoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000  # a second writer (`demon check` beside the daemon) waits this long
CONNECT_TIMEOUT_SECONDS = 10
TCP_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
                 "tcp_user_timeout": 60_000}  # libpq settings, milliseconds for the last
WRITE = "demon_state_write"  # execution option marking a connection that will write
# WAL lets readers run beside the writer; in WAL, synchronous=NORMAL stays atomic and saves an fsync a commit.
_SQLITE_PRAGMAS = (
    f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
)

# NaN is not JSON and PostgreSQL rejects it: fail the same way on every backend instead of only on one.
_dumps = functools.partial(json.dumps, allow_nan=False, ensure_ascii=False)


def parse_url(url: str, base_dir: Path) -> URL:
    """Parse `url`; a relative SQLite path is taken relative to `base_dir` (the config file's folder)."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        scheme = url.partition("://")[0] if "://" in url else "?"
        raise StateStoreError(
            f"invalid state URL (scheme {scheme!r}); expected e.g. sqlite:///.demon/state.db "
            "or postgresql+psycopg://user:password@host/db"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return parsed
    if parsed.database in (None, "", ":memory:"):
        raise StateStoreError("an in-memory SQLite state store would lose everything: give a file path")
    path = Path(parsed.database)
    return parsed.set(database=str(path if path.is_absolute() else base_dir / path))


def masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def create_engine(url: URL) -> Engine:
    """An engine with the settings of its backend; only SQLite and PostgreSQL are supported."""
    factory = _FACTORIES.get(url.get_backend_name())
    if factory is None:
        raise StateStoreError(
            f"unsupported state store {masked(url)}: use sqlite:///PATH or postgresql+psycopg://..."
        )
    return factory(url)


@contextmanager
def translate_errors(url: URL, action: str) -> Iterator[None]:
    """Turn driver, file-system and serialisation failures into StateStoreError naming the store and cause.

    TypeError and ValueError are included because drivers raise them unwrapped for values they cannot send
    (psycopg dumps JSON itself, while a statement is already under way).
    """
    try:
        yield
    except (sa.exc.SQLAlchemyError, ImportError, OSError, TypeError, ValueError) as exc:
        raise StateStoreError(f"state store {masked(url)}: could not {action}: {_reason(exc, url)}") from exc


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction (SQLite: BEGIN IMMEDIATE, so busy_timeout applies up front)."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        yield conn


def _reason(exc: BaseException, url: URL) -> str:
    cause = getattr(exc, "orig", None) or exc
    first = next(iter(str(cause).strip().splitlines()), "")
    text = f"{type(cause).__name__}: {first}" if first else type(cause).__name__
    return text.replace(url.password, "***") if url.password else text


def _sqlite(url: URL) -> Engine:
    Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, json_serializer=_dumps)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling skips BEGIN for SELECT and DDL; SQLAlchemy emits BEGIN instead
    # (see _sqlite_begin), which makes reads consistent and migrations atomic.
    dbapi_connection.isolation_level = None
    for pragma in _SQLITE_PRAGMAS:  # busy_timeout first: switching to WAL may wait for a migrating writer
        _retry_locked(functools.partial(dbapi_connection.execute, f"PRAGMA {pragma}"))


def _retry_locked(execute: Callable[[], object]) -> None:
    """Retry while SQLite says "database is locked" without waiting: two processes switching a brand-new
    file to WAL at once, where SQLite skips the busy handler (it could deadlock) and fails at once."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            execute()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def _postgresql(url: URL) -> Engine:
    return sa.create_engine(
        url,
        json_serializer=_dumps,
        pool_pre_ping=True,  # the daemon outlives server restarts
        # A host that vanishes (no RST) must fail the daemon's lock and health checks, not hang them for long.
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, **TCP_KEEPALIVE},
    )


_FACTORIES: dict[str, Callable[[URL], Engine]] = {"sqlite": _sqlite, "postgresql": _postgresql}
