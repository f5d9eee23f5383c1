"""statistics from rollups: per-day blocks kept by the write path; snapshots go

Revision ID: 0007
Revises: 0010_takedowns
Create Date: 2026-12-04 14:50:00.000000

Dashboards read ``stats_rollups`` (counts and response-time distributions per block of days and
grouping key) and the open reports, through a partial covering index that holds only those.
A case page reads its cluster newest first from an index on (URL digest, report). The
precomputed dashboards (``stats_snapshots``) are dropped. The rollups of existing reports are
written by ``portal stats rebuild`` (run once after this upgrade).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0010_takedowns"
branch_labels = None
depends_on = None

OPEN = "status IN ('received', 'in_review', 'awaiting_reporter', 'investigating')"


def upgrade() -> None:
    op.create_table(
        "stats_rollups",
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("dim", sa.String(length=1), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("first_response", sa.LargeBinary(), nullable=True),
        sa.Column("resolution", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint(
            "scope", "level", "block", "dim", "key", "priority", name=op.f("pk_stats_rollups")
        ),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reports_open_submitted",
            ["submitted_at"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
            postgresql_include=[
                "region_id",
                "unit_id",
                "category",
                "priority",
                "first_response_at",
            ],
        )
    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_urls_url_index_report", ["url_index", "report_id"], unique=False
        )
    op.drop_table("stats_snapshots")


def downgrade() -> None:
    op.create_table(
        "stats_snapshots",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "period", name=op.f("pk_stats_snapshots")),
    )
    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.drop_index("ix_report_urls_url_index_report")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_open_submitted")
    op.drop_table("stats_rollups")
