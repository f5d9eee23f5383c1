"""takedown and preservation requests, cross-border referrals

Revision ID: 0010_takedowns
Revises: 0007
Create Date: 2026-12-04 14:20:00.000000

Officers ask platforms to remove or preserve reported URLs and track each URL's outcome; URLs
hosted abroad are referred to the country that can act as STIX 2.1 bundles. Rows belong to a
report and go with it when retention deletes the report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_takedowns"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "takedown_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("legal_basis", sa.String(length=40), nullable=False),
        sa.Column("explanation_enc", sa.LargeBinary(), nullable=False),
        sa.Column("preservation_days", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_takedown_requests_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_takedown_requests_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_takedown_requests_officer_id_officers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takedown_requests")),
    )
    with op.batch_alter_table("takedown_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_takedown_requests_report_id"), ["report_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_takedown_requests_platform"), ["platform"], unique=False
        )

    op.create_table(
        "takedown_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("report_url_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_at", sa.DateTime(), nullable=True),
        sa.Column("last_check_at", sa.DateTime(), nullable=True),
        sa.Column("last_check_status", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["takedown_requests.id"],
            name=op.f("fk_takedown_items_request_id_takedown_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_url_id"],
            ["report_urls.id"],
            name=op.f("fk_takedown_items_report_url_id_report_urls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takedown_items")),
    )
    with op.batch_alter_table("takedown_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_takedown_items_request_id"), ["request_id"])
        batch_op.create_index(batch_op.f("ix_takedown_items_report_url_id"), ["report_url_id"])

    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("destination", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("url_count", sa.Integer(), nullable=False),
        sa.Column("hash_count", sa.Integer(), nullable=False),
        sa.Column("bundle_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_referrals_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_referrals_unit_id_units")),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_referrals_officer_id_officers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referrals_report_id"), ["report_id"], unique=False)


def downgrade() -> None:
    op.drop_table("referrals")
    op.drop_table("takedown_items")
    op.drop_table("takedown_requests")
