"""``portal.db.alongside``: a read on a connection of its own while the request goes on."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from portal.db import alongside, limit_statements
from portal.models import Report
from tests.support.stats import NOW, add_report


def _backend(session) -> int:
    return session.scalar(select(func.pg_backend_pid()))


def _postgresql_only(db) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("reads run beside the request on PostgreSQL only")


def test_elsewhere_the_read_runs_first_on_the_same_session(db):
    if db.get_bind().dialect.name == "postgresql":
        pytest.skip("SQLite's way")
    seen = []
    with alongside(db, lambda side: seen.append(side) or 7) as result:
        assert seen == [db]
        assert result() == 7


def test_the_read_runs_on_another_connection_at_the_same_time(db):
    _postgresql_only(db)
    mine = _backend(db)
    with alongside(db, _backend) as result:
        # The request goes on meanwhile; its own connection is not the read's.
        assert _backend(db) == mine
        theirs = result()
    assert theirs != mine


def test_the_read_sees_what_is_committed(db):
    _postgresql_only(db)
    add_report(db, submitted=NOW)  # commits

    def count(side):
        return side.scalar(select(func.count()).select_from(Report))

    with alongside(db, count) as result:
        assert result() == 1


def test_the_read_runs_under_the_statement_timeout_of_the_request(db):
    _postgresql_only(db)
    limit_statements(db, 50)

    def slow(side):
        return side.execute(text("SELECT pg_sleep(2)")).scalar()

    with pytest.raises(OperationalError) as raised, alongside(db, slow) as result:
        result()
    assert raised.value.orig.sqlstate == "57014"  # cancelled by statement_timeout
    db.rollback()


def test_the_read_gives_back_its_connection_even_when_the_request_fails(db):
    _postgresql_only(db)
    pool = db.get_bind().pool
    db.connection()  # the request's own connection
    before = pool.checkedout()
    with pytest.raises(RuntimeError), alongside(db, _backend):
        raise RuntimeError("the request failed before reading the result")
    # Leaving the block waited for the read, which returned its connection.
    assert pool.checkedout() == before
