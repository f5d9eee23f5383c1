"""Error pages under the staff prefixes wear the staff layout; reporters keep theirs."""

from __future__ import annotations

import pytest

from tests.support.staff import make_officer, sign_in

STAFF_NAV = 'class="staff-nav"'
QUICK_EXIT = 'id="quick-exit"'


def _signed_in(app, db, username="amina", role="officer", units=("CASABLANCA",)):
    _, secret = make_officer(app, db, username, units=units, role=role)
    client = app.test_client()
    sign_in(client, username, secret)
    return client


def test_404_under_officer_shows_the_staff_layout(app, db):
    staff = _signed_in(app, db)
    response = staff.get("/officer/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Page not found" in page
    assert 'class="staff"' in page and STAFF_NAV in page
    assert QUICK_EXIT not in page
    assert 'href="/officer/"' in page and "Back to the staff home page" in page


def test_404_under_report_shows_the_reporter_layout(app, db):
    staff = _signed_in(app, db)
    response = staff.get("/report/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'class="citizen"' in page and QUICK_EXIT in page
    # The reporter's page never says who is signed in to the staff area.
    assert STAFF_NAV not in page and "Officer Amina" not in page


@pytest.mark.parametrize("path", ["/supervisor/nothing", "/admin/nothing", "/staff/nothing"])
def test_staff_404_without_a_session_offers_the_sign_in(client, path):
    client.set_cookie("lang", "en")
    response = client.get(path)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'class="staff"' in page and QUICK_EXIT not in page
    assert "Staff sign-in" in page and 'href="/officer/login"' in page


def test_a_page_of_another_role_is_a_staff_404(app, db):
    admin = _signed_in(app, db, "root", role="admin", units=())
    response = admin.get("/officer/")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert STAFF_NAV in page and 'href="/admin/"' in page


def test_405_and_csrf_failure_under_admin_use_the_staff_layout(app, db):
    admin = _signed_in(app, db, "root", role="admin", units=())
    refused = admin.post("/admin/units")
    assert refused.status_code == 405
    assert STAFF_NAV in refused.get_data(as_text=True)
    forged = admin.post("/admin/routing", data={"unit:abroad:": "1"})
    assert forged.status_code == 400
    page = forged.get_data(as_text=True)
    assert "Request not accepted" in page and STAFF_NAV in page and QUICK_EXIT not in page


def test_500_under_officer_uses_the_staff_layout(app, db):
    @app.get("/officer/broken-for-test")
    def broken():
        raise RuntimeError("boom")

    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    staff = _signed_in(app, db)
    response = staff.get("/officer/broken-for-test")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page and STAFF_NAV in page and QUICK_EXIT not in page


def test_429_under_officer_sign_in_uses_the_staff_layout(app, db):
    from werkzeug.exceptions import TooManyRequests

    @app.get("/officer/limited-for-test")
    def limited():
        raise TooManyRequests()

    app.testing = False
    client = app.test_client()
    client.set_cookie("lang", "en")
    response = client.get("/officer/limited-for-test")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many attempts" in page and 'class="staff"' in page and QUICK_EXIT not in page
