"""Statements stored once: results keep statement ids instead of the statements' text.

A dataset's fused statement was repeated in every check's result on every run, most of a result's bytes.
Existing results are converted by set-based statements, one per step, not row by row: a store with months of
history converts in seconds, inside the migration's one transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Per backend: the distinct texts stored in results, and how to swap each array's texts for ids and back.
_DISTINCT_TEXTS = {
    "sqlite": "SELECT DISTINCT e.value FROM results, json_each(results.statement_ids) e",
    "postgresql": "SELECT DISTINCT e FROM results, json_array_elements_text(results.statement_ids) e",
}
_TEXTS_TO_IDS = {
    "sqlite": [
        "CREATE INDEX tmp_statements_text ON statements (text)",
        "UPDATE results SET statement_ids = (SELECT json_group_array(id) FROM (SELECT s.id"
        " FROM json_each(results.statement_ids) e JOIN statements s ON s.text = e.value ORDER BY e.key))",
        "DROP INDEX tmp_statements_text",
    ],
    # No index on text (btree entries are limited to about 2.7 kB): join on the digest, computed in SQL.
    "postgresql": [
        "UPDATE results r SET statement_ids = COALESCE((SELECT json_agg(s.id ORDER BY e.ord)"
        " FROM json_array_elements_text(r.statement_ids) WITH ORDINALITY AS e(t, ord)"
        " JOIN statements s ON s.digest = encode(sha256(convert_to(e.t, 'UTF8')), 'hex')), '[]'::json)",
    ],
}
_IDS_TO_TEXTS = {
    "sqlite": [
        "UPDATE results SET statement_ids = (SELECT json_group_array(text) FROM (SELECT s.text"
        " FROM json_each(results.statement_ids) e JOIN statements s ON s.id = e.value ORDER BY e.key))",
    ],
    "postgresql": [
        "UPDATE results r SET statement_ids = COALESCE((SELECT json_agg(s.text ORDER BY e.ord)"
        " FROM json_array_elements_text(r.statement_ids) WITH ORDINALITY AS e(t, ord)"
        " JOIN statements s ON s.id = e.t::bigint), '[]'::json)",
    ],
}


def upgrade() -> None:
    statements = op.create_table(
        "statements",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("digest", name="uq_statements_digest"),
    )
    op.execute("ALTER TABLE results RENAME COLUMN statements TO statement_ids")  # SQLite >= 3.25, PostgreSQL
    conn = op.get_bind()
    dialect = conn.dialect.name
    texts = [text for (text,) in conn.execute(sa.text(_DISTINCT_TEXTS[dialect]))]
    if texts:
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(statements),
            [{"digest": hashlib.sha256(text.encode()).hexdigest(), "text": text, "last_used_at": now}
             for text in texts],
        )
        for statement in _TEXTS_TO_IDS[dialect]:
            op.execute(statement)


def downgrade() -> None:
    for statement in _IDS_TO_TEXTS[op.get_bind().dialect.name]:
        op.execute(statement)
    op.execute("ALTER TABLE results RENAME COLUMN statement_ids TO statements")
    op.drop_table("statements")
