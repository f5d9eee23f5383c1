"""Invariant 4: an officer never reads or acts on a report outside their units (404)."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.models import Report
from tests.support.staff import make_officer, sign_in
from tests.support.web import csrf_token, submit_and_get_receipt


def _casablanca_report(client) -> str:
    reference, _ = submit_and_get_receipt(client, territory="MA-CAS")
    return reference


def test_rabat_officer_gets_404_on_every_officer_url(app, client, db):
    reference = _casablanca_report(client)
    _, secret = make_officer(app, db, "youssef", units=("RABAT",))
    rabat = app.test_client()
    sign_in(rabat, "youssef", secret)
    token = csrf_token(rabat, "/officer/")
    report_id = db.scalar(select(Report.id).where(Report.reference == reference))

    checked = 0
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("officer.") or "ref" not in rule.arguments:
                continue
            values = {"ref": reference}
            if "evidence_id" in rule.arguments:
                values["evidence_id"] = report_id
            path = app.url_map.bind("localhost").build(rule.endpoint, values)
            for method in ("GET", "POST"):
                if method == "POST":
                    response = rabat.post(path, data={"csrf_token": token})
                else:
                    response = rabat.get(path)
                allowed = method in rule.methods
                expected = 404 if allowed else 405
                assert response.status_code == expected, (rule.endpoint, method)
                # Exactly what a reference that does not exist gets: nothing is confirmed.
                if allowed:
                    ghost_path = path.replace(reference, "EB-0000-0000")
                    ghost = rabat.open(ghost_path, method=method, data={"csrf_token": token})
                    assert response.get_data(as_text=True).replace(
                        reference, "EB-0000-0000"
                    ) == ghost.get_data(as_text=True)
                checked += 1
    assert checked >= 10
    # Nothing changed, and nothing was read.
    report = db.scalar(select(Report).where(Report.reference == reference))
    assert report.version == 1 and report.assigned_officer_id is None


def test_rabat_queue_does_not_list_casablanca_reports(app, client, db):
    reference = _casablanca_report(client)
    _, secret = make_officer(app, db, "youssef", units=("RABAT",))
    rabat = app.test_client()
    sign_in(rabat, "youssef", secret)
    assert reference not in rabat.get("/officer/?status=all").get_data(as_text=True)
    searched = rabat.get(f"/officer/?reference={reference}").get_data(as_text=True)
    assert f"/officer/reports/{reference}" not in searched
    assert "No report matches these filters." in searched


def test_officer_with_two_units_sees_both(app, client, db):
    casablanca = _casablanca_report(client)
    rabat_ref, _ = submit_and_get_receipt(client, territory="MA-RAB")
    _, secret = make_officer(app, db, "both", units=("CASABLANCA", "RABAT"))
    staff = app.test_client()
    sign_in(staff, "both", secret)
    page = staff.get("/officer/").get_data(as_text=True)
    assert casablanca in page and rabat_ref in page


def test_regional_supervisor_sees_only_the_region(app, client, db):
    casablanca = _casablanca_report(client)
    rabat_ref, _ = submit_and_get_receipt(client, territory="MA-RAB")
    region = db.scalar(select(Report.region_id).where(Report.reference == casablanca))
    from portal.models import Region

    code = db.get(Region, region).code
    _, secret = make_officer(app, db, "sup", units=(), role="supervisor", region=code)
    staff = app.test_client()
    sign_in(staff, "sup", secret)
    page = staff.get("/officer/").get_data(as_text=True)
    assert casablanca in page and rabat_ref not in page
    assert staff.get(f"/officer/reports/{rabat_ref}").status_code == 404


def test_admin_reads_no_report_content(app, client, db):
    reference = _casablanca_report(client)
    _, secret = make_officer(app, db, "root", units=(), role="admin")
    admin = app.test_client()
    sign_in(admin, "root", secret)
    assert admin.get("/officer/").status_code == 404
    assert admin.get(f"/officer/reports/{reference}").status_code == 404
    for path in ("/admin/", "/admin/units", "/admin/routing"):
        page = admin.get(path).get_data(as_text=True)
        assert reference not in page
        assert not re.search(r"EB-[0-9A-Z]{4}-[0-9A-Z]{4}", page)


def test_report_page_counts_but_never_names_same_url_reports_of_other_units(app, client, db):
    # Both reports carry the same address (the default of the helper).
    casablanca = _casablanca_report(client)
    rabat_ref, _ = submit_and_get_receipt(client, territory="MA-RAB")
    _, secret = make_officer(app, db, "amina", units=("CASABLANCA",))
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    page = staff.get(f"/officer/reports/{casablanca}").get_data(as_text=True)
    assert "1 report" in page
    assert rabat_ref not in page
