"""Admin pages: accounts, membership, deactivation, session revocation, routing table."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Officer, Report, RoutingRule, Unit
from tests.support.staff import PASSWORD, make_officer, post_password, sign_in
from tests.support.web import csrf_token, submit_and_get_receipt


@pytest.fixture
def admin(app, db):
    _, secret = make_officer(app, db, "root", units=(), role="admin")
    client = app.test_client()
    sign_in(client, "root", secret)
    return client


def _unit_id(db, code: str) -> int:
    return db.scalar(select(Unit.id).where(Unit.code == code))


def test_admin_creates_an_account_that_must_enrol(app, admin, db):
    token = csrf_token(admin, "/admin/")
    response = admin.post(
        "/admin/",
        data={
            "csrf_token": token,
            "username": "salma",
            "display_name": "Salma Fassi",
            "password": PASSWORD,
            "role": "officer",
            "units": [str(_unit_id(db, "FES"))],
            "region": "",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    officer = db.scalar(select(Officer).where(Officer.username == "salma"))
    assert [u.code for u in officer.units] == ["FES"] and officer.totp_enrolled_at is None
    fresh = app.test_client()
    assert post_password(fresh, "salma").headers["Location"].endswith("/officer/enrol")


def test_changing_units_moves_the_scope_and_closes_sessions(app, admin, client, db):
    reference, _ = submit_and_get_receipt(client, territory="MA-RAB")
    officer, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    assert staff.get(f"/officer/reports/{reference}").status_code == 404
    path = f"/admin/accounts/{officer.id}"
    response = admin.post(
        path,
        data={
            "csrf_token": csrf_token(admin, path),
            "role": "officer",
            "units": [str(_unit_id(db, "RABAT"))],
            "region": "",
        },
    )
    assert response.status_code == 303
    # Signed out by the change; after signing in again the new unit's report is there.
    assert staff.get("/officer/").status_code == 303
    sign_in(staff, "amina", secret, steps_ahead=1)
    assert staff.get(f"/officer/reports/{reference}").status_code == 200


def test_revoke_sessions_and_deactivate(app, admin, db):
    officer, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    path = f"/admin/accounts/{officer.id}"
    admin.post(f"{path}/revoke-sessions", data={"csrf_token": csrf_token(admin, path)})
    assert staff.get("/officer/").status_code == 303
    sign_in(staff, "amina", secret, steps_ahead=1)
    admin.post(f"{path}/deactivate", data={"csrf_token": csrf_token(admin, path)})
    assert staff.get("/officer/").status_code == 303
    assert post_password(app.test_client(), "amina").status_code == 400
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"account.sessions_revoked", "account.deactivated"} <= actions


def test_routing_table_edit_routes_new_reports(app, admin, client, db):
    # Reference tables are shared between tests on PostgreSQL: put the rule back afterwards.
    original_unit = db.get(RoutingRule, ("territory", "MA-CAS")).unit_id
    try:
        _reroute_casablanca_to_rabat(admin, client, db)
    finally:
        db.rollback()
        rule = db.get(RoutingRule, ("territory", "MA-CAS"))
        rule.unit_id = original_unit
        db.commit()


def _reroute_casablanca_to_rabat(admin, client, db):
    page = admin.get("/admin/routing").get_data(as_text=True)
    assert "MA-CAS" in page
    response = admin.post(
        "/admin/routing",
        data={
            "csrf_token": csrf_token(admin, "/admin/routing"),
            "group": "MA-06",
            "unit:territory:MA-CAS": str(_unit_id(db, "RABAT")),
        },
    )
    assert response.status_code == 303
    db.expire_all()
    rule = db.get(RoutingRule, ("territory", "MA-CAS"))
    assert rule.unit.code == "RABAT"
    reference, _ = submit_and_get_receipt(client, territory="MA-CAS")
    report = db.scalar(select(Report).where(Report.reference == reference))
    assert report.unit.code == "RABAT"
    routed = db.scalars(select(AuditEvent.subject).where(AuditEvent.action == "routing.changed"))
    assert "route:territory:MA-CAS" in set(routed)


def test_officers_cannot_reach_admin_pages(app, db):
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    for path in ("/admin/", "/admin/units", "/admin/routing"):
        assert staff.get(path).status_code == 404


def test_units_page_lists_units_with_members(app, admin, db):
    make_officer(app, db, "amina")
    page = admin.get("/admin/units").get_data(as_text=True)
    row = next(r for r in page.split("<tr") if "CASABLANCA" in r)
    assert re.search(r"<td>1</td>", row)


def test_every_account_change_is_in_the_audit_chain(app, admin, db):
    officer, _ = make_officer(app, db, "amina")
    path = f"/admin/accounts/{officer.id}"
    admin.post(
        path,
        data={
            "csrf_token": csrf_token(admin, path),
            "role": "officer",
            "units": [str(_unit_id(db, "RABAT"))],
            "region": "",
        },
    )
    for action in ("reset-second-factor", "deactivate", "activate"):
        admin.post(f"{path}/{action}", data={"csrf_token": csrf_token(admin, path)})
    subject = f"officer:{officer.id}"
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.subject == subject)))
    assert {
        "account.updated",
        "account.totp_reset",
        "account.deactivated",
        "account.activated",
    } <= actions


def test_admin_lifts_a_sign_in_lockout_and_it_is_audited(app, admin, db):
    officer, secret = make_officer(app, db, "locked.out")
    for _ in range(app.config["STAFF_LOCKOUT_THRESHOLD"]):
        post_password(app.test_client(), "locked.out", "wrong password")
    # Locked: even the right password is refused now.
    assert post_password(app.test_client(), "locked.out").status_code == 400
    path = f"/admin/accounts/{officer.id}"
    page = admin.get(path).get_data(as_text=True)
    assert f"/admin/accounts/{officer.id}/unlock" in page
    response = admin.post(f"{path}/unlock", data={"csrf_token": csrf_token(admin, path)})
    assert response.status_code == 303
    assert sign_in(app.test_client(), "locked.out", secret).status_code == 303
    db.expire_all()
    event = db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "account.unlocked", AuditEvent.subject == f"officer:{officer.id}"
        )
    )
    assert event is not None and event.actor == "officer:" + str(
        db.scalar(select(Officer.id).where(Officer.username == "root"))
    )
