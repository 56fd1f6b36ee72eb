"""Runs checks: one job per dataset, whose checks' probes its source answers together.

Data flows one way: config -> dataset job -> source (probes) -> check kinds (judgement) -> results
-> state store. Each source gets its own bounded pool, so a slow or hung source never starves
the others, and `max_concurrency` bounds the statements in flight against it.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from checks.baselines.learn import part_key, series_key
from checks.kinds import KINDS, CheckSetupError, Context
from checks.probes import Answers, Observed, Probe
from checks.sources import Source, SourceError, open_source
from monitor.core import humanize
from monitor.core.clock import Clock, utcnow
from monitor.core.config.models import CheckSpec, Config, DatasetConfig
from monitor.core.evidence import QualityReport
from monitor.core.failures import SOURCE_DOWN, Reason
from monitor.core.redact import Redactor, error_text
from monitor.core.results import Evaluation, Outcome, Result
from monitor.core.series import SeriesHistory, SeriesUpdate
from monitor.core.signals import block_stop_signals
from monitor.state.baselines import Baselines
from monitor.state.store import StateStore, StateStoreError, Success

log = logging.getLogger("monitor.runner")  # logger names are part of the log format
MAX_STORE_ERRORS = 20
GROUP = 200  # datasets at most whose history is read, and whose results are stored, together


@dataclass(frozen=True)
class Provenance:
    """What produced a check's value: the statements or requests, the details the source attached, and the
    short query showing it (that of the check's first probe, its measure)."""

    statements: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    query: str | None = None


_NONE = Provenance()
_SUCCEEDED = (Outcome.PASS, Outcome.WARN)


@dataclass
class _Judged:
    """A dataset job's evaluations, what produced them, and each check's latest success before this run."""

    evaluations: dict[str, Evaluation]
    provenance: dict[str, Provenance] = field(default_factory=dict)
    successes: dict[str, Success] = field(default_factory=dict)


def _provenance(answers: Sequence[Observed]) -> Provenance:
    found = (statement for answer in answers for statement in (answer.statement, *answer.followups))
    statements = tuple(dict.fromkeys(statement for statement in found if statement))
    details = {key: value for answer in answers for key, value in answer.details.items()}
    return Provenance(statements, details, answers[0].query if answers else None)


@dataclass(frozen=True)
class _Known:
    """What the store knew of checks before a run: last successes, schema snapshots, learned series."""

    successes: dict[str, Success] = field(default_factory=dict)
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)
    series: dict[str, SeriesHistory] = field(default_factory=dict)


@dataclass
class _Done:
    """One dataset's results and what they leave to store beside them."""

    results: list[Result]
    snapshots: dict[str, dict[str, str] | None]
    series: list[SeriesUpdate]


@dataclass(frozen=True)
class DatasetJob:
    """The checks of one dataset that run together (and share their statements)."""

    name: str
    dataset: DatasetConfig
    checks: tuple[CheckSpec, ...]


def plan(config: Config, checks: Iterable[CheckSpec]) -> list[DatasetJob]:
    """Group checks by dataset, keeping the config's order."""
    grouped: dict[str, list[CheckSpec]] = {}
    for spec in checks:
        grouped.setdefault(spec.dataset, []).append(spec)
    return [DatasetJob(name, config.datasets[name], tuple(specs)) for name, specs in grouped.items()]


def groups(config: Config, jobs: Sequence[DatasetJob]) -> list[list[DatasetJob]]:
    """The jobs of each source in groups that run one dataset after another: as many groups as the source
    runs at once (so a few datasets still run side by side), of at most GROUP datasets (so thousands of
    discovered tables cost a few store statements per group, not per table)."""
    found: list[list[DatasetJob]] = []
    for name, source in config.sources.items():
        ours = [job for job in jobs if job.dataset.source == name]
        size = min(GROUP, max(1, -(-len(ours) // source.max_concurrency)))
        found += [ours[start:start + size] for start in range(0, len(ours), size)]
    return found


class Runner:
    """Runs dataset jobs against the config's sources and records their results."""

    def __init__(self, config: Config, store: StateStore | None, clock: Clock = utcnow):
        self.config = config
        self.store = store
        self.clock = clock
        self.redact = Redactor(config.secrets)
        self._sources: dict[str, Source] = {}
        self._lock = threading.Lock()
        self._interrupted = threading.Event()
        # Why results were not stored (they are still returned): only the latest few, for a long-lived daemon.
        self.store_errors: deque[str] = deque(maxlen=MAX_STORE_ERRORS)

    def source(self, name: str) -> Source:
        """The open source of that name, opened on first use; raises SourceError if it cannot be.

        A failure is not remembered: the next job tries again, so a daemon recovers once, say, a lake's
        directory is mounted again.
        """
        with self._lock:
            if name not in self._sources:
                self._sources[name] = open_source(
                    name, self.config.sources[name], self.config.base_dir, self.redact
                )
            return self._sources[name]

    def unreachable(self, source: str, results: Sequence[Result]) -> str | None:
        """Why `source` is down, or None. Up when any of its checks got an answer, or an error says the source
        answered (a missing table, a refused statement); down when every error says it could not be reached.
        Only timeouts leave it open (a hung source and a slow statement look alike): a ping tells."""
        ours = [result for result in results if result.source == source]
        if not ours or any(result.outcome is not Outcome.ERROR for result in ours):
            return None
        if all(result.reason in SOURCE_DOWN for result in ours):
            return ours[0].message
        if not any(result.reason is Reason.TIMEOUT for result in ours):
            return None
        try:
            self.source(source).ping()
        except SourceError as exc:
            return str(exc)
        return None

    def requests(self) -> Counter[tuple[str, str]]:
        """Statements run and object-store calls made so far, per (source, operation).

        Without the lock, which is held while a source opens (maybe slowly): `dict()` copies atomically.
        """
        return Counter({
            (name, operation): count
            for name, source in dict(self._sources).items()
            for operation, count in dict(source.requests).items()
        })

    def run(
        self,
        checks: Sequence[CheckSpec],
        run_id: int | None = None,
        on_job_done: Callable[[DatasetJob, list[Result]], None] | None = None,
    ) -> list[Result]:
        """Run the checks, datasets in parallel within each source's bound; results in config order."""
        jobs = plan(self.config, checks)
        batches = groups(self.config, jobs)
        pools = {
            name: ThreadPoolExecutor(
                max_workers=source.max_concurrency,
                thread_name_prefix=f"demon-{name}",
                initializer=block_stop_signals,
            )
            for name, source in self.config.sources.items()
            if any(job.dataset.source == name for job in jobs)
        }
        try:
            futures: list[tuple[list[DatasetJob], Future[list[list[Result]]]]] = [
                (batch, pools[batch[0].dataset.source].submit(self.run_group, batch, run_id))
                for batch in batches
            ]
            results: dict[str, Result] = {}
            for batch, future in futures:
                for job, job_results in zip(batch, future.result(), strict=True):
                    results.update((result.check, result) for result in job_results)
                    if on_job_done is not None:
                        on_job_done(job, job_results)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        finally:  # on an interrupt, datasets not started are cancelled; running ones end at once
            for pool in pools.values():
                pool.shutdown(wait=True, cancel_futures=True)
        return [results[spec.id] for spec in checks]

    def run_job(self, job: DatasetJob, run_id: int | None = None) -> list[Result]:
        """Run one dataset's checks; never raises: what cannot run ends as `error` results."""
        return self.run_group([job], run_id)[0]

    def run_group(self, jobs: Sequence[DatasetJob], run_id: int | None = None) -> list[list[Result]]:
        """Run datasets one after another, their checks' history read in one go and their results stored in
        one transaction; never raises. Once interrupted, the datasets not started are left out."""
        try:
            known: _Known | StateStoreError = self._known(jobs, self.clock())
        except StateStoreError as exc:  # without baselines and snapshots a judgement would be wrong
            known = exc
        except Exception as exc:  # a bug must not take the run down: every dataset of the group says it
            log.error("datasets %s: unexpected failure\n%s", ", ".join(job.name for job in jobs),
                      self.redact(traceback.format_exc()))
            known = StateStoreError(f"internal error: {type(exc).__name__}: {exc}")
        done: list[_Done] = []
        for job in jobs:
            if self._interrupted.is_set():
                break
            done.append(self._run_one(job, known))
        if self.store is not None and run_id is not None and done:
            self._record(run_id, done)
        for finished in done:
            _log(finished.results)
        return [finished.results for finished in done]

    def _run_one(self, job: DatasetJob, known: _Known | StateStoreError) -> _Done:
        started_at, start = self.clock(), time.perf_counter()
        try:
            judged = self._evaluate(job, started_at, known)
        except Exception as exc:  # a bug must not take the run down: report it on the checks
            log.error("dataset %s: unexpected failure\n%s", job.name, self.redact(traceback.format_exc()))
            message = self.redact(f"internal error: {type(exc).__name__}: {exc}")
            judged = _Judged({spec.id: Evaluation(Outcome.ERROR, message, reason=Reason.INTERNAL)
                              for spec in job.checks})
        duration = time.perf_counter() - start
        evaluations = [judged.evaluations[spec.id] for spec in job.checks]
        return _Done(
            [_result(spec, job, judged, started_at, duration) for spec in job.checks],
            {spec.id: judged.evaluations[spec.id].snapshot for spec in job.checks},
            [update for evaluation in evaluations for update in evaluation.updates],
        )

    def _record(self, run_id: int, done: Sequence[_Done]) -> None:
        assert self.store is not None
        results = [result for finished in done for result in finished.results]
        series = [update for finished in done for update in finished.series]
        try:
            kept = {check: snap for finished in done for check, snap in finished.snapshots.items() if snap}
            self.store.record(run_id, results, kept, series)
        except StateStoreError as exc:
            message = self.redact(str(exc))
            log.error("results of %s not stored: %s", humanize.count(len(results), "checks"), message)
            with self._lock:
                self.store_errors.append(message)

    def _evaluate(self, job: DatasetJob, now: datetime, known: _Known | StateStoreError) -> _Judged:
        # The history first: the last successes are reported even when the source cannot be reached.
        if isinstance(known, StateStoreError):
            message = self.redact(f"cannot read the checks' history: {known}")
            return _Judged({spec.id: Evaluation(Outcome.ERROR, message, reason=Reason.STORE)
                            for spec in job.checks})
        successes, snapshots, series = known.successes, known.snapshots, known.series
        judged = _Judged({}, successes=successes)
        evaluations = judged.evaluations
        unsupported = "check kind {!r} is not available in this version of demon"
        evaluations.update(
            (spec.id, Evaluation(Outcome.ERROR, unsupported.format(spec.kind), reason=Reason.SETUP))
            for spec in job.checks
            if spec.kind not in KINDS
        )
        runnable = [spec for spec in job.checks if spec.id not in evaluations]
        if not runnable:
            return judged
        try:
            source = self.source(job.dataset.source)
        except SourceError as exc:
            failed = Evaluation(Outcome.ERROR, str(exc), reason=exc.reason)
            evaluations.update((spec.id, failed) for spec in runnable)
            return judged
        wanted: dict[str, list[Probe[Any]]] = {}
        contexts: dict[str, Context] = {}
        for spec in list(runnable):
            success = successes.get(spec.id)
            baseline = None if success is None else success.value
            context = Context(job.dataset, now, baseline, snapshots.get(spec.id), series.get(spec.id),
                              base_dir=self.config.base_dir)
            contexts[spec.id] = context
            try:
                wanted[spec.id] = KINDS[spec.kind].probes(spec.params, context, self.config.base_dir)
            except CheckSetupError as exc:
                evaluations[spec.id] = Evaluation(Outcome.ERROR, self.redact(str(exc)), reason=Reason.SETUP)
                runnable.remove(spec)
        # In the checks' order: a set's order changes with each process, and the fused statement with it.
        asked = list(dict.fromkeys(probe for probes in wanted.values() for probe in probes))
        observed = source.observe(job.dataset, asked)
        named = _named_parts(job.dataset, runnable, wanted, observed, contexts) if self.store else {}
        try:
            contexts |= self._parts(named, contexts, job, now)
        except StateStoreError as exc:
            message = self.redact(f"cannot read the checks' history: {exc}")
            unread = Evaluation(Outcome.ERROR, message, reason=Reason.STORE)
            evaluations.update((check, unread) for check in named)
        for spec in runnable:
            if spec.id in evaluations:
                continue
            judged.provenance[spec.id] = _provenance([observed[probe] for probe in wanted[spec.id]])
            evaluations[spec.id] = _judge(spec, wanted[spec.id], observed, contexts[spec.id])
        return judged

    def _known(self, jobs: Sequence[DatasetJob], now: datetime) -> _Known:
        """What the store knows of the jobs' checks: their last successes and snapshots, and the stored series
        of those that learn (none without a store: nothing learnt is kept then, and a `by:` series is counted
        whole each run)."""
        if self.store is None:
            return _Known()
        ids = [spec.id for job in jobs for spec in job.checks]
        learning = {spec.id: found for job in jobs for spec in job.checks if spec.kind in KINDS
                    and (found := KINDS[spec.kind].learns(spec.params, job.dataset)) is not None}
        series: dict[str, SeriesHistory] = {}
        if learning:
            keys = {check: series_key(check, found.definition) for check, found in learning.items()}
            since = now - max(found.horizon for found in learning.values())
            series = Baselines(self.store).histories(keys, since)
        return _Known(self.store.last_successes(ids, now), self.store.last_snapshots(ids), series)

    def _parts(
        self, named: dict[str, dict[str, str]], contexts: dict[str, Context], job: DatasetJob, now: datetime
    ) -> dict[str, Context]:
        """The contexts of the checks that learn several series, with their parts' stored series."""
        if not named or self.store is None:
            return {}
        learning = [KINDS[spec.kind].learns(spec.params, job.dataset) for spec in job.checks]
        horizon = max(found.horizon for found in learning if found is not None and found.parts is not None)
        loaded = Baselines(self.store).parts(named, now - horizon)
        return {check: replace(contexts[check], parts=parts) for check, parts in loaded.items()}

    def interrupt(self) -> None:
        """End every statement running now (Ctrl-C), and start no more datasets."""
        self._interrupted.set()
        for source in dict(self._sources).values():
            source.interrupt()

    def close(self) -> None:
        for source in self._sources.values():
            source.close()


def _named_parts(
    dataset: DatasetConfig, specs: Sequence[CheckSpec], wanted: Mapping[str, list[Probe[Any]]],
    observed: Mapping[Probe[Any], Observed], contexts: Mapping[str, Context],
) -> dict[str, dict[str, str]]:
    """Per check that learns several series (`Learning.parts`), each part's series key, named from its
    answers; none for a check whose probes failed, which ends in error anyway."""
    named: dict[str, dict[str, str]] = {}
    for spec in specs:
        learning = KINDS[spec.kind].learns(spec.params, dataset) if spec.kind in KINDS else None
        stored = contexts[spec.id].series
        probes = wanted.get(spec.id, [])
        if learning is None or learning.parts is None or stored is None:
            continue
        if all(observed[probe].ok for probe in probes):
            answers = Answers({probe: observed[probe].value for probe in probes})
            named[spec.id] = {part: part_key(stored.key, part) for part in learning.parts(answers)}
    return named


def _log(results: Sequence[Result]) -> None:
    for result in results:
        log.info(
            "check %s: %s in %.3fs",
            result.check,
            result.outcome.value,
            result.duration_seconds,
            extra={
                "check": result.check,
                "dataset": result.dataset,
                "outcome": result.outcome.value,
                "duration": round(result.duration_seconds, 6),
            },
        )


def _judge(
    spec: CheckSpec, probes: list[Probe[Any]], observed: Mapping[Probe[Any], Observed], context: Context
) -> Evaluation:
    """Evaluate a check, or report the first of its probes that could not be answered."""
    failed = next((observed[probe] for probe in probes if not observed[probe].ok), None)
    if failed is not None:
        return Evaluation(Outcome.ERROR, failed.error or "no answer", reason=failed.reason)
    answers = Answers({probe: observed[probe].value for probe in probes})
    return KINDS[spec.kind].evaluate(spec.params, answers, context)


def _result(
    spec: CheckSpec, job: DatasetJob, judged: _Judged, started_at: datetime, duration: float
) -> Result:
    evaluation, provenance = judged.evaluations[spec.id], judged.provenance.get(spec.id, _NONE)
    before = judged.successes.get(spec.id)
    last_success = started_at if evaluation.outcome in _SUCCEEDED else before.at if before else None
    message, evidence = evaluation.message, evaluation.evidence
    hide = bool(job.dataset.pii_columns)
    if evaluation.outcome is Outcome.ERROR:  # the words of a database or file reader: data, maybe
        message = error_text(message, provenance.statements, hide)
    if hide and isinstance(evidence, QualityReport):  # a rule's error, likewise
        evidence = evidence.errors_rewritten(lambda error: error_text(error, provenance.statements, True))
    return Result(
        check=spec.id,
        dataset=job.name,
        kind=spec.kind,
        source=job.dataset.source,
        outcome=evaluation.outcome,
        message=message,
        started_at=started_at,
        duration_seconds=duration,
        value=evaluation.value,
        unit=evaluation.unit,
        thresholds=evaluation.thresholds,
        statements=provenance.statements,
        details=dict(provenance.details),
        evidence=evidence,
        facts=evaluation.facts,
        last_success_at=last_success,
        learned=evaluation.learned,
        reason=(evaluation.reason or Reason.DATA) if evaluation.outcome is Outcome.ERROR else None,
        query=provenance.query,
    )
