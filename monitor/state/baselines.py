"""Learned baselines in the state store: series points and users' feedback, behind a typed interface.

A run's points are saved in the transaction that records its results (`save`); the runner reads a series
before judging (`Baselines.histories`); `demon feedback` writes and undoes feedback.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.core.series import Feedback, FeedbackAction, SeriesHistory, SeriesPoint, SeriesUpdate
from monitor.state.tables import baseline_feedback as feedback_table
from monitor.state.tables import series_points as points_table

if TYPE_CHECKING:  # the store saves points through this module
    from monitor.state.store import StateStore


def save(conn: Connection, updates: Iterable[SeriesUpdate]) -> None:
    """Upsert points by (series, at): a recomputed bucket replaces the stored one, keeping its flag unless
    this run judged it (flagged), so a late row re-counted later does not unflag what a user saw flagged.

    Two statements per _CHUNK (series, at) pairs and one insert, however many series: a run of thousands of
    tables writes its points in a few, and the first run of an hourly series (a training window) in a few
    more."""
    found = [update for update in updates if update.points]
    if found:
        _upsert(conn, found)


_CHUNK = 400  # (series, at) pairs a statement: 800 bound parameters, under every engine's limit


def _upsert(conn: Connection, updates: list[SeriesUpdate]) -> None:
    stored = points_table.c
    pairs = list(dict.fromkeys((update.key, point.at) for update in updates for point in update.points))
    flags: dict[tuple[str, datetime], bool] = {}
    for start in range(0, len(pairs), _CHUNK):  # one series may hold more points than a chunk
        where = sa.tuple_(stored.series, stored.at).in_(pairs[start:start + _CHUNK])
        flags.update(((key, at), flagged) for key, at, flagged in
                     conn.execute(sa.select(stored.series, stored.at, stored.flagged).where(where)))
        conn.execute(sa.delete(points_table).where(where))
    rows = []
    for update in updates:
        for point in update.points:  # the same time twice: the last value, either flag
            flags[(update.key, point.at)] = point.flagged or flags.get((update.key, point.at), False)
        latest = {point.at: point for point in update.points}
        rows += [{"series": update.key, "at": at, "value": point.value, "flagged": flags[(update.key, at)]}
                 for at, point in latest.items()]
    conn.execute(sa.insert(points_table), rows)


class Baselines:
    """Reads series and feedback, and writes feedback, on a state store."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def now(self) -> datetime:
        """The store's clock: feedback is timed by it, as results are."""
        return self._store.clock()

    def histories(self, series: dict[str, str], since: datetime) -> dict[str, SeriesHistory]:
        """Per check id, its series (key given by `series`: check -> key) from `since` on, with its
        feedback."""
        if not series:
            return {}
        with self._store.reading("read learned baselines") as conn:
            points = _points(conn, series.values(), since)
            taught = _feedback(conn, series.keys())
        return {
            check: SeriesHistory(key, tuple(points.get(key, ())), tuple(taught.get(check, ())))
            for check, key in series.items()
        }

    def parts(self, series: Mapping[str, Mapping[str, str]], since: datetime
              ) -> dict[str, dict[str, SeriesHistory]]:
        """Per check id, the series of its parts (`series`: check -> part -> key) from `since` on, each with
        the check's feedback: one read for all."""
        keys = [key for parts in series.values() for key in parts.values()]
        if not keys:
            return {}
        with self._store.reading("read learned baselines") as conn:
            points = _points(conn, keys, since)
            taught = _feedback(conn, series.keys())
        return {
            check: {part: SeriesHistory(key, tuple(points.get(key, ())), tuple(taught.get(check, ())))
                    for part, key in parts.items()}
            for check, parts in series.items()
        }

    def keys_under(self, key: str) -> list[str]:
        """The series stored as parts of a check's series (`key/part`), for the commands that name one."""
        stored = points_table.c
        query = sa.select(stored.series).where(stored.series.startswith(f"{key}/", autoescape=True))
        with self._store.reading("read learned baselines") as conn:
            return sorted(set(conn.execute(query.distinct()).scalars()))

    def feedback(self, check_ids: Collection[str]) -> dict[str, list[Feedback]]:
        with self._store.reading("read feedback") as conn:
            return _feedback(conn, check_ids)

    def teach(
        self, check: str, action: FeedbackAction, start: datetime, end: datetime | None, reason: str
    ) -> tuple[Feedback, list[Feedback]]:
        """Store feedback, replacing what was said before of the same point (expected or anomaly) or the same
        window; returns it and what it replaced."""
        created = self._store.clock()
        row = {"check_id": check, "action": action.value, "start": start, "end": end, "reason": reason,
               "created_at": created}
        table = feedback_table.c
        same = (table.check_id == check) & (table.start == start) & (
            table.action.in_(_POINT_ACTIONS) if action.value in _POINT_ACTIONS
            else (table.action == action.value) & _same_end(end)
        )
        with self._store.transaction("store feedback") as conn:
            replaced = list(_feedback_rows(conn, same))
            conn.execute(sa.delete(feedback_table).where(same))
            new_id = conn.execute(sa.insert(feedback_table).values(row).returning(table.id))
            return Feedback(int(new_id.scalar_one()), check, action, start, end, reason, created), replaced

    def undo(self, feedback_id: int) -> Feedback | None:
        """Delete one piece of feedback; returns it, or None when there is no such id."""
        with self._store.transaction("undo feedback") as conn:
            found = _feedback_rows(conn, feedback_table.c.id == feedback_id)
            conn.execute(sa.delete(feedback_table).where(feedback_table.c.id == feedback_id))
        return found[0] if found else None


_CHUNK = 500  # keys per query: far below any driver's limit of bound parameters


def _points(conn: Connection, keys: Iterable[str], since: datetime) -> dict[str, list[SeriesPoint]]:
    """The stored points of each series from `since` on, oldest first."""
    stored = points_table.c
    wanted = list(dict.fromkeys(keys))
    points: dict[str, list[SeriesPoint]] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = (
            sa.select(stored.series, stored.at, stored.value, stored.flagged)
            .where(stored.series.in_(wanted[start : start + _CHUNK]), stored.at >= since)
            .order_by(stored.series, stored.at)
        )
        for key, at, value, flagged in conn.execute(query):
            points.setdefault(key, []).append(SeriesPoint(at, value, bool(flagged)))
    return points


_POINT_ACTIONS = (FeedbackAction.EXPECTED.value, FeedbackAction.ANOMALY.value)


def _same_end(end: datetime | None) -> sa.ColumnElement[bool]:
    column = feedback_table.c.end
    return column.is_(None) if end is None else column == end


def _feedback(conn: Connection, check_ids: Collection[str]) -> dict[str, list[Feedback]]:
    taught: dict[str, list[Feedback]] = {}
    for item in _feedback_rows(conn, feedback_table.c.check_id.in_(list(check_ids))):
        taught.setdefault(item.check, []).append(item)
    return taught


def _feedback_rows(conn: Connection, condition: sa.ColumnElement[bool]) -> Sequence[Feedback]:
    table = feedback_table.c
    rows = conn.execute(sa.select(feedback_table).where(condition).order_by(table.id)).mappings()
    return [
        Feedback(row["id"], row["check_id"], FeedbackAction(row["action"]), row["start"], row["end"],
                 row["reason"], row["created_at"])
        for row in rows
    ]
