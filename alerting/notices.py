"""One event's notifications: built from the incident as stored, and queued once per channel in the outbox.

The engine queues what results cause (opened, changed, repeated, resolved), `demon ack` its acknowledgement:
both in the transaction that records the event, so both go through the same exactly-once outbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.engine import Connection

from alerting import outbox, records
from alerting.context import iso
from alerting.model import Context, EventKind, Notification, RootCause
from alerting.records import Incident


def notification(
    conn: Connection, incident: Incident, event: EventKind, event_id: int, at: datetime, outcome: str,
    previous: str | None = None,
) -> Notification:
    """The event's notification, the same for every channel but for its key and channel."""
    root = records.get(conn, incident.root_id) if incident.root_id else None
    return Notification(
        key=f"{incident.id}:{event_id}", channel="", incident=incident.id,
        incident_key=incident.key, event=event, outcome=outcome, severity=incident.severity,
        title=incident.title, opened_at=iso(incident.opened_at), at=iso(at),
        context=Context(**incident.context),  # type: ignore[typeddict-item]
        root=None if root is None else RootCause(root.id, root.key, root.title, root.dataset),
        previous_outcome=previous,
    )


def queue(
    conn: Connection, note: Notification, channels: Iterable[str], event_id: int, now: datetime, state: str
) -> list[str]:
    """Queue the notification for each channel, keyed `<incident>:<event>:<channel>`; the keys of those now
    waiting to be sent (none when `state` is `suppressed`, or when they were queued already)."""
    queued = []
    for channel in channels:
        sent = replace(note, key=f"{note.incident}:{event_id}:{channel}", channel=channel)
        if outbox.enqueue(conn, sent, event_id, now, state) and state == "pending":
            queued.append(sent.key)
    return queued
