"""URL cluster counters: reports per (URL blind index, unit), kept by the write path

Revision ID: 0015_trace_counts
Revises: 0014_report_break_glass
Create Date: 2026-12-05 10:00:00.000000

The case page and the officer queue say how many other reports name the same URL, per unit.
Counted over the rows, that costs what the cluster holds (a phishing link can be shared by
tens of thousands of reports); ``trace_counts`` keeps the number per (URL, unit), so the
figure is a few index lookups whatever the cluster's size. The counters of the reports already
stored are computed here (``portal stats rebuild`` computes them again at any time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_trace_counts"
down_revision = "0014_report_break_glass"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_counts",
        sa.Column("url_index", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_trace_counts_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("url_index", "unit_id", name=op.f("pk_trace_counts")),
    )
    # A report counts once per distinct URL, in the unit that holds it now.
    op.execute(
        "INSERT INTO trace_counts (url_index, unit_id, reports)"
        " SELECT u.url_index, r.unit_id, count(DISTINCT r.id)"
        " FROM report_urls u JOIN reports r ON r.id = u.report_id"
        " GROUP BY u.url_index, r.unit_id"
    )


def downgrade() -> None:
    op.drop_table("trace_counts")
