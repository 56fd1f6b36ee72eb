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

# --- incidents and their notifications (see alerting/) -------------------------------------------------

# One row per incident; the partial unique index keeps one *open* incident per key (a check id, or
# `source:NAME`), even with `demon check --notify` writing beside the daemon.
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("check_id", sa.String(), nullable=True),
    sa.Column("dataset", sa.String(), nullable=True),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=True),
    sa.Column("severity", sa.String(), nullable=False),
    sa.Column("outcome", sa.String(), nullable=False),
    sa.Column("title", sa.String(), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("resolved_at", UtcDateTime(), nullable=True),
    sa.Column("last_result_at", UtcDateTime(), nullable=False),  # results at or before it are applied already
    sa.Column("last_notified_at", UtcDateTime(), nullable=False),
    sa.Column("root_id", Id, sa.ForeignKey("incidents.id", name="fk_incidents_root_id"), nullable=True),
    sa.Column("acked_at", UtcDateTime(), nullable=True),
    sa.Column("acked_by", sa.String(), nullable=True),
    sa.Column("ack_reason", sa.Text(), nullable=True),
    sa.Column("context", sa.JSON(), nullable=False),
    sa.Index("uq_incidents_open_key", "key", unique=True,
             sqlite_where=sa.text("resolved_at IS NULL"), postgresql_where=sa.text("resolved_at IS NULL")),
    sa.Index("ix_incidents_dataset", "dataset"),
    sa.Index("ix_incidents_opened_at", "opened_at"),
)

# What happened to an incident: each outcome change, repeat, resolve, ack and silence.
incident_events = sa.Table(
    "incident_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("incident_id", Id, sa.ForeignKey("incidents.id", name="fk_incident_events_incident_id"),
              nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("outcome", sa.String(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("by", sa.String(), nullable=True),
    sa.Index("ix_incident_events_incident_id", "incident_id"),
)

# Every notification is written here, in the transaction that records its event, before any channel sees it.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("incident_id", Id, sa.ForeignKey("incidents.id", name="fk_outbox_incident_id"), nullable=False),
    sa.Column("event_id", Id, sa.ForeignKey("incident_events.id", name="fk_outbox_event_id"), nullable=False),
    sa.Column("event_kind", sa.String(), nullable=False),
    sa.Column("root_id", Id, nullable=True),  # its root cause: whose rows on the channel go first
    sa.Column("channel", sa.String(), nullable=False),
    sa.Column("idempotency_key", sa.String(), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("state", sa.String(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_until", UtcDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    sa.CheckConstraint(
        "state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'suppressed')", name="ck_outbox_state"
    ),
    sa.Index("ix_outbox_state_channel", "state", "channel", "id"),
    sa.Index("ix_outbox_created_at", "created_at"),
    sa.Index("ix_outbox_incident_id_channel", "incident_id", "channel"),
)

# Where an incident's messages thread on a channel (a Slack bot's channel id and root ts).
incident_threads = sa.Table(
    "incident_threads",
    metadata,
    sa.Column("incident_id", Id, sa.ForeignKey("incidents.id", name="fk_incident_threads_incident_id"),
              primary_key=True),
    sa.Column("channel", sa.String(), primary_key=True),
    sa.Column("ref", sa.JSON(), nullable=False),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("pattern", sa.String(), nullable=False),  # a glob over check ids, datasets and `source:NAME`
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("ends_at", UtcDateTime(), nullable=False),
    sa.Index("ix_silences_ends_at", "ends_at"),
)
