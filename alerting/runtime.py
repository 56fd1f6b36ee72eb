"""Alerting inside one process: the engine, its deliverer and the numbers /metrics shows.

`demon run` keeps one `Notifier` for its life, delivering in background threads; `demon check --notify` uses
`notify_once`, which observes, then delivers in the foreground for a bounded time. Both go through the same
outbox, so a notification that one of them cannot deliver is delivered by the next daemon or run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO

from alerting import admin, outbox, records
from alerting.channels import DEFAULT_CHANNEL, ChannelEnv, acknowledging
from alerting.delivery import Deliverer, open_channels
from alerting.engine import Alerting
from alerting.model import EventKind
from alerting.records import Incident
from alerting.stats import AlertStats
from monitor.core.config.models import Config
from monitor.core.humanize import count
from monitor.core.redact import Redactor
from monitor.core.results import Result
from monitor.state.errors import StateStoreError
from monitor.state.store import StateStore

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0  # how long `demon check --notify` waits for channels before leaving rows to the next run


def channel_env(config: Config, console: TextIO | None) -> ChannelEnv:
    return ChannelEnv(base_dir=config.base_dir, redact=Redactor(config.secrets), console=console)


class Notifier:
    """The daemon's alerting: observes each dataset run's results and delivers in the background."""

    def __init__(self, config: Config, store: StateStore) -> None:
        self.store, self.stats = store, AlertStats()
        self.env = channel_env(config, None)
        self.deliverer = self._deliverer(config)
        self.engine = Alerting(store, store.clock, on_queued=self.deliverer.wake)
        self._channels = dict(config.alerting.channels)

    def start(self, config: Config) -> None:
        self._settle(config)
        self.deliverer.start()

    def observe(self, config: Config, results: list[Result], down: dict[str, str]) -> None:
        """Never raises: a check run must not fail because its incident could not be recorded (it is
        judged again at the next run)."""
        try:
            if self.engine.observe(config, results, down).events:
                self.stats.refresh(self.store)
        except StateStoreError as exc:
            log.error("incidents of %d checks not recorded: %s", len(results), self.env.redact(str(exc)))
        except Exception:  # a bug in alerting must not take the scheduler's worker down
            log.exception("incidents of %d checks not recorded", len(results))

    def reload(self, config: Config) -> None:
        """Apply a reloaded config: new channels replace the old (their threads restart), removed checks'
        incidents resolve."""
        self.env = channel_env(config, None)
        if dict(config.alerting.channels) != self._channels:
            self.deliverer.stop(grace=5.0)
            self.deliverer = self._deliverer(config)
            self.engine.on_queued = self.deliverer.wake
            self._channels = dict(config.alerting.channels)
            self.deliverer.start()
        self._settle(config)

    def housekeeping(self, before: datetime) -> None:
        """Prune incidents resolved before `before`; recount the gauges."""
        try:
            with self.store.transaction("prune incidents") as conn:
                pruned = records.prune(conn, before)
            if pruned:
                log.info("pruned %d resolved incidents", pruned)
            self.stats.refresh(self.store)
        except StateStoreError as exc:
            log.error("alerting housekeeping failed: %s", self.env.redact(str(exc)))

    def stop(self, grace: float) -> None:
        self.deliverer.stop(grace)

    def _deliverer(self, config: Config) -> Deliverer:
        return Deliverer(self.store, open_channels(config.alerting, self.env), self.stats, self.env,
                         clock=self.store.clock)

    def _settle(self, config: Config) -> None:
        """Incidents of removed checks resolve; rows of removed channels fail, saying so."""
        try:
            resolved = self.engine.retain(config)
            configured = set(config.alerting.channels) or {DEFAULT_CHANNEL}  # opened or not
            with self.store.transaction("fail notifications of removed channels") as conn:
                failed = outbox.fail_channels_not_in(conn, configured)
            if resolved or failed:
                log.warning("config: %d incidents of removed checks resolved, %d notifications of removed "
                            "channels given up", resolved, failed)
            self.stats.refresh(self.store)
        except StateStoreError as exc:
            log.error("alerting could not settle the config: %s", self.env.redact(str(exc)))


@dataclass(frozen=True)
class Notified:
    """What `demon check --notify` did: incidents opened and resolved, notifications sent, and the ones
    this run queued but did not deliver (refused for good, or waiting for the daemon or the next run)."""

    opened: int = 0
    resolved: int = 0
    sent: int = 0
    undelivered: list[str] = field(default_factory=list)
    refused: int = 0  # of the undelivered, those a channel refused for good; the others wait in the outbox

    def summary(self) -> str:
        """`2 incidents opened, 1 resolved; 3 notifications sent, 1 waiting in the outbox, 1 refused`."""
        waiting = len(self.undelivered) - self.refused
        missed = (f", {waiting} waiting in the outbox" if waiting else "") + (
            f", {self.refused} refused" if self.refused else "")
        return (f"{count(self.opened, 'incidents')} opened, {self.resolved} resolved; "
                f"{count(self.sent, 'notifications')} sent{missed}")


def notify_once(config: Config, store: StateStore, results: Sequence[Result], down: dict[str, str],
                timeout: float = DRAIN_SECONDS, console: TextIO | None = None) -> Notified:
    """`demon check --notify`: record incidents, deliver in the foreground (the console channel writes to
    `console`, stderr unless given)."""
    env = channel_env(config, console or sys.stderr)
    deliverer = Deliverer(store, open_channels(config.alerting, env), AlertStats(), env, clock=store.clock)
    try:
        observed = Alerting(store, store.clock).observe(config, list(results), down)
        deliverer.drain(timeout)
        now = store.clock()
        with store.transaction("prune incidents") as conn:
            records.prune(conn, now - timedelta(seconds=config.state.retention))
        left = _left_rows(store, observed.queued)
    finally:
        deliverer.stop(grace=0.0)
    return Notified(opened=observed.kinds[EventKind.OPENED], resolved=observed.kinds[EventKind.RESOLVED],
                    sent=len(observed.queued) - len(left), undelivered=[_undelivered(row) for row in left],
                    refused=sum(row["state"] == "failed" for row in left))


@dataclass(frozen=True)
class Acknowledged:
    """What `demon ack` did: the incident acknowledged, and what it could not tell a pager (yet)."""

    incident: Incident
    undelivered: list[str] = field(default_factory=list)


def acknowledge(config: Config, store: StateStore, incident_id: int, by: str, reason: str,
                timeout: float = DRAIN_SECONDS) -> Acknowledged:
    """`demon ack`: record the ack and tell the channels that acknowledge (PagerDuty) in the foreground, as
    `demon check --notify` tells its incidents; what waits stays in the outbox for the daemon or a later
    command."""
    telling = acknowledging(config.alerting)
    acked = admin.ack(store, incident_id, by, reason, store.clock(), telling)
    if not acked.queued:
        return Acknowledged(acked.incident)
    env = channel_env(config, sys.stderr)
    deliverer = Deliverer(store, open_channels(config.alerting, env, telling), AlertStats(), env,
                          clock=store.clock)
    try:
        deliverer.drain(timeout)
        return Acknowledged(acked.incident, _left(store, acked.queued))
    finally:
        deliverer.stop(grace=0.0)


def _left(store: StateStore, keys: Collection[str]) -> list[str]:
    """Of these notifications, those not delivered, each said in a line."""
    return [_undelivered(row) for row in _left_rows(store, keys)]


def _left_rows(store: StateStore, keys: Collection[str]) -> list[dict[str, Any]]:
    with store.reading("read the outbox") as conn:
        return outbox.undelivered(conn, set(keys))


def _undelivered(row: dict[str, Any]) -> str:
    why = f": {row['last_error']}" if row["last_error"] else ""
    if row["state"] == "failed":
        return f"notification {row['idempotency_key']} refused by {row['channel']}{why}"
    return (f"notification {row['idempotency_key']} to {row['channel']} not delivered yet "
            f"({row['attempts']} attempts{why}); it stays in the outbox")
