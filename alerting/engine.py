"""Incidents from results: open, change, repeat and resolve them, and queue who must hear about it.

`Alerting.observe` takes the results of one dataset job (or of a whole `demon check`) and, in one state-store
transaction, applies them to the open incidents and writes the events and their outbox rows. It sends nothing:
the deliverer does, in its own threads, so a slow channel never holds up a check. Results already applied (at
or before an incident's `last_result_at`) change nothing, which makes observing twice harmless.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from alerting import notices, outbox, records
from alerting.context import check_context, source_context, upstream_state
from alerting.model import Context, EventKind
from alerting.records import Incident, NewIncident
from alerting.routing import Subject, alerts_on, channels_for
from monitor.core.clock import Clock, utcnow
from monitor.core.config.models import Config
from monitor.core.config.types import Severity
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore

log = logging.getLogger(__name__)

TREND_POINTS = 10
SEVERITY_ORDER = [level.value for level in Severity]  # most severe first
_EPOCH = datetime.min.replace(tzinfo=UTC)
_VERB = {"fail": "failed", "error": "errored", "warn": "warns", "pass": "passes"}


def source_key(source: str) -> str:
    return f"source:{source}"


def title(check: str, outcome: str) -> str:
    return f"{check} {_VERB[outcome]}"


@dataclass
class Observed:
    """What an observe did: events recorded (by kind), and the keys of the notifications it queued."""

    kinds: Counter[EventKind] = field(default_factory=Counter)
    queued: list[str] = field(default_factory=list)

    @property
    def events(self) -> int:
        return self.kinds.total()


@dataclass
class _Change:
    """One event to record for one incident, with the subjects that route its notifications."""

    incident: Incident
    kind: EventKind
    outcome: str
    message: str
    subjects: list[Subject]
    previous: str | None = None
    updates: dict[str, Any] = field(default_factory=dict)


def subject_of(config: Config, result: Result, outcome: str | None = None) -> Subject:
    dataset = config.datasets[result.dataset]
    return Subject(
        severity=str(dataset.severity), owner=dataset.owner, tags=tuple(dataset.tags),
        dataset=result.dataset, kind=result.kind, outcome=outcome or result.outcome.value,
    )


class Alerting:
    """Applies results to incidents and queues notifications; `on_queued` wakes the deliverer."""

    def __init__(
        self,
        store: StateStore,
        clock: Clock = utcnow,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.store, self.clock, self.on_queued = store, clock, on_queued

    def observe(self, config: Config, results: Sequence[Result], down: Mapping[str, str]) -> Observed:
        """Apply results; `down` maps each source found unreachable to why."""
        if not results:
            return Observed()
        keys = {result.check for result in results} | {source_key(result.source) for result in results}
        with self.store.reading("read open incidents") as conn:
            current = records.open_incidents(conn, keys)
        if not current and not any(_alerting(config, result) for result in results):
            return Observed()  # the common case: all is well, and was
        contexts = self._contexts(config, results, down, current)
        # A result the store already holds a newer one of is stale (two runs of a check ended out of order):
        # it must not open an incident.
        stored = self.store.latest({result.check for result in results})
        superseded = {r.check for r in results
                      if r.check in stored and stored[r.check].started_at > r.started_at}
        with self.store.transaction("record incidents") as conn:
            records.serialise(conn)
            observed = _Transaction(conn, config, self.clock(), contexts, superseded).apply(results, down)
        if observed.queued:
            self.on_queued()
        return observed

    def retain(self, config: Config) -> int:
        """Resolve, without notifying, the incidents of checks and sources no longer in the config."""
        now = self.clock()
        with self.store.transaction("resolve removed incidents") as conn:
            gone = [
                incident for incident in records.listing(conn, now, open_only=True)
                if not _configured(config, incident)
            ]
            for incident in gone:
                records.update(conn, incident.id, resolved_at=now, updated_at=now)
                records.add_event(conn, incident.id, now, "resolved", incident.outcome,
                                  "the check was removed from the config (or no longer discovered)")
        return len(gone)

    def _contexts(
        self,
        config: Config,
        results: Sequence[Result],
        down: Mapping[str, str],
        current: Mapping[str, Incident],
    ) -> dict[str, Context]:
        """The root-cause context of every result that may notify, read before the write transaction (one
        connection at a time: many dataset runs end together)."""
        contexts: dict[str, Context] = {}
        for source, reason in down.items():
            failed = [r for r in results if r.source == source and r.outcome is Outcome.ERROR]
            if failed:
                contexts[source_key(source)] = source_context(config, source, failed, reason)
        for result in results:
            if result.check in current or _alerting(config, result):
                contexts[result.check] = self._check_context(config, result)
        return contexts

    def _check_context(self, config: Config, result: Result) -> Context:
        history = self.store.history(result.check, TREND_POINTS)
        upstreams = config.datasets[result.dataset].upstream
        checks = [spec.id for spec in config.checks if spec.dataset in upstreams]
        latest = self.store.latest(checks)
        with self.store.reading("read upstream incidents") as conn:
            found_open = records.open_by_dataset(conn, upstreams)
        opened = {name: incident.id for name, incident in found_open.items()}
        return check_context(config, result, history, upstream_state(config, result.dataset, latest, opened))


def lineage_depth(config: Config, dataset: str, seen: frozenset[str] = frozenset()) -> int:
    """0 for a dataset with no declared upstream, else one more than its deepest upstream (cycles cut)."""
    upstream = config.datasets[dataset].upstream if dataset in config.datasets else []
    found = [name for name in upstream if name not in seen and name != dataset]
    return 1 + max((lineage_depth(config, name, seen | {dataset}) for name in found), default=-1)


def _alerting(config: Config, result: Result) -> bool:
    return result.dataset in config.datasets and alerts_on(config.alerting, subject_of(config, result))


def _configured(config: Config, incident: Incident) -> bool:
    if incident.check_id is None:
        return any(dataset.source == incident.source for dataset in config.datasets.values())
    return any(spec.id == incident.check_id for spec in config.checks)


class _Transaction:
    """One observe's reads and writes, on one connection."""

    def __init__(
        self, conn: Connection, config: Config, now: datetime, contexts: Mapping[str, Context],
        superseded: Collection[str] = frozenset(),
    ) -> None:
        self.conn, self.config, self.now, self.contexts = conn, config, now, contexts
        self.superseded = superseded
        self.silences = records.active_silences(conn, now)
        self.observed = Observed()

    def apply(self, results: Sequence[Result], down: Mapping[str, str]) -> Observed:
        newest: dict[str, Result] = {}
        for result in results:  # one result per check: the newest
            if result.check not in newest or result.started_at > newest[result.check].started_at:
                newest[result.check] = result
        keys = set(newest) | {source_key(result.source) for result in results}
        current = records.open_incidents(self.conn, keys)
        # Results at or before what an incident of their key took in (even a resolved one) are stale: two
        # runs of a check ended out of order, or the same results are observed again.
        self.applied = records.applied_until(self.conn, keys)
        results = [r for r in newest.values() if r.started_at > self.applied.get(r.check, _EPOCH)]
        self.results = results
        folded: set[str] = set()
        for source in dict.fromkeys(result.source for result in results):
            errors = [r for r in results if r.source == source and r.outcome is Outcome.ERROR]
            errors = errors if source in down else []
            self._source(source, errors, down.get(source, ""), current.get(source_key(source)))
            folded.update(result.check for result in errors)
        # Upstream datasets first: a downstream incident opened in the same batch then points at their
        # incidents as its probable root cause, and notifies as their follow-up.
        for result in sorted(results, key=lambda result: lineage_depth(self.config, result.dataset)):
            if result.check not in folded and result.dataset in self.config.datasets:
                self._check(result, current.get(result.check))
        return self.observed

    # --- decisions ---------------------------------------------------------------------------------------

    def _check(self, result: Result, incident: Incident | None) -> None:
        outcome = result.outcome.value
        subjects = [subject_of(self.config, result)]
        context = self.contexts.get(result.check, Context())
        if not alerts_on(self.config.alerting, subjects[0]):
            if incident is not None:
                resolved = [subject_of(self.config, result, incident.outcome)]
                self._record(_Change(incident, EventKind.RESOLVED, outcome, result.message, resolved,
                                     updates=_resolution(self.now, result, context)))
            return
        if incident is None:
            if result.check not in self.superseded:
                self._open_check(result, subjects, context)
            return
        updates: dict[str, Any] = {
            "last_result_at": result.started_at, "context": dict(context) or incident.context,
        }
        if outcome != incident.outcome:
            updates |= {"outcome": outcome, "title": title(result.check, outcome)}
            self._record(_Change(incident, EventKind.CHANGED, outcome, result.message, subjects,
                                 previous=incident.outcome, updates=updates))
        elif self._repeat_due(incident):
            message = result.message
            self._record(_Change(incident, EventKind.REPEATED, outcome, message, subjects, updates=updates))
        else:
            records.update(self.conn, incident.id, updated_at=self.now, **updates)

    def _source(self, source: str, folded: list[Result], reason: str, incident: Incident | None) -> None:
        if not folded:
            answered = max((r.started_at for r in self.results if r.source == source), default=None)
            if incident is not None and answered is not None and answered > incident.last_result_at:
                subjects = self._source_subjects(incident.context.get("members", []), "error")
                self._record(_Change(incident, EventKind.RESOLVED, "pass", f"source {source} answers again",
                                     subjects, updates={"resolved_at": self.now, "outcome": "pass"}))
            return
        newest = max(result.started_at for result in folded)
        if newest <= self.applied.get(source_key(source), _EPOCH):
            return  # stale: the source incident took in newer results already
        context = dict(self.contexts.get(source_key(source), Context()))
        if incident is None:
            self._open_source(source, folded, reason, context, newest)
            return
        members = sorted(set(incident.context.get("members", [])) | {r.check for r in folded})
        subjects = self._source_subjects(members, "error")
        updates = {"last_result_at": newest, "context": {**context, "members": members},
                   "severity": _highest(subjects)}
        if self._repeat_due(incident):
            self._record(_Change(incident, EventKind.REPEATED, "error", reason, subjects, updates=updates))
        else:
            records.update(self.conn, incident.id, updated_at=self.now, **updates)

    def _repeat_due(self, incident: Incident) -> bool:
        """Every `repeat_every` unless acknowledged; and once when a silence that held its last notification
        has ended."""
        if incident.acked_at is not None or any(silence.covers(incident) for silence in self.silences):
            return False
        if outbox.last_suppressed(self.conn, incident.id):
            return True
        every = self.config.alerting.repeat_every
        if not every:
            return False
        return self.now - incident.last_notified_at >= timedelta(seconds=every)

    # --- opening -----------------------------------------------------------------------------------------

    def _open_check(self, result: Result, subjects: list[Subject], context: Context) -> None:
        outcome = result.outcome.value
        root = self._root_of(result.dataset)
        downstream = self._downstream_of(result.dataset)
        if downstream:
            context = Context(**{**context, "downstream": sorted({i.dataset or "" for i in downstream})})
        incident = self._insert(NewIncident(
            key=result.check, check_id=result.check, dataset=result.dataset, source=result.source,
            kind=result.kind, severity=subjects[0].severity, outcome=outcome,
            title=title(result.check, outcome), last_result_at=result.started_at,
            root_id=None if root is None else root.id, context=dict(context),
        ))
        cause = incident.root_id or incident.id
        for follower in downstream:  # opened earlier, they now follow this one's cause as their root cause
            if follower.id != cause:
                records.update(self.conn, follower.id, root_id=cause)
        self._record(_Change(incident, EventKind.OPENED, outcome, result.message, subjects))

    def _open_source(
        self, source: str, folded: list[Result], reason: str, context: dict[str, Any], newest: datetime
    ) -> None:
        members = sorted(result.check for result in folded)
        subjects = self._source_subjects(members, "error")
        opened = self._insert(NewIncident(
            key=source_key(source), check_id=None, dataset=None, source=source, kind=None,
            severity=_highest(subjects), outcome="error", title=f"source {source} is unreachable",
            last_result_at=newest, root_id=None, context={**context, "members": members},
        ))
        self._record(_Change(opened, EventKind.OPENED, "error", reason, subjects))

    def _insert(self, new: NewIncident) -> Incident:
        incident_id = records.insert(self.conn, new, self.now)
        incident = records.get(self.conn, incident_id)
        assert incident is not None
        return incident

    def _root_of(self, dataset: str) -> Incident | None:
        """The open incident of an upstream dataset (or of its source), or the one it follows in turn: the
        probable root cause."""
        upstreams = [name for name in self.config.datasets[dataset].upstream if name in self.config.datasets]
        found = records.open_by_dataset(self.conn, upstreams)
        if not found:
            sources = {source_key(self.config.datasets[name].source) for name in upstreams}
            return next(iter(records.open_incidents(self.conn, sources).values()), None)
        root = next(found[name] for name in upstreams if name in found)
        for _ in range(len(self.config.datasets)):  # up the chain to the first cause (cycles cannot loop)
            above = records.get(self.conn, root.root_id) if root.root_id else None
            if above is None or above.resolved_at is not None:
                break
            root = above
        return root

    def _downstream_of(self, dataset: str) -> list[Incident]:
        """Open incidents of datasets that declare this one upstream and have no root cause yet."""
        names = [name for name, config in self.config.datasets.items() if dataset in config.upstream]
        return [i for i in records.open_by_dataset(self.conn, names).values() if i.root_id is None]

    def _source_subjects(self, members: Iterable[str], outcome: str) -> list[Subject]:
        specs = {spec.id: spec for spec in self.config.checks}
        subjects = []
        for check in members:
            if check in specs:
                dataset = self.config.datasets[specs[check].dataset]
                subjects.append(Subject(str(dataset.severity), dataset.owner, tuple(dataset.tags),
                                        specs[check].dataset, specs[check].kind, outcome))
        return subjects

    # --- recording -----------------------------------------------------------------------------------------

    def _record(self, change: _Change) -> None:
        incident = change.incident
        notify = change.kind is not EventKind.RESOLVED or self.config.alerting.notify_resolved
        stamps: dict[str, Any] = {"updated_at": self.now}
        if notify:
            stamps["last_notified_at"] = self.now
        records.update(self.conn, incident.id, **change.updates, **stamps)
        event_id = records.add_event(self.conn, incident.id, self.now, change.kind.value, change.outcome,
                                     change.message)
        self.observed.kinds[change.kind] += 1
        if not notify:
            return
        fresh = records.get(self.conn, incident.id)
        assert fresh is not None
        state = "suppressed" if any(s.covers(fresh) for s in self.silences) else "pending"
        note = notices.notification(self.conn, fresh, change.kind, event_id, self.now, change.outcome,
                                    change.previous)
        channels = _channels(self.config, change.subjects)
        self.observed.queued += notices.queue(self.conn, note, channels, event_id, self.now, state)


def _highest(subjects: Iterable[Subject]) -> str:
    return min((s.severity for s in subjects), key=SEVERITY_ORDER.index, default=Severity.HIGH.value)


def _channels(config: Config, subjects: Iterable[Subject]) -> list[str]:
    chosen: dict[str, None] = {}
    for subject in subjects:
        chosen.update(dict.fromkeys(channels_for(config.alerting, subject)))
    return list(chosen)


def _resolution(now: datetime, result: Result, context: Context) -> dict[str, Any]:
    return {"resolved_at": now, "outcome": result.outcome.value, "last_result_at": result.started_at,
            "title": title(result.check, result.outcome.value), "context": dict(context)}


