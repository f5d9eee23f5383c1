"""officer queue indexes

Revision ID: 0002_officer
Revises: 0001
Create Date: 2026-11-24 09:00:00.000000

The officer queue reads, per unit, the open reports by (priority_rank, submitted_at, id) and
pages with a keyset cursor on the same columns. Partial indexes on the open statuses give that
order straight from the index (no sort) whatever the size of the closed backlog; the national
variant serves national supervisors, whose queue is not filtered by unit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_officer"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN = "status IN ('received', 'in_review', 'awaiting_reporter', 'investigating')"


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reports_open_queue",
            ["unit_id", "priority_rank", "submitted_at", "id"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
        batch_op.create_index(
            "ix_reports_open_national",
            ["priority_rank", "submitted_at", "id"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
        # "Which reports duplicate this one?" without a scan.
        batch_op.create_index("ix_reports_duplicate_of_id", ["duplicate_of_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_duplicate_of_id")
        batch_op.drop_index("ix_reports_open_national")
        batch_op.drop_index("ix_reports_open_queue")
