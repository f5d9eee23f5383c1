"""Fixtures for the security suite: a signed-in officer who can see every unit."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.models import Unit
from portal.services.accounts import create_officer

OFFICER_PASSWORD = "correct horse battery staple"
OFFICER_TOTP = pyotp.random_base32()
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def page_csrf(client: FlaskClient, path: str) -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def officer_name(db: Session, keyring: Keyring) -> str:
    units = list(db.scalars(select(Unit.code)))
    create_officer(
        db,
        username="agent.security",
        display_name="Agent Security",
        password=OFFICER_PASSWORD,
        role="officer",
        keyring=keyring,
        unit_codes=units,
        totp_secret=OFFICER_TOTP,
    )
    db.commit()
    return "agent.security"


def sign_in(client: FlaskClient, username: str, *, code: str | None = None) -> int:
    """Password then TOTP code; returns the status of the last step."""
    response = client.post(
        "/officer/login",
        data={
            "csrf_token": page_csrf(client, "/officer/login"),
            "username": username,
            "password": OFFICER_PASSWORD,
        },
    )
    if response.status_code != 303:
        return response.status_code
    response = client.post(
        "/officer/login/code",
        data={
            "csrf_token": page_csrf(client, "/officer/login/code"),
            "code": code or pyotp.TOTP(OFFICER_TOTP).now(),
        },
    )
    return response.status_code


@pytest.fixture
def officer_client(app: Flask, officer_name: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, officer_name) == 303
    return client
