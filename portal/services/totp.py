"""Time-based one-time codes (RFC 6238) for staff: verification with replay protection, and
the enrolment QR code rendered on the server (no third-party service ever sees the secret)."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import pyotp
import segno
from sqlalchemy import or_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.crypto.keyring import Keyring
from portal.models import Officer, utcnow

ISSUER = "E-Report"
STEP_SECONDS = 30
# Accept the previous and the next step too: phones and servers drift a little.
VALID_WINDOW = 1


def totp_context(username: str) -> str:
    return f"officer.totp:{username}"


def new_secret() -> str:
    return pyotp.random_base32()


def secret_for(officer: Officer, keyring: Keyring) -> str | None:
    if officer.totp_secret_enc is None:
        return None
    return keyring.decrypt_field(officer.totp_secret_enc, totp_context(officer.username))


def store_secret(officer: Officer, secret: str, keyring: Keyring) -> None:
    officer.totp_secret_enc = keyring.encrypt_field(secret, totp_context(officer.username))


def _counter(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def matching_counter(secret: str, code: str, *, now: datetime | None = None) -> int | None:
    """The time step whose code equals ``code`` (within the drift window), or None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = _counter(now or utcnow())
    for counter in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(counter), code):
            return counter
    return None


def verify_and_consume(
    session: Session, officer: Officer, secret: str, code: str, *, now: datetime | None = None
) -> bool:
    """Accept a code once: its step must be later than the last accepted one (no replay).

    The step is consumed by one conditional UPDATE, not read then written: of two sign-ins
    sending the same code at the same instant, the database lets exactly one change the row
    (on PostgreSQL the second waits for the first to commit, then finds the condition false).
    """
    counter = matching_counter(secret, code, now=now)
    if counter is None:
        return False
    consumed = session.execute(
        update(Officer)
        .where(Officer.id == officer.id)
        .where(or_(Officer.totp_last_counter.is_(None), Officer.totp_last_counter < counter))
        .values(totp_last_counter=counter)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(officer, "totp_last_counter", counter)
    return True


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """An SVG QR code as a data: URI, so the strict CSP (no inline style) is respected."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=4, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an authenticator by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
