"""Audit: through which channel an action came, and the trail listed by time.

An operator at the command line has no member id, and a member who used `vergeet` loses
theirs from the trail; `via` ("chat", "cli", "api") still tells those entries apart.
`leerlus audit` lists the newest entries, by `created_at`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 08:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("via", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_created_at"))
        batch_op.drop_column("via")
