"""Migration 0016 on a database that already holds the territories: the Spanish names are there
after ``portal db upgrade`` alone, before any reference data sync; places Spanish writes as
French does stay empty (the French name is shown)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from portal.db import make_engine
from portal.services import schema

BEFORE = "0015_trace_counts"


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if url:
        engine = make_engine(url, connect_args={"options": "-csearch_path=spanish_names_test"})
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS spanish_names_test CASCADE"))
            connection.execute(text("CREATE SCHEMA spanish_names_test"))
        yield engine
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS spanish_names_test CASCADE"))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'spanish.sqlite3'}")
        yield engine
    engine.dispose()


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
