"""Staff authentication: password, lockout and the second factor (no Flask globals here).

Every outcome is audited without IP address or user agent. Unknown usernames cost the same
argon2 work as known ones and get the same answer, so the form reveals nothing about which
accounts exist.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.crypto.keyring import Keyring
from portal.models import Officer, utcnow
from portal.services import audit, staff_sessions, totp


def dummy_hash(password_hasher: PasswordHasher) -> str:
    """Verified against when the username is unknown, so both paths do the same argon2 work:
    a hash with the accounts' parameters. The factory makes it at start, so that no sign-in
    pays for making it (the first unknown name would take longer than a known one)."""
    return _dummy_hash(
        password_hasher.time_cost, password_hasher.memory_cost, password_hasher.parallelism
    )


@functools.cache
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    return hasher.hash("no account has this password, it only burns time")


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    minutes: int


def _subject(officer: Officer | None) -> str:
    return audit.officer_name(officer) if officer else "officer:unknown"


def _is_locked(officer: Officer, now: datetime) -> bool:
    return officer.locked_until is not None and officer.locked_until > now


def register_failure(
    session: Session, officer: Officer, policy: LockoutPolicy, stage: str, now: datetime
) -> None:
    """Count a failure in the database itself, so concurrent failures are all counted.

    The increment is one UPDATE (never a value read earlier plus one), and the lockout is a
    conditional UPDATE: of concurrent failures crossing the threshold, one locks the account
    and is audited as doing so. On PostgreSQL the first UPDATE holds the row lock until commit,
    so concurrent sign-ins of one account are counted one after the other.
    """
    failures = session.execute(
        update(Officer)
        .where(Officer.id == officer.id)
        .values(failed_logins=func.coalesce(Officer.failed_logins, 0) + 1)
        .returning(Officer.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(officer, "failed_logins", failures)
    audit.record(
        session,
        actor=_subject(officer),
        action="staff.login_failed",
        subject=_subject(officer),
        details={"stage": stage, "failures": failures},
    )
    if failures < policy.threshold:
        return
    until = now + timedelta(minutes=policy.minutes)
    locked = session.execute(
        update(Officer)
        .where(Officer.id == officer.id, Officer.failed_logins >= policy.threshold)
        .values(locked_until=until, failed_logins=0)
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount != 1:  # type: ignore[attr-defined]
        return
    set_committed_value(officer, "locked_until", until)
    set_committed_value(officer, "failed_logins", 0)
    audit.record(
        session,
        actor="system",
        action="staff.locked",
        subject=_subject(officer),
        details={"minutes": policy.minutes},
    )


def check_password(
    session: Session,
    username: str,
    password: str,
    policy: LockoutPolicy,
    *,
    password_hasher: PasswordHasher,
    now: datetime | None = None,
) -> Officer | None:
    """The account if the password is right and the account usable; None otherwise.

    A hash made with other parameters than ``password_hasher``'s is replaced on success.
    """
    now = now or utcnow()
    officer = session.scalar(select(Officer).where(Officer.username == username.strip()))
    if officer is None:
        with contextlib.suppress(VerificationError):
            password_hasher.verify(dummy_hash(password_hasher), password)
        audit.record(
            session,
            actor="anonymous",
            action="staff.login_failed",
            subject=_subject(None),
            details={"stage": "password"},
        )
        return None
    try:
        password_ok = password_hasher.verify(officer.password_hash, password)
    except (VerificationError, InvalidHashError):
        password_ok = False
    if not officer.active or _is_locked(officer, now):
        audit.record(
            session,
            actor=_subject(officer),
            action="staff.login_refused",
            subject=_subject(officer),
            details={"reason": "inactive" if not officer.active else "locked"},
        )
        return None
    if not password_ok:
        register_failure(session, officer, policy, "password", now)
        return None
    if password_hasher.check_needs_rehash(officer.password_hash):
        officer.password_hash = password_hasher.hash(password)
    return officer


def check_code(
    session: Session,
    officer: Officer,
    code: str,
    keyring: Keyring,
    policy: LockoutPolicy,
    *,
    now: datetime | None = None,
) -> bool:
    """Second step: a fresh TOTP code of an enrolled account that is still usable."""
    now = now or utcnow()
    if officer.totp_enrolled_at is None:
        return False
    return _code_accepted(session, officer, code, keyring, policy, "code", now)


def _code_accepted(
    session: Session,
    officer: Officer,
    code: str,
    keyring: Keyring,
    policy: LockoutPolicy,
    stage: str,
    now: datetime,
) -> bool:
    """A usable account and a fresh code of its stored secret; a wrong code counts as a failure."""
    if not officer.active or _is_locked(officer, now):
        return False
    secret = totp.secret_for(officer, keyring)
    if secret is None or not totp.verify_and_consume(session, officer, secret, code, now=now):
        register_failure(session, officer, policy, stage, now)
        return False
    return True


def begin_enrolment(officer: Officer, keyring: Keyring) -> str:
    """The secret being enrolled: kept encrypted on the account until a code confirms it."""
    secret = totp.secret_for(officer, keyring) if officer.totp_enrolled_at is None else None
    if not secret:
        secret = totp.new_secret()
        totp.store_secret(officer, secret, keyring)
    return secret


def confirm_enrolment(
    session: Session,
    officer: Officer,
    code: str,
    keyring: Keyring,
    policy: LockoutPolicy,
    *,
    now: datetime | None = None,
) -> bool:
    now = now or utcnow()
    if officer.totp_enrolled_at is not None:
        return False
    if not _code_accepted(session, officer, code, keyring, policy, "enrolment", now):
        return False
    officer.totp_enrolled_at = now
    audit.record(
        session, actor=_subject(officer), action="staff.totp_enrolled", subject=_subject(officer)
    )
    return True


def complete_login(session: Session, officer: Officer, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    officer.failed_logins = 0
    officer.locked_until = None
    officer.last_login_at = now
    audit.record(session, actor=_subject(officer), action="staff.login", subject=_subject(officer))


def sign_out(session: Session, officer: Officer, token: str | None) -> None:
    """End this browser's staff session and say so in the audit chain."""
    staff_sessions.close_session(session, token)
    audit.record(session, actor=_subject(officer), action="staff.logout", subject=_subject(officer))
