"""Mandates seen from the victim's side, on /follow-up with her receipt."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.models import Report
from portal.services import partners as service
from tests.support.partners import file_report, make_partner
from tests.support.staff import in_english, make_officer
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt


def _follow_up(app, receipt):
    victim = in_english(app.test_client())
    response = open_follow_up(victim, receipt)
    assert response.status_code == 303
    return victim


def test_victim_keeps_access_sees_messages_and_withdraws(app, client, db, keyring, partner_a):
    created = file_report(client, partner_a)
    reference = created["reference"]
    client.post(
        f"/api/v1/reports/{reference}/messages",
        json={"body": "We filed this for Salma; she is safe to call after 6 pm."},
        headers=partner_a.headers,
    )
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    report = db.scalar(select(Report).where(Report.reference == reference))
    service.officer_message_partner(
        db, officer, report, "Thank you, we will call.", keyring=keyring
    )
    db.commit()

    victim = _follow_up(app, created["victim_receipt"])
    page = victim.get("/follow-up").get_data(as_text=True)
    assert reference in page
    assert "Centre centre-a can follow your report" in page
    assert "she is safe to call after 6 pm" in page and "Thank you, we will call." in page

    mandate_id = re.search(r"/follow-up/mandates/(\d+)/withdraw", page).group(1)
    response = victim.post(
        f"/follow-up/mandates/{mandate_id}/withdraw",
        data={"csrf_token": csrf_token(victim, "/follow-up")},
    )
    assert response.status_code == 303
    assert client.get(f"/api/v1/reports/{reference}", headers=partner_a.headers).status_code == 404
    page = victim.get("/follow-up").get_data(as_text=True)
    assert "Centre centre-a can follow your report" not in page
    # She can still use her own report.
    assert reference in page


def test_victim_gives_a_mandate_for_her_own_report(app, client, db, partner_a):
    reference, receipt = submit_and_get_receipt(in_english(app.test_client()))
    assert client.get(f"/api/v1/reports/{reference}", headers=partner_a.headers).status_code == 404
    make_partner(db, "pending-centre", accreditation="pending")
    victim = _follow_up(app, receipt)
    page = victim.get("/follow-up").get_data(as_text=True)
    assert "Centre centre-a" in page and "pending-centre" not in page
    partner_id = re.search(r'name="partner" value="(\d+)"', page).group(1)
    response = victim.post(
        "/follow-up/mandates",
        data={"csrf_token": csrf_token(victim, "/follow-up"), "partner": partner_id},
    )
    assert response.status_code == 303
    got = client.get(f"/api/v1/reports/{reference}", headers=partner_a.headers)
    assert got.status_code == 200
    assert got.get_json()["mandate"]["origin"] == "victim_granted"


def test_mandate_routes_need_the_follow_up_session(app, client, partner_a):
    stranger = app.test_client()
    token = csrf_token(stranger, "/follow-up")
    assert stranger.post("/follow-up/mandates", data={"csrf_token": token}).status_code == 404
    response = stranger.post("/follow-up/mandates/1/withdraw", data={"csrf_token": token})
    assert response.status_code == 404


def test_a_victim_cannot_withdraw_another_reports_mandate(app, client, db, partner_a):
    first = file_report(client, partner_a)
    second = file_report(client, partner_a)
    report = db.scalar(select(Report).where(Report.reference == first["reference"]))
    mandate = service.mandate_for(db, partner_a.id, report)
    victim = _follow_up(app, second["victim_receipt"])
    response = victim.post(
        f"/follow-up/mandates/{mandate.id}/withdraw",
        data={"csrf_token": csrf_token(victim, "/follow-up")},
    )
    assert response.status_code == 404
    got = client.get(f"/api/v1/reports/{first['reference']}", headers=partner_a.headers)
    assert got.status_code == 200
