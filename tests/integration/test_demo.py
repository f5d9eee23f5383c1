"""The demo tells a story an officer can act on from the first minute."""

from __future__ import annotations

from sqlalchemy import select

from portal.models import Officer
from portal.services.demo import run_demo
from portal.services.queue import QueueFilters, load_queue
from portal.services.reports import find_by_receipt


def test_printed_receipt_is_the_casablanca_officers_first_case(app, db, keyring):
    hasher = app.extensions["receipt_hasher"]
    summary = run_demo(db, keyring, hasher, count=40)
    db.commit()
    officer = db.scalars(select(Officer).where(Officer.username == "casablanca")).one()
    page = load_queue(
        db,
        officer,
        QueueFilters(),
        after=None,
        first_response_hours=app.config["SLA_FIRST_RESPONSE_HOURS"],
        resolution_days=app.config["SLA_RESOLUTION_DAYS"],
        timezone=app.config["BABEL_DEFAULT_TIMEZONE"],
    )
    first = page.rows[0].report
    assert first.reference == summary.sample_reference
    assert first.priority == "urgent" and first.status == "received"
    found = find_by_receipt(db, summary.sample_receipt, hasher)
    assert found is not None and found.reference == summary.sample_reference
    # A morning's work: a full page, replies waiting to be read.
    assert len(page.rows) >= 30
    assert any(row.report.has_unread_reply for row in page.rows)
    assert any(row.cluster_size for row in page.rows)


def test_demo_requests_to_platforms_have_outcomes(app, db, keyring):
    from portal.models import TakedownItem, TakedownRequest

    run_demo(db, keyring, app.extensions["receipt_hasher"], count=120)
    db.commit()
    requests = db.scalars(select(TakedownRequest)).all()
    assert requests and all(request.sent_at is not None for request in requests)
    outcomes = {item.outcome for item in db.scalars(select(TakedownItem))}
    assert "removed" in outcomes
