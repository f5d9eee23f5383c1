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
        data={"csrf_token": token, "partner-body": body, "partner-audience": audience},
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
        data={"csrf_token": token, "partner-body": "x", "partner-audience": "partner"},
    )
    assert response.status_code == 404
    api = client.get(f"/api/v1/reports/{reference}/messages", headers=partner_a.headers)
    assert api.get_json()["items"] == []


def test_bad_input_comes_back_next_to_its_field_translated_with_the_text_kept(
    app, client, db, partner_a
):
    reference = file_report(client, partner_a)["reference"]
    officer = _officer(app, db, "casa1", "CASABLANCA")
    typed = "Merci de rappeler la victime demain matin. " * 120  # over the 5,000 limit

    response = _send(officer, reference, typed, "both")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page.index('id="partner-body-error"')
    textarea = page.index('id="partner-body"', error)
    assert textarea - error < 600  # right above its field
    assert "5000" in page[error:textarea] and 'aria-invalid="true"' in page[error:]
    assert "Merci de rappeler la victime demain matin." in page[textarea:]

    response = _send(officer, reference, "Please call her back.", "everyone")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="partner-audience-error"' in page and "Please call her back." in page

    # In the officer's language: the same message, in French.
    officer.set_cookie("lang", "fr")
    page = _send(officer, reference, "", "partner").get_data(as_text=True)
    error = page.index('id="partner-body-error"')
    assert "Ce champ est requis." in page[error : error + 300]
    api = client.get(f"/api/v1/reports/{reference}/messages", headers=partner_a.headers)
    assert api.get_json()["items"] == []


def test_a_mandate_withdrawn_while_the_officer_writes_keeps_the_message(app, client, db, partner_a):
    from sqlalchemy import select

    from portal.models import Mandate
    from portal.services import partners

    reference = file_report(client, partner_a)["reference"]
    officer = _officer(app, db, "casa1", "CASABLANCA")
    token = csrf_token(officer, f"/officer/reports/{reference}")
    mandate = db.scalars(select(Mandate)).one()
    partners.withdraw_mandate(db, mandate, by="victim", actor="reporter")
    db.commit()
    response = officer.post(
        f"/officer/reports/{reference}/partner-message",
        data={"csrf_token": token, "partner-body": "Still there?", "partner-audience": "both"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page.index('id="partner-audience-error"')
    assert "No organisation acts for the victim on this report any more." in page[error:]
    assert "Still there?" in page
    # Nothing half-sent: not to the partner, not to the victim either.
    victim_messages = db.scalars(select(Mandate)).one().report.messages
    assert [message.kind for message in victim_messages] == []
