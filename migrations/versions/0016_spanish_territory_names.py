"""Spanish names of regions and prefectures/provinces where Spanish usage differs

Revision ID: 0016_spanish_territory_names
Revises: 0015_trace_counts
Create Date: 2026-12-06 10:00:00.000000

Spanish has names of its own for many Moroccan places (Tánger, Fez, Mequinez, Alhucemas...) and
writes the others as French does. ``name_es`` holds the former and stays empty for the latter,
where the French name is shown. ``portal init`` fills it from ``portal/data/territories.json``
(the reference data sync refreshes every name).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_spanish_territory_names"
down_revision = "0015_trace_counts"
branch_labels = None
depends_on = None

TABLES = ("regions", "subdivisions")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("name_es", sa.String(length=200), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("name_es")
