"""queue index for a category filter

Revision ID: 0004_queue_category
Revises: 0003_stats
Create Date: 2026-11-23 19:10:00.000000

Officers often narrow their queue to one category ("every sextortion case"). With the category
in the partial index, such a page is read in queue order straight from the index instead of
walking the whole open queue of the unit and discarding the other categories.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_queue_category"
down_revision = "0003_stats"
branch_labels = None
depends_on = None

OPEN = "status IN ('received', 'in_review', 'awaiting_reporter', 'investigating')"


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reports_open_queue_category",
            ["unit_id", "category", "priority_rank", "submitted_at", "id"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_open_queue_category")
