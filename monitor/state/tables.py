"""SQLAlchemy Core tables of the state store, as the latest migration leaves them.

Migrations never import this module (they must stay frozen in time); a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for years of history.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OUTCOMES = ("pass", "warn", "fail", "error")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out: SQLite keeps no offset, so store UTC and re-attach it on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"the state store needs aware datetimes, got naive {value.isoformat()}")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Column("summary", sa.JSON(), nullable=True),
)

results = sa.Table(
    "results",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", Id, sa.ForeignKey("runs.id", name="fk_results_run_id"), nullable=False),
    sa.Column("check_id", sa.String(), nullable=False),
    sa.Column("dataset", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("outcome", sa.String(), nullable=False),
    sa.Column("value", sa.Double(), nullable=True),
    sa.Column("unit", sa.String(), nullable=True),
    sa.Column("thresholds", sa.JSON(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("duration_seconds", sa.Double(), nullable=False),
    sa.Column("statement_ids", sa.JSON(), nullable=False),  # ids in `statements`, in the result's order
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("reason", sa.String(), nullable=True),  # of an error (monitor/core/failures.py)
    sa.CheckConstraint(f"outcome IN {OUTCOMES!r}", name="ck_results_outcome"),
    sa.Index("ix_results_check_id_started_at", "check_id", "started_at"),
    sa.Index("ix_results_started_at", "started_at"),
)

# Each distinct statement once: a dataset's fused statement is the same in all its checks' results, run after
# run, and was most of a result row's bytes. `last_used_at` (refreshed at most hourly) lets pruning drop the
# statements no kept result uses without reading every result.
statements = sa.Table(
    "statements",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("last_used_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("digest", name="uq_statements_digest"),
)

schema_snapshots = sa.Table(
    "schema_snapshots",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", Id, sa.ForeignKey("runs.id", name="fk_schema_snapshots_run_id"), nullable=False),
    sa.Column("check_id", sa.String(), nullable=False),
    sa.Column("taken_at", UtcDateTime(), nullable=False),
    sa.Column("columns", sa.JSON(), nullable=False),
    sa.Index("ix_schema_snapshots_check_id_id", "check_id", "id"),
)

# Learned baselines: each series' points (a series is a check's definition: a new `by` or `where` starts
# another) and what users taught them. Feedback is keyed by check, so it outlives a change of definition.
series_points = sa.Table(
    "series_points",
    metadata,
    sa.Column("series", sa.String(), primary_key=True),
    sa.Column("at", UtcDateTime(), primary_key=True),
    sa.Column("value", sa.Double(), nullable=True),
    sa.Column("flagged", sa.Boolean(), nullable=False),
)

baseline_feedback = sa.Table(
    "baseline_feedback",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("check_id", sa.String(), nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("start", UtcDateTime(), nullable=False),
    sa.Column("end", UtcDateTime(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(
        "action IN ('expected', 'anomaly', 'exclude', 'reset')", name="ck_baseline_feedback_action"
    ),
    sa.Index("ix_baseline_feedback_check_id", "check_id"),
    sqlite_autoincrement=True,  # an undone id is never given again: an old "--undo N" hint stays safe
)
