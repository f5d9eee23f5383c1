"""``portal.db.fetch_all``: binary results on PostgreSQL, and no read that differs by database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.db import fetch_all
from portal.models import Report, StatsRollup
from portal.services import rollups
from tests.support.web import submit_and_get_receipt


def test_rollups_read_the_same_bytes_on_either_database(app, db, client):
    submit_and_get_receipt(client)
    rows = list(rollups.read(db, rollups.NATIONAL_SCOPE, ("t",), [(0, b) for b in range(30000)]))
    stored = db.scalars(select(StatsRollup).where(StatsRollup.scope == 0, StatsRollup.level == 0))
    by_key = {(r.block, r.dim, r.key, r.priority): r for r in stored if r.dim == "t"}
    assert rows and len(rows) == len(by_key)
    for row in rows:
        kept = by_key[(row.block, row.dim, row.key, row.priority)]
        assert row.received == kept.received
        assert isinstance(row.first_response, bytes | None)
        assert row.first_response == kept.first_response


def test_a_read_needing_type_processing_is_refused_on_postgresql(db):
    """The binary cursor skips SQLAlchemy's types: an aware datetime parameter or column would
    read one way on PostgreSQL and another on SQLite, so such a read is refused there."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the binary cursor is PostgreSQL's")
    connection = db.connection()
    with pytest.raises(TypeError):
        fetch_all(connection, select(Report.id).where(Report.submitted_at > datetime.now(UTC)))
    with pytest.raises(TypeError):
        fetch_all(connection, select(Report.submitted_at))
    assert fetch_all(connection, select(Report.id).where(Report.unit_id == 1)) == []
