"""Migration 0016 on a database that already holds the territories: the Spanish names are there
after ``portal db upgrade`` alone, before any reference data sync; places Spanish writes as
French does stay empty (the French name is shown)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from portal.services import schema
from tests.support.migration_engines import empty_database

BEFORE = "0015_trace_counts"


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
