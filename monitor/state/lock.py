"""One `demon run` per state store: a lock that the system or the server releases when its holder dies.

Two daemons on one store would run every check twice and send every notification twice (APScheduler's FAQ:
schedulers cannot share jobs). A lease with a heartbeat would leave a killed daemon's lock in place until it
expires; instead each backend's own lock dies with its holder: `flock` on a file beside a SQLite store, a
session advisory lock on PostgreSQL. The holder's pid, host and start time are kept for the refusal message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from monitor.state.engine import masked, translate_errors
from monitor.state.errors import StateStoreError

_ADVISORY_KEY = 0x64656D6F6E  # "demon": one lock per PostgreSQL database


class LockHeld(StateStoreError):
    """Another live `demon run` holds the state store."""


class DaemonLock(Protocol):
    def verify(self) -> None:
        """Raises StateStoreError if the lock is no longer held (re-taking it when it can)."""
        ...

    def release(self) -> None: ...


def holder() -> dict[str, str | int]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat()}


def describe(found: dict[str, object] | None) -> str:
    if not found:
        return "another demon run"
    pid, host, since = (found.get(key, "?") for key in ("pid", "host", "since"))
    return f"demon run pid {pid} on {host} (since {since})"


class FileLock:
    """`flock` on `<database>.lock`: the kernel releases it when the holder exits, even on kill -9."""

    def __init__(self, url: URL) -> None:
        self._path = Path(f"{Path(url.database or '').resolve()}.lock")  # one lock for every path to the db
        self._url = url
        self._file: IO[str] | None = self._acquire()

    def _acquire(self) -> IO[str]:
        with translate_errors(self._url, "lock it"):
            handle = self._path.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                found = _parse(handle.read())
                handle.close()
                raise LockHeld(f"state store {masked(self._url)} is in use by {describe(found)}") from None
            except OSError:
                handle.close()
                raise
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder()))
        handle.flush()
        return handle

    def verify(self) -> None:
        """The lock holds while the locked file is still the one at the path. If it was removed or replaced,
        another daemon could lock the new one: take that too (LockHeld if another daemon already has)."""
        if self._file is not None and _same_file(self._file, self._path):
            return
        self.release()
        self._file = self._acquire()

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()  # closing the descriptor releases the flock
            self._file = None


class AdvisoryLock:
    """A session advisory lock on its own connection; the server drops it when the session ends."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine, self._url = engine, url
        self._conn: Connection | None = None
        self._take()

    def _take(self) -> None:
        with translate_errors(self._url, "lock it"):
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                me = holder()  # application_name keeps 63 bytes: the start time is the session's own
                conn.execute(sa.text("SELECT set_config('application_name', :name, false)"),
                             {"name": f"demon run {me['pid']}@{me['host']}"[:63]})
                taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
                if not taken.scalar_one():
                    other = describe(self._holder(conn))
                    raise LockHeld(f"state store {masked(self._url)} is in use by {other}")
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    def _holder(self, conn: Connection) -> dict[str, object] | None:
        query = sa.text(
            "SELECT a.application_name, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.objsubid = 1 AND (l.classid::bigint << 32 | l.objid::bigint) = :key"
        )
        row = conn.execute(query, {"key": _ADVISORY_KEY}).first()
        if row is None or not str(row[0]).startswith("demon run "):
            return None
        pid, _, host = str(row[0]).removeprefix("demon run ").partition("@")
        return {"pid": pid, "host": host, "since": row[1].isoformat() if row[1] else "?"}

    def verify(self) -> None:
        """After a server restart the session (and lock) is gone: take it again, unless another daemon has."""
        if self._conn is not None:
            try:
                with translate_errors(self._url, "check its lock"):
                    self._conn.execute(sa.text("SELECT 1"))
                return
            except StateStoreError:
                self._drop()
        self._take()

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # else the session, and its lock, are gone
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY})
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            finally:
                self._conn = None


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return path.stat().st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _parse(text: str) -> dict[str, object] | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


LOCKS: dict[str, Callable[[Engine, URL], DaemonLock]] = {
    "sqlite": lambda _engine, url: FileLock(url),
    "postgresql": AdvisoryLock,
}
