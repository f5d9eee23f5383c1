"""A partner sees only its own filings, and only while it holds a live mandate."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.models import Mandate, PartnerToken, Report, utcnow
from portal.services import partners as service
from tests.support.partners import file_report, make_partner
from tests.support.staff import make_officer, sign_in

PATHS = ("", "/timeline", "/messages")


def test_partner_b_cannot_read_or_act_on_partner_a_filings(client, partner_a, partner_b):
    reference = file_report(client, partner_a)["reference"]
    for suffix in PATHS:
        response = client.get(f"/api/v1/reports/{reference}{suffix}", headers=partner_b.headers)
        assert response.status_code == 404, suffix
        assert response.mimetype == "application/problem+json"
    for suffix, body in (("/messages", {"body": "hello"}), ("/withdraw", {})):
        response = client.post(
            f"/api/v1/reports/{reference}{suffix}", json=body, headers=partner_b.headers
        )
        assert response.status_code == 404, suffix
    upload = client.post(
        f"/api/v1/reports/{reference}/evidence", data=b"%PDF-1.4\n", headers=partner_b.headers
    )
    assert upload.status_code == 404
    listed = client.get("/api/v1/reports", headers=partner_b.headers).get_json()
    assert listed["items"] == []
    # The same answer as a reference that does not exist at all.
    unknown = client.get("/api/v1/reports/EB-0000-0000", headers=partner_b.headers)
    known = client.get(f"/api/v1/reports/{reference}", headers=partner_b.headers)
    assert unknown.status_code == known.status_code == 404
    assert unknown.get_json() == known.get_json()


def test_withdrawn_mandate_closes_access(client, db, partner_a):
    reference = file_report(client, partner_a)["reference"]
    withdrawn = client.post(
        f"/api/v1/reports/{reference}/withdraw", json={}, headers=partner_a.headers
    )
    assert withdrawn.status_code == 204
    for suffix in PATHS:
        assert (
            client.get(
                f"/api/v1/reports/{reference}{suffix}", headers=partner_a.headers
            ).status_code
            == 404
        )
    assert client.get("/api/v1/reports", headers=partner_a.headers).get_json()["items"] == []
    report = db.scalar(select(Report).where(Report.reference == reference))
    mandate = db.scalar(select(Mandate).where(Mandate.report_id == report.id))
    assert mandate.withdrawn_by == "partner"
    # The report itself stays with the police.
    assert report.status == "received"


def test_victim_withdrawal_closes_access(client, db, partner_a):
    reference = file_report(client, partner_a)["reference"]
    report = db.scalar(select(Report).where(Report.reference == reference))
    mandate = service.mandate_for(db, partner_a.id, report)
    service.withdraw_mandate(db, mandate, by="victim", actor="reporter")
    db.commit()
    assert client.get(f"/api/v1/reports/{reference}", headers=partner_a.headers).status_code == 404


def test_scopes_are_enforced(client, db, partner_a):
    reference = file_report(client, partner_a)["reference"]
    reader = make_partner(db, "centre-a", scopes=("read",))
    assert client.get(f"/api/v1/reports/{reference}", headers=reader.headers).status_code == 200
    for path, body in (
        ("/api/v1/reports", {}),
        (f"/api/v1/reports/{reference}/messages", {"body": "hi"}),
        (f"/api/v1/reports/{reference}/withdraw", {}),
    ):
        response = client.post(path, json=body, headers=reader.headers)
        assert response.status_code == 403, path
    filer = make_partner(db, "centre-a", scopes=("file",))
    assert client.get(f"/api/v1/reports/{reference}", headers=filer.headers).status_code == 403


def test_revoked_expired_and_suspended_tokens_are_refused(client, db, partner_a):
    assert client.get("/api/v1/reports", headers=partner_a.headers).status_code == 200
    token = db.scalar(select(PartnerToken).where(PartnerToken.partner_id == partner_a.id))
    service.revoke_token(db, token, actor="test")
    db.commit()
    assert client.get("/api/v1/reports", headers=partner_a.headers).status_code == 401

    fresh = make_partner(db, "centre-a")
    token = db.scalar(select(PartnerToken).order_by(PartnerToken.id.desc()))
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    assert client.get("/api/v1/reports", headers=fresh.headers).status_code == 401

    other = make_partner(db, "centre-c")
    partner = service.Partner.__table__
    db.execute(partner.update().where(partner.c.id == other.id).values(accreditation="suspended"))
    db.commit()
    assert client.get("/api/v1/reports", headers=other.headers).status_code == 401


def test_category_not_allowed(client, db):
    fraud_only = make_partner(db, "fraud-desk", categories=("fraud",))
    response = client.post(
        "/api/v1/reports",
        json={
            "category": "sextortion",
            "platform": "instagram",
            "description": "x",
            "urls": ["https://example.com/a"],
            "territory": "MA-CAS",
            "good_faith": True,
        },
        headers=fraud_only.headers,
    )
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["/category"]


def test_other_units_officer_still_gets_404(app, client, db, partner_a):
    reference = file_report(client, partner_a, territory="MA-CAS")["reference"]
    _, secret = make_officer(app, db, "rabat1", units=("RABAT",))
    officer_client = app.test_client()
    sign_in(officer_client, "rabat1", secret)
    assert officer_client.get(f"/officer/reports/{reference}").status_code == 404
    _, secret = make_officer(app, db, "casa1", units=("CASABLANCA",))
    casa = app.test_client()
    sign_in(casa, "casa1", secret)
    page = casa.get(f"/officer/reports/{reference}")
    assert page.status_code == 200


def test_cookie_is_never_a_credential(app, client, db, partner_a):
    """A signed-in officer's browser gets nothing from the API with its session cookie."""
    _, secret = make_officer(app, db, "casa2", units=("CASABLANCA",))
    sign_in(client, "casa2", secret)
    response = client.get("/api/v1/reports")
    assert response.status_code == 401
    response = client.post("/api/v1/reports", json={})
    assert response.status_code == 401
