"""Staff accounts: creation, password hashing (argon2id) and TOTP secrets."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.models import Officer, Region, Unit, utcnow
from portal.services import audit
from portal.services.totp import store_secret

ROLES = ("officer", "supervisor", "admin")


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


def create_officer(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    role: str,
    keyring: Keyring,
    password_hasher: PasswordHasher,
    unit_codes: list[str] | None = None,
    region_code: str | None = None,
    totp_secret: str | None = None,
    actor: str = "cli",
) -> Officer:
    """Create a staff account. With ``totp_secret`` the second factor is already enrolled.

    ``password_hasher`` is the app's (``app.extensions["password_hasher"]``): argon2id with the
    configured parameters.
    """
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if session.scalar(select(Officer.id).where(Officer.username == username)) is not None:
        raise AccountError(f"an account named {username!r} already exists")
    if len(password) < 12:
        raise AccountError("passwords must have at least 12 characters")
    codes = list(dict.fromkeys(unit_codes or []))
    found = {u.code: u for u in session.scalars(select(Unit).where(Unit.code.in_(codes)))}
    for code in codes:
        if code not in found:
            raise AccountError(f"unknown unit {code!r}")
    units = [found[code] for code in codes]
    region = None
    if region_code:
        region = session.scalar(select(Region).where(Region.code == region_code))
        if region is None:
            raise AccountError(f"unknown region {region_code!r}")
    officer = Officer(
        username=username,
        display_name=display_name,
        password_hash=password_hasher.hash(password),
        role=role,
        region_id=region.id if region else None,
        units=units,
        created_at=utcnow(),
    )
    if totp_secret:
        store_secret(officer, totp_secret, keyring)
        officer.totp_enrolled_at = utcnow()
    session.add(officer)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="account.created",
        subject=audit.officer_name(officer),
        details={"role": role, "units": [u.code for u in units], "region": region_code},
    )
    return officer
