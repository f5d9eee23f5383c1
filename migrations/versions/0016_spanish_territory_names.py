"""Spanish names of regions and prefectures/provinces where Spanish usage differs

Revision ID: 0016_spanish_territory_names
Revises: 0015_trace_counts
Create Date: 2026-12-05 01:00:00.000000

Spanish has names of its own for many Moroccan places (Tánger, Fez, Mequinez, Alhucemas...) and
writes the others as French does. ``name_es`` holds the former and stays empty for the latter,
where the French name is shown. The upgrade fills it for the places already in the database, so
that a deployment shows the Spanish names without waiting for ``portal init`` (whose reference
data sync, from ``portal/data/territories.json``, refreshes every name).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_spanish_territory_names"
down_revision = "0015_trace_counts"
branch_labels = None
depends_on = None

TABLES = ("regions", "subdivisions")
# The names as this revision introduced them (later changes come through the reference data).
SPANISH = {
    "regions": {
        "MA-01": "Tánger-Tetuán-Alhucemas",
        "MA-02": "Oriental",
        "MA-03": "Fez-Mequinez",
        "MA-04": "Rabat-Salé-Kenitra",
        "MA-05": "Beni Melal-Jenifra",
        "MA-08": "Draa-Tafilalet",
        "MA-09": "Sus-Masa",
        "MA-11": "El Aaiún-Saguía el Hamra",
        "MA-12": "Dajla-Río de Oro",
    },
    "subdivisions": {
        "MA-TNG": "Tánger-Arcila",
        "MA-TET": "Tetuán",
        "MA-HOC": "Alhucemas",
        "MA-CHE": "Chauen",
        "MA-FES": "Fez",
        "MA-MEK": "Mequinez",
        "MA-TAO": "Taunat",
        "MA-KEN": "Kenitra",
        "MA-BEM": "Beni Melal",
        "MA-KHN": "Jenifra",
        "MA-LAA": "El Aaiún",
    },
}


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("name_es", sa.String(length=200), nullable=True))
    for table, names in SPANISH.items():
        rows = sa.table(table, sa.column("code", sa.String), sa.column("name_es", sa.String))
        for code, name in names.items():
            op.execute(rows.update().where(rows.c.code == code).values(name_es=name))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("name_es")
