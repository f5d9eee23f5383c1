"""takedown rollups for supervisors and the public transparency page

Revision ID: 0011_takedown_rollups
Revises: 0007
Create Date: 2026-12-04 15:00:00.000000

Counts of URLs sent to platforms, removed and refused, with the distribution of times to
removal, per block of days, platform and category: figures over any period read a few dozen
rows whatever the number of requests.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_takedown_rollups"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "takedown_rollups",
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("block", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("removal", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint(
            "scope", "level", "block", "platform", "category", name=op.f("pk_takedown_rollups")
        ),
    )


def downgrade() -> None:
    op.drop_table("takedown_rollups")
