"""Delivery: from the outbox to the channels, one thread per channel, retrying with backoff until delivered.

A channel that hangs or rate-limits holds up only its own thread: never a check, never another channel.
Every attempt claims its row in the store first and marks it after, so a notification is sent by one deliverer
only (the daemon or `demon check --notify`), and one that was being sent when demon died is sent again after
its lease (see outbox.py). A rate limit's Retry-After pauses the whole channel, not just the row.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta

from alerting import outbox, records
from alerting.channels import DEFAULT_CHANNEL, Channel, ChannelEnv, open_channel
from alerting.channels.settings import ConsoleChannelConfig
from alerting.model import Delivered, Permanent, Retry
from alerting.stats import AlertStats
from monitor.core.clock import Clock, utcnow
from monitor.core.config.models import AlertingConfig
from monitor.core.signals import block_stop_signals
from monitor.state.errors import StateStoreError
from monitor.state.store import StateStore

log = logging.getLogger(__name__)

BACKOFF_BASE, BACKOFF_MAX = 1.0, 900.0  # seconds: 1, 2, 4, ... at most 15 minutes between attempts
IDLE = 30.0  # longest wait for new work: a row queued by another process is picked up within it
STORE_PAUSE = 5.0  # after the state store failed
CHANNEL_PAUSE = 5.0  # the longest a failure without Retry-After holds a channel's other notifications
MARK_ATTEMPTS = 3


def backoff(attempts: int, after: float | None) -> float:
    """Seconds before the next attempt: the channel's Retry-After when it gave one, else exponential with
    jitter (so many rows failing together do not come back together). Either way at most BACKOFF_MAX (15
    minutes, as the README says): a Retry-After of a day (Slack has sent 86400) is asked again sooner."""
    if after is not None and after > 0:
        return min(after, BACKOFF_MAX)
    delay: float = min(BACKOFF_BASE * 2 ** max(0, attempts - 1), BACKOFF_MAX)
    return delay * random.uniform(0.8, 1.2)


def open_channels(
    alerting: AlertingConfig, env: ChannelEnv, only: Collection[str] | None = None
) -> dict[str, Channel]:
    """Every configured channel (of those named `only`, if given), or the console when none is configured; a
    channel that cannot open is logged and left out (its notifications wait in the outbox)."""
    configs = dict(alerting.channels) or {DEFAULT_CHANNEL: ConsoleChannelConfig(kind="console")}
    opened: dict[str, Channel] = {}
    for name, config in configs.items():
        if only is not None and name not in only:
            continue
        try:
            opened[name] = open_channel(name, config, env)
        except Exception as exc:  # a missing library or a bad setting must not stop the rest
            log.error("channel %s cannot be used, its notifications wait in the outbox: %s", name,
                      env.redact(str(exc)), extra={"channel": name})
    return opened


@dataclass(frozen=True)
class Attempt:
    """What one delivery step did: `worked` when a row was tried; `pause` before the channel's next try."""

    worked: bool
    pause: float


class Deliverer:
    def __init__(
        self,
        store: StateStore,
        channels: Mapping[str, Channel],
        stats: AlertStats,
        env: ChannelEnv,
        clock: Clock = utcnow,
    ) -> None:
        self.store, self.stats, self.env, self.clock = store, stats, env, clock
        self.channels = dict(channels)
        self._stop = threading.Event()
        self._wake: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}

    def start(self) -> None:
        for name in self.channels:
            self._start(name)

    def wake(self) -> None:
        """New rows were queued: every channel looks now instead of at its next timeout."""
        for event in list(self._wake.values()):
            event.set()

    def stop(self, grace: float) -> None:
        """Stop the threads; a send in progress may finish within `grace` seconds (its row is re-sent later
        otherwise, after its lease)."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + grace
        for thread in self._threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        for channel in self.channels.values():
            channel.close()

    def drain(self, timeout: float) -> None:
        """In the foreground (`demon check --notify`): deliver what is due, waiting on retries, until nothing
        left can be tried before `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        active = set(self.channels)
        while active and time.monotonic() < deadline:
            waits = []
            for name in sorted(active):
                attempt = self.step(name)
                due = attempt.pause if attempt.worked else self._due_in(name)
                if due is None or due > deadline - time.monotonic():
                    active.discard(name)
                else:
                    waits.append(due)
            if waits and min(waits) > 0:
                time.sleep(min(min(waits), max(0.0, deadline - time.monotonic())))

    def step(self, name: str) -> Attempt:
        """Claim the channel's next due notification and try it once."""
        channel = self.channels[name]
        with self.store.transaction("claim a notification") as conn:
            row = outbox.claim(conn, name, self.clock())
            if row is None:
                return Attempt(False, 0.0)
            thread = records.thread(conn, row.incident_id, name)
            root = row.notification.root
            if thread is None and root is not None:  # a follow-up goes into its root cause's thread
                thread = records.thread(conn, root.incident, name)
        try:
            delivered = channel.send(row.notification, thread)
        except Retry as retry:
            return self._retry(row, retry)
        except Permanent as refused:
            return self._failed(row, refused.reason)
        except Exception as exc:  # a channel's bug must not kill its thread, nor lose the row
            # Only the type: a library's message may quote a secret URL that no redactor knows.
            log.error("channel %s: unexpected %s while sending", name, type(exc).__name__,
                      extra={"channel": name})
            return self._retry(row, Retry(f"internal error: {type(exc).__name__}"))
        self._mark_sent(row, delivered)
        return Attempt(True, 0.0)

    def _mark_sent(self, row: outbox.Row, delivered: Delivered) -> None:
        """Record the delivery, trying a few times: a row left `sending` is sent again after its lease."""
        for attempt in range(1, MARK_ATTEMPTS + 1):
            try:
                with self.store.transaction("mark a notification sent") as conn:
                    held = outbox.mark_sent(conn, row, self.clock())
                    if held and delivered.thread:
                        records.save_thread(conn, row.incident_id, row.channel, delivered.thread)
                break
            except StateStoreError:
                if attempt == MARK_ATTEMPTS:
                    raise
                self._stop.wait(0.5 * attempt)
        self.stats.count(row.channel, "sent")
        note = "" if held else " (its claim had expired: another deliverer may send it too)"
        log.info("notification %s sent to %s%s", row.notification.key, row.channel, note,
                 extra={"channel": row.channel, "incident": row.incident_id,
                        "event": row.notification.event.value})

    def _retry(self, row: outbox.Row, retry: Retry) -> Attempt:
        delay = backoff(row.attempts, retry.after)
        reason = self.env.redact(retry.reason)
        with self.store.transaction("reschedule a notification") as conn:
            outbox.mark_retry(conn, row, self.clock() + timedelta(seconds=delay), reason)
        self.stats.count(row.channel, "retried")
        log.warning("channel %s: notification %s not delivered (attempt %d), retrying in %.1fs: %s",
                    row.channel, row.notification.key, row.attempts, delay, reason,
                    extra={"channel": row.channel, "incident": row.incident_id})
        # A rate limit holds the whole channel; other failures hold this row (its next attempt) and the
        # channel only briefly, so one notification the receiver chokes on does not delay the others.
        return Attempt(True, delay if retry.after else min(delay, CHANNEL_PAUSE))

    def _failed(self, row: outbox.Row, reason: str) -> Attempt:
        reason = self.env.redact(reason)
        with self.store.transaction("mark a notification failed") as conn:
            outbox.mark_failed(conn, row, reason)
        self.stats.count(row.channel, "failed")
        log.error("channel %s refused notification %s for good: %s", row.channel, row.notification.key,
                  reason, extra={"channel": row.channel, "incident": row.incident_id})
        return Attempt(True, 0.0)

    def _due_in(self, name: str) -> float | None:
        """Seconds until the channel's next unsent row is due (0 if now), None when nothing waits."""
        with self.store.reading("read the outbox") as conn:
            due = outbox.next_due(conn, name)
        return None if due is None else max(0.0, (due - self.clock()).total_seconds())

    def _start(self, name: str) -> None:
        self._wake[name] = threading.Event()
        thread = threading.Thread(target=self._loop, args=(name,), name=f"demon-notify-{name}", daemon=True)
        self._threads[name] = thread
        thread.start()

    def _loop(self, name: str) -> None:
        block_stop_signals()
        wake = self._wake[name]
        while not self._stop.is_set():
            try:
                attempt = self.step(name)
            except StateStoreError as exc:
                log.error("channel %s: the outbox cannot be read: %s", name, self.env.redact(str(exc)))
                self._stop.wait(STORE_PAUSE)
                continue
            except Exception as exc:  # the thread must live on: its channel would go quiet for good
                log.error("channel %s: delivery failed: %s", name, type(exc).__name__,
                          extra={"channel": name})
                self._stop.wait(STORE_PAUSE)
                continue
            if attempt.worked:
                self._refresh()
                self._stop.wait(attempt.pause)  # a retry pauses the channel; new rows do not cut it short
            else:
                wake.wait(min(self._next_due(name), IDLE))
                wake.clear()

    def _next_due(self, name: str) -> float:
        try:
            due = self._due_in(name)
        except StateStoreError:
            return STORE_PAUSE
        return IDLE if due is None else max(due, 0.01)

    def _refresh(self) -> None:
        try:
            self.stats.refresh(self.store)
        except StateStoreError as exc:
            log.warning("alerting metrics not refreshed: %s", self.env.redact(str(exc)))
