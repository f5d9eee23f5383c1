"""queue indexes for the age, last-activity and "my cases" views

Revision ID: 0013_queue_sorts
Revises: 0012_officer_alerts
Create Date: 2026-12-04 17:30:00.000000

The queue sorts by urgency (0002_officer), by age (oldest first) and by last activity (most
recent first), and shows an officer's own cases. Each of those first pages is read in order
straight from an index, a unit's (or an officer's) open cases only, so its cost does not grow
with the number of reports.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_queue_sorts"
down_revision = "0012_officer_alerts"
branch_labels = None
depends_on = None

OPEN = "status IN ('received', 'in_review', 'awaiting_reporter', 'investigating')"

PARTIAL = {
    "ix_reports_open_queue_age": ["unit_id", "submitted_at", "id"],
    "ix_reports_open_queue_activity": ["unit_id", "updated_at", "id"],
    "ix_reports_open_activity_national": ["updated_at", "id"],
    "ix_reports_open_assigned": ["assigned_officer_id", "priority_rank", "submitted_at", "id"],
}
FULL = {"ix_reports_unit_updated": ["unit_id", "updated_at", "id"]}


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        for name, columns in PARTIAL.items():
            batch_op.create_index(
                name,
                columns,
                unique=False,
                sqlite_where=sa.text(OPEN),
                postgresql_where=sa.text(OPEN),
            )
        for name, columns in FULL.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        for name in (*FULL, *PARTIAL):
            batch_op.drop_index(name)
