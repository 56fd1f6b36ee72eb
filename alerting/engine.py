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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from alerting import causes, notices, outbox, records
from alerting.channels import acknowledging
from alerting.context import TEXT, check_context, source_context, upstream_state
from alerting.headline import source_headline
from alerting.model import Context, EventKind, Member
from alerting.records import Incident, NewIncident
from alerting.render.text import clip
from alerting.routing import Subject, alerts_on, channels_for
from monitor.core.clock import Clock, utcnow
from monitor.core.config.models import Config
from monitor.core.config.types import Severity
from monitor.core.failures import Reason
from monitor.core.results import Outcome, Result
from monitor.state.store import StateStore

log = logging.getLogger(__name__)

TREND_POINTS = 10
SEVERITY_ORDER = [level.value for level in Severity]  # most severe first
_EPOCH = datetime.min.replace(tzinfo=UTC)
_VERB = {"fail": "failed", "error": "errored", "warn": "warns", "pass": "passes"}


def source_key(source: str) -> str:
    return f"{causes.SOURCE}{source}"


def dataset_key(dataset: str) -> str:
    return f"{causes.DATASET}{dataset}"


def title(check: str, outcome: str) -> str:
    return f"{check} {_VERB[outcome]}"


# How a dataset none of whose checks can run is named, by the reason they share.
_UNREADABLE = {Reason.MISSING: "is missing", Reason.DENIED: "cannot be read: permission denied",
               Reason.TIMEOUT: "times out", Reason.STATEMENT: "is refused by its source"}
_REMOVED = "the check was removed from the config (or no longer discovered)"
_LEAD = ("fail", "error", "warn", "pass")  # which incident of a group a notification leads with


@dataclass(frozen=True)
class Fold:
    """Errors that share one cause, told as one incident keyed by that cause: a source that is down
    (`source:NAME`), or a dataset none of whose checks can run, such as a missing table (`dataset:NAME`)."""

    key: str
    source: str
    dataset: str | None
    title: str
    reason: str  # the message: why
    why: Reason  # the reason the errors share
    members: tuple[Result, ...]


def folds(results: Sequence[Result], down: Mapping[str, str]) -> list[Fold]:
    """The folds of one batch of results: sources first; then datasets of at least two checks that all
    errored for the same reason."""
    found = []
    for source in dict.fromkeys(result.source for result in results):
        errors = tuple(r for r in results if r.source == source and r.outcome is Outcome.ERROR)
        if source in down and errors:
            found.append(Fold(source_key(source), source, None, source_headline(source),
                              down[source], Reason.UNREACHABLE, errors))
    taken = {result.check for fold in found for result in fold.members}
    for dataset, members in _by_dataset(r for r in results if r.check not in taken).items():
        reasons = {result.reason for result in members}
        all_errors = all(result.outcome is Outcome.ERROR for result in members)
        if len(members) >= 2 and all_errors and len(reasons) == 1 and (reason := reasons.pop()) is not None:
            found.append(Fold(dataset_key(dataset), members[0].source, dataset,
                              f"{dataset} {_UNREADABLE.get(reason, 'cannot be checked')}",
                              members[0].message, reason, members))
    return found


def _by_dataset(results: Iterable[Result]) -> dict[str, tuple[Result, ...]]:
    grouped: dict[str, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.dataset, []).append(result)
    return {name: tuple(members) for name, members in grouped.items()}


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


@dataclass(frozen=True)
class _Told:
    """A recorded event that notifies: grouped with the others of its dataset before it is queued."""

    change: _Change
    incident: Incident  # as it stands after the event
    event_id: int
    state: str  # pending, or suppressed (silenced, or its root cause acknowledged or silenced)
    channels: tuple[str, ...]

    @property
    def unit(self) -> tuple[str, bool]:
        """What it is told with: its dataset's other events of the same sort (problems, or resolutions)."""
        incident = self.incident
        return (incident.dataset if incident.check_id and incident.dataset else incident.key,
                self.change.kind is EventKind.RESOLVED)

    def lead_order(self) -> tuple[int, bool, str]:
        """The worst outcome leads; of equals, one that nothing upstream explains (the news)."""
        outcome = self.change.outcome
        rank = _LEAD.index(outcome) if outcome in _LEAD else len(_LEAD)
        return rank, self.incident.root_id is not None, self.incident.key

    def member(self, root: Incident | None) -> Member:
        context = self.incident.context
        return Member(incident=self.incident.id, key=self.incident.key, event=self.change.kind.value,
                      outcome=self.change.outcome, title=self.incident.title,
                      headline=context.get("headline"), message=clip(self.change.message, TEXT),
                      query=context.get("query"), root=root.title if root else None)


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
        keys = _keys(results)
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
        now, queued = self.clock(), list[str]()
        with self.store.transaction("resolve removed incidents") as conn:
            gone = [
                incident for incident in records.listing(conn, now, open_only=True)
                if not _configured(config, incident)
            ]
            for incident in gone:
                records.update(conn, incident.id, resolved_at=now, updated_at=now)
                event_id = records.add_event(conn, incident.id, now, "resolved", incident.outcome, _REMOVED)
                ended = records.get(conn, incident.id)
                assert ended is not None
                note = notices.notification(conn, ended, EventKind.RESOLVED, event_id, now, "pass")
                pagers = outbox.told(conn, incident.id, acknowledging(config.alerting))
                queued += notices.queue(conn, note, pagers, event_id, now, "pending")
        if queued:
            self.on_queued()
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
        for fold in folds(results, down):
            contexts[fold.key] = source_context(config, fold.source, fold.members, fold.reason, fold.dataset)
            contexts[fold.key]["headline"] = fold.title
            contexts[fold.key]["reason"] = fold.why.value
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
    if incident.check_id is not None:
        return any(spec.id == incident.check_id for spec in config.checks)
    if incident.key.startswith(causes.DATASET):
        return incident.dataset in config.datasets
    return any(dataset.source == incident.source for dataset in config.datasets.values())


def _keys(results: Iterable[Result]) -> set[str]:
    """The incident keys a batch of results may touch: their checks', datasets' and sources'."""
    return {key for result in results
            for key in (result.check, dataset_key(result.dataset), source_key(result.source))}


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
        self.told: list[_Told] = []
        # A run that began before a reload may end after it: the results of checks it removed open nothing.
        self.specs = {spec.id: spec for spec in config.checks}
        self.pagers = acknowledging(config.alerting)

    def apply(self, results: Sequence[Result], down: Mapping[str, str]) -> Observed:
        newest: dict[str, Result] = {}
        for result in results:  # one result per check: the newest
            if result.check not in newest or result.started_at > newest[result.check].started_at:
                newest[result.check] = result
        keys = _keys(results)
        current = records.open_incidents(self.conn, keys)
        # Results at or before what an incident of their key took in (even a resolved one) are stale: two
        # runs of a check ended out of order, or the same results are observed again.
        self.applied = records.applied_until(self.conn, keys)
        results = [r for r in newest.values() if r.started_at > self.applied.get(r.check, _EPOCH)]
        found = {fold.key: fold for fold in folds(results, down)
                 if fold.dataset is None or fold.dataset in self.config.datasets}
        folded = {result.check for fold in found.values() for result in fold.members}
        down_sources = {fold.source for fold in found.values() if fold.dataset is None}
        for key, answered in self._units(results, down_sources).items():
            self._fold(key, found.get(key), answered, current.get(key))
        # Upstream datasets first: a downstream incident opened in the same batch then points at their
        # incidents as its probable root cause, and notifies as their follow-up.
        for result in sorted(results, key=lambda result: lineage_depth(self.config, result.dataset)):
            if result.check not in folded and result.check in self.specs:
                self._check(result, current.get(result.check))
        self._queue()
        return self.observed

    def _units(self, results: Sequence[Result], down: Collection[str]) -> dict[str, list[Result]]:
        """Each source's and dataset's key, with its results that show it answers: any result of a source
        not down, a dataset's results other than errors."""
        units: dict[str, list[Result]] = {}
        for result in results:
            units.setdefault(source_key(result.source), []).append(result)
            answered = result.source not in down and result.outcome is not Outcome.ERROR
            units.setdefault(dataset_key(result.dataset), []).extend([result] if answered else [])
        return units

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

    def _fold(self, key: str, fold: Fold | None, answered: list[Result], incident: Incident | None) -> None:
        """Open, keep or resolve the incident of a source or a dataset: it resolves once the source or the
        dataset answers again with a result newer than the ones it took in."""
        if fold is None:
            newest = max((r.started_at for r in answered), default=None)
            if incident is not None and newest is not None and newest > incident.last_result_at:
                subjects = self._member_subjects(incident.context.get("members", []), "error")
                name = key.split(":", 1)[1]
                self._record(_Change(incident, EventKind.RESOLVED, "pass", f"{name} answers again",
                                     subjects, updates={"resolved_at": self.now, "outcome": "pass"}))
            return
        newest = max(result.started_at for result in fold.members)
        if newest <= self.applied.get(key, _EPOCH):
            return  # stale: the incident took in newer results already
        context = dict(self.contexts.get(key, Context()))
        if incident is None:
            self._open_fold(fold, context, newest)
            return
        members = sorted(set(incident.context.get("members", [])) | {r.check for r in fold.members})
        subjects = self._member_subjects(members, "error")
        updates = {"last_result_at": newest, "context": {**context, "members": members},
                   "severity": _highest(subjects)}
        if self._repeat_due(incident):
            repeated = _Change(incident, EventKind.REPEATED, "error", fold.reason, subjects, updates=updates)
            self._record(repeated)
        else:
            records.update(self.conn, incident.id, updated_at=self.now, **updates)

    def _repeat_due(self, incident: Incident) -> bool:
        """Every `repeat_every` unless acknowledged or held; and once when a silence that held its last
        notification has ended."""
        if incident.acked_at is not None or self._held(incident):
            return False
        if outbox.last_suppressed(self.conn, incident.id):
            return True
        every = self.config.alerting.repeat_every
        if not every:
            return False
        return self.now - incident.last_notified_at >= timedelta(seconds=every)

    def _held(self, incident: Incident) -> bool:
        """Silenced, or following a root cause someone acknowledged or silenced: the follow-ups it explains
        wait with it."""
        if any(silence.covers(incident) for silence in self.silences):
            return True
        root = records.get(self.conn, incident.root_id) if incident.root_id else None
        if root is None or root.resolved_at is not None:
            return False
        return root.acked_at is not None or any(silence.covers(root) for silence in self.silences)

    # --- opening -----------------------------------------------------------------------------------------

    def _open_check(self, result: Result, subjects: list[Subject], context: Context) -> None:
        outcome = result.outcome.value
        root = self._root_of(result.dataset, causes.of_result(result))
        failing_below = self._downstream_of([result.dataset])
        if failing_below:
            context = Context(**{**context, "downstream": sorted({i.dataset or "" for i in failing_below})})
        incident = self._insert(NewIncident(
            key=result.check, check_id=result.check, dataset=result.dataset, source=result.source,
            kind=result.kind, severity=subjects[0].severity, outcome=outcome,
            title=title(result.check, outcome), last_result_at=result.started_at,
            root_id=None if root is None else root.id, context=dict(context),
        ))
        self._adopt(incident, failing_below)
        self._record(_Change(incident, EventKind.OPENED, outcome, result.message, subjects))

    def _open_fold(self, fold: Fold, context: dict[str, Any], newest: datetime) -> None:
        """A source or dataset incident: nothing upstream explains it (a missing table is nobody's follow-up),
        and it explains late and short data below."""
        members = sorted(result.check for result in fold.members)
        subjects = self._member_subjects(members, "error")
        opened = self._insert(NewIncident(
            key=fold.key, check_id=None, dataset=fold.dataset, source=fold.source, kind=None,
            severity=_highest(subjects), outcome="error", title=fold.title,
            last_result_at=newest, root_id=None, context={**context, "members": members},
        ))
        below = [fold.dataset] if fold.dataset else [
            name for name, dataset in self.config.datasets.items() if dataset.source == fold.source]
        self._adopt(opened, self._downstream_of(below))
        self._record(_Change(opened, EventKind.OPENED, "error", fold.reason, subjects))

    def _insert(self, new: NewIncident) -> Incident:
        incident_id = records.insert(self.conn, new, self.now)
        incident = records.get(self.conn, incident_id)
        assert incident is not None
        return incident

    def _root_of(self, dataset: str, effect: causes.Downstream) -> Incident | None:
        """The first open incident of an upstream dataset (or of its source) that could cause this failure,
        or the cause it follows in turn: the probable root cause. None when no upstream failure explains it,
        however many fail too."""
        upstreams = [name for name in self.config.datasets[dataset].upstream if name in self.config.datasets]
        sources = {source_key(self.config.datasets[name].source) for name in upstreams}
        found = [*records.open_in_datasets(self.conn, upstreams),
                 *records.open_incidents(self.conn, sources).values()]
        root = next((i for i in found if causes.explains(causes.upstream(i), effect)), None)
        for _ in range(len(self.config.datasets)):  # up the chain to the first cause (cycles cannot loop)
            above = records.get(self.conn, root.root_id) if root and root.root_id else None
            if above is None or above.resolved_at is not None:
                break
            root = above
        return root

    def _downstream_of(self, datasets: Collection[str]) -> list[Incident]:
        """Open incidents of datasets that declare one of these upstream."""
        names = [name for name, config in self.config.datasets.items()
                 if set(config.upstream) & set(datasets) and name not in datasets]
        return records.open_in_datasets(self.conn, names)

    def _adopt(self, incident: Incident, below: Iterable[Incident]) -> None:
        """Incidents below opened earlier, with no root cause yet, that this one explains now follow its
        cause."""
        cause, explaining = incident.root_id or incident.id, causes.upstream(incident)
        for follower in below:
            unexplained = follower.root_id is None and follower.id != cause
            if unexplained and causes.explains(explaining, causes.of_incident(follower)):
                records.update(self.conn, follower.id, root_id=cause)

    def _member_subjects(self, members: Iterable[str], outcome: str) -> list[Subject]:
        subjects = []
        for spec in (self.specs[check] for check in members if check in self.specs):
            dataset = self.config.datasets[spec.dataset]
            subjects.append(Subject(str(dataset.severity), dataset.owner, tuple(dataset.tags),
                                    spec.dataset, spec.kind, outcome))
        return subjects

    # --- recording -----------------------------------------------------------------------------------------

    def _record(self, change: _Change) -> None:
        """Record the event; one that notifies waits for the others of its dataset (`_queue`)."""
        incident = change.incident
        notify = change.kind is not EventKind.RESOLVED or self.config.alerting.notify_resolved
        stamps: dict[str, Any] = {"updated_at": self.now}
        if notify:
            stamps["last_notified_at"] = self.now
        records.update(self.conn, incident.id, **change.updates, **stamps)
        event_id = records.add_event(self.conn, incident.id, self.now, change.kind.value, change.outcome,
                                     change.message)
        self.observed.kinds[change.kind] += 1
        fresh = records.get(self.conn, incident.id)
        assert fresh is not None
        if notify:
            channels = _channels(self.config, change.subjects)
        elif change.kind is EventKind.RESOLVED:  # a pager that was told must hear the end, told or not
            channels = outbox.told(self.conn, fresh.id, self.pagers)
        else:
            return
        state = "suppressed" if self._held(fresh) else "pending"
        self.told.append(_Told(change, fresh, event_id, state, tuple(channels)))

    def _queue(self) -> None:
        """Queue what this observe tells: per dataset and channel, one notification that leads with the
        worst of its events and carries the others as its group (their incidents keep their own events).
        Held events are queued each on its own, as suppressed, so each repeats once its silence ends.

        A pager (PagerDuty) is told of each incident on its own: its alert resolves as one, so an alert
        standing for a group would resolve while some of it still fails. It groups alerts itself (by
        `component`, the dataset)."""
        units: dict[tuple[str, bool], list[_Told]] = {}
        for told in self.told:
            units.setdefault(told.unit, []).append(told)
        for members in units.values():
            members.sort(key=_Told.lead_order)
            for channel in dict.fromkeys(c for told in members for c in told.channels):
                hearing = [(told, self._state(told, channel)) for told in members if channel in told.channels]
                pending = [told for told, state in hearing if state == "pending"]
                alone = [item for item in hearing if item[1] != "pending" or channel in self.pagers]
                for told, state in alone:
                    self._queue_one(told, channel, state, [])
                if pending and channel not in self.pagers:
                    group = [self._member(told) for told in pending[1:]]
                    self._queue_one(pending[0], channel, "pending", group)

    def _state(self, told: _Told, channel: str) -> str:
        """Held events are suppressed; but a pager that was told of an incident always hears it resolve."""
        resolves = told.change.kind is EventKind.RESOLVED and channel in self.pagers
        told_before = resolves and bool(outbox.told(self.conn, told.incident.id, {channel}))
        return "pending" if told_before else told.state

    def _member(self, told: _Told) -> Member:
        root_id = told.incident.root_id
        return told.member(records.get(self.conn, root_id) if root_id else None)

    def _queue_one(self, told: _Told, channel: str, state: str, group: list[Member]) -> None:
        change = told.change
        note = notices.notification(self.conn, told.incident, change.kind, told.event_id, self.now,
                                    change.outcome, change.previous)
        note = replace(note, group=group)
        self.observed.queued += notices.queue(self.conn, note, [channel], told.event_id, self.now, state)


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


