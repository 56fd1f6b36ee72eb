"""The state store: every check result, the runs they came from, and schema snapshots for drift.

SQLite (one file beside the config, the default) or PostgreSQL (production). Writes are serialised with a
lock, since the runner records from worker threads and SQLite allows one writer; reads run concurrently.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from monitor.core.clock import Clock, utcnow
from monitor.core.failures import Reason
from monitor.core.results import Outcome, Result
from monitor.core.series import SeriesUpdate
from monitor.state import baselines, statements
from monitor.state.engine import create_engine, parse_url, translate_errors, writing
from monitor.state.errors import StateStoreError
from monitor.state.lock import LOCKS, DaemonLock
from monitor.state.migrate import ensure_head
from monitor.state.tables import results as results_table
from monitor.state.tables import runs as runs_table
from monitor.state.tables import schema_snapshots as snapshots_table
from monitor.state.tables import series_points as points_table

__all__ = ["Point", "PruneRefused", "StateStore", "StateStoreError", "Success"]

_SUCCESS = (Outcome.PASS.value, Outcome.WARN.value)


@dataclass(frozen=True)
class Success:
    """A check's latest pass or warn: when it ran (shown as "last passed") and its value (a baseline)."""

    at: datetime
    value: float | None


@dataclass(frozen=True)
class Point:
    """One stored result, reduced to what a history chart draws."""

    at: datetime
    outcome: Outcome
    value: float | None
    thresholds: Mapping[str, float]


_NO_SNAPSHOTS: Mapping[str, Mapping[str, str]] = MappingProxyType({})


class PruneRefused(Exception):
    """Pruning would delete everything stored before this run: the clock is likely wrong, so nothing was."""


class StateStore:
    """Runs, results and schema snapshots; open it with `StateStore.open`."""

    def __init__(self, engine: Engine, url: URL, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._url = url
        self.clock = clock  # of the process: what it stores is timed by it, and so is alerting on this store
        self._write_lock = threading.Lock()
        self._newest: dict[int, datetime | None] = {}  # run id -> its _newest_before
        self._record_failure: str | None = None

    @classmethod
    def open(cls, url: str, base_dir: Path, clock: Clock = utcnow) -> StateStore:
        """Open (creating if needed) and migrate to head; a relative SQLite path is relative to `base_dir`."""
        parsed = parse_url(url, base_dir)
        with translate_errors(parsed, "open it"):
            engine = create_engine(parsed)
            try:
                ensure_head(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(engine, parsed, clock)

    def start_run(self, command: str) -> int:
        with self._writing("start a run") as conn:
            insert = sa.insert(runs_table).values(command=command, started_at=self.clock())
            return int(conn.execute(insert.returning(runs_table.c.id)).scalar_one())

    def finish_run(self, run_id: int, summary: Mapping[str, int]) -> None:
        with self._writing("finish a run") as conn:
            update = sa.update(runs_table).where(runs_table.c.id == run_id)
            done = conn.execute(update.values(finished_at=self.clock(), summary=dict(summary)))
            if done.rowcount != 1:
                raise StateStoreError(f"no run {run_id} in the state store")

    def record(
        self,
        run_id: int,
        results: Sequence[Result],
        snapshots: Mapping[str, Mapping[str, str]] = _NO_SNAPSHOTS,
        series: Sequence[SeriesUpdate] = (),
    ) -> None:
        """Store results, changed schema snapshots and learned baselines' points in one transaction: all of
        them or, on failure, none.

        Whether it worked is kept for `record_failure` (the daemon's /healthz).
        """
        try:
            self._record(run_id, results, snapshots, series)
        except StateStoreError as exc:
            self._record_failure = str(exc)
            raise
        self._record_failure = None

    @property
    def record_failure(self) -> str | None:
        """Why the latest `record` failed; None once one succeeds (and before any)."""
        return self._record_failure

    def _record(
        self,
        run_id: int,
        results: Sequence[Result],
        snapshots: Mapping[str, Mapping[str, str]],
        series: Sequence[SeriesUpdate],
    ) -> None:
        with self._writing("record results") as conn:
            baselines.save(conn, series)
            if results:
                texts = (text for result in results for text in result.statements)
                ids = statements.intern(conn, texts, self.clock())
                rows = [_result_row(run_id, result, ids) for result in results]
                conn.execute(sa.insert(results_table), rows)
            changed = _changed(_latest_snapshots(conn, snapshots.keys()), snapshots)
            if changed:
                taken_at = self.clock()
                conn.execute(
                    sa.insert(snapshots_table),
                    [{"run_id": run_id, "check_id": check, "taken_at": taken_at, "columns": columns}
                     for check, columns in changed.items()],
                )

    def last_successes(self, check_ids: Collection[str], now: datetime) -> dict[str, Success]:
        """Per check, its latest pass or warn result up to `now`: when it ran and its value (the `max_drop`
        baseline). Results from after `now`, stored while the clock ran ahead, are never baselines.

        One `LIMIT 1` per check, walking the (check_id, started_at) index backwards: the cost stays the same
        after months of history, where ranking every result of the check would grow with it. At most
        CHECKS_PER_STATEMENT checks a statement.
        """
        unique = list(dict.fromkeys(check_ids))
        found: dict[str, Success] = {}
        with self._reading("read last successes") as conn:
            for start in range(0, len(unique), CHECKS_PER_STATEMENT):
                query = _last_successes(unique[start:start + CHECKS_PER_STATEMENT], now)
                found.update((check, Success(at, None if value is None else float(value)))
                             for check, at, value in conn.execute(query))
        return found

    def last_snapshots(self, check_ids: Collection[str]) -> dict[str, dict[str, str]]:
        """Per check, its latest schema snapshot {column: type family}."""
        with self._reading("read schema snapshots") as conn:
            return _latest_snapshots(conn, check_ids)

    def history(self, check_id: str, limit: int = 20) -> list[Result]:
        """The check's latest results, newest first."""
        if limit < 1:
            raise ValueError(f"history limit must be at least 1, got {limit}")
        query = (
            sa.select(results_table)
            .where(results_table.c.check_id == check_id)
            .order_by(results_table.c.started_at.desc(), results_table.c.id.desc())
            .limit(limit)
        )
        with self._reading("read history") as conn:
            rows = conn.execute(query).mappings().all()
            texts = statements.texts(conn, {id_ for row in rows for id_ in row["statement_ids"]})
        return [_to_result(row, texts) for row in rows]

    def points(self, check_ids: Collection[str], since: datetime) -> dict[str, list[Point]]:
        """Per check, its results since `since`, oldest first, without their details and statements: the
        web UI's charts of hundreds of checks read only these columns, along the (check_id, started_at) index.
        """
        unique = list(dict.fromkeys(check_ids))
        found: dict[str, list[Point]] = {check: [] for check in unique}
        names = ("check_id", "started_at", "outcome", "value", "thresholds")
        columns = [results_table.c[name] for name in names]
        with self._reading("read check histories") as conn:
            for start in range(0, len(unique), CHECKS_PER_STATEMENT):
                query = (
                    sa.select(*columns)
                    .where(results_table.c.check_id.in_(unique[start:start + CHECKS_PER_STATEMENT]),
                           results_table.c.started_at >= since)
                    .order_by(results_table.c.started_at, results_table.c.id)
                )
                for check, at, outcome, value, thresholds in conn.execute(query):
                    found[check].append(Point(at, Outcome(outcome), value, thresholds or {}))
        return {check: points for check, points in found.items() if points}

    def latest(self, check_ids: Collection[str]) -> dict[str, Result]:
        """Each check's newest result (checks that have none are left out), in one statement."""
        if not check_ids:
            return {}
        newest = (
            sa.select(results_table.c.check_id, sa.func.max(results_table.c.started_at).label("at"))
            .where(results_table.c.check_id.in_(list(check_ids)))
            .group_by(results_table.c.check_id)
            .subquery()
        )
        same = (results_table.c.check_id == newest.c.check_id) & (results_table.c.started_at == newest.c.at)
        query = sa.select(results_table).join(newest, same).order_by(results_table.c.id)
        with self._reading("read the latest results") as conn:
            rows = conn.execute(query).mappings().all()
            texts = statements.texts(conn, {id_ for row in rows for id_ in row["statement_ids"]})
        return {row["check_id"]: _to_result(row, texts) for row in rows}  # a tie: the later row wins

    def prune(self, before: datetime, run_id: int, lasted: timedelta = timedelta(0)) -> int:
        """Delete results older than `before`, and runs and snapshots left unused; returns results deleted.

        Raises PruneRefused, deleting nothing, when `before` is later than the newest result stored before run
        `run_id` (the caller's) plus how long that run has `lasted` by the monotonic clock: the results this
        run stored carry its own clock, maybe the wrong one, and a clock months ahead would otherwise prune
        the whole history.
        """
        latest = sa.select(sa.func.max(snapshots_table.c.id)).group_by(snapshots_table.c.check_id)
        with self._writing("prune") as conn:
            newest = self._newest_before(conn, run_id)
            if newest is not None and before > newest + lasted:
                raise PruneRefused(_refusal(before, newest, lasted))
            old = sa.delete(results_table).where(results_table.c.started_at < before)
            deleted = conn.execute(old).rowcount
            conn.execute(
                sa.delete(snapshots_table).where(
                    snapshots_table.c.taken_at < before, snapshots_table.c.id.not_in(latest)
                )
            )
            conn.execute(
                sa.delete(runs_table).where(
                    runs_table.c.started_at < before,
                    ~sa.exists().where(results_table.c.run_id == runs_table.c.id),
                    ~sa.exists().where(snapshots_table.c.run_id == runs_table.c.id),
                )
            )
            conn.execute(sa.delete(points_table).where(points_table.c.at < before))
            statements.prune(conn, before)
            return int(deleted)

    def _newest_before(self, conn: Connection, run_id: int) -> datetime | None:
        """When the newest result of an earlier run than `run_id` started. Looked up once per run, when it has
        stored little (a daemon prunes at start): the index walk skips the run's own results first."""
        if run_id not in self._newest:
            self._newest[run_id] = conn.execute(
                sa.select(results_table.c.started_at)
                .where(results_table.c.run_id < run_id)
                .order_by(results_table.c.started_at.desc())
                .limit(1)
            ).scalar_one_or_none()
        return self._newest[run_id]

    def lock_daemon(self) -> DaemonLock:
        """Take the one-daemon lock of this store; raises LockHeld naming the live holder."""
        return LOCKS[self._url.get_backend_name()](self._engine, self._url)

    def ping(self) -> None:
        """Raises StateStoreError when the store does not answer (for /healthz). It reads a table: on SQLite a
        bare `SELECT 1` never touches the file."""
        with self._reading("answer") as conn:
            conn.execute(sa.text("SELECT version_num FROM alembic_version"))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def transaction(self, action: str) -> AbstractContextManager[Connection]:
        """A write transaction for other modules' tables (alerting): serialised with every other write,
        errors raised as StateStoreError saying `action`."""
        return self._writing(action)

    def reading(self, action: str) -> AbstractContextManager[Connection]:
        return self._reading(action)

    @property
    def backend(self) -> str:
        return self._url.get_backend_name()

    @contextmanager
    def _writing(self, action: str) -> Iterator[Connection]:
        with self._write_lock, translate_errors(self._url, action), writing(self._engine) as conn:
            yield conn

    @contextmanager
    def _reading(self, action: str) -> Iterator[Connection]:
        with translate_errors(self._url, action), self._engine.connect() as conn:
            yield conn


def _refusal(before: datetime, newest: datetime, lasted: timedelta) -> str:
    since = f" plus the {lasted.total_seconds() / 3600:.1f}h this run has lasted" if lasted else ""
    return (f"the cutoff {before.isoformat()} is later than the newest result stored before this run "
            f"({newest.isoformat()}){since}: the clock may be wrong, so nothing was deleted")


def _result_row(run_id: int, result: Result, statement_ids: Mapping[str, int]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "check_id": result.check,
        "dataset": result.dataset,
        "kind": result.kind,
        "source": result.source,
        "outcome": Outcome(result.outcome).value,
        "value": result.value,
        "unit": result.unit,
        "thresholds": dict(result.thresholds),
        "message": result.message,
        "started_at": result.started_at,
        "duration_seconds": result.duration_seconds,
        "statement_ids": [statement_ids[text] for text in result.statements],
        "details": result.all_details,
        "reason": result.reason.value if result.reason is not None else None,
    }


def _to_result(row: sa.RowMapping, statement_texts: Mapping[int, str]) -> Result:
    return Result(
        check=row["check_id"],
        dataset=row["dataset"],
        kind=row["kind"],
        source=row["source"],
        outcome=Outcome(row["outcome"]),
        message=row["message"],
        started_at=row["started_at"],
        duration_seconds=row["duration_seconds"],
        value=row["value"],
        unit=row["unit"],
        thresholds=row["thresholds"],
        statements=tuple(statement_texts.get(id_, "(statement pruned)") for id_ in row["statement_ids"]),
        details=row["details"],
        reason=Reason(row["reason"]) if row["reason"] else None,
    )


CHECKS_PER_STATEMENT = 400


def _last_successes(check_ids: Sequence[str], now: datetime) -> sa.TextualSelect:
    """The latest success of each check, by one `LIMIT 1` subquery per check in an IN list: written as text,
    which costs microseconds per check where building the same statement as objects cost milliseconds."""
    bound = {f"c{index}": check for index, check in enumerate(check_ids)}
    return (_successes_sql(len(check_ids))
            .bindparams(sa.bindparam("now", now, type_=results_table.c.started_at.type), **bound)
            .columns(results_table.c.check_id, results_table.c.started_at, results_table.c.value))


@functools.lru_cache(maxsize=4)
def _successes_sql(count: int) -> sa.TextClause:
    table = results_table.name
    succeeded = ", ".join(f"'{outcome}'" for outcome in _SUCCESS)
    latest = (f"(SELECT id FROM {table} WHERE check_id = :c{{}} AND outcome IN ({succeeded})"
              " AND started_at <= :now ORDER BY started_at DESC, id DESC LIMIT 1)")
    found = ", ".join(latest.format(index) for index in range(count))
    return sa.text(f"SELECT check_id, started_at, value FROM {table} WHERE id IN ({found})")


def _latest_snapshots(conn: Connection, check_ids: Collection[str]) -> dict[str, dict[str, str]]:
    if not check_ids:
        return {}
    latest = (
        sa.select(sa.func.max(snapshots_table.c.id))
        .where(snapshots_table.c.check_id.in_(list(check_ids)))
        .group_by(snapshots_table.c.check_id)
    )
    query = sa.select(snapshots_table.c.check_id, snapshots_table.c.columns).where(
        snapshots_table.c.id.in_(latest)
    )
    return {check: dict(columns) for check, columns in conn.execute(query)}


def _changed(
    latest: Mapping[str, Mapping[str, str]], snapshots: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    wanted = {check: dict(columns) for check, columns in snapshots.items()}
    return {check: columns for check, columns in wanted.items() if latest.get(check) != columns}
