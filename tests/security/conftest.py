"""Fixtures for the security suite: a signed-in officer who can see every unit."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Unit
from tests.support.staff import make_officer, sign_in


@pytest.fixture
def officer_secret(app: Flask, db: Session) -> str:
    """The TOTP secret of ``agent.security``, an officer of every unit (created here)."""
    units = tuple(db.scalars(select(Unit.code)))
    _officer, secret = make_officer(app, db, "agent.security", units=units)
    return secret


@pytest.fixture
def officer_name(officer_secret: str) -> str:
    return "agent.security"


@pytest.fixture
def officer_client(app: Flask, officer_name: str, officer_secret: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, officer_name, officer_secret)
    return client
