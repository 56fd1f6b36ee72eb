"""The scheduler of `demon run`: a plan per dataset, a pool of workers per source, reloaded in place, stopped
gracefully.

Plans wait on the monotonic clock and name their runs on the wall clock (see clock.py): a step of the wall
clock is noticed within a second, and every plan is made again from the new wall time. Each source's pool has
`max_concurrency` workers and a queue that serves the most starved dataset first (see pools.py), so a hung
source fills only its own pool, and an overloaded one still runs every dataset in turn. Plans live in memory,
rebuilt from the config; a state-store lock keeps a second daemon away (see state/lock.py).

Missed runs are counted, never silently dropped. A dataset is in at most one place at a time: planned,
waiting for a worker, or running. A run planned while the previous one is still going is missed ("overlap");
one planned while the previous still waits for a worker replaces it, which is missed ("late"), so only the
latest runs.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.app.daemon.clock import Reading
from monitor.app.daemon.metrics import SchedulerMetrics
from monitor.app.daemon.plans import Agenda, Plan
from monitor.app.daemon.pools import Pool, Waiting
from monitor.app.daemon.status import Status
from monitor.app.daemon.triggers import Phased
from monitor.app.runner import DatasetJob, Runner, plan
from monitor.core.config.models import Config
from monitor.core.results import Result
from monitor.core.signals import block_stop_signals
from monitor.state.store import StateStore

log = logging.getLogger("monitor.daemon.service")  # logger names are part of the log format
# Called with each dataset run's results and the sources found down (name -> why): alerting's entry point.
OnResults = Callable[[Config, list[Result], dict[str, str]], None]
TICK = 1.0  # seconds between the scheduler's looks at the clocks, at most: how soon it notices a step
STALL_AFTER = 30.0  # seconds a due run may go unstarted before /healthz calls the scheduler stalled


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

    def source(self, dataset: str) -> str:
        return self.jobs[dataset].dataset.source

    def pool_sizes(self) -> dict[str, int]:
        """The sources that have datasets, and their `max_concurrency`."""
        used = {job.dataset.source for job in self.jobs.values()}
        return {name: source.max_concurrency for name, source in self.config.sources.items() if name in used}


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
        source_before = old.config.sources[before.dataset.source]
        source_after = new.config.sources[after.dataset.source]
        if before != after or source_before != source_after:
            changes.changed.append(name)
        if (before.dataset.schedule != after.dataset.schedule
                or source_before.max_concurrency != source_after.max_concurrency):
            changes.rescheduled.append(name)
    return changes


@dataclass(frozen=True)
class Missed:
    """Planned runs of a dataset that will not happen, and why."""

    dataset: str
    reason: str  # the metric's label: "late" or "overlap"
    planned: datetime  # the first of them
    runs: int
    why: str


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
        # One lock for the generation, plans, pools and the datasets waiting and running.
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)  # a run ended
        self._agenda = Agenda()
        self._pools: dict[str, Pool] = {}
        self._waiting: dict[str, Waiting] = {}
        self._running: set[str] = set()
        self._started: dict[str, float] = {}  # monotonic start of each dataset's latest run: its turn
        self._arrivals = itertools.count()
        self._stopping = False
        self._wake = threading.Event()
        # The earliest plan after the loop's latest pass, read without the lock (by /healthz).
        self._next_due: tuple[float, str] = (math.inf, "")
        self._loop_thread = threading.Thread(target=self._loop, name="demon-scheduler", daemon=True)

    @property
    def config(self) -> Config:
        return self._generation.config

    @property
    def running(self) -> bool:
        return self._loop_thread.is_alive() and not self._stopping

    def health(self) -> str:
        """"running", or why not: "stopped", or "stalled: ..." when a due run has long gone unstarted."""
        if not self.running:
            return "stopped"
        due, dataset = self._next_due
        overdue = time.monotonic() - due
        if overdue > STALL_AFTER:
            return f"stalled: the run of dataset {dataset} due {overdue:.0f}s ago has not been started"
        return "running"

    def requests(self) -> Counter[tuple[str, str]]:
        """Requests per (source, operation) since start, kept across reloads (which reopen the sources)."""
        with self._lock:
            total = self._closed_requests.copy()
            for generation in (self._generation, *self._retired):
                total.update(generation.runner.requests())
            return total

    def start(self) -> None:
        """Start every dataset now (the first round) and then on its schedule."""
        now = Reading.now()
        with self._lock:
            self._plan_first(self._generation, list(self._generation.jobs), now)
            self._arrange_pools(self._generation)
        self._loop_thread.start()

    def reload(self, config: Config) -> Changes:
        """Swap in `config` (built fully first, so a failure changes nothing), then bring the plans in line.

        Runs already going finish on the old generation; from the swap on, every run starts on the new one.
        """
        new = Generation.of(config, self._store)
        now = Reading.now()
        with self._lock:
            old, self._generation = self._generation, new
            old.retired = True
            self._retired.append(old)
            changes = diff(old, new)
            for name in changes.removed:
                self._agenda.remove(name)
                self._started.pop(name, None)
            self._plan_first(new, changes.added, now)
            for name in changes.rescheduled:
                self._agenda[name].trigger = new.triggers[name]
                self._plan_next(self._agenda[name], now)
            self._arrange_pools(new)
        self._wake.set()
        self._status.retain(config)
        self._close_if_idle(old)
        return changes

    def stop(self, grace: float) -> list[str]:
        """Stop scheduling, wait up to `grace` seconds for running datasets; returns those still running."""
        with self._lock:
            self._stopping = True
            for pool in self._pools.values():  # runs not started yet never will be
                pool.drain()
                pool.resize(0)
            self._waiting.clear()
            self._wake.set()
            self._ended.wait_for(lambda: not self._running, timeout=grace)
            still = sorted(self._running)
        if not still:
            self._generation.runner.close()
        return still

    # --- plans: called with the lock held ---------------------------------------------------------------

    def _plan_first(self, generation: Generation, names: Sequence[str], now: Reading) -> None:
        for name in names:
            self._agenda.put(Plan(name, generation.triggers[name], now.mono, now.wall))

    def _plan_next(self, plan: Plan, now: Reading) -> None:
        """Plan from the current wall time, half a period at least after the latest run (measured on the
        monotonic clock, so a step cannot shorten it); a first run still to come keeps its place."""
        if plan.fired is None:
            return
        plan.planned = plan.trigger.next_fire(now.wall, now.wall_at(plan.fired))
        plan.due = now.mono_at(plan.planned)
        self._agenda.put(plan)

    def _fire(self, plan: Plan, now: Reading) -> list[Missed]:
        """Queue the dataset's due run, or count it missed; then plan the next. Returns what was missed."""
        name, period = plan.dataset, plan.trigger.period
        behind = int((now.mono - plan.due) // period)  # whole periods the scheduler itself could not act
        missed = [Missed(name, "late", plan.planned, behind, "the scheduler was held up")] if behind else []
        due, planned = plan.due + behind * period, plan.planned + timedelta(seconds=behind * period)
        waiting = self._waiting.get(name)
        if name in self._running:
            missed.append(Missed(name, "overlap", planned, 1, "its previous run was still going"))
        elif waiting is not None:  # it keeps its turn, and now stands for the latest planned run
            missed.append(Missed(name, "late", waiting.planned, 1, "it was still waiting for a worker"))
            waiting.due, waiting.planned = due, planned
        else:
            self._queue(name, due, planned)
        plan.fired = now.mono
        self._plan_next(plan, now)
        return missed

    def _queue(self, name: str, due: float, planned: datetime) -> None:
        """Put the run in its source's queue, its turn set by when the dataset last started."""
        entry = Waiting((self._started.get(name, -math.inf), next(self._arrivals)), name, due, planned)
        self._waiting[name] = entry
        self._pools[self._generation.source(name)].push(entry)

    def _arrange_pools(self, generation: Generation) -> None:
        """Size each source's pool to its `max_concurrency`, retire the pools of sources without datasets,
        and put every waiting run in its dataset's pool now (dropped if the dataset is gone)."""
        waiting = sorted(entry for pool in self._pools.values() for entry in pool.drain())
        sizes = generation.pool_sizes()
        for source in [source for source in self._pools if source not in sizes]:
            self._pools.pop(source).resize(0)
        for source, size in sizes.items():
            self._pools.setdefault(source, Pool(source, self._lock, self._work)).resize(size)
        for entry in waiting:
            if entry.dataset in generation.jobs:
                self._pools[generation.source(entry.dataset)].push(entry)
            else:
                del self._waiting[entry.dataset]

    # --- the scheduler's thread -------------------------------------------------------------------------

    def _loop(self) -> None:
        block_stop_signals()
        try:
            self._schedule_until_stopped()
        except Exception:  # a bug: said here, and by /healthz ("stopped"), so the daemon gets restarted
            log.critical("the scheduler stopped on an unexpected error", exc_info=True)

    def _schedule_until_stopped(self) -> None:
        """Start what is due, plan again from the new wall time when the wall clock steps; never waits more
        than a TICK, so a step is noticed within a second whatever the schedules."""
        before = Reading.now()
        while True:
            self._wake.clear()
            now = Reading.now()
            with self._lock:
                if self._stopping:
                    return
                step = now.step_since(before)
                if step:
                    for plan in self._agenda:
                        self._plan_next(plan, now)
                missed = [found for plan in self._agenda.due(now.mono) for found in self._fire(plan, now)]
                self._next_due = self._agenda.earliest()
            before = now
            self._report(step, missed)  # logging may block (a full pipe): never with the lock held
            self._wake.wait(min(TICK, max(0.0, self._next_due[0] - time.monotonic())))

    def _report(self, step: float, missed: list[Missed]) -> None:
        if step:
            log.warning("the wall clock stepped %s by %.0fs: every dataset planned again from the new time",
                        "forward" if step > 0 else "back", abs(step), extra={"step": round(step, 3)})
        for found in missed:
            self._metrics.count_missed(found.reason, found.runs)
            fields = {"dataset": found.dataset, "missed": found.reason}
            if found.runs == 1:
                log.warning("dataset %s: missed the run planned at %s: %s", found.dataset,
                            found.planned.isoformat(), found.why, extra=fields)
            else:
                log.warning("dataset %s: missed %d runs planned from %s on: %s", found.dataset, found.runs,
                            found.planned.isoformat(), found.why, extra={**fields, "runs": found.runs})

    # --- the workers ------------------------------------------------------------------------------------

    def _work(self, pool: Pool) -> None:
        """A worker of `pool`: runs the most starved waiting dataset, again and again, until it must leave."""
        block_stop_signals()
        while (taken := self._take(pool)) is not None:
            try:
                self._run(*taken)
            except Exception:  # a bug (in alerting, say) must not cost the pool a worker
                log.exception("dataset %s: unexpected failure after its checks", taken[0].dataset)

    def _take(self, pool: Pool) -> tuple[Waiting, Generation] | None:
        """The next run for this worker, marked running; None when the worker is to leave."""
        with self._lock:
            while not pool.surplus:
                entry = pool.pop()
                if entry is None:
                    pool.ready.wait()
                    continue
                del self._waiting[entry.dataset]
                self._running.add(entry.dataset)
                self._started[entry.dataset] = time.monotonic()
                self._generation.in_flight += 1
                return entry, self._generation
            pool.workers -= 1
            return None

    def _run(self, entry: Waiting, generation: Generation) -> None:
        """One dataset's checks; the runner turns every failure of theirs into `error` results."""
        name, started = entry.dataset, time.monotonic()
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
                self._ended.notify_all()
            self._close_if_idle(generation)
        lag = max(0.0, started - entry.due)
        self._metrics.observe_lag(lag)
        log.info("dataset %s: ran %.3fs after its planned time", name, lag,
                 extra={"dataset": name, "lag": round(lag, 6)})

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


def _trigger(job: DatasetJob) -> Phased:
    assert job.dataset.schedule is not None  # datasets inherit the default schedule
    return Phased(job.dataset.schedule, job.name)
