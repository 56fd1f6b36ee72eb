"""What alerting exports on /metrics, kept in memory so a scrape never waits on the state store.

The gauges (open incidents, unsent notifications) are recounted from the store after each change; the
notification counter counts this process's attempts since it started, as Prometheus counters do.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from alerting import outbox, records
from monitor.state.store import StateStore


@dataclass
class Snapshot:
    open_incidents: dict[str, int] = field(default_factory=dict)  # severity -> open incidents
    pending: dict[str, int] = field(default_factory=dict)  # channel -> unsent notifications
    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, result) -> count


class AlertStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = Snapshot()

    def count(self, channel: str, result: str) -> None:
        """`result`: sent, retried (an attempt failed and will be retried) or failed (refused for good)."""
        with self._lock:
            self._now.notifications[(channel, result)] += 1

    def refresh(self, store: StateStore) -> None:
        """Recount the gauges; raises StateStoreError (callers log it and keep the last counts)."""
        with store.reading("count incidents and unsent notifications") as conn:
            open_incidents, pending = records.open_counts(conn), outbox.pending_counts(conn)
        with self._lock:
            self._now.open_incidents, self._now.pending = open_incidents, pending

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(dict(self._now.open_incidents), dict(self._now.pending),
                            self._now.notifications.copy())
