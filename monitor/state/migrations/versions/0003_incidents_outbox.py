"""Incidents, their events, the notification outbox, message threads and silences (issue 7).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
OPEN = sa.text("resolved_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("check_id", sa.String(), nullable=True),
        sa.Column("dataset", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("opened_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("resolved_at", Timestamp, nullable=True),
        sa.Column("last_result_at", Timestamp, nullable=False),
        sa.Column("last_notified_at", Timestamp, nullable=False),
        sa.Column("root_id", Id, sa.ForeignKey("incidents.id", name="fk_incidents_root_id"), nullable=True),
        sa.Column("acked_at", Timestamp, nullable=True),
        sa.Column("acked_by", sa.String(), nullable=True),
        sa.Column("ack_reason", sa.Text(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
    )
    op.create_index("uq_incidents_open_key", "incidents", ["key"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_incidents_dataset", "incidents", ["dataset"])
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_table(
        "incident_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", Id, sa.ForeignKey("incidents.id", name="fk_incident_events_incident_id"),
                  nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("by", sa.String(), nullable=True),
    )
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id"])
    op.create_table(
        "outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("incident_id", Id, sa.ForeignKey("incidents.id", name="fk_outbox_incident_id"),
                  nullable=False),
        sa.Column("event_id", Id, sa.ForeignKey("incident_events.id", name="fk_outbox_event_id"),
                  nullable=False),
        sa.Column("event_kind", sa.String(), nullable=False),
        sa.Column("root_id", Id, nullable=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("claimed_until", Timestamp, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("sent_at", Timestamp, nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'suppressed')",
            name="ck_outbox_state",
        ),
    )
    op.create_index("ix_outbox_state_channel", "outbox", ["state", "channel", "id"])
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_index("ix_outbox_incident_id_channel", "outbox", ["incident_id", "channel"])
    op.create_table(
        "incident_threads",
        sa.Column("incident_id", Id, sa.ForeignKey("incidents.id", name="fk_incident_threads_incident_id"),
                  primary_key=True),
        sa.Column("channel", sa.String(), primary_key=True),
        sa.Column("ref", sa.JSON(), nullable=False),
    )
    op.create_table(
        "silences",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("pattern", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("ends_at", Timestamp, nullable=False),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    for table in ("silences", "incident_threads", "outbox", "incident_events", "incidents"):
        op.drop_table(table)
