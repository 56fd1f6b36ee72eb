"""Reads snapshots for the UI through the state store's reading API: a few statements whatever the number
of datasets (histories without their details, 400 checks to a statement; the latest results with theirs)."""

from __future__ import annotations

from datetime import datetime, timedelta

from alerting import admin
from monitor.app.ui.model import DatasetView, Inputs, Live, Snapshot, dataset_view, gather, inputs
from monitor.core.config.models import Config
from monitor.core.redact import Redactor
from monitor.state.store import StateStore


def read_snapshot(config: Config, store: StateStore, now: datetime, days: int, live: Live | None = None,
                  histories: bool = True) -> Snapshot:
    """What the UI shows of `config`'s datasets over the last `days`, with every check's history for its
    chart unless not `histories` (the daemon reads a dataset's when its page is asked for: `read_dataset`);
    StateStoreError when the store fails."""
    ids = [spec.id for spec in config.checks]
    window = timedelta(days=days)
    schemas = store.last_snapshots([spec.id for spec in config.checks if spec.kind == "schema"])
    passed = {check: success.at for check, success in store.last_successes(ids, now).items()}
    read = inputs(config, store.latest(ids), schemas, passed, now, days, Redactor(config.secrets), live)
    points = store.points(ids, now - window) if histories else {}
    incidents = admin.listing(store, now, window, open_only=False)
    return gather(read, points, incidents, admin.silences(store, now), live)


def read_dataset(store: StateStore, read: Inputs, name: str) -> DatasetView:
    """One dataset of a snapshot read without histories, now with its checks' histories."""
    ids = [spec.id for spec in read.config.checks if spec.dataset == name]
    return dataset_view(read, name, store.points(ids, read.now - timedelta(days=read.days)))
