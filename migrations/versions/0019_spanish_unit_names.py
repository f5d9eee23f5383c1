"""Spanish names of the police units

Revision ID: 0019_spanish_unit_names
Revises: 0018_day_wide_buckets
Create Date: 2026-12-05 15:00:00.000000

A unit's name is a title ("Préfecture de police de Tanger"), so unlike a place it has a Spanish
form of its own for every unit; without one a Spanish page showed the French title. The upgrade
fills ``name_es`` for the units already in the database, so that a deployment shows them
without waiting for ``portal init`` (whose reference data sync, from
``portal/data/units.json``, refreshes every name).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_spanish_unit_names"
down_revision = "0018_day_wide_buckets"
branch_labels = None
depends_on = None

# The names as this revision introduced them (later changes come through the reference data).
SPANISH = {
    "TANGER": "Prefectura de Policía de Tánger",
    "TETOUAN": "Prefectura de Policía de Tetuán",
    "AL-HOCEIMA": "Distrito Regional de Seguridad de Alhucemas",
    "OUJDA": "Prefectura de Policía de Oujda",
    "NADOR": "Distrito Regional de Seguridad de Nador",
    "FES": "Prefectura de Policía de Fez",
    "MEKNES": "Prefectura de Policía de Mequinez",
    "TAZA": "Distrito Regional de Seguridad de Taza",
    "RABAT": "Prefectura de Policía de Rabat",
    "SALE": "Distrito Regional de Seguridad de Salé",
    "KENITRA": "Prefectura de Policía de Kenitra",
    "BENI-MELLAL": "Prefectura de Policía de Beni Melal",
    "KHOURIBGA": "Distrito Regional de Seguridad de Khouribga",
    "CASABLANCA": "Prefectura de Policía de Casablanca",
    "EL-JADIDA": "Prefectura de Policía de El Jadida",
    "SETTAT": "Distrito Regional de Seguridad de Settat",
    "MARRAKECH": "Prefectura de Policía de Marrakech",
    "SAFI": "Prefectura de Policía de Safi",
    "ERRACHIDIA": "Distrito Regional de Seguridad de Errachidia",
    "OUARZAZATE": "Distrito Regional de Seguridad de Ouarzazate",
    "AGADIR": "Prefectura de Policía de Agadir",
    "TAROUDANT": "Distrito Regional de Seguridad de Taroudant",
    "GUELMIM": "Distrito Regional de Seguridad de Guelmim",
    "LAAYOUNE": "Prefectura de Policía de El Aaiún",
    "DAKHLA": "Distrito Regional de Seguridad de Dajla",
    "NATIONAL-CYBER": "Brigada Nacional de Lucha contra la Ciberdelincuencia",
    "NATIONAL-CHILD": "Unidad Nacional de Protección de la Infancia en Línea",
    "NATIONAL-CT": "Unidad Nacional de Lucha contra el Terrorismo y el Extremismo en Línea",
}


def upgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_es", sa.String(length=200), nullable=True))
    units = sa.table("units", sa.column("code", sa.String), sa.column("name_es", sa.String))
    for code, name in SPANISH.items():
        op.execute(units.update().where(units.c.code == code).values(name_es=name))


def downgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("name_es")
