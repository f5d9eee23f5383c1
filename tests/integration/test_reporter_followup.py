"""A returning reporter: idle expiry that loses nothing, quick exit, what was reported, closure."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import FollowUpSession, Message, PendingUpload, ReceiptHandoff, Report, utcnow
from tests.support.evidence import english_client, files, jpeg, png
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt


@pytest.fixture
def en(app: Flask) -> FlaskClient:
    return english_client(app)


def _age_session(db, *, idle_left: timedelta | None = None, opened_ago: timedelta | None = None):
    row = db.scalars(select(FollowUpSession)).one()
    now = utcnow()
    if idle_left is not None:
        row.expires_at = now + idle_left
    if opened_ago is not None:
        row.created_at = now - opened_ago
    db.commit()
    return row


def test_activity_keeps_the_follow_up_open_within_its_cap(app, en, db):
    _reference, receipt = submit_and_get_receipt(en)
    open_follow_up(en, receipt)
    # 19 minutes in, one minute left: a request gives the reporter 20 minutes again.
    _age_session(db, idle_left=timedelta(minutes=1), opened_ago=timedelta(minutes=19))
    assert en.get("/follow-up").status_code == 200
    db.expire_all()
    row = db.scalars(select(FollowUpSession)).one()
    assert row.expires_at - utcnow() > timedelta(minutes=19)
    # Near the absolute cap, activity no longer extends it beyond the cap.
    cap = app.config["FOLLOWUP_SESSION_MAX_MINUTES"]
    _age_session(db, idle_left=timedelta(minutes=1), opened_ago=timedelta(minutes=cap - 5))
    en.get("/follow-up")
    db.expire_all()
    row = db.scalars(select(FollowUpSession)).one()
    assert row.expires_at <= row.created_at + timedelta(minutes=cap)


def test_a_reply_sent_after_expiry_comes_back_after_the_receipt(en, db):
    reference, receipt = submit_and_get_receipt(en)
    open_follow_up(en, receipt)
    token = csrf_token(en, "/follow-up")
    _age_session(db, idle_left=timedelta(minutes=-1))
    typed = "I typed this slowly for twenty-five minutes. لقد كتبت هذا ببطء."
    response = en.post("/follow-up/reply", data={"csrf_token": token, "body": typed})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "after 20 minutes without activity" in page
    assert typed in page and 'name="receipt"' in page
    assert db.scalars(select(Message)).all() == []
    # The receipt again: the follow-up opens with the message back in the reply box, unsent.
    login = en.post(
        "/follow-up",
        data={"csrf_token": csrf_token(en, "/follow-up"), "receipt": receipt, "draft": typed},
    )
    assert login.status_code == 200
    page = login.get_data(as_text=True)
    assert reference in page
    assert re.search(r'<textarea[^>]*name="body"[^>]*>\s*' + re.escape(typed), page)
    assert "not sent yet" in page


def test_files_sent_after_expiry_are_named_to_be_chosen_again(app, en, db):
    _reference, receipt = submit_and_get_receipt(en)
    open_follow_up(en, receipt)
    token = csrf_token(en, "/follow-up")
    _age_session(db, idle_left=timedelta(minutes=-1))
    response = en.post(
        "/follow-up/evidence",
        data={"csrf_token": token, "evidence": files((jpeg(), "threat.jpg"), (png(), "chat.png"))},
        content_type="multipart/form-data",
    )
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "threat.jpg" in page and "chat.png" in page and "choose them again" in page
    names = re.findall(r'name="(file_names-\d+)"[^>]*value="([^"]*)"', page)
    assert [value for _name, value in names] == ["threat.jpg", "chat.png"]
    data = {"csrf_token": csrf_token(en, "/follow-up"), "receipt": receipt, **dict(names)}
    page = en.post("/follow-up", data=data).get_data(as_text=True)
    assert "Please choose them again" in page and "threat.jpg" in page


def test_quick_exit_ends_the_follow_up_and_everything_waiting(app, en, db):
    _reference, receipt = submit_and_get_receipt(en)
    # A receipt still waiting on its page, files held for a form, and a follow-up open.
    en.post(
        "/report",
        data={"csrf_token": csrf_token(en, "/report"), "evidence": files((jpeg(), "a.jpg"))},
        content_type="multipart/form-data",
    )
    assert db.scalars(select(PendingUpload)).all() != []
    open_follow_up(en, receipt)
    assert en.get("/follow-up").status_code == 200
    response = en.get("/exit")
    assert response.status_code == 303
    assert response.headers["Location"] == app.config["QUICK_EXIT_URL"]
    assert "cookies" in response.headers["Clear-Site-Data"]
    db.expire_all()
    assert db.scalars(select(FollowUpSession)).all() == []
    assert db.scalars(select(ReceiptHandoff)).all() == []
    assert db.scalars(select(PendingUpload)).all() == []
    # Even had the browser kept its cookie, the follow-up would ask for the receipt again.
    page = en.get("/follow-up").get_data(as_text=True)
    assert 'name="receipt"' in page and "History and messages" not in page


def test_follow_up_shows_what_was_reported(en, db):
    reference, receipt = submit_and_get_receipt(
        en,
        category="threats",
        q_money_demanded=None,
        q_paid=None,
        q_threat_to_life="yes",
        q_minor_involved="no",
        urls="https://example.org/post/1\nhttps://t.me/some_channel",
        evidence=files((jpeg(17_100), "menace.jpg")),
    )
    open_follow_up(en, receipt)
    page = en.get("/follow-up").get_data(as_text=True)
    summary = page.split('id="summary"')[1].split("</section>")[0]
    assert "Threats" in summary
    assert "https://example.org/post/1" in summary and "https://t.me/some_channel" in summary
    assert "menace.jpg" in summary and "JPEG image" in summary and "16.7 kB" in summary
    assert "life or safety threatened?" in summary
    assert '<li dir="ltr">' in summary
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    assert report.priority == "urgent"
    assert report.language == "en"


def test_a_closed_case_says_why_and_takes_no_more_replies(en, db):
    reference, receipt = submit_and_get_receipt(en)
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    report.status, report.closure_reason, report.closed_at = "closed", "content_removed", utcnow()
    db.commit()
    open_follow_up(en, receipt)
    page = en.get("/follow-up").get_data(as_text=True)
    assert "The content you reported has been removed." in page
    assert "Make a new report" in page
    assert 'action="/follow-up/reply"' not in page and 'action="/follow-up/evidence"' not in page
    token = csrf_token(en, "/follow-up")
    response = en.post("/follow-up/reply", data={"csrf_token": token, "body": "One more thing"})
    assert response.status_code == 303
    assert "takes no more messages" in en.get("/follow-up").get_data(as_text=True)
    assert db.scalars(select(Message)).all() == []
    response = en.post(
        "/follow-up/evidence",
        data={"csrf_token": token, "evidence": files((jpeg(), "late.jpg"))},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    db.expire_all()
    assert db.scalars(select(Report)).one().evidence == []


def test_follow_up_keeps_accepted_files_when_one_is_refused(app, en, db):
    _reference, receipt = submit_and_get_receipt(en)
    open_follow_up(en, receipt)
    token = csrf_token(en, "/follow-up")
    response = en.post(
        "/follow-up/evidence",
        data={
            "csrf_token": token,
            "evidence": files((jpeg(), "good.jpg"), (b"MZ\x90\x00" + b"\x00" * 600, "bad.jpg")),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Received and kept:" in page and "good.jpg" in page
    assert "“bad.jpg” is a program" in page
    db.expire_all()
    assert len(db.scalars(select(Report)).one().evidence) == 1


def test_officer_sees_the_reporters_language_and_is_asked_to_answer_in_it(app, db):
    from tests.support.staff import in_english, make_officer, sign_in

    reporter = app.test_client()
    reporter.set_cookie("lang", "ar")
    reference, _receipt = submit_and_get_receipt(
        reporter, description="يهددني بنشر صوري. Il m'a dit : « paye ! »"
    )
    assert db.scalars(select(Report)).one().language == "ar"
    _, secret = make_officer(app, db, "amina", display_name="Amina Berrada")
    staff = in_english(app.test_client())
    sign_in(staff, "amina", secret)
    page = staff.get(f"/officer/reports/{reference}").get_data(as_text=True)
    assert "Reporter&#39;s language" in page or "Reporter's language" in page
    assert "The reporter wrote in Arabic: write your message in Arabic." in page
    assert '<p class="description" dir="auto">' in page
