"""Officers see that a report came through a partner and write to it, the victim or both."""

from __future__ import annotations

from tests.support.partners import file_report
from tests.support.staff import in_english, make_officer, sign_in
from tests.support.web import csrf_token, open_follow_up


def _officer(app, db, username, unit):
    _, secret = make_officer(app, db, username, units=(unit,))
    client = in_english(app.test_client())
    sign_in(client, username, secret)
    return client


def _send(officer, reference, body, audience):
    token = csrf_token(officer, f"/officer/reports/{reference}")
    return officer.post(
        f"/officer/reports/{reference}/partner-message",
        data={"csrf_token": token, "body": body, "audience": audience},
    )


def test_case_page_names_the_partner_and_messages_reach_each_audience(app, client, db, partner_a):
    created = file_report(client, partner_a)
    reference = created["reference"]
    officer = _officer(app, db, "casa1", "CASABLANCA")
    page = officer.get(f"/officer/reports/{reference}").get_data(as_text=True)
    assert "Centre centre-a" in page and "filed this report for the victim" in page

    assert _send(officer, reference, "To the centre only.", "partner").status_code == 303
    assert _send(officer, reference, "To the victim only.", "reporter").status_code == 303
    assert _send(officer, reference, "To you both.", "both").status_code == 303

    api = client.get(f"/api/v1/reports/{reference}/messages", headers=partner_a.headers)
    bodies = [item["body"] for item in api.get_json()["items"]]
    assert bodies == ["To the centre only.", "To you both."]
    client.post(
        f"/api/v1/reports/{reference}/messages", json={"body": "Noted."}, headers=partner_a.headers
    )
    page = officer.get(f"/officer/reports/{reference}").get_data(as_text=True)
    assert "Message to the partner from Officer Casa1" in page and "To the centre only." in page
    assert "Message from the partner" in page and "Noted." in page

    victim = in_english(app.test_client())
    open_follow_up(victim, created["victim_receipt"])
    page = victim.get("/follow-up").get_data(as_text=True)
    assert "To the victim only." in page and "To you both." in page
    # She sees the partner's exchange too.
    assert "To the centre only." in page


def test_other_unit_officer_cannot_message_the_partner(app, client, db, partner_a):
    reference = file_report(client, partner_a)["reference"]
    officer = _officer(app, db, "rabat1", "RABAT")
    token = csrf_token(officer, "/officer/")
    response = officer.post(
        f"/officer/reports/{reference}/partner-message",
        data={"csrf_token": token, "body": "x", "audience": "partner"},
    )
    assert response.status_code == 404
    api = client.get(f"/api/v1/reports/{reference}/messages", headers=partner_a.headers)
    assert api.get_json()["items"] == []
