"""Statements stored once: results keep statement ids instead of the statements' text.

A dataset's fused statement was repeated in every check's result on every run, most of a result's bytes.

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
BATCH = 5000


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
    _intern_existing(statements)


def _intern_existing(statements: sa.Table) -> None:
    """Replace each stored result's statement texts by ids, in batches of rows."""
    conn = op.get_bind()
    results = sa.table("results", sa.column("id", Id), sa.column("statement_ids", sa.JSON()))
    ids: dict[str, int] = {}
    now = datetime.now(UTC)
    last = 0
    while rows := conn.execute(
        sa.select(results.c.id, results.c.statement_ids)
        .where(results.c.id > last)
        .order_by(results.c.id)
        .limit(BATCH)
    ).all():
        for row_id, texts in rows:
            for text in texts:
                if text not in ids:
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    insert = sa.insert(statements).values(digest=digest, text=text, last_used_at=now)
                    ids[text] = conn.execute(insert.returning(statements.c.id)).scalar_one()
            conn.execute(
                sa.update(results).where(results.c.id == row_id).values(statement_ids=[ids[t] for t in texts])
            )
        last = rows[-1][0]


def downgrade() -> None:
    conn = op.get_bind()
    texts: dict[int, str] = dict(conn.execute(sa.text("SELECT id, text FROM statements")).tuples().all())
    results = sa.table("results", sa.column("id", Id), sa.column("statement_ids", sa.JSON()))
    for row_id, ids in conn.execute(sa.select(results.c.id, results.c.statement_ids)).all():
        update = sa.update(results).where(results.c.id == row_id)
        conn.execute(update.values(statement_ids=[texts[i] for i in ids]))
    op.execute("ALTER TABLE results RENAME COLUMN statement_ids TO statements")
    op.drop_table("statements")
