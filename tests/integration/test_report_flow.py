"""The anonymous report flow end to end, through the Flask test client."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, ReceiptHandoff, Report, ReportURL, Unit
from portal.services.reports import report_urls
from tests.support.web import (
    csrf_token,
    open_follow_up,
    submit_and_get_receipt,
    submit_report,
    valid_report,
)


def test_home_page_offers_report_and_follow_up(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/report"' in page
    assert 'href="/follow-up"' in page
    assert 'dir="rtl"' in page and 'lang="ar"' in page


def test_submit_shows_receipt_once_and_routes_to_territory_unit(client, db, keyring):
    reference, receipt = submit_and_get_receipt(client)
    digits = receipt.replace(" ", "")
    assert len(digits) == 16 and digits.isdigit()

    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    assert report.unit.code == "CASABLANCA"
    assert report.routing_reason == "territory"
    assert report.status == "received"
    assert report.priority == "high"
    # Stored encrypted and bound to its report.
    assert b"threatens" not in report.description_enc
    assert "threatens" in keyring.decrypt_field(
        report.description_enc, f"report.description:{reference}"
    )
    # Only the lookup hash is stored, never the receipt.
    assert digits.encode() not in report.receipt_hash
    (url,) = report_urls(report, keyring)
    assert url.normalized == "https://www.instagram.com/some.blackmailer/"
    assert url.original.startswith("https://www.instagram.com/some.blackmailer/?utm_source")
    assert url.host == "www.instagram.com"
    row = db.scalars(select(ReportURL).where(ReportURL.report_id == report.id)).one()
    assert b"instagram" not in row.original_enc + row.normalized_enc + row.host_enc
    assert db.scalars(select(AuditEvent.action)).all() == ["report.submitted"]

    # A reload does not lose it, and it can be saved as a small text file, never cached.
    again = client.get("/report/receipt")
    assert again.status_code == 200 and receipt in again.get_data(as_text=True)
    saved = client.get("/report/receipt.txt")
    assert saved.status_code == 200
    assert saved.mimetype == "text/plain"
    assert saved.headers["Content-Disposition"].startswith("attachment")
    assert "no-store" in saved.headers["Cache-Control"]
    text = saved.get_data(as_text=True)
    assert receipt in text and reference in text
    # Once the reporter says it is kept, it is gone for good: not in the page, not in the file.
    done = client.post(
        "/report/receipt/done", data={"csrf_token": csrf_token(client, "/report/receipt")}
    )
    assert done.status_code == 303
    gone = client.get("/report/receipt")
    assert gone.status_code == 410
    assert receipt not in gone.get_data(as_text=True)
    assert client.get("/report/receipt.txt").status_code == 410


def test_receipt_never_in_url_or_cookie(client):
    response = submit_report(client)
    assert response.status_code == 303
    location = response.headers["Location"]
    page = client.get(location).get_data(as_text=True)
    receipt = page.split('id="receipt">')[1].split("<")[0].replace(" ", "")
    assert receipt not in location
    for cookie in client._cookies.values():
        assert receipt not in cookie.value


def test_follow_up_with_receipt_shows_status_and_accepts_reply(client, db, keyring):
    reference, receipt = submit_and_get_receipt(client)
    response = open_follow_up(client, receipt)
    assert response.status_code == 303
    page = client.get("/follow-up").get_data(as_text=True)
    assert reference in page

    token = csrf_token(client, "/follow-up")
    reply = client.post(
        "/follow-up/reply", data={"csrf_token": token, "body": "He wrote to me again today."}
    )
    assert reply.status_code == 303
    page = client.get("/follow-up").get_data(as_text=True)
    assert "He wrote to me again today." in page
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    assert report.has_unread_reply


def test_follow_up_accepts_arabic_indic_digits_and_spaces(client):
    reference, receipt = submit_and_get_receipt(client)
    arabic = receipt.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert open_follow_up(client, arabic).status_code == 303
    assert reference in client.get("/follow-up").get_data(as_text=True)


def test_wrong_receipt_is_refused_with_message(client):
    submit_and_get_receipt(client)
    response = open_follow_up(client, "0000 0000 0000 0000")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="receipt-error"' in page


def test_ending_follow_up_forgets_the_session(client):
    _reference, receipt = submit_and_get_receipt(client)
    open_follow_up(client, receipt)
    token = csrf_token(client, "/follow-up")
    client.post("/follow-up/end", data={"csrf_token": token})
    page = client.get("/follow-up").get_data(as_text=True)
    assert 'name="receipt"' in page


@pytest.mark.parametrize(
    ("territory", "category", "outside", "unit", "reason"),
    [
        ("MA-RAB", "fraud", None, "RABAT", "territory"),
        ("ABROAD", "fraud", None, "NATIONAL-CYBER", "abroad"),
        ("MA-CAS", "fraud", "y", "NATIONAL-CYBER", "outside_local_request"),
        ("MA-CAS", "child_sexual_exploitation", None, "NATIONAL-CHILD", "category"),
        ("MA-FES", "terrorism", None, "NATIONAL-CT", "category"),
    ],
)
def test_routing_through_the_form(client, db, territory, category, outside, unit, reason):
    reference, _ = submit_and_get_receipt(
        client,
        territory=territory,
        category=category,
        handle_outside_local=outside,
        q_money_demanded=None,
        q_paid=None,
    )
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    assert db.get(Unit, report.unit_id).code == unit
    assert report.routing_reason == reason
    assert report.abroad == (territory == "ABROAD")


@pytest.mark.parametrize(
    ("answers", "priority"),
    [
        ({"q_minor_involved": "yes"}, "urgent"),
        ({"q_minor_involved": "no"}, "high"),
    ],
)
def test_priority_from_answers(client, db, answers, priority):
    reference, _ = submit_and_get_receipt(client, **answers)
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    assert report.priority == priority
    assert report.minor_involved == (answers["q_minor_involved"] == "yes")


BAD_INPUTS = [
    ({"category": None}, "category"),
    ({"category": "not-a-category"}, "category"),
    ({"urls": ""}, "urls"),
    ({"urls": "javascript:alert(1)"}, "urls"),
    ({"urls": "ftp://files.example.com/x"}, "urls"),
    ({"urls": "\n".join(f"https://example.com/{n}" for n in range(21))}, "urls"),
    ({"platform": ""}, "platform"),
    ({"platform": "myspace"}, "platform"),
    ({"description": "   "}, "description"),
    ({"description": "x" * 10_001}, "description"),
    ({"territory": ""}, "territory"),
    ({"territory": "MA-XXX"}, "territory"),
    ({"seen_on": "2999-01-01"}, "seen_on"),
    ({"seen_on": "yesterday"}, "seen_on"),
    ({"good_faith": None}, "good_faith"),
    ({"contact_email": "x" * 201}, "contact_email"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
def test_bad_input_keeps_what_was_typed_and_explains_next_to_field(client, db, overrides, field):
    typed = valid_report(description="My words must survive an error", **{})
    typed.update({k: v for k, v in overrides.items() if v is not None})
    for key, value in overrides.items():
        if value is None:
            typed.pop(key, None)
    typed["csrf_token"] = csrf_token(client, "/report")
    response = client.post("/report", data=typed, content_type="multipart/form-data")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page
    if field != "description":
        assert "My words must survive an error" in page
    if field != "urls":
        assert "https://www.instagram.com/some.blackmailer/" in page
    # Nothing half-written.
    assert db.scalars(select(Report)).all() == []


def test_missing_csrf_token_is_refused(client, db):
    response = client.post("/report", data=valid_report(), content_type="multipart/form-data")
    assert response.status_code == 400
    assert db.scalars(select(Report)).all() == []


def test_language_switch_sets_cookie_and_refuses_open_redirect(client):
    response = client.get("/language/fr?next=/report")
    assert response.headers["Location"].endswith("/report")
    assert "lang=fr" in response.headers["Set-Cookie"]
    page = client.get("/").get_data(as_text=True)
    assert 'lang="fr"' in page and 'dir="ltr"' in page
    for target in ("//evil.example", "https://evil.example", "/\\evil.example"):
        response = client.get(f"/language/en?next={target}")
        assert "evil.example" not in response.headers["Location"]


def test_territory_list_offers_every_place_and_keeps_the_choice(client):
    page = client.get("/report").get_data(as_text=True)
    select = page.split('name="territory"', 1)[1].split("</select>", 1)[0]
    # 75 prefectures and provinces, "outside Morocco", and the prompt.
    assert select.count("<option ") == 77
    assert select.count("<optgroup ") == 14
    typed = valid_report(territory="MA-KEN", good_faith=None)
    typed["csrf_token"] = csrf_token(client, "/report")
    response = client.post("/report", data=typed, content_type="multipart/form-data")
    again = response.get_data(as_text=True).split('name="territory"', 1)[1].split("</select>")[0]
    assert again.count(" selected") == 1
    assert '<option selected value="MA-KEN">' in again


def test_optional_contact_is_encrypted_at_field_level(client, db, keyring):
    reference, _ = submit_and_get_receipt(
        client,
        contact_name="Salma",
        contact_phone="+212 600 112233",
        contact_email="salma.safe@example.ma",
        contact_safe_time="after 18:00",
    )
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    for typed in (b"Salma", b"600 112233", b"salma.safe", b"after 18:00"):
        assert typed not in report.contact_enc
    assert json.loads(keyring.decrypt_field(report.contact_enc, f"report.contact:{reference}")) == {
        "name": "Salma",
        "phone": "+212 600 112233",
        "email": "salma.safe@example.ma",
        "safe_time": "after 18:00",
    }
    anonymous, _ = submit_and_get_receipt(client)
    assert db.scalars(select(Report).where(Report.reference == anonymous)).one().contact_enc is None


def test_receipt_waiting_to_be_shown_is_sealed_and_gone_once_kept(client, db):
    response = submit_report(client)
    assert response.status_code == 303
    # Between the POST and the receipt page: the database and the session hold it only sealed.
    waiting = db.scalars(select(ReceiptHandoff)).one()
    cookie = client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])
    session_data = client.application.session_interface.get_signing_serializer(
        client.application
    ).loads(cookie.value)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    receipt = page.split('id="receipt">')[1].split("<")[0].replace(" ", "")
    assert len(receipt) == 16
    assert receipt.encode() not in waiting.receipt_enc
    assert receipt not in json.dumps(session_data)
    client.post("/report/receipt/done", data={"csrf_token": csrf_token(client, "/report/receipt")})
    db.expire_all()
    assert db.scalars(select(ReceiptHandoff)).all() == []
