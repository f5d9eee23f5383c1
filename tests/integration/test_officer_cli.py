"""`portal officers create` and `portal demo-code`."""

from __future__ import annotations

import pyotp
from sqlalchemy import select

from portal.cli import COMMANDS
from portal.models import AuditEvent, Officer
from portal.services.demo import DEMO_ACCOUNTS
from tests.support.staff import in_english, post_password


def _command(name: str):
    return next(c for c in COMMANDS if c.name == name)


def test_officers_create_makes_a_usable_account(app, client, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        _command("officers"),
        ["create", "hicham", "--name", "Hicham Amrani", "--unit", "CASABLANCA", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created officer hicham" in result.output
    officer = db.scalar(select(Officer).where(Officer.username == "hicham"))
    assert [unit.code for unit in officer.units] == ["CASABLANCA"]
    hasher = app.extensions["password_hasher"]
    assert hasher.verify(officer.password_hash, "a long enough password")
    assert not hasher.check_needs_rehash(officer.password_hash)  # the configured parameters
    assert "a long enough password" not in officer.password_hash
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "account.created"))
    # First sign-in goes to second-factor enrolment.
    response = post_password(in_english(client), "hicham", "a long enough password")
    assert response.headers["Location"].endswith("/officer/enrol")


def test_officers_create_refuses_bad_input(app, db):
    runner = app.test_cli_runner()
    short = runner.invoke(
        _command("officers"), ["create", "x1", "--name", "X", "--password-stdin"], input="short\n"
    )
    assert short.exit_code != 0 and "12 characters" in short.output
    unknown = runner.invoke(
        _command("officers"),
        ["create", "x2", "--name", "X", "--unit", "ATLANTIS", "--password-stdin"],
        input="a long enough password\n",
    )
    assert unknown.exit_code != 0 and "unknown unit" in unknown.output
    assert db.scalar(select(Officer)) is None


def test_demo_code_prints_the_current_code(app):
    runner = app.test_cli_runner()
    account = DEMO_ACCOUNTS[0]
    result = runner.invoke(_command("demo-code"), [account.username])
    assert result.exit_code == 0
    assert pyotp.TOTP(account.totp_secret).verify(result.output.strip(), valid_window=1)
