"""Prompt delivery: claims, attempts, expiry and the last digest of each member.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 10:12:41.118305
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Copies of the core's rules at the time of writing: migrations outlive the code.
EXPIRY = timedelta(days=7)
REMINDER = timedelta(hours=24)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=300), nullable=True))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_digest_at", sa.DateTime(timezone=True), nullable=True))
    _backfill_prompts()


def _backfill_prompts() -> None:
    # Existing prompts expire a week after they were due, and a prompt that was already
    # sent gets its reminder a day after sending, not at once (`due_at` now means: next).
    prompts = sa.table(
        "prompts",
        sa.column("id", sa.Integer()),
        sa.column("state", sa.String()),
        sa.column("due_at", sa.DateTime(timezone=True)),
        sa.column("sent_at", sa.DateTime(timezone=True)),
        sa.column("reminded_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(prompts.c.id, prompts.c.due_at, prompts.c.sent_at, prompts.c.reminded_at).where(
            prompts.c.state.in_(["scheduled", "sent"])
        )
    ).all()
    for row in rows:
        values = {"expires_at": row.due_at + EXPIRY}
        if row.sent_at is not None and row.reminded_at is None:
            values["due_at"] = row.sent_at + REMINDER
        bind.execute(sa.update(prompts).where(prompts.c.id == row.id).values(**values))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("last_digest_at")
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("attempts")
