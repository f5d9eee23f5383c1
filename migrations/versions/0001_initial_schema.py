"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:56:35.401470
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_events_prev_hash")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_subject"), ["subject"], unique=False)

    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("name_fr", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    op.create_table(
        "used_pow_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_used_pow_tokens")),
    )
    with op.batch_alter_table("used_pow_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_used_pow_tokens_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "officers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enrolled_at", sa.DateTime(), nullable=True),
        sa.Column("totp_last_counter", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_officers_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officers")),
        sa.UniqueConstraint("username", name=op.f("uq_officers_username")),
    )
    op.create_table(
        "subdivisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("name_fr", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_subdivisions_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subdivisions")),
        sa.UniqueConstraint("code", name=op.f("uq_subdivisions_code")),
    )
    with op.batch_alter_table("subdivisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subdivisions_region_id"), ["region_id"], unique=False)

    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_ar", sa.String(length=200), nullable=False),
        sa.Column("name_fr", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("national", sa.Boolean(), nullable=False),
        sa.Column("specialty", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_units_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_units_region_id"), ["region_id"], unique=False)

    op.create_table(
        "officer_units",
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_officer_units_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_officer_units_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("officer_id", "unit_id", name=op.f("pk_officer_units")),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("receipt_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("seen_on", sa.Date(), nullable=True),
        sa.Column("description_enc", sa.LargeBinary(), nullable=False),
        sa.Column("answers_enc", sa.LargeBinary(), nullable=True),
        sa.Column("minor_involved", sa.Boolean(), nullable=False),
        sa.Column("threat_to_life", sa.Boolean(), nullable=False),
        sa.Column("contact_enc", sa.LargeBinary(), nullable=True),
        sa.Column("subdivision_id", sa.Integer(), nullable=True),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("abroad", sa.Boolean(), nullable=False),
        sa.Column("handle_outside_local", sa.Boolean(), nullable=False),
        sa.Column("routing_reason", sa.String(length=32), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("assigned_officer_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("closure_reason", sa.String(length=40), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("first_response_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_reporter_activity_at", sa.DateTime(), nullable=True),
        sa.Column("officer_seen_reporter_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_officer_id"],
            ["officers.id"],
            name=op.f("fk_reports_assigned_officer_id_officers"),
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["reports.id"], name=op.f("fk_reports_duplicate_of_id_reports")
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_reports_region_id_regions")
        ),
        sa.ForeignKeyConstraint(
            ["subdivision_id"],
            ["subdivisions.id"],
            name=op.f("fk_reports_subdivision_id_subdivisions"),
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_reports_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("receipt_hash", name=op.f("uq_reports_receipt_hash")),
        sa.UniqueConstraint("reference", name=op.f("uq_reports_reference")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reports_assigned_officer_id"), ["assigned_officer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reports_category"), ["category"], unique=False)
        batch_op.create_index(
            "ix_reports_queue",
            ["unit_id", "status", "priority_rank", "submitted_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_reports_region_submitted", ["region_id", "submitted_at"], unique=False
        )
        batch_op.create_index(
            "ix_reports_unit_submitted", ["unit_id", "submitted_at"], unique=False
        )

    op.create_table(
        "routing_rules",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_routing_rules_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_routing_rules")),
    )
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rules_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_staff_sessions_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_staff_sessions")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_sessions_officer_id"), ["officer_id"], unique=False
        )

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sniffed_type", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("filename_enc", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_evidence_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
        sa.UniqueConstraint("blob_key", name=op.f("uq_evidence_blob_key")),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_report_id"), ["report_id"], unique=False)

    op.create_table(
        "followup_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_followup_sessions_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_followup_sessions")),
    )
    with op.batch_alter_table("followup_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_followup_sessions_report_id"), ["report_id"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_messages_officer_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_messages_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_report_id"), ["report_id"], unique=False)

    op.create_table(
        "receipt_handoffs",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("receipt_enc", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_receipt_handoffs_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_receipt_handoffs")),
    )
    with op.batch_alter_table("receipt_handoffs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receipt_handoffs_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("visible_to_reporter", sa.Boolean(), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_report_events_officer_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_events_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_events")),
    )
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_events_report_id"), ["report_id"], unique=False)

    op.create_table(
        "report_urls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_urls_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_urls")),
    )
    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_urls_digest"), ["digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_urls_host"), ["host"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_urls_report_id"), ["report_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_urls_report_id"))
        batch_op.drop_index(batch_op.f("ix_report_urls_host"))
        batch_op.drop_index(batch_op.f("ix_report_urls_digest"))

    op.drop_table("report_urls")
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_events_report_id"))

    op.drop_table("report_events")
    with op.batch_alter_table("receipt_handoffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_handoffs_expires_at"))

    op.drop_table("receipt_handoffs")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_report_id"))

    op.drop_table("messages")
    with op.batch_alter_table("followup_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followup_sessions_report_id"))

    op.drop_table("followup_sessions")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_report_id"))

    op.drop_table("evidence")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_officer_id"))

    op.drop_table("staff_sessions")
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_rules_unit_id"))

    op.drop_table("routing_rules")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_unit_submitted")
        batch_op.drop_index("ix_reports_region_submitted")
        batch_op.drop_index("ix_reports_queue")
        batch_op.drop_index(batch_op.f("ix_reports_category"))
        batch_op.drop_index(batch_op.f("ix_reports_assigned_officer_id"))

    op.drop_table("reports")
    op.drop_table("officer_units")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_region_id"))

    op.drop_table("units")
    with op.batch_alter_table("subdivisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subdivisions_region_id"))

    op.drop_table("subdivisions")
    op.drop_table("officers")
    with op.batch_alter_table("used_pow_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_pow_tokens_expires_at"))

    op.drop_table("used_pow_tokens")
    op.drop_table("regions")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_subject"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
