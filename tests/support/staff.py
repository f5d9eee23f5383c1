"""Staff accounts, and signing them in through the real sign-in pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.models import Officer, utcnow
from portal.services.accounts import create_officer
from tests.support.web import csrf_token

PASSWORD = "correct horse battery staple"
# Cheap staff password hashing (argon2id, one pass over 64 KiB) for the in-process apps: every
# test that makes an account or signs in would otherwise spend a fraction of a second per hash.
# tests/integration/test_staff_passwords.py runs the production parameters (the defaults), and
# so do the tests that start `portal` or gunicorn as a separate process.
CHEAP_PASSWORD_HASHING = {
    "STAFF_PASSWORD_ARGON2_TIME_COST": 1,
    "STAFF_PASSWORD_ARGON2_MEMORY_KIB": 64,
    "STAFF_PASSWORD_ARGON2_PARALLELISM": 1,
}


def make_officer(
    app: Flask,
    db: Session,
    username: str,
    *,
    units: tuple[str, ...] = ("CASABLANCA",),
    role: str = "officer",
    region: str | None = None,
    enrolled: bool = True,
    display_name: str | None = None,
) -> tuple[Officer, str]:
    """Create an account; returns it with its TOTP secret ("" when not enrolled)."""
    secret = pyotp.random_base32() if enrolled else ""
    officer = create_officer(
        db,
        username=username,
        display_name=display_name or f"Officer {username.title()}",
        password=PASSWORD,
        role=role,
        keyring=app.extensions["keyring"],
        password_hasher=app.extensions["password_hasher"],
        unit_codes=list(units),
        region_code=region,
        totp_secret=secret or None,
    )
    db.commit()
    return officer, secret


def code_for(secret: str, steps_ahead: int = 0) -> str:
    """A valid code; ``steps_ahead`` picks a later 30-second step (each code is single-use)."""
    at = utcnow() + timedelta(seconds=30 * steps_ahead)
    return pyotp.TOTP(secret).at(at)


def in_english(client: FlaskClient) -> FlaskClient:
    """Tests read English messages; the portal's default language is Arabic."""
    client.set_cookie("lang", "en")
    return client


def post_password(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    in_english(client)
    token = csrf_token(client, "/officer/login")
    return client.post(
        "/officer/login", data={"csrf_token": token, "username": username, "password": password}
    )


def post_code(client: FlaskClient, code: str, path: str = "/officer/login/code") -> TestResponse:
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "code": code})


def try_sign_in(client: FlaskClient, username: str, secret: str, steps_ahead: int = 0) -> int:
    """Password then code; the status of the last step reached (303 when signed in)."""
    response = post_password(client, username)
    if response.status_code != 303:
        return response.status_code
    return post_code(client, code_for(secret, steps_ahead)).status_code


def sign_in(client: FlaskClient, username: str, secret: str, steps_ahead: int = 0) -> TestResponse:
    response = post_password(client, username)
    assert response.status_code == 303, response.get_data(as_text=True)[:1500]
    response = post_code(client, code_for(secret, steps_ahead))
    assert response.status_code == 303, response.get_data(as_text=True)[:1500]
    return response


_VERSION = re.compile(r'name="([a-z]+)-version" type="hidden" value="(\d+)"')


def form_version(page: str, prefix: str) -> str:
    for name, value in _VERSION.findall(page):
        if name == prefix:
            return value
    raise AssertionError(f"no {prefix}-version field on the page")
