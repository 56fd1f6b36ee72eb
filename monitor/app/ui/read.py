"""Reads one snapshot for the UI through the state store's reading API: a few statements, whatever the
number of datasets (histories without their details, the latest results with theirs)."""

from __future__ import annotations

from datetime import datetime, timedelta

from alerting import admin
from monitor.app.ui.model import Live, Snapshot, gather
from monitor.core.config.models import Config
from monitor.core.redact import Redactor
from monitor.state.store import StateStore


def read_snapshot(config: Config, store: StateStore, now: datetime, days: int, live: Live | None = None
                  ) -> Snapshot:
    """What the UI shows of `config`'s datasets over the last `days`; StateStoreError when the store fails."""
    ids = [spec.id for spec in config.checks]
    window = timedelta(days=days)
    points = store.points(ids, now - window)
    latest = store.latest(ids)
    snapshots = store.last_snapshots([spec.id for spec in config.checks if spec.kind == "schema"])
    incidents = admin.listing(store, now, window, open_only=False)
    silences = admin.silences(store, now)
    return gather(config, points, latest, snapshots, incidents, silences, now, days,
                  Redactor(config.secrets), live)
