"""Alerting's tables in the state store: incidents, their events, the outbox, message threads and silences.

They live in the state store's database (one transaction records an event and queues its notifications) and
its migrations (monitor/state/migrations), but only alerting reads or writes them.
"""

from __future__ import annotations

import sqlalchemy as sa

from monitor.state.tables import Id, UtcDateTime

metadata = sa.MetaData()

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
