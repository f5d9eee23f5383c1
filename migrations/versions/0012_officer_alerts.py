"""content-free alerts to on-duty officers

Revision ID: 0012_officer_alerts
Revises: 0011_takedown_rollups
Create Date: 2026-12-04 17:00:00.000000

Each staff member's alert settings (on duty, a work address, the language, which kinds), and the
marks that keep a deadline warning or a unit's daily digest from being sent twice. The deadline
scan reads the partial index of open reports that exists already (``ix_reports_open_national``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_officer_alerts"
down_revision = "0011_takedown_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "officer_alert_settings",
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("reply", sa.Boolean(), nullable=False),
        sa.Column("sla", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_officer_alert_settings_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("officer_id", name=op.f("pk_officer_alert_settings")),
    )
    op.create_table(
        "alert_sla_marks",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_alert_sla_marks_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_alert_sla_marks")),
    )
    op.create_table(
        "alert_digest_marks",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_alert_digest_marks_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("unit_id", "day", name=op.f("pk_alert_digest_marks")),
    )


def downgrade() -> None:
    op.drop_table("alert_digest_marks")
    op.drop_table("alert_sla_marks")
    op.drop_table("officer_alert_settings")
