"""break-glass grants: a supervisor's time-limited, reasoned access to one report's content

Revision ID: 0014_report_break_glass
Revises: 0013_queue_sorts
Create Date: 2026-12-04 17:00:00.000000

Supervisors read figures and case metadata; the content of a report (description, answers,
addresses, identifiers, messages, evidence) opens to one of them only through a grant that
names a reason and expires. The grant lives here, not in a cookie, so that it can be checked,
listed and ended on the server.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_report_break_glass"
down_revision = "0013_queue_sorts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "break_glass_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_break_glass_grants_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_break_glass_grants_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grants")),
    )
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_break_glass_grants_officer_report", ["officer_id", "report_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_break_glass_grants_report_id"), ["report_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("break_glass_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_break_glass_grants_report_id"))
        batch_op.drop_index("ix_break_glass_grants_officer_report")
    op.drop_table("break_glass_grants")
