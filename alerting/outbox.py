"""The outbox: every notification is a row before any channel sees it, and is marked once delivered.

A row is `pending` until a deliverer claims it (`sending`, with a lease), then `sent`, `failed` (refused for
good) or `pending` again with a later `next_attempt_at`. A claim whose lease ran out (demon died mid-send) is
claimable again. `suppressed` rows were silenced; `skipped` ones were overtaken (a repeat not yet sent when a
newer event of the incident came). Per incident and channel, rows go out in order: a row is claimable only
when no earlier row of its incident, or of its root cause's, waits on that channel, so a Slack thread's root
message precedes its replies and a follow-up finds its root cause's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from alerting.model import EventKind, Notification
from alerting.tables import outbox

LEASE = timedelta(seconds=120)  # a claimed row no one marked by then is claimable again
UNSENT = ("pending", "sending")
# Both dialects' INSERT ... ON CONFLICT DO NOTHING: a second enqueue of one key is a no-op, not an error.
_INSERT: dict[str, Callable[[sa.Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert, "postgresql": postgresql.insert,
}


@dataclass(frozen=True)
class Row:
    """A claimed notification: what to send and how many attempts it took so far (this one included)."""

    id: int
    incident_id: int
    channel: str
    attempts: int
    notification: Notification


def enqueue(conn: Connection, notification: Notification, event_id: int, now: datetime, state: str) -> bool:
    """Queue one notification; False when its key is queued already (a re-applied event)."""
    values: dict[str, Any] = {
        "incident_id": notification.incident,
        "event_id": event_id,
        "event_kind": notification.event.value,
        "root_id": None if notification.root is None else notification.root.incident,
        "channel": notification.channel,
        "idempotency_key": notification.key,
        "payload": notification.to_dict(),
        "state": state,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    if state == "pending":  # a newer event makes an unsent repeat of the same incident pointless
        conn.execute(
            sa.update(outbox)
            .where(outbox.c.incident_id == notification.incident, outbox.c.channel == notification.channel,
                   outbox.c.state == "pending", outbox.c.event_kind == EventKind.REPEATED.value)
            .values(state="skipped")
        )
    insert = _INSERT[conn.dialect.name](outbox).values(**values)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT through SQLAlchemy.
    added = insert.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(outbox.c.id)
    return conn.execute(added).first() is not None


def _in_turn(channel: str) -> sa.ColumnElement[bool]:
    """Unsent rows of the channel with no earlier unsent row of their incident or root cause before them."""
    earlier = outbox.alias("earlier")
    waiting = sa.exists().where(
        (earlier.c.incident_id == outbox.c.incident_id) | (earlier.c.incident_id == outbox.c.root_id),
        earlier.c.channel == outbox.c.channel,
        earlier.c.id < outbox.c.id,
        earlier.c.state.in_(UNSENT),
    )
    return (outbox.c.channel == channel) & outbox.c.state.in_(UNSENT) & ~waiting


def _due_at() -> sa.ColumnElement[datetime]:
    """When an unsent row can be tried: pending, at its next attempt; claimed, when its lease ends."""
    return sa.case((outbox.c.state == "sending", outbox.c.claimed_until), else_=outbox.c.next_attempt_at)


def claim(conn: Connection, channel: str, now: datetime) -> Row | None:
    """Take the channel's next due row, or None. The conditional UPDATE makes a claim exclusive: of two
    deliverers (daemon and `demon check --notify`), only one sees its row count at 1."""
    due = sa.select(outbox.c.id).where(_in_turn(channel), _due_at() <= now).order_by(outbox.c.id).limit(5)
    for row_id in conn.execute(due).scalars():
        taken = conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == row_id, outbox.c.state.in_(UNSENT))
            .where((outbox.c.state == "pending") | (outbox.c.claimed_until < now))
            .values(state="sending", claimed_until=now + LEASE, attempts=outbox.c.attempts + 1)
        )
        if taken.rowcount == 1:
            found = conn.execute(sa.select(outbox).where(outbox.c.id == row_id)).mappings().one()
            return Row(found["id"], found["incident_id"], found["channel"], found["attempts"],
                       Notification.from_dict(found["payload"]))
    return None


def next_due(conn: Connection, channel: str) -> datetime | None:
    """When the channel's next row in turn can be tried (None: nothing waits). Rows queued behind an earlier
    row of their incident do not count: they wait for it, not for a time."""
    due: datetime | None = conn.execute(sa.select(sa.func.min(_due_at())).where(_in_turn(channel))).scalar()
    return due


def _held(row: Row) -> sa.ColumnElement[bool]:
    """The row is still this claim's: a claim whose lease ran out and was taken over (another attempt) must
    not overwrite what the new holder did (a late "retry" would undo a "sent": a duplicate)."""
    return (outbox.c.id == row.id) & (outbox.c.state == "sending") & (outbox.c.attempts == row.attempts)


def mark_sent(conn: Connection, row: Row, now: datetime) -> bool:
    """False when the claim was lost meanwhile (the row was taken over after its lease)."""
    done = conn.execute(
        sa.update(outbox)
        .where(_held(row))
        .values(state="sent", sent_at=now, claimed_until=None, last_error=None)
    )
    return done.rowcount == 1


def mark_retry(conn: Connection, row: Row, at: datetime, error: str) -> None:
    conn.execute(
        sa.update(outbox)
        .where(_held(row))
        .values(state="pending", next_attempt_at=at, claimed_until=None, last_error=error)
    )


def mark_failed(conn: Connection, row: Row, error: str) -> None:
    conn.execute(
        sa.update(outbox)
        .where(_held(row))
        .values(state="failed", claimed_until=None, last_error=error)
    )


def withdraw(conn: Connection, incident_ids: list[int], state: str, kinds: tuple[str, ...] = ()) -> int:
    """Pending rows of these incidents (of these event kinds, if given) become `state`: a silence suppresses
    what waits, an ack skips waiting repeats."""
    if not incident_ids:
        return 0
    query = sa.update(outbox).where(outbox.c.incident_id.in_(incident_ids), outbox.c.state == "pending")
    if kinds:
        query = query.where(outbox.c.event_kind.in_(kinds))
    return int(conn.execute(query.values(state=state)).rowcount)


def prune(conn: Connection, before: datetime) -> int:
    """Delete finished rows (sent, failed, skipped, suppressed) queued before `before`, even of open
    incidents: one that flaps for months must not keep every notification."""
    done = conn.execute(sa.delete(outbox).where(outbox.c.state.not_in(UNSENT), outbox.c.created_at < before))
    return int(done.rowcount)


def fail_channels_not_in(conn: Connection, channels: set[str]) -> int:
    """Unsent rows of channels no longer configured can never go out: they fail, saying why."""
    done = conn.execute(
        sa.update(outbox)
        .where(outbox.c.state.in_(UNSENT), outbox.c.channel.not_in(sorted(channels)))
        .values(state="failed", claimed_until=None, last_error="the channel was removed from the config")
    )
    return int(done.rowcount)


def channels_of(conn: Connection, incident_id: int) -> list[str]:
    """The channels the incident's notifications were queued for, in the order they first were."""
    query = (
        sa.select(outbox.c.channel)
        .where(outbox.c.incident_id == incident_id)
        .group_by(outbox.c.channel)
        .order_by(sa.func.min(outbox.c.id))
    )
    return list(conn.execute(query).scalars())


def told(conn: Connection, incident_id: int, channels: Collection[str]) -> list[str]:
    """Of `channels`, those the incident's notifications were queued for (a pager that has its alert)."""
    return [channel for channel in channels_of(conn, incident_id) if channel in channels]


def last_suppressed(conn: Connection, incident_id: int) -> bool:
    """Whether the incident's latest notification was silenced: once the silence ends, it is due again."""
    latest = sa.select(outbox.c.state).where(outbox.c.incident_id == incident_id).order_by(outbox.c.id.desc())
    return conn.execute(latest.limit(1)).scalar() == "suppressed"


def pending_counts(conn: Connection) -> dict[str, int]:
    """Unsent notifications per channel (for demon_outbox_pending)."""
    query = (
        sa.select(outbox.c.channel, sa.func.count())
        .where(outbox.c.state.in_(UNSENT))
        .group_by(outbox.c.channel)
    )
    return {channel: int(count) for channel, count in conn.execute(query)}


def pending_by_incident(conn: Connection) -> dict[int, int]:
    query = (
        sa.select(outbox.c.incident_id, sa.func.count())
        .where(outbox.c.state.in_(UNSENT))
        .group_by(outbox.c.incident_id)
    )
    return {incident: int(count) for incident, count in conn.execute(query)}


def undelivered(conn: Connection, keys: Collection[str]) -> list[dict[str, Any]]:
    """Of these notifications, those not delivered: waiting (pending, sending) or refused (failed)."""
    if not keys:
        return []
    c = outbox.c
    columns = (c.idempotency_key, c.channel, c.state, c.attempts, c.last_error)
    query = (
        sa.select(*columns)
        .where(outbox.c.idempotency_key.in_(list(keys)), outbox.c.state.in_((*UNSENT, "failed")))
        .order_by(outbox.c.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]
