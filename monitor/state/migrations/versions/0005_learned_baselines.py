"""Learned baselines: series points (keyed by a check's definition) and the feedback users give them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "series_points",
        sa.Column("series", sa.String(), primary_key=True),
        sa.Column("at", Timestamp, primary_key=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "baseline_feedback",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("check_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("start", Timestamp, nullable=False),
        sa.Column("end", Timestamp, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "action IN ('expected', 'anomaly', 'exclude', 'reset')", name="ck_baseline_feedback_action"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_baseline_feedback_check_id", "baseline_feedback", ["check_id"])


def downgrade() -> None:
    op.drop_index("ix_baseline_feedback_check_id", table_name="baseline_feedback")
    op.drop_table("baseline_feedback")
    op.drop_table("series_points")
