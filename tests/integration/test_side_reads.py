"""``portal.db.alongside``: a statement read on a connection of its own while the request goes
on, and ``portal.db.fetch_all``'s errors, as SQLAlchemy's own statements raise them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from portal.db import alongside, fetch_all, limit_statements
from portal.models import Report
from portal.web.supervisor import guard
from tests.support.stats import NOW, add_report

BACKEND = select(func.pg_backend_pid())
SLOW = select(func.pg_sleep(2))


def _postgresql_only(db) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("statements run beside the request on PostgreSQL only")


def test_elsewhere_the_statement_is_read_first_on_the_same_session(db):
    if db.get_bind().dialect.name == "postgresql":
        pytest.skip("SQLite's way")
    add_report(db, submitted=NOW)
    count = select(func.count()).select_from(Report)
    with alongside(db, count) as rows:
        assert [tuple(row) for row in rows()] == [(1,)]


def test_the_statement_runs_on_another_connection_at_the_same_time(db):
    _postgresql_only(db)
    mine = db.scalar(BACKEND)
    with alongside(db, BACKEND) as rows:
        # The request goes on meanwhile, on its own connection.
        assert db.scalar(BACKEND) == mine
        ((theirs,),) = rows()
    assert theirs != mine


def test_the_statement_sees_what_is_committed(db):
    _postgresql_only(db)
    add_report(db, submitted=NOW)  # commits
    with alongside(db, select(func.count()).select_from(Report)) as rows:
        assert [tuple(row) for row in rows()] == [(1,)]


def test_the_statement_runs_under_the_statement_timeout_of_the_request(db):
    _postgresql_only(db)
    limit_statements(db, 50)
    with pytest.raises(OperationalError) as raised, alongside(db, SLOW) as rows:
        rows()
    assert raised.value.orig.sqlstate == "57014"  # cancelled by statement_timeout
    db.rollback()


@pytest.mark.parametrize("read", ["fetch_all", "alongside"])
def test_a_dashboard_read_over_the_time_allowed_answers_busy(app, db, read):
    """The dashboards' reads through the driver's cursor are cancelled like any other: the
    supervisor is told to retry, never shown an error page."""
    _postgresql_only(db)
    config = {**app.config, "STATS_STATEMENT_TIMEOUT_MS": 50}
    with pytest.raises(guard.Busy), guard.dashboard_slot(db, config):
        if read == "fetch_all":
            fetch_all(db.connection(), SLOW)
        else:
            with alongside(db, SLOW) as rows:
                rows()


def test_the_connection_is_given_back_even_when_the_request_fails(db):
    _postgresql_only(db)
    pool = db.get_bind().pool
    db.connection()  # the request's own connection
    before = pool.checkedout()
    with pytest.raises(RuntimeError), alongside(db, BACKEND):
        raise RuntimeError("the request failed before reading the rows")
    # Leaving the block waited for the read and gave its connection back.
    assert pool.checkedout() == before
