"""Staff sign-in: password, second factor, enrolment, lockout, sessions and logout."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Officer, StaffSession, utcnow
from tests.support.staff import (
    code_for,
    make_officer,
    post_code,
    post_password,
    sign_in,
)
from tests.support.web import csrf_token

FAILED = "Sign-in failed"


def test_password_then_code_opens_the_queue(app, client, db):
    _, secret = make_officer(app, db, "amina")
    response = post_password(client, "amina")
    assert response.headers["Location"].endswith("/officer/login/code")
    # Half signed in is not signed in.
    assert client.get("/officer/").status_code == 303
    response = post_code(client, code_for(secret))
    assert response.headers["Location"].endswith("/officer/")
    assert client.get("/officer/").status_code == 200


def test_pages_require_sign_in(client):
    response = client.get("/officer/")
    assert response.status_code == 303
    assert "/officer/login" in response.headers["Location"]


def test_unknown_user_and_wrong_password_get_the_same_answer(app, client, db):
    make_officer(app, db, "amina")
    unknown = post_password(client, "nobody")
    wrong = post_password(client, "amina", "not the password at all")
    assert unknown.status_code == wrong.status_code == 400
    assert FAILED in unknown.get_data(as_text=True)
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", unknown.get_data(as_text=True)).replace("nobody", "amina") == strip.sub(
        "", wrong.get_data(as_text=True)
    )


def test_wrong_and_replayed_codes_are_refused(app, client, db):
    _, secret = make_officer(app, db, "amina")
    post_password(client, "amina")
    valid_now = {code_for(secret, step) for step in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid_now)
    assert post_code(client, wrong).status_code == 400
    code = code_for(secret)
    assert post_code(client, code).status_code == 303

    other = app.test_client()
    post_password(other, "amina")
    replay = post_code(other, code)
    assert replay.status_code == 400
    assert FAILED in replay.get_data(as_text=True)


def test_lockout_after_repeated_failures_even_with_the_right_password(app, client, db):
    _, secret = make_officer(app, db, "amina")
    threshold = app.config["STAFF_LOCKOUT_THRESHOLD"]
    for _ in range(threshold):
        assert post_password(client, "amina", "wrong password here").status_code == 400
    response = post_password(client, "amina")
    assert response.status_code == 400
    assert FAILED in response.get_data(as_text=True)
    officer = db.scalar(select(Officer).where(Officer.username == "amina"))
    db.refresh(officer)
    assert officer.locked_until is not None
    actions = list(db.scalars(select(AuditEvent.action)))
    assert "staff.locked" in actions
    assert "staff.login_refused" in actions
    # When the lock expires the account works again.
    officer.locked_until = utcnow() - timedelta(seconds=1)
    db.commit()
    sign_in(client, "amina", secret)


def test_first_sign_in_enrols_the_second_factor(app, client, db):
    make_officer(app, db, "newbie", enrolled=False)
    response = post_password(client, "newbie")
    assert response.headers["Location"].endswith("/officer/enrol")
    page = client.get("/officer/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    # Reloading shows the same secret (it is kept, encrypted, until confirmed).
    again = client.get("/officer/enrol").get_data(as_text=True)
    assert secret.replace(" ", "") in again.replace(" ", "")
    token = csrf_token(client, "/officer/enrol")
    response = client.post(
        "/officer/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 303
    assert client.get("/officer/").status_code == 200
    officer = db.scalar(select(Officer).where(Officer.username == "newbie"))
    assert officer.totp_enrolled_at is not None
    assert officer.totp_secret_enc is not None and secret.encode() not in officer.totp_secret_enc


def test_session_is_renewed_at_sign_in(app, client, db):
    _, secret = make_officer(app, db, "amina")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["staff_sid"] = "guessed-token"
    sign_in(client, "amina", secret)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["staff_sid"] != "guessed-token"
    assert db.scalar(select(StaffSession)) is not None


def test_session_cookie_flags(app, client, db):
    _, secret = make_officer(app, db, "amina")
    response = sign_in(client, "amina", secret)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie


@pytest.fixture
def https_config(app_config):
    return {**app_config, "PREFER_HTTPS": True}


def test_cookie_is_secure_when_served_over_https(https_config, db):
    from portal import create_app

    application = create_app(https_config)
    try:
        with application.app_context():
            factory = application.extensions["db_sessionmaker"]
            with factory() as session:
                make_officer(application, session, "amina")
        client = application.test_client()
        response = client.get("/officer/login", base_url="https://localhost")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text)
        assert "Secure" in response.headers["Set-Cookie"]
        assert token
    finally:
        application.extensions["db_engine"].dispose()


def test_idle_timeout_and_absolute_lifetime(app, client, db):
    _, secret = make_officer(app, db, "amina")
    sign_in(client, "amina", secret)
    row = db.scalar(select(StaffSession))
    row.last_seen_at = utcnow() - timedelta(minutes=app.config["STAFF_IDLE_TIMEOUT_MINUTES"] + 1)
    db.commit()
    assert client.get("/officer/").status_code == 303

    other = app.test_client()
    sign_in(other, "amina", secret, steps_ahead=1)
    row = db.scalar(
        select(StaffSession).where(StaffSession.last_seen_at > utcnow() - timedelta(minutes=5))
    )
    row.created_at = utcnow() - timedelta(hours=app.config["STAFF_ABSOLUTE_LIFETIME_HOURS"] + 1)
    db.commit()
    assert other.get("/officer/").status_code == 303


def test_logout_ends_the_server_side_session(app, client, db):
    _, secret = make_officer(app, db, "amina")
    sign_in(client, "amina", secret)
    with client.session_transaction() as session:
        stolen = dict(session)
    token = csrf_token(client, "/officer/")
    response = client.post("/officer/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert client.get("/officer/").status_code == 303
    # Replaying the old cookie after logout gets nothing.
    replay = app.test_client()
    with replay.session_transaction() as session:
        session.update(stolen)
    assert replay.get("/officer/").status_code == 303
    assert db.scalar(select(StaffSession)) is None
    signed_out = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.logout")).one()
    officer = db.scalars(select(Officer).where(Officer.username == "amina")).one()
    assert signed_out.actor == signed_out.subject == f"officer:{officer.id}"


def test_sign_in_outcomes_are_audited_without_client_details(app, client, db):
    _, secret = make_officer(app, db, "amina")
    post_password(client, "nobody")
    sign_in(client, "amina", secret)
    entries = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    actions = [entry.action for entry in entries]
    assert "staff.login_failed" in actions and "staff.login" in actions
    for entry in entries:
        assert "127.0.0.1" not in entry.details and "Werkzeug" not in entry.details
