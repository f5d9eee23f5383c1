"""Need to know: supervisors see figures and case metadata; a report's content opens to one of
them only through a break glass (a reason, recorded; for a limited time); they never act.

Driven by the URL map like ``test_officer_scope.py``: a new officer route that shows content
and forgets the check fails here.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from portal.models import AuditEvent, BreakGlassGrant, Region, Report, Trace, utcnow
from portal.services.content_access import GRANT_MINUTES
from tests.support.evidence import english_client, files
from tests.support.staff import make_officer, sign_in
from tests.support.web import csrf_token, submit_and_get_receipt

DESCRIPTION = "The seller took 2500 dirhams for a phone and vanished with the money."
URL = "https://faux-colis.example/suivi"
FILENAME = "receipt-photo.jpg"
EXPLANATION = "Fraudulent parcel site collecting card numbers from victims."
IBAN_DIGITS = "0000012050005349"
REASON = "Ministerial inquiry about the fraud wave in Casablanca, file 2026/118"

# Exports and forms that only officers use: 404 for supervisors, grant or not.
OFFICER_ONLY = {
    "officer.case_file",
    "officer.case_file_pdf",
    "officer.case_file_bundle",
    "officer.new_takedown",
    "officer.new_referral",
}
# What a supervisor without a grant may open, and must find no content in.
METADATA_PAGES = {"officer.report_page"}
# Routes that are not about one report (their own rules are tested elsewhere).
NOT_PER_REPORT = {
    "officer.queue",
    "officer.campaign_list",
    "officer.campaign_page",
    "officer.alert_settings",  # a staff member's own alert settings, no report in it
}


def _image() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def world(app, db):
    reporter = english_client(app)
    reference, _ = submit_and_get_receipt(
        reporter,
        category="fraud",
        urls=URL,
        description=DESCRIPTION,
        q_amount="2500",
        q_payee_account="011 519 0000012050005349 21",
        territory="MA-CAS",
        evidence=files((_image(), FILENAME)),
    )
    report = db.scalar(select(Report).where(Report.reference == reference))
    _, secret = make_officer(app, db, "amina", units=("CASABLANCA",))
    officer = english_client(app)
    sign_in(officer, "amina", secret)
    new = f"/officer/reports/{reference}/takedowns/new"
    taken = officer.post(
        new,
        data={
            "csrf_token": csrf_token(officer, new),
            "kind": "removal",
            "urls": [str(url.id) for url in report.urls],
            "legal_basis": "penal_447",
            "explanation": EXPLANATION,
            "language": "fr",
        },
    )
    assert taken.status_code == 303, taken.get_data(as_text=True)[:1000]
    new = f"/officer/reports/{reference}/referrals/new"
    referred = officer.post(
        new,
        data={
            "csrf_token": csrf_token(officer, new),
            "destination": "FR",
            "urls": [str(report.urls[0].id)],
            "language": "fr",
        },
    )
    assert referred.status_code == 303, referred.get_data(as_text=True)[:1000]
    db.expire_all()
    report = db.scalar(select(Report).where(Report.reference == reference))
    trace = db.scalar(
        select(Trace).where(Trace.report_id == report.id, Trace.kind == "bank_account")
    )
    region = db.get(Region, report.region_id).code
    _, sup_secret = make_officer(app, db, "sup", units=(), role="supervisor", region=region)
    supervisor = english_client(app)
    sign_in(supervisor, "sup", sup_secret)
    values = {
        "ref": reference,
        "evidence_id": report.evidence[0].id,
        "request_id": report.takedown_requests[0].id,
        "referral_id": report.referrals[0].id,
    }
    return {
        "reference": reference,
        "supervisor": supervisor,
        "values": values,
        "trace_id": trace.id,
        "version": report.version,
    }


def _paths(app, world):
    """(endpoint, method, path) for every officer route about one report."""
    out = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("officer.") or rule.endpoint in NOT_PER_REPORT:
            continue
        path = adapter.build(rule.endpoint, {k: world["values"][k] for k in rule.arguments})
        if rule.endpoint == "officer.freeze_letter":
            path += f"?trace={world['trace_id']}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, path))
    return out


def _content_in(body: bytes) -> list[str]:
    text = body.decode("utf-8", "replace")
    found = [
        marker
        for marker in (DESCRIPTION, "faux-colis.example", FILENAME, EXPLANATION, IBAN_DIGITS)
        if marker in text
    ]
    if body[:3] == b"\xff\xd8\xff" or body[:8] == b"\x89PNG\r\n\x1a\n":
        found.append("image")
    return found


def _audits(db, action):
    db.expire_all()
    return db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def _break_glass(supervisor, reference, reason=REASON, token_page=None):
    page = f"/officer/reports/{reference}"
    token = csrf_token(supervisor, token_page or page)
    return supervisor.post(
        f"{page}/break-glass", data={"csrf_token": token, "glass-reason": reason}
    )


def test_supervisor_sees_metadata_only_and_never_acts(app, db, world):
    supervisor, reference = world["supervisor"], world["reference"]
    token = csrf_token(supervisor, "/officer/")
    checked = set()
    for endpoint, method, path in _paths(app, world):
        if method == "POST":
            if endpoint == "officer.break_glass":
                continue
            response = supervisor.post(path, data={"csrf_token": token})
            assert response.status_code == 404, (endpoint, response.status_code)
            checked.add(endpoint)
            continue
        response = supervisor.get(path)
        body = response.get_data()
        assert not _content_in(body), (endpoint, _content_in(body))
        if endpoint in OFFICER_ONLY:
            assert response.status_code == 404, endpoint
        elif endpoint in METADATA_PAGES:
            assert response.status_code == 200, endpoint
            assert b"/break-glass" in body
        else:
            # Content asked for: refused, with the way in (the break-glass form) on the page.
            assert response.status_code == 403, endpoint
            assert b"/break-glass" in body and b'name="glass-reason"' in body, endpoint
        checked.add(endpoint)
    assert len(checked) >= 25
    # The metadata page shows what a supervisor needs to follow the case.
    page = supervisor.get(f"/officer/reports/{reference}").get_data(as_text=True)
    for fact in (reference, "Online fraud or scam", "Received", "Evidence files"):
        assert fact in page, fact
    assert "action-panel" not in page
    # Nothing changed, nothing was read: metadata views are audited as such.
    db.expire_all()
    report = db.scalar(select(Report).where(Report.reference == reference))
    assert report.version == world["version"] and report.status == "received"
    assert report.officer_seen_reporter_at is None
    assert _audits(db, "report.metadata_viewed")
    assert not _audits(db, "report.content_viewed_break_glass")
    assert not _audits(db, "evidence.downloaded") and not _audits(db, "evidence.previewed")


def test_break_glass_needs_a_real_reason(db, world):
    supervisor, reference = world["supervisor"], world["reference"]
    response = _break_glass(supervisor, reference, reason="  need   it ")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page.index('id="glass-reason-error"')
    assert "at least 20 characters" in page[error : error + 300]
    assert "need   it" in page[error:]  # what was typed is kept
    assert db.scalar(select(BreakGlassGrant)) is None
    assert not _audits(db, "report.break_glass")


def test_break_glass_opens_content_for_a_limited_time_every_view_audited(app, db, world):
    supervisor, reference = world["supervisor"], world["reference"]
    response = _break_glass(supervisor, reference)
    assert response.status_code == 303
    grant = db.scalar(select(BreakGlassGrant))
    assert grant.reason == REASON
    assert timedelta(minutes=GRANT_MINUTES - 1) < grant.expires_at - grant.granted_at
    assert grant.expires_at - grant.granted_at <= timedelta(minutes=GRANT_MINUTES)
    opened = _audits(db, "report.break_glass")
    assert len(opened) == 1 and json.loads(opened[0].details)["reason"] == REASON
    assert opened[0].subject == f"report:{reference}"

    token = csrf_token(supervisor, "/officer/")
    content_views = 0
    for endpoint, method, path in _paths(app, world):
        if method == "POST":
            if endpoint == "officer.break_glass":
                continue
            # Still no action, grant or not.
            assert supervisor.post(path, data={"csrf_token": token}).status_code == 404, endpoint
            continue
        response = supervisor.get(path)
        if endpoint in OFFICER_ONLY:
            assert response.status_code == 404, endpoint
            continue
        assert response.status_code == 200, (endpoint, response.status_code)
        content_views += 1
    page = supervisor.get(f"/officer/reports/{reference}").get_data(as_text=True)
    assert DESCRIPTION in page and "faux-colis.example" in page and FILENAME in page
    assert "Content opened with your reason" in page and REASON in page
    assert "action-panel" not in page
    views = _audits(db, "report.content_viewed_break_glass")
    assert len(views) == content_views + 1
    assert all(json.loads(view.details)["reason"] == REASON for view in views)
    assert {json.loads(view.details)["what"] for view in views} >= {
        "report page",
        "evidence download",
        "evidence preview",
        "takedown request",
        "referral",
    }
    db.expire_all()
    report = db.scalar(select(Report).where(Report.reference == reference))
    assert report.version == world["version"] and report.status == "received"

    # Once the grant has expired, the content is closed again.
    grant = db.scalar(select(BreakGlassGrant))
    grant.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    response = supervisor.get(f"/officer/reports/{reference}")
    assert response.status_code == 200 and DESCRIPTION not in response.get_data(as_text=True)
    evidence = supervisor.get(
        f"/officer/reports/{reference}/evidence/{world['values']['evidence_id']}"
    )
    assert evidence.status_code == 403


def test_a_grant_is_for_one_supervisor_and_one_report(app, db, world):
    supervisor, reference = world["supervisor"], world["reference"]
    assert _break_glass(supervisor, reference).status_code == 303
    region = db.scalar(select(Region.code).join(Report).where(Report.reference == reference))
    _, secret = make_officer(app, db, "sup2", units=(), role="supervisor", region=region)
    other = english_client(app)
    sign_in(other, "sup2", secret)
    assert DESCRIPTION not in other.get(f"/officer/reports/{reference}").get_data(as_text=True)
    second, _ = submit_and_get_receipt(
        english_client(app), territory="MA-CAS", description=DESCRIPTION
    )
    assert DESCRIPTION not in supervisor.get(f"/officer/reports/{second}").get_data(as_text=True)


def test_officers_and_admins_cannot_break_glass(app, db, world):
    reference = world["reference"]
    _, secret = make_officer(app, db, "karim", units=("CASABLANCA",))
    officer = english_client(app)
    sign_in(officer, "karim", secret)
    assert _break_glass(officer, reference).status_code == 404
    _, secret = make_officer(app, db, "root", units=(), role="admin")
    admin = english_client(app)
    sign_in(admin, "root", secret)
    assert _break_glass(admin, reference, token_page="/admin/").status_code == 404
    assert admin.get(f"/officer/reports/{reference}").status_code == 404
    assert db.scalar(select(BreakGlassGrant)) is None


def test_a_supervisor_of_another_region_gets_404_even_for_break_glass(app, db, world):
    reference = world["reference"]
    _, secret = make_officer(app, db, "north", units=(), role="supervisor", region="MA-01")
    north = english_client(app)
    sign_in(north, "north", secret)
    region = db.scalar(select(Region.code).join(Report).where(Report.reference == reference))
    assert region != "MA-01"
    assert north.get(f"/officer/reports/{reference}").status_code == 404
    assert _break_glass(north, reference, token_page="/officer/").status_code == 404


def test_supervisors_see_campaigns_without_identifier_values(app, db, world):
    supervisor = world["supervisor"]
    second, _ = submit_and_get_receipt(
        english_client(app),
        category="fraud",
        urls="https://another-shop.example/",
        q_amount="900",
        q_payee_account="011 519 0000012050005349 21",
        territory="MA-CAS",
    )
    from portal.models import CampaignMember

    db.expire_all()
    campaign_id = db.scalar(
        select(CampaignMember.campaign_id).join(Report).where(Report.reference == second)
    )
    assert campaign_id is not None
    page = supervisor.get(f"/officer/campaigns/{campaign_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert world["reference"] in text and second in text
    assert IBAN_DIGITS not in text and "0000012050005349" not in text.replace(" ", "")
