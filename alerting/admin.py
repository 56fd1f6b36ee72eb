"""What people do to incidents from the command line: list them, acknowledge one, silence some for a while.

Each is one state-store transaction, so a running daemon sees it at its next notification: nothing to signal.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from alerting import notices, outbox, records
from alerting.context import iso
from alerting.model import EventKind
from alerting.records import Incident
from monitor.state.store import StateStore


class IncidentError(Exception):
    """A user asked for something that cannot be done (no such incident, already resolved): exit 2."""


def listing(store: StateStore, now: datetime, since: timedelta, open_only: bool) -> list[dict[str, Any]]:
    """Open incidents and, unless `open_only`, those resolved within `since`; newest first, as JSON-able
    dicts with their events, unsent notifications and the silences covering them."""
    with store.reading("list incidents") as conn:
        found = records.listing(conn, now - since, open_only)
        events = records.events(conn, [incident.id for incident in found])
        pending = outbox.pending_by_incident(conn)
        silences = records.active_silences(conn, now)
    return [
        {
            **_plain(incident),
            "state": _state(incident, any(s.covers(incident) for s in silences)),
            "pending_notifications": pending.get(incident.id, 0),
            "silenced_by": [s.id for s in silences if s.covers(incident)],
            "events": [_plain_event(event) for event in events[incident.id]],
        }
        for incident in found
    ]


def silences(store: StateStore, now: datetime) -> list[dict[str, Any]]:
    with store.reading("list silences") as conn:
        return [_plain_dict(asdict(silence)) for silence in records.active_silences(conn, now)]


@dataclass(frozen=True)
class Acked:
    """An acknowledged incident, and the keys of the `acknowledged` notifications waiting to be sent."""

    incident: Incident
    queued: list[str]


def ack(
    store: StateStore, incident_id: int, by: str, reason: str, now: datetime,
    acknowledging: Collection[str] = (),
) -> Acked:
    """Acknowledge an open incident: it stops repeating (a waiting repeat is dropped); a change of outcome
    or its resolution still notify. Of the channels its notifications went to, those `acknowledging`
    (a pager's) are told, after what they were told before; silenced, the notification is suppressed."""
    with store.transaction("acknowledge an incident") as conn:
        incident = records.get(conn, incident_id)
        if incident is None:
            raise IncidentError(f"no incident {incident_id}")
        if incident.resolved_at is not None:
            raise IncidentError(f"incident {incident_id} is resolved already")
        records.update(conn, incident_id, acked_at=now, acked_by=by, ack_reason=reason or None)
        event_id = records.add_event(conn, incident_id, now, "acked", incident.outcome, reason, by)
        outbox.withdraw(conn, [incident_id], "skipped", (EventKind.REPEATED.value,))
        told = outbox.told(conn, incident_id, acknowledging)
        silenced = any(silence.covers(incident) for silence in records.active_silences(conn, now))
        note = notices.notification(conn, incident, EventKind.ACKNOWLEDGED, event_id, now, incident.outcome)
        queued = notices.queue(conn, note, told, event_id, now, "suppressed" if silenced else "pending")
    return Acked(incident, queued)


def silence(store: StateStore, pattern: str, duration: float, reason: str, by: str, now: datetime) -> int:
    """Silence every incident whose key, dataset or check matches the glob `pattern` for `duration` seconds:
    their notifications, waiting ones included, are recorded as suppressed, not sent. The open ones it
    covers get an event."""
    ends_at = now + timedelta(seconds=duration)
    with store.transaction("add a silence") as conn:
        silence_id = records.add_silence(conn, pattern, reason, by, now, ends_at)
        covered = records.Silence(silence_id, pattern, reason, by, now, ends_at)
        found = [found for found in records.listing(conn, now, open_only=True) if covered.covers(found)]
        for incident in found:
            message = f"silenced until {iso(ends_at)} by silence {silence_id}: {reason}"
            records.add_event(conn, incident.id, now, "silenced", incident.outcome, message, by)
        outbox.withdraw(conn, [incident.id for incident in found], "suppressed")
    return silence_id


def unsilence(store: StateStore, silence_id: int, now: datetime) -> None:
    with store.transaction("end a silence") as conn:
        if not records.end_silence(conn, silence_id, now):
            raise IncidentError(f"no active silence {silence_id}")


def _state(incident: Incident, silenced: bool) -> str:
    if incident.resolved_at is not None:
        return "resolved"
    return "silenced" if silenced else "acked" if incident.acked_at else "open"


def _plain(incident: Incident) -> dict[str, Any]:
    return _plain_dict(asdict(incident))


def _plain_event(event: dict[str, Any]) -> dict[str, Any]:
    return _plain_dict({key: event[key] for key in ("id", "at", "kind", "outcome", "message", "by")})


def _plain_dict(values: dict[str, Any]) -> dict[str, Any]:
    return {key: iso(value) if isinstance(value, datetime) else value for key, value in values.items()}

