"""Open reports still waiting for a first response, by submission time

Revision ID: 0017_waiting_index
Revises: 0016_spanish_territory_names
Create Date: 2026-12-05 02:10:00.000000

The dashboards read every waiting report (their ages enter the medians "so far"). Through the
index of open reports that meant reading every open report and keeping the unanswered ones: at
10 million reports, 100,000 open entries for 7,000 waiting. This index holds only the waiting
ones, with the columns the dashboards group them by.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_waiting_index"
down_revision = "0016_spanish_territory_names"
branch_labels = None
depends_on = None

WAITING = (
    "status IN ('received', 'in_review', 'awaiting_reporter', 'investigating')"
    " AND first_response_at IS NULL"
)


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reports_waiting_submitted",
            ["submitted_at"],
            unique=False,
            sqlite_where=sa.text(WAITING),
            postgresql_where=sa.text(WAITING),
            postgresql_include=["region_id", "unit_id", "category", "priority"],
        )


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_waiting_submitted")
