"""Index changes: a log of reflections whose searchable state changed, for other processes.

Every `leerlus` process keeps its own search index; each reads this log "since my last
id" to catch lessons added, edited, hidden or deleted by another process.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "index_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reflection_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_index_changes")),
        # Ids are never reused on SQLite either (after pruning the newest rows).
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_index_changes_changed_at"), "index_changes", ["changed_at"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_index_changes_changed_at"), table_name="index_changes")
    op.drop_table("index_changes")
