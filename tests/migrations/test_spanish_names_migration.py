"""Migrations 0016 and 0019 on a database that already holds the territories and units: the
Spanish names are there after ``portal db upgrade`` alone, before any reference data sync;
places Spanish writes as French does, and units a revision does not know, stay empty (the French
name is shown)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from portal.services import schema
from tests.support.migration_engines import empty_database

BEFORE = "0015_trace_counts"
BEFORE_UNITS = "0018_day_wide_buckets"


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    with empty_database("spanish_names_test", tmp_path) as engine:
        yield engine


def test_upgrade_names_the_existing_places_in_spanish(engine: Engine) -> None:
    schema.upgrade(engine, BEFORE)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO regions (id, code, name_ar, name_fr, name_en) VALUES"
                " (1, 'MA-01', 'طنجة - تطوان - الحسيمة', 'Tanger-Tétouan-Al Hoceïma',"
                " 'Tangier-Tetouan-Al Hoceima'),"
                " (7, 'MA-07', 'مراكش - آسفي', 'Marrakech-Safi', 'Marrakesh-Safi')"
            )
        )

    schema.upgrade(engine)

    with engine.connect() as connection:
        names = dict(connection.execute(text("SELECT code, name_es FROM regions")).all())
    assert names == {"MA-01": "Tánger-Tetuán-Alhucemas", "MA-07": None}


def test_upgrade_titles_the_existing_units_in_spanish(engine: Engine) -> None:
    schema.upgrade(engine, BEFORE_UNITS)
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

    schema.downgrade(engine, BEFORE_UNITS)
    with engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM units")).keys()
    assert "name_es" not in columns
