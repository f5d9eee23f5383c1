"""Migrations are the only source of the schema: head must equal the models, and every
revision must upgrade and downgrade cleanly, with data in the tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, text

from portal.models import Base, Report, ReportURL, Unit
from portal.services import schema
from tests.support.migration_engines import empty_database


@pytest.fixture
def empty_engine(tmp_path) -> Iterator[Engine]:
    with empty_database("migrations_test", tmp_path) as engine:
        yield engine


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(schema.alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_single_head():
    script = ScriptDirectory.from_config(schema.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_to_head_matches_models(empty_engine):
    schema.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_every_revision_upgrades_and_downgrades(empty_engine):
    for revision in revisions():
        schema.upgrade(empty_engine, revision)
        assert schema.current_revision(empty_engine) == revision
    schema.downgrade(empty_engine, "base")
    tables = set(inspect(empty_engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    schema.upgrade(empty_engine)


def test_downgrade_with_data_then_upgrade_again(empty_engine):
    schema.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO regions (id, code, name_ar, name_fr, name_en) "
                "VALUES (1, 'MA-01', 'x', 'x', 'x')"
            )
        )
    steps = revisions()
    for revision in reversed(steps[1:]):
        previous = steps[steps.index(revision) - 1]
        schema.downgrade(empty_engine, previous)
        schema.upgrade(empty_engine, revision)
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT code FROM regions")).scalar_one() == "MA-01"


def test_upgrade_counts_the_clusters_of_stored_reports(empty_engine):
    """0015 fills the URL cluster counters from the reports already stored."""
    schema.upgrade(empty_engine, "0014_report_break_glass")
    with empty_engine.begin() as connection:
        for unit_id in (1, 2):
            connection.execute(
                insert(Unit.__table__).values(
                    id=unit_id, code=f"U{unit_id}", name_ar="x", name_fr="x", name_en="x"
                )
            )
        # Three reports name "a" (two in unit 1, one of them twice), one names "b".
        for report_id, unit_id, keys in ((1, 1, "aa"), (2, 1, "ab"), (3, 2, "a")):
            connection.execute(
                insert(Report.__table__).values(
                    id=report_id,
                    reference=f"EB-M{report_id}",
                    receipt_hash=bytes([report_id]) * 32,
                    category="fraud",
                    platform="website",
                    description_enc=b"x",
                    routing_reason="territory",
                    unit_id=unit_id,
                )
            )
            for position, key in enumerate(keys):
                connection.execute(
                    insert(ReportURL.__table__).values(
                        report_id=report_id,
                        position=position,
                        original_enc=b"x",
                        normalized_enc=b"x",
                        host_enc=b"x",
                        url_index=key,
                        host_index="h",
                    )
                )
    schema.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        rows = connection.execute(
            text("SELECT url_index, unit_id, reports FROM trace_counts ORDER BY 1, 2")
        ).all()
    assert [tuple(row) for row in rows] == [("a", 1, 2), ("a", 2, 1), ("b", 1, 1)]
