"""reporter language, opt-in notice address, pending uploads

Revision ID: 0006
Revises: 0005_keyed_audit_private_urls
Create Date: 2026-12-04 14:30:00.000000

The language a report was written in (officers answer in it), an encrypted opt-in address for a
content-free notice, and the evidence files held for a report form sent back for correction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005_keyed_audit_private_urls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("notify_email_enc", sa.LargeBinary(), nullable=True))
    op.create_table(
        "pending_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("blob_key", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sniffed_type", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("filename_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_uploads")),
        sa.UniqueConstraint("blob_key", name=op.f("uq_pending_uploads_blob_key")),
    )
    with op.batch_alter_table("pending_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_uploads_token_hash"), ["token_hash"])
        batch_op.create_index(batch_op.f("ix_pending_uploads_expires_at"), ["expires_at"])


def downgrade() -> None:
    op.drop_table("pending_uploads")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("notify_email_enc")
        batch_op.drop_column("language")
