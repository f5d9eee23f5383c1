"""Dashboards take a bounded share of the database: a full house answers "busy, retry" at once,
and a statement over the time allowed is cancelled by the database."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select, text

from portal.web.supervisor import guard
from tests.support.staff import make_officer, sign_in

ON_POSTGRES = bool(os.environ.get("PORTAL_TEST_DATABASE_URL"))


def hold_every_slot(app, db):
    """Take every dashboard slot as other requests would; returns how to give them back."""
    limit = int(app.config["STATS_MAX_CONCURRENT"])
    if db.get_bind().dialect.name == "postgresql":
        other = db.get_bind().connect()
        for slot in range(limit):
            other.execute(select(func.pg_advisory_lock(guard._LOCK_CLASS, slot)))
        return other.close
    semaphore = guard._local(limit)
    for _ in range(limit):
        assert semaphore.acquire(blocking=False)

    def release() -> None:
        for _ in range(limit):
            semaphore.release()

    return release


def test_a_supervisor_finding_every_slot_taken_is_told_to_retry(app, client, db):
    _, secret = make_officer(app, db, "chief", role="supervisor", units=())
    sign_in(client, "chief", secret)
    client.set_cookie("lang", "en")
    release = hold_every_slot(app, db)
    try:
        page = client.get("/supervisor/?period=30d")
        csv = client.get("/supervisor/response-times.csv?period=30d")
    finally:
        release()
    assert page.status_code == 503 and csv.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "Statistics are busy" in page.get_data(as_text=True)
    assert client.get("/supervisor/?period=30d").status_code == 200  # slots free again


@pytest.mark.skipif(not ON_POSTGRES, reason="statement_timeout is PostgreSQL's")
def test_a_statement_over_the_time_allowed_is_cancelled(app, db):
    config = {**app.config, "STATS_STATEMENT_TIMEOUT_MS": 50}
    with pytest.raises(guard.Busy), guard.dashboard_slot(db, config):
        db.execute(text("SELECT pg_sleep(1)"))
    # The slot and the timeout end with the transaction: the next one is unrestricted.
    assert db.execute(text("SHOW statement_timeout")).scalar() == "0"


@pytest.mark.skipif(not ON_POSTGRES, reason="statement_timeout is PostgreSQL's")
def test_a_staff_page_runs_under_the_staff_statement_timeout(app, client, db):
    """Any staff page's statements are cancelled past STAFF_STATEMENT_TIMEOUT_MS: a page that
    would hold the database for a second fails fast instead; other pages are untouched."""
    from sqlalchemy.exc import OperationalError

    from portal.db import get_session
    from portal.web.staff.auth import staff_required

    app.config["STAFF_STATEMENT_TIMEOUT_MS"] = 200

    @staff_required("officer")
    def slow_page(staff):
        get_session().execute(text("SELECT pg_sleep(2)"))
        return "done"

    app.add_url_rule("/officer/slow-for-test", view_func=slow_page)
    _, secret = make_officer(app, db, "slowpoke", role="officer", units=("CASABLANCA",))
    sign_in(client, "slowpoke", secret)
    with pytest.raises(OperationalError, match="statement timeout"):
        client.get("/officer/slow-for-test")
    assert client.get("/officer/").status_code == 200
