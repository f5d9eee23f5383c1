"""The demo tells a story an officer can act on from the first minute."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pyotp
from sqlalchemy import select

from portal.models import (
    OPEN_STATUSES,
    Officer,
    Region,
    Report,
    TakedownItem,
    TakedownRequest,
    Unit,
    utcnow,
)
from portal.services.demo import DEMO_ACCOUNTS, run_demo
from portal.services.queue import QueueFilters, load_queue
from portal.services.reports import find_by_receipt
from tests.support.staff import post_code, post_password


def test_printed_receipt_is_the_casablanca_officers_first_case(app, db, keyring):
    hasher = app.extensions["receipt_hasher"]
    summary = run_demo(
        db,
        keyring,
        hasher,
        app.extensions["blind_indexer"],
        count=40,
        password_hasher=app.extensions["password_hasher"],
    )
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
    run_demo(
        db,
        keyring,
        app.extensions["receipt_hasher"],
        app.extensions["blind_indexer"],
        count=120,
        password_hasher=app.extensions["password_hasher"],
    )
    db.commit()
    requests = db.scalars(select(TakedownRequest)).all()
    assert requests and all(request.sent_at is not None for request in requests)
    outcomes = {item.outcome for item in db.scalars(select(TakedownItem))}
    assert "removed" in outcomes


def _demo(app, db, keyring, count: int = 40):
    summary = run_demo(
        db,
        keyring,
        app.extensions["receipt_hasher"],
        app.extensions["blind_indexer"],
        count=count,
        store=app.extensions["blob_store"],
        password_hasher=app.extensions["password_hasher"],
    )
    db.commit()
    return summary


def _sign_in_demo(app, username: str):
    account = next(a for a in DEMO_ACCOUNTS if a.username == username)
    client = app.test_client()
    assert post_password(client, username, account.password).status_code == 303
    assert post_code(client, pyotp.TOTP(account.totp_secret).now()).status_code == 303
    return client


def test_every_demo_account_signs_in_with_the_printed_secrets(app, db, keyring):
    _demo(app, db, keyring, count=10)
    homes = {"officer": "/officer/", "supervisor": "/supervisor/", "admin": "/admin/"}
    roles = {a.role for a in DEMO_ACCOUNTS}
    assert roles == {"officer", "supervisor", "admin"}
    units = {unit for a in DEMO_ACCOUNTS for unit in a.units}
    regions = {
        db.scalar(select(Unit).where(Unit.code == unit)).region.code
        for unit in units
        if not unit.startswith("NATIONAL")
    }
    assert len(units) >= 6 and len(regions) >= 5  # officers in several regions
    assert any(a.role == "supervisor" and a.region for a in DEMO_ACCOUNTS)
    for account in DEMO_ACCOUNTS:
        client = _sign_in_demo(app, account.username)
        assert client.get(homes[account.role]).status_code == 200, account.username


def test_regional_supervisor_sees_only_their_region(app, db, keyring):
    _demo(app, db, keyring)
    regional = next(a for a in DEMO_ACCOUNTS if a.role == "supervisor" and a.region)
    supervisor = db.scalars(select(Officer).where(Officer.username == regional.username)).one()
    assert supervisor.region.code == regional.region == "MA-06"
    # A supervisor's region is that of the units: the reports of Casablanca-Settat's units.
    by_unit_region = (
        select(Report)
        .join(Unit, Report.unit_id == Unit.id)
        .join(Region, Unit.region_id == Region.id)
    )
    inside = db.scalars(by_unit_region.where(Region.code == "MA-06")).first()
    outside = db.scalars(by_unit_region.where(Region.code == "MA-04")).first()
    assert inside is not None and outside is not None
    client = _sign_in_demo(app, regional.username)
    found = client.get(f"/officer/?status=all&reference={inside.reference}")
    assert f"/officer/reports/{inside.reference}" in found.get_data(as_text=True)
    hidden = client.get(f"/officer/?status=all&reference={outside.reference}")
    assert f"/officer/reports/{outside.reference}" not in hidden.get_data(as_text=True)
    assert client.get(f"/officer/reports/{outside.reference}").status_code == 404


def test_the_casablanca_officer_has_a_morning_of_about_forty_cases(app, db, keyring):
    _demo(app, db, keyring, count=200)
    officer = db.scalars(select(Officer).where(Officer.username == "casablanca")).one()
    open_cases = db.scalars(
        select(Report)
        .join(Unit, Report.unit_id == Unit.id)
        .where(Unit.code == "CASABLANCA", Report.status.in_(OPEN_STATUSES))
    ).all()
    assert 35 <= len(open_cases) <= 60
    assert {"urgent", "high", "normal"} <= {r.priority for r in open_cases}
    assert {"received", "in_review", "investigating", "awaiting_reporter"} <= {
        r.status for r in open_cases
    }
    mine = [r for r in open_cases if r.assigned_officer_id == officer.id]
    assert len(mine) >= 5  # "my cases"
    ages = sorted(utcnow() - r.submitted_at for r in open_cases)
    assert ages[0] < timedelta(hours=6) and ages[-1] > timedelta(days=3)
    # Screenshots to preview: real PNG images, stored encrypted.
    with_images = [r for r in open_cases if any(e.sniffed_type == "image/png" for e in r.evidence)]
    assert len(with_images) >= 5
    store = app.extensions["blob_store"]
    evidence = with_images[0].evidence[0]
    assert b"\x89PNG" not in b"".join(store.read(evidence.blob_key))[:64]
    # The same phishing page reported several times.
    urls = Counter(url.url_index for r in open_cases for url in r.urls)
    assert max(urls.values()) >= 3
    # The officer can open one with screenshots.
    client = _sign_in_demo(app, "casablanca")
    assert client.get(f"/officer/reports/{with_images[0].reference}").status_code == 200
