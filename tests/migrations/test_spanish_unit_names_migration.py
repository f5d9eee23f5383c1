"""Migration 0019 on a database that already holds the units: their Spanish titles are there
after ``portal db upgrade`` alone, before any reference data sync; a unit the revision does not
know keeps none (its French title is shown)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from portal.services import schema
from tests.support.migration_engines import empty_database

BEFORE = "0018_day_wide_buckets"


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    with empty_database("spanish_unit_names_test", tmp_path) as engine:
        yield engine


def test_upgrade_titles_the_existing_units_in_spanish(engine: Engine) -> None:
    schema.upgrade(engine, BEFORE)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO units (id, code, name_ar, name_fr, name_en, national, active)"
                " VALUES (1, 'TANGER', 'ولاية أمن طنجة', 'Préfecture de police de Tanger',"
                " 'Tangier Prefecture of Police', false, true),"
                " (2, 'LOCAL-TEST', 'وحدة', 'Unité locale', 'Local unit', false, true)"
            )
        )

    schema.upgrade(engine)

    with engine.connect() as connection:
        names = dict(connection.execute(text("SELECT code, name_es FROM units")).all())
    assert names == {"TANGER": "Prefectura de Policía de Tánger", "LOCAL-TEST": None}

    schema.downgrade(engine, BEFORE)
    with engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM units")).keys()
    assert "name_es" not in columns
