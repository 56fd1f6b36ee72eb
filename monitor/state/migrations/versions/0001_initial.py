"""Initial state store: runs, results history and schema snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
    )
    op.create_table(
        "results",
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
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column("statements", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint("outcome IN ('pass', 'warn', 'fail', 'error')", name="ck_results_outcome"),
    )
    op.create_index("ix_results_check_id_started_at", "results", ["check_id", "started_at"])
    op.create_index("ix_results_started_at", "results", ["started_at"])
    op.create_table(
        "schema_snapshots",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", Id, sa.ForeignKey("runs.id", name="fk_schema_snapshots_run_id"), nullable=False),
        sa.Column("check_id", sa.String(), nullable=False),
        sa.Column("taken_at", Timestamp, nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
    )
    op.create_index("ix_schema_snapshots_check_id_id", "schema_snapshots", ["check_id", "id"])


def downgrade() -> None:
    op.drop_table("schema_snapshots")
    op.drop_table("results")
    op.drop_table("runs")
