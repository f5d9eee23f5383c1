"""campaigns: traces, image hashes and campaign membership

Revision ID: 0008_campaigns
Revises: 0006
Create Date: 2026-12-04 14:30:00.000000

Reports are linked by the traces an offender leaves (blind indexes of phone numbers, accounts,
payment identifiers and URLs; groups of near-identical images); each connected group of reports
is a campaign.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_campaigns"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["campaigns.id"], name=op.f("fk_campaigns_merged_into_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_report_count"), "campaigns", ["report_count"])
    op.create_index(op.f("ix_campaigns_merged_into_id"), "campaigns", ["merged_into_id"])
    op.create_table(
        "campaign_members",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_members_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_campaign_members_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_campaign_members")),
    )
    op.create_index(
        "ix_campaign_members_campaign_joined", "campaign_members", ["campaign_id", "joined_at"]
    )
    op.create_table(
        "traces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("value_enc", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_traces_officer_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_traces_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traces")),
    )
    op.create_index("ix_traces_kind_key", "traces", ["kind", "key"])
    op.create_index(
        "uq_traces_report_kind_key", "traces", ["report_id", "kind", "key"], unique=True
    )
    op.create_table(
        "image_hashes",
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("pdq_enc", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name=op.f("fk_image_hashes_evidence_id_evidence"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_image_hashes_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("evidence_id", name=op.f("pk_image_hashes")),
    )
    op.create_index(op.f("ix_image_hashes_report_id"), "image_hashes", ["report_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_image_hashes_report_id"), table_name="image_hashes")
    op.drop_table("image_hashes")
    op.drop_index("uq_traces_report_kind_key", table_name="traces")
    op.drop_index("ix_traces_kind_key", table_name="traces")
    op.drop_table("traces")
    op.drop_index("ix_campaign_members_campaign_joined", table_name="campaign_members")
    op.drop_table("campaign_members")
    op.drop_index(op.f("ix_campaigns_merged_into_id"), table_name="campaigns")
    op.drop_index(op.f("ix_campaigns_report_count"), table_name="campaigns")
    op.drop_table("campaigns")
