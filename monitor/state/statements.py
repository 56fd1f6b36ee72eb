"""Statements stored once each, by digest; results refer to them by id."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.core.distribution import load
from monitor.state.tables import statements as table

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

    Insert = Callable[[sa.Table], sqlite.Insert | postgresql.Insert]

# `last_used_at` is refreshed at most this often (one UPDATE an hour, not one per result); pruning keeps the
# same margin, so a statement is dropped only when every result that could use it is older than the cut-off.
TOUCH_EVERY = timedelta(hours=1)
# The store's two backends, each with its own INSERT ... ON CONFLICT DO NOTHING (imported with its dialect:
# a SQLite store does not load PostgreSQL's).
_INSERTS: dict[str, str] = {
    "sqlite": "sqlalchemy.dialects.sqlite:insert",
    "postgresql": "sqlalchemy.dialects.postgresql:insert",
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def intern(conn: Connection, texts: Iterable[str], now: datetime) -> dict[str, int]:
    """The id of every text, inserting the new ones; safe against a concurrent writer inserting the same."""
    wanted = {digest(text): text for text in dict.fromkeys(texts)}
    if not wanted:
        return {}
    # Touch first: on PostgreSQL the UPDATE also locks the reused rows, so a concurrent prune cannot delete
    # them before this transaction commits; fresher rows are never pruned anyway.
    conn.execute(
        sa.update(table)
        .where(table.c.digest.in_(list(wanted)), table.c.last_used_at < now - TOUCH_EVERY)
        .values(last_used_at=now)
    )
    # Usually every text is known and nothing is inserted (an INSERT ... ON CONFLICT of known rows would burn
    # a PostgreSQL sequence value each). A second pass only if another process's prune raced this one.
    ids = _ids(conn, wanted)
    inserter: Insert = load(_INSERTS[conn.dialect.name])
    insert = inserter(table).on_conflict_do_nothing(index_elements=["digest"])
    for _attempt in range(2):
        missing = {key: text for key, text in wanted.items() if key not in ids}
        if not missing:
            break
        rows = [{"digest": key, "text": text, "last_used_at": now} for key, text in missing.items()]
        conn.execute(insert, rows)
        ids.update(_ids(conn, missing))
    return {text: ids[key] for key, text in wanted.items()}


def _ids(conn: Connection, digests: Collection[str]) -> dict[str, int]:
    found = conn.execute(sa.select(table.c.digest, table.c.id).where(table.c.digest.in_(list(digests))))
    return dict(found.all())


def texts(conn: Connection, ids: Collection[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = conn.execute(sa.select(table.c.id, table.c.text).where(table.c.id.in_(list(ids))))
    return dict(found.all())


def prune(conn: Connection, before: datetime) -> None:
    """Drop statements no result at or after `before` can refer to."""
    conn.execute(sa.delete(table).where(table.c.last_used_at < before - TOUCH_EVERY))
