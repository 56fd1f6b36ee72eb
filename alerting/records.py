"""Incidents, their events, threads and silences in the state store: all of alerting's SQL but the outbox's.

Functions take an open connection, so the engine can read and write one incident's whole story in the one
transaction that also queues its notifications.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerting.outbox import prune as outbox_prune
from alerting.tables import incident_events, incident_threads, incidents, outbox, silences

# On PostgreSQL, alerting transactions of the daemon and of `demon check --notify` take turns (SQLite's
# BEGIN IMMEDIATE already does that), so both never open the same incident.
_ALERTING_LOCK = {"postgresql": "SELECT pg_advisory_xact_lock(4242004243)"}


@dataclass(frozen=True)
class Incident:
    """An incident row, as the engine and `demon incidents` read it."""

    id: int
    key: str
    check_id: str | None
    dataset: str | None
    source: str
    kind: str | None
    severity: str
    outcome: str
    title: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    last_result_at: datetime
    last_notified_at: datetime
    root_id: int | None
    acked_at: datetime | None
    acked_by: str | None
    ack_reason: str | None
    context: dict[str, Any]


@dataclass(frozen=True)
class NewIncident:
    """What opening an incident writes (its times are the moment it opens)."""

    key: str
    check_id: str | None
    dataset: str | None
    source: str
    kind: str | None
    severity: str
    outcome: str
    title: str
    last_result_at: datetime
    root_id: int | None
    context: dict[str, Any]


@dataclass(frozen=True)
class Silence:
    id: int
    pattern: str
    reason: str
    created_by: str
    created_at: datetime
    ends_at: datetime

    def covers(self, incident: Incident) -> bool:
        """By its key, dataset or check; a folded incident also when the silence covers all its checks
        (`fact_orders.*` silences `dataset:fact_orders`)."""
        names = (incident.key, incident.dataset or "", incident.check_id or "")
        members = incident.context.get("members") or []
        return any(fnmatchcase(name, self.pattern) for name in names if name) or (
            bool(members) and all(fnmatchcase(str(check), self.pattern) for check in members))


def serialise(conn: Connection) -> None:
    lock = _ALERTING_LOCK.get(conn.dialect.name)
    if lock:
        conn.execute(sa.text(lock))


def _incident(row: sa.RowMapping) -> Incident:
    return Incident(**{column: row[column] for column in Incident.__dataclass_fields__})


def open_incidents(conn: Connection, keys: Collection[str]) -> dict[str, Incident]:
    """The open incidents of these keys (check ids or `source:NAME`)."""
    if not keys:
        return {}
    query = sa.select(incidents).where(incidents.c.key.in_(list(keys)), incidents.c.resolved_at.is_(None))
    return {row["key"]: _incident(row) for row in conn.execute(query).mappings()}


def open_by_dataset(conn: Connection, datasets: Collection[str]) -> dict[str, Incident]:
    """Per dataset, its oldest open incident: the one a downstream incident points at."""
    oldest: dict[str, Incident] = {}
    for incident in open_in_datasets(conn, datasets):
        oldest.setdefault(incident.dataset or "", incident)
    return oldest


def open_in_datasets(conn: Connection, datasets: Collection[str]) -> list[Incident]:
    """Every open incident of these datasets (their checks' and their own), oldest first."""
    if not datasets:
        return []
    query = (
        sa.select(incidents)
        .where(incidents.c.dataset.in_(list(datasets)), incidents.c.resolved_at.is_(None))
        .order_by(incidents.c.opened_at, incidents.c.id)
    )
    return [_incident(row) for row in conn.execute(query).mappings()]


def applied_until(conn: Connection, keys: Collection[str]) -> dict[str, datetime]:
    """Per key, the newest result any of its incidents (open or resolved) took in: older ones are stale."""
    if not keys:
        return {}
    query = (
        sa.select(incidents.c.key, sa.func.max(incidents.c.last_result_at))
        .where(incidents.c.key.in_(list(keys)))
        .group_by(incidents.c.key)
    )
    return dict(conn.execute(query).all())


def get(conn: Connection, incident_id: int) -> Incident | None:
    row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).mappings().first()
    return None if row is None else _incident(row)


def listing(conn: Connection, since: datetime, open_only: bool) -> list[Incident]:
    """Open incidents, and those resolved since `since` unless `open_only`; newest first."""
    recent: sa.ColumnElement[bool] = incidents.c.resolved_at.is_(None)
    if not open_only:
        recent = recent | (incidents.c.resolved_at >= since)
    query = sa.select(incidents).where(recent).order_by(incidents.c.opened_at.desc(), incidents.c.id.desc())
    return [_incident(row) for row in conn.execute(query).mappings()]


def insert(conn: Connection, incident: NewIncident, now: datetime) -> int:
    values = {**asdict(incident), "opened_at": now, "updated_at": now, "last_notified_at": now}
    return int(conn.execute(sa.insert(incidents).values(**values).returning(incidents.c.id)).scalar_one())


def update(conn: Connection, incident_id: int, **values: Any) -> None:
    conn.execute(sa.update(incidents).where(incidents.c.id == incident_id).values(**values))


def add_event(
    conn: Connection, incident_id: int, at: datetime, kind: str, outcome: str, message: str,
    by: str | None = None,
) -> int:
    insert_event = sa.insert(incident_events).values(
        incident_id=incident_id, at=at, kind=kind, outcome=outcome, message=message, by=by
    )
    return int(conn.execute(insert_event.returning(incident_events.c.id)).scalar_one())


def events(conn: Connection, incident_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """Each incident's events, oldest first."""
    found: dict[int, list[dict[str, Any]]] = {id_: [] for id_ in incident_ids}
    if not incident_ids:
        return found
    query = (
        sa.select(incident_events)
        .where(incident_events.c.incident_id.in_(list(incident_ids)))
        .order_by(incident_events.c.id)
    )
    for row in conn.execute(query).mappings():
        found[row["incident_id"]].append(dict(row))
    return found


def thread(conn: Connection, incident_id: int, channel: str) -> dict[str, str] | None:
    query = sa.select(incident_threads.c.ref).where(
        incident_threads.c.incident_id == incident_id, incident_threads.c.channel == channel
    )
    ref = conn.execute(query).scalar_one_or_none()
    return None if ref is None else dict(ref)


def save_thread(conn: Connection, incident_id: int, channel: str, ref: Mapping[str, str]) -> None:
    if thread(conn, incident_id, channel) is None:
        row = {"incident_id": incident_id, "channel": channel, "ref": dict(ref)}
        conn.execute(sa.insert(incident_threads).values(**row))


def active_silences(conn: Connection, now: datetime) -> list[Silence]:
    query = sa.select(silences).where(silences.c.ends_at > now).order_by(silences.c.id)
    return [Silence(**dict(row)) for row in conn.execute(query).mappings()]


def add_silence(
    conn: Connection, pattern: str, reason: str, by: str, now: datetime, ends_at: datetime
) -> int:
    insert_silence = sa.insert(silences).values(
        pattern=pattern, reason=reason, created_by=by, created_at=now, ends_at=ends_at
    )
    return int(conn.execute(insert_silence.returning(silences.c.id)).scalar_one())


def end_silence(conn: Connection, silence_id: int, now: datetime) -> bool:
    ended = conn.execute(
        sa.update(silences).where(silences.c.id == silence_id, silences.c.ends_at > now).values(ends_at=now)
    )
    return ended.rowcount == 1


def open_counts(conn: Connection) -> dict[str, int]:
    """Open incidents per severity (for demon_incidents_open)."""
    query = (
        sa.select(incidents.c.severity, sa.func.count())
        .where(incidents.c.resolved_at.is_(None))
        .group_by(incidents.c.severity)
    )
    return {severity: int(count) for severity, count in conn.execute(query)}


def prune(conn: Connection, before: datetime) -> int:
    """Delete incidents resolved before `before` with their events, threads and notifications; and expired
    silences. Returns the incidents deleted."""
    old = sa.select(incidents.c.id).where(incidents.c.resolved_at < before)
    ids = [id_ for (id_,) in conn.execute(old)]
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        # An incident kept may point at one deleted as its root cause: it forgets the pointer.
        conn.execute(sa.update(incidents).where(incidents.c.root_id.in_(chunk)).values(root_id=None))
        for table in (outbox, incident_threads, incident_events):
            conn.execute(sa.delete(table).where(table.c.incident_id.in_(chunk)))
        conn.execute(sa.delete(incidents).where(incidents.c.id.in_(chunk)))
    conn.execute(sa.delete(silences).where(silences.c.ends_at < before))
    outbox_prune(conn, before)
    return len(ids)
