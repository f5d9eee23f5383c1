"""Staff passwords with the parameters production runs: argon2id as the library recommends.

The other in-process tests hash with cheap parameters (tests/support/staff.py); this module
keeps the defaults, so that what an operator gets without configuring anything is tested.
"""

from __future__ import annotations

import argon2
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from portal import create_app
from portal.models import AuditEvent, Officer
from portal.services.staff_login import dummy_hash
from tests.support.staff import (
    CHEAP_PASSWORD_HASHING,
    PASSWORD,
    make_officer,
    post_password,
    sign_in,
)


@pytest.fixture
def app_config(app_config):
    return {k: v for k, v in app_config.items() if k not in CHEAP_PASSWORD_HASHING}


def test_accounts_are_hashed_with_the_recommended_parameters(app, client, db):
    hasher = app.extensions["password_hasher"]
    recommended = PasswordHasher()
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        recommended.time_cost,
        recommended.memory_cost,
        recommended.parallelism,
    )
    # Never below RFC 9106's low-memory profile, whatever a future library release says.
    floor = argon2.profiles.RFC_9106_LOW_MEMORY
    officer, secret = make_officer(app, db, "amina")
    stored = argon2.extract_parameters(officer.password_hash)
    assert stored.type is argon2.Type.ID
    assert stored.time_cost >= floor.time_cost and stored.memory_cost >= floor.memory_cost
    assert stored == argon2.extract_parameters(hasher.hash("x"))
    sign_in(client, "amina", secret)
    assert client.get("/officer/").status_code == 200


def test_an_unknown_name_costs_the_argon2_work_of_a_known_one(app, db):
    officer, _secret = make_officer(app, db, "amina")
    hasher = app.extensions["password_hasher"]
    assert argon2.extract_parameters(dummy_hash(hasher)) == argon2.extract_parameters(
        officer.password_hash
    )


def test_password_is_rehashed_when_parameters_change(app, client, db):
    hasher = app.extensions["password_hasher"]
    officer, secret = make_officer(app, db, "amina")
    officer.password_hash = PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)
    db.commit()
    assert hasher.check_needs_rehash(officer.password_hash)
    sign_in(client, "amina", secret)
    db.refresh(officer)
    assert not hasher.check_needs_rehash(officer.password_hash)
    assert hasher.verify(officer.password_hash, PASSWORD)


def test_an_unknown_name_and_a_wrong_password_are_refused_alike(app, client, db):
    make_officer(app, db, "amina")
    assert post_password(client, "nobody").status_code == 400
    assert post_password(client, "amina", "not the password at all").status_code == 400
    officer = db.scalars(select(Officer).where(Officer.username == "amina")).one()
    assert officer.failed_logins == 1
    failed = db.scalars(select(AuditEvent).where(AuditEvent.action == "staff.login_failed"))
    assert {entry.subject for entry in failed} == {"officer:unknown", f"officer:{officer.id}"}


@pytest.mark.parametrize(
    "weaker",
    [{"STAFF_PASSWORD_ARGON2_TIME_COST": 1}, {"STAFF_PASSWORD_ARGON2_MEMORY_KIB": 8192}],
)
def test_a_production_app_refuses_weaker_parameters(app_config, weaker):
    """Accounts are rehashed with the configured parameters at their next sign-in, so a typo in
    the settings would weaken every staff password: outside tests the app refuses to start."""
    config = {**app_config, "TESTING": False, **weaker}
    with pytest.raises(RuntimeError, match="RFC 9106"):
        create_app(config)
    # Parameters at or above the floor start.
    stronger = {**app_config, "TESTING": False, "STAFF_PASSWORD_ARGON2_TIME_COST": 4}
    started = create_app(stronger)
    assert started.extensions["password_hasher"].time_cost == 4
    started.extensions["db_engine"].dispose()
