"""The scheduler of `demon run`: one APScheduler job per dataset, reloaded in place, stopped gracefully.

Each source gets its own executor, sized by its `max_concurrency`: a dataset job waits for its checks there
(so `max_instances=1` really holds), and a hung source fills only its own pool, never another's. Jobs live
in memory, rebuilt from the config; a state-store lock keeps a second daemon away (see state/lock.py).

Missed runs are counted, never silently dropped. `coalesce` is off and the misfire grace is one period, so
when a dataset falls behind, every planned run older than a period is reported missed ("late") and only the
latest runs; a run planned while the previous one is still going is reported missed ("overlap").
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from checks.result import Result
from monitor.config.models import Config
from monitor.daemon.metrics import SchedulerMetrics
from monitor.daemon.status import Status
from monitor.daemon.triggers import Phased
from monitor.runner import DatasetJob, Runner, plan
from monitor.signals import block_stop_signals
from monitor.state.store import StateStore

log = logging.getLogger(__name__)
# Called with each dataset run's results and the sources found down (name -> why): alerting's entry point.
OnResults = Callable[[Config, list[Result], dict[str, str]], None]
OVERLAP = "overlap"  # what a run returns when its dataset is already running
_MISSED_BECAUSE = {
    "overlap": "its previous run was still going",
    "late": "it waited longer than its schedule's period to start",
}


@dataclass
class Generation:
    """One loaded config and the runner that runs it; a reload replaces it whole.

    Jobs already running finish on the generation they started with; its sources close when the last ends.
    """

    config: Config
    runner: Runner
    jobs: dict[str, DatasetJob]
    triggers: dict[str, Phased]
    in_flight: int = 0
    retired: bool = False
    closed: bool = False

    @classmethod
    def of(cls, config: Config, store: StateStore) -> Generation:
        """Everything that can fail is built here, before a reload changes anything."""
        jobs = {job.name: job for job in plan(config, config.checks)}
        triggers = {name: _trigger(job) for name, job in jobs.items()}
        return cls(config, Runner(config, store), jobs, triggers)

    def executor(self, dataset: str) -> str:
        source = self.jobs[dataset].dataset.source
        return f"{source}/{self.config.sources[source].max_concurrency}"



@dataclass
class Changes:
    """What a reload did, dataset names per kind of change (logged, and read by the tests)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    rescheduled: list[str] = field(default_factory=list)


def diff(old: Generation, new: Generation) -> Changes:
    """Which datasets a reload adds, removes, changes (definition or source) and must reschedule."""
    changes = Changes(
        added=[name for name in new.jobs if name not in old.jobs],
        removed=[name for name in old.jobs if name not in new.jobs],
    )
    for name in (name for name in new.jobs if name in old.jobs):
        before, after = old.jobs[name], new.jobs[name]
        source_changed = old.config.sources[before.dataset.source] != new.config.sources[after.dataset.source]
        if before != after or source_changed:
            changes.changed.append(name)
        if before.dataset.schedule != after.dataset.schedule or old.executor(name) != new.executor(name):
            changes.rescheduled.append(name)
    return changes


class Scheduler:
    """Runs every dataset on its schedule until `stop`; `reload` swaps in a new config."""

    def __init__(
        self,
        config: Config,
        store: StateStore,
        status: Status,
        metrics: SchedulerMetrics,
        run_id: int,
        on_results: OnResults = lambda config, results, down: None,
    ) -> None:
        self._store, self._status, self._metrics, self._run_id = store, status, metrics, run_id
        self._on_results = on_results
        self._generation = Generation.of(config, store)
        self._retired: list[Generation] = []  # replaced by a reload, runs still going
        self._closed_requests: Counter[tuple[str, str]] = Counter()  # counted by generations now closed
        self._lock = threading.Condition()  # guards the generation and the running datasets
        self._running: set[str] = set()
        self._pools: dict[str, ThreadPoolExecutor] = {}  # executor alias -> pool
        self._stopping = False
        self._aps = BackgroundScheduler(timezone=UTC)
        self._aps.add_listener(self._ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self._aps.add_listener(self._missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    @property
    def config(self) -> Config:
        return self._generation.config

    @property
    def running(self) -> bool:
        return bool(self._aps.running) and not self._stopping

    def requests(self) -> Counter[tuple[str, str]]:
        """Requests per (source, operation) since start, kept across reloads (which reopen the sources)."""
        with self._lock:
            total = self._closed_requests.copy()
            for generation in (self._generation, *self._retired):
                total.update(generation.runner.requests())
            return total

    def start(self) -> None:
        """Start every dataset now (the first round) and then on its schedule."""
        self._schedule(self._generation, list(self._generation.jobs), first_run=datetime.now(UTC))
        self._aps.start()

    def reload(self, config: Config) -> Changes:
        """Swap in `config` (built fully first, so a failure changes nothing), then bring the jobs in line.

        Runs already going finish on the old generation; from the swap on, every run starts on the new one.
        """
        with self._lock:
            old, new = self._generation, Generation.of(config, self._store)
            self._generation = new
            old.retired = True
            self._retired.append(old)
        changes = diff(old, new)
        for name in changes.removed:
            self._aps.remove_job(name)
        self._schedule(new, changes.added, first_run=datetime.now(UTC))
        for name in changes.rescheduled:
            trigger = new.triggers[name]
            self._aps.modify_job(name, executor=self._executor(new, name), misfire_grace_time=_grace(trigger))
            self._aps.reschedule_job(name, trigger=trigger)
        self._drop_unused_executors(new)
        self._status.retain(config)
        self._close_if_idle(old)
        return changes

    def stop(self, grace: float) -> list[str]:
        """Stop scheduling, wait up to `grace` seconds for running datasets; returns those still running."""
        with self._lock:
            self._stopping = True
        self._aps.shutdown(wait=False)  # queued runs return at once: see _run
        with self._lock:
            self._lock.wait_for(lambda: not self._running, timeout=grace)
            still = sorted(self._running)
        if not still:
            self._generation.runner.close()
        return still

    # --- jobs ----------------------------------------------------------------------------------------

    def _schedule(self, generation: Generation, names: Sequence[str], first_run: datetime) -> None:
        for name in names:
            trigger = generation.triggers[name]
            self._aps.add_job(
                self._run,
                trigger=trigger,
                args=(name,),
                id=name,
                name=f"dataset {name}",
                executor=self._executor(generation, name),
                max_instances=1,
                coalesce=False,
                misfire_grace_time=_grace(trigger),
                next_run_time=first_run,
            )

    def _executor(self, generation: Generation, dataset: str) -> str:
        """The alias of the dataset's source pool, created on first use (and anew when its size changes)."""
        alias = generation.executor(dataset)
        if alias not in self._pools:
            source = generation.jobs[dataset].dataset.source
            workers = generation.config.sources[source].max_concurrency
            named = {"thread_name_prefix": f"demon-{source}", "initializer": block_stop_signals}
            self._pools[alias] = ThreadPoolExecutor(workers, pool_kwargs=named)
            self._aps.add_executor(self._pools[alias], alias)
        return alias

    def _drop_unused_executors(self, generation: Generation) -> None:
        used = {generation.executor(name) for name in generation.jobs}
        for alias in [alias for alias in self._pools if alias not in used]:
            self._aps.remove_executor(alias, shutdown=False)
            self._pools.pop(alias).shutdown(wait=False)  # its running datasets finish; nothing new comes

    def _run(self, name: str) -> datetime | str | None:
        """One dataset's checks; never raises (the runner turns every failure into `error` results).

        Returns when it started (for the lag), OVERLAP when it must not run, or None when it is not wanted any
        more; `_ran` reads that from the event, which also carries the planned time.
        """
        with self._lock:
            generation = self._generation
            if self._stopping or name not in generation.jobs:
                return None
            if name in self._running:  # a reload moved it to a new pool while it ran: never run it twice
                return OVERLAP
            self._running.add(name)
            generation.in_flight += 1
        started = datetime.now(UTC)
        try:
            job = generation.jobs[name]
            results = generation.runner.run_job(job, self._run_id)
            # Status drops what a reload removed meanwhile (the dataset, some checks, the source).
            self._status.dataset_done(name, results)
            reason = self._source_seen(generation, job, results)
            down = {} if reason is None else {job.dataset.source: reason}
            self._on_results(generation.config, results, down)
        finally:
            with self._lock:
                self._running.discard(name)
                generation.in_flight -= 1
                self._lock.notify_all()
            self._close_if_idle(generation)
        return started

    def _source_seen(self, generation: Generation, job: DatasetJob, results: Sequence[Result]) -> str | None:
        """Records whether the dataset's source is up; returns why it is down, or None."""
        source = job.dataset.source
        reason = generation.runner.unreachable(source, results)
        was_up = self._status.source_seen(source, reason)
        if reason is not None and was_up is not False:  # logged when it goes down, not on every run
            log.warning("source %s is down: %s", source, reason, extra={"source": source})
        elif reason is None and was_up is False:
            log.info("source %s is up again", source, extra={"source": source})
        return reason

    def _close_if_idle(self, generation: Generation) -> None:
        with self._lock:
            close = generation.retired and generation.in_flight == 0 and not generation.closed
            generation.closed = generation.closed or close
            if close:
                self._closed_requests.update(generation.runner.requests())
                self._retired.remove(generation)
        if close:
            generation.runner.close()

    # --- events --------------------------------------------------------------------------------------

    def _ran(self, event: JobExecutionEvent) -> None:
        if event.retval == OVERLAP:
            self._count_missed(event.job_id, "overlap", [event.scheduled_run_time])
            return
        if not isinstance(event.retval, datetime):  # it returned at once: stopping, or removed by a reload
            return
        lag = max(0.0, (event.retval - event.scheduled_run_time).total_seconds())
        self._metrics.observe_lag(lag)
        log.info("dataset %s: ran %.3fs after its planned time", event.job_id, lag,
                 extra={"dataset": event.job_id, "lag": round(lag, 6)})

    def _missed(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        if isinstance(event, JobSubmissionEvent):
            self._count_missed(event.job_id, "overlap", list(event.scheduled_run_times))
        else:
            self._count_missed(event.job_id, "late", [event.scheduled_run_time])

    def _count_missed(self, dataset: str, reason: str, planned: list[datetime]) -> None:
        self._metrics.count_missed(reason, len(planned))
        for moment in planned:
            log.warning("dataset %s: missed the run planned at %s: %s", dataset, moment.isoformat(),
                        _MISSED_BECAUSE[reason], extra={"dataset": dataset, "missed": reason})


def _grace(trigger: Phased) -> int:
    """One period: later than that, the next planned run is due anyway (APScheduler takes whole seconds)."""
    return math.ceil(trigger.period)


def _trigger(job: DatasetJob) -> Phased:
    assert job.dataset.schedule is not None  # datasets inherit the default schedule
    return Phased(job.dataset.schedule, job.name)
