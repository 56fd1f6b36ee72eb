"""The life of `demon run`: start, serve, reload on SIGHUP, stop on SIGTERM or SIGINT, keep the store tidy.

Signals only queue an event (see monitor/signals.py); the main thread acts on it, so a reload or stop never
runs inside a signal handler, halfway through some other code.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerting.runtime import Notifier
from monitor.app.config import ConfigError, load_config
from monitor.app.daemon import logs
from monitor.app.daemon.http import Endpoint, endpoint_tls, exposition_app, probe_app
from monitor.app.daemon.logs import RedactingFilter, RepeatLimit
from monitor.app.daemon.metrics import SchedulerMetrics, exposition
from monitor.app.daemon.service import Scheduler
from monitor.app.daemon.status import Status
from monitor.app.metrics.exposition import CONTENT_TYPE
from monitor.app.watch import watched
from monitor.core.config.models import Config
from monitor.core.config.types import format_duration
from monitor.core.humanize import first_line
from monitor.core.redact import Redactor
from monitor.core.signals import SignalInbox
from monitor.state.lock import DaemonLock, LockHeld
from monitor.state.store import PruneRefused, StateStore, StateStoreError

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from monitor.app.ui.model import DatasetView, Snapshot

log = logging.getLogger("monitor.daemon")

EXIT_OK, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 3, 130  # 3: cannot start, or lost the state store
HOUSEKEEPING_SECONDS = 30.0  # how often the lock is verified and pruning considered
PRUNE_EVERY = 3600.0  # seconds, on the monotonic clock: a wall clock that steps must not stop pruning
NOTIFY_GRACE = 5.0  # seconds a send in progress may take at a stop; an unfinished one is sent again later
UI_DAYS = 7  # of history the web UI's charts show
_SIGNALS = {signal.SIGTERM: "stop", signal.SIGINT: "stop", signal.SIGHUP: "reload"}


@dataclass
class Daemon:
    """Everything one `demon run` holds, from the state store to the HTTP endpoint."""

    config_path: Path
    store: StateStore
    lock: DaemonLock
    scheduler: Scheduler
    status: Status
    metrics: SchedulerMetrics
    redacting: RedactingFilter
    repeats: RepeatLimit
    run_id: int
    notifier: Notifier
    written: Config | None = None  # the file as loaded, before discovery: what re-discovery starts from
    discovered_at: float = field(default_factory=time.monotonic)
    pruned_at: float | None = None  # monotonic
    started: float = field(default_factory=time.monotonic)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the scheduler starts runs when they are due and the state store answers and takes
        results; the body says which is not."""
        body: dict[str, Any] = {"scheduler": self.scheduler.health(), "state_store": self._store_health()}
        healthy = body["scheduler"] == "running" and body["state_store"] == "ok"
        # Shown, not judged: a source being down is the data's problem, not the daemon's health.
        sources = {name: status.to_dict() for name, status in self.status.sources().items()}
        return healthy, {"status": "ok" if healthy else "unhealthy", **body, "sources": sources}

    def _store_health(self) -> str:
        """"ok", or why not: it does not answer a read, or the latest results could not be written (a full
        disk, say), until some are again."""
        try:
            self.store.ping()
        except StateStoreError as exc:
            return self.redacting.redact(str(exc))
        failure = self.store.record_failure
        return "ok" if failure is None else self.redacting.redact(failure)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready once every dataset has finished its first run."""
        pending = self.status.pending
        return pending == 0, {"status": "ready" if pending == 0 else "starting", "datasets_pending": pending}

    def reload(self) -> None:
        """Apply an edited config file; one that cannot be loaded, invalid or for any other reason (a
        MemoryError, say), is rejected and the running config kept: a bad file must never end the daemon.

        The state store and the endpoint stay those demon started with (`state.retention` applies at once).
        """
        config = self._load()
        if config is not None:
            self._apply(config, "config reloaded")

    def rediscover(self) -> None:
        """Look for tables, folders and dbt nodes that appeared or went: each `discover:` entry's
        `rediscover` period (the shortest of them), and at every reload."""
        if self.written is not None:
            self._apply(self.written, "rediscovered")

    def _apply(self, written: Config, what: str) -> None:
        self.discovered_at = time.monotonic()
        config = discovered(written, self.scheduler.config)
        if config is None:
            return
        self.written = written
        running = self.scheduler.config
        for name, before, after in (("metrics", running.metrics, config.metrics),
                                    ("state.url", running.state.url, config.state.url),
                                    ("ui", running.ui, config.ui)):
            if before != after:
                log.warning("config reload: %s changed; restart demon run to apply it", name)
        # Runs of the old config may still be going: their secrets stay masked too.
        self.redacting.redact = self.redacting.redact.extended(config.secrets)
        changes = self.scheduler.reload(config)
        self.notifier.reload(config)
        if what == "rediscovered" and not (changes.added or changes.removed or changes.changed):
            return
        log.info(
            what + ": %d datasets added, %d removed, %d changed, %d rescheduled",
            len(changes.added), len(changes.removed), len(changes.changed), len(changes.rescheduled),
            extra={"added": changes.added, "removed": changes.removed, "changed": changes.changed},
        )

    def _load(self) -> Config | None:
        """The edited config, or None once the reason it cannot be used is logged."""
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            reason = f"\n{exc}"
        except Exception as exc:  # a MemoryError, say
            failure = exc.with_traceback(None)  # lets go of what loading held before anything is logged
            reason = f" {self.config_path}: {type(failure).__name__}"
            reason += f": {first_line(failure)}" if str(failure) else ""
        log.error("config reload rejected, still running the previous config:%s", reason)
        return None

    def housekeeping(self) -> bool:
        """Verify the lock, prune old results when due and sum up repeated log lines; False when another
        daemon took the store."""
        self.repeats.flush()
        try:
            self.lock.verify()
        except LockHeld as exc:
            log.critical("lost the state store lock, stopping: %s", exc)
            return False
        except StateStoreError as exc:
            log.error("state store unreachable: %s", self.redacting.redact(str(exc)))
            return True
        if self.pruned_at is None or time.monotonic() - self.pruned_at >= PRUNE_EVERY:
            self.prune(self.store.clock())
        if time.monotonic() - self.discovered_at >= self.rediscover_every():
            self.rediscover()
        return True

    def rediscover_every(self) -> float:
        """Seconds between discoveries: the shortest `rediscover` of the entries (none: never)."""
        entries = self.written.discover if self.written is not None else []
        return min((entry.rediscover for entry in entries), default=float("inf"))

    def close(self) -> None:
        self.lock.release()
        self.store.close()

    def prune(self, now: datetime) -> None:
        """Delete what is older than `state.retention`; a failure is logged and retried at the next round,
        a refusal (see StateStore.prune) an hour later."""
        retention = self.scheduler.config.state.retention
        lasted = timedelta(seconds=time.monotonic() - self.started)
        try:
            deleted = self.store.prune(now - timedelta(seconds=retention), self.run_id, lasted)
        except PruneRefused as exc:
            log.warning("pruning skipped: %s", exc)
            self.pruned_at = time.monotonic()
            return
        except StateStoreError as exc:
            log.error("pruning the state store failed: %s", self.redacting.redact(str(exc)))
            return
        self.notifier.housekeeping(now - timedelta(seconds=retention))
        self.pruned_at = time.monotonic()
        if deleted:
            log.info("pruned %d results older than the %s retention", deleted, format_duration(retention))

    def exposition(self) -> bytes:
        return exposition(self.scheduler.config, self.status, self.scheduler.requests(), self.metrics,
                          self.notifier.stats.snapshot())

    def routes(self) -> dict[str, WSGIApplication]:
        routes = {
            "/metrics": exposition_app(self.exposition, CONTENT_TYPE),
            "/healthz": probe_app(self.health),
            "/readyz": probe_app(self.readiness),
        }
        ui = self.scheduler.config.ui
        if ui.enabled:  # imported only then: Jinja2 is for the UI alone
            from monitor.app.ui.server import Credentials, ui_app

            credentials = Credentials(ui.auth) if ui.auth else None
            routes["/"] = ui_app(self.snapshot, self.dataset, credentials)
        return routes

    def snapshot(self) -> Snapshot:
        """What the web UI shows: the running config's datasets, from the store and the live status."""
        from monitor.app.ui.model import Live, SourceState
        from monitor.app.ui.read import read_snapshot

        sources = {name: SourceState(state.up, state.since, self.redacting.redact(state.reason))
                   for name, state in self.status.sources().items()}
        live = Live(self.status.latest(), sources, self.status.pending)
        return read_snapshot(self.scheduler.config, self.store, self.store.clock(), UI_DAYS, live,
                             histories=False)

    def dataset(self, snapshot: Snapshot, name: str) -> DatasetView:
        """A dataset of the UI's snapshot with its checks' histories, read for its page."""
        from monitor.app.ui.read import read_dataset

        return read_dataset(self.store, snapshot.inputs, name)


def discovered(written: Config, previous: Config | None = None) -> Config | None:
    """`written` with what its discover entries find, their problems logged; None, logged, when discovery
    itself failed (a bug, say): the daemon then keeps running what it ran."""
    try:
        found = watched(written, previous)
    except Exception as exc:
        failure = exc.with_traceback(None)
        log.error("discovery failed, keeping the datasets watched before: %s: %s", type(failure).__name__,
                  first_line(failure))
        return None
    for problem in found.problems:
        log.warning("discovery: %s", problem)
    return found.config


def run_daemon(config: Config, config_path: Path, log_format: str, grace: float) -> int:
    """`demon run`: the exit code (0 after a stop signal, 2 for TLS files that do not load, 3 when it cannot
    start otherwise or loses its lock)."""
    redacting, repeats = logs.setup(log_format, Redactor(config.secrets))
    written, config = config, discovered(config) or config
    routes: dict[str, WSGIApplication] = {}
    try:
        context = endpoint_tls(config.metrics, config.base_dir)
    except ValueError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_USAGE
    try:  # the port first: a taken one must not leave a run behind in the state store
        endpoint = Endpoint(config.metrics.listen, routes, context)
    except OSError as exc:
        log.error("cannot start: cannot listen on %s: %s", config.metrics.listen, exc.strerror or exc)
        return EXIT_ERROR
    try:
        daemon = open_daemon(config, config_path, redacting, repeats)
    except StateStoreError as exc:
        log.error("cannot start: %s", redacting.redact(str(exc)))
        endpoint.close()
        return EXIT_ERROR
    daemon.written = written
    routes.update(daemon.routes())
    return serve(daemon, endpoint, grace)


def serve(daemon: Daemon, endpoint: Endpoint, grace: float) -> int:
    """Run until a stop signal (or a lost lock); returns the exit code."""
    inbox = SignalInbox(_SIGNALS, on_second_stop=_exit_now)
    daemon.notifier.start(daemon.scheduler.config)
    daemon.scheduler.start()
    endpoint.start()
    served = "/metrics, /healthz, /readyz and the web UI (/)" if daemon.scheduler.config.ui.enabled else (
        "/metrics, /healthz and /readyz")
    log.info("demon run: %d datasets scheduled; serving %s on %s://%s",
             len(daemon.scheduler.config.datasets), served, endpoint.scheme, endpoint.address)
    code = EXIT_OK
    while (event := inbox.next(timeout=min(HOUSEKEEPING_SECONDS, daemon.rediscover_every()))) != "stop":
        if event == "reload":
            daemon.reload()
        elif event is None and not daemon.housekeeping():
            code = EXIT_ERROR
            break
    endpoint.close()
    return shutdown(daemon, grace, code)


def _exit_now() -> None:
    """A second Ctrl-C: the user does not want to wait (called in a signal handler, so no logging)."""
    os.write(2, b"demon run: second stop signal, exiting without waiting for running checks\n")
    os._exit(EXIT_INTERRUPTED)


def shutdown(daemon: Daemon, grace: float, code: int) -> int:
    """Let running checks finish (up to `grace`), record the run and release everything."""
    log.info("stopping: waiting up to %.0fs for running checks", grace)
    started = time.monotonic()
    still = daemon.scheduler.stop(grace)
    daemon.notifier.stop(max(0.0, min(NOTIFY_GRACE, grace - (time.monotonic() - started))))
    try:
        daemon.store.finish_run(daemon.run_id, daemon.status.summary())
    except StateStoreError as exc:
        log.error("could not record the end of the run: %s", daemon.redacting.redact(str(exc)))
    daemon.close()
    daemon.repeats.flush(everything=True)
    if still:
        log.warning("stopped after %.1fs with %d datasets still running (their results are not stored): %s",
                    time.monotonic() - started, len(still), ", ".join(still))
        logging.shutdown()
        os._exit(code)  # their threads are blocked in a query; the interpreter would wait for them at exit
    log.info("stopped after %.1fs", time.monotonic() - started)
    return code


def open_daemon(
    config: Config, config_path: Path, redacting: RedactingFilter, repeats: RepeatLimit
) -> Daemon:
    """Open and lock the state store and start a run in it, or raise StateStoreError saying why not."""
    store = StateStore.open(config.state.url, config.base_dir)
    try:
        lock = store.lock_daemon()
    except BaseException:
        store.close()
        raise
    try:
        run_id = store.start_run("run")
        status = Status(config, store.clock)
        metrics = SchedulerMetrics()
        notifier = Notifier(config, store)
        scheduler = Scheduler(config, store, status, metrics, run_id, notifier.observe)
    except BaseException:
        lock.release()
        store.close()
        raise
    daemon = Daemon(config_path, store, lock, scheduler, status, metrics, redacting, repeats, run_id,
                    notifier)
    daemon.prune(store.clock())
    return daemon
