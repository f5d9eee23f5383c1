"""statistics: period and backlog indexes, precomputed dashboards

Revision ID: 0003_stats
Revises: 0002_officer
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_stats"
down_revision = "0002_officer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_submitted_at", ["submitted_at"], unique=False)
        batch_op.create_index(
            "ix_reports_closed_submitted", ["closed_at", "submitted_at"], unique=False
        )

    op.create_table(
        "stats_snapshots",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "period", name=op.f("pk_stats_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("stats_snapshots")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_closed_submitted")
        batch_op.drop_index("ix_reports_submitted_at")
