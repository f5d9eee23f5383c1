"""Bot friction for the report form: a hashcash-style proof of work and a honeypot field.

The form carries a challenge ``v1.<expires>.<bits>.<salt>.<mac>``, signed with a key derived
from the app secret. The reporter's browser (static/js/pow.js) finds a number ``n`` such that
SHA-256(``<challenge>:<n>``) starts with ``bits`` zero bits. The server checks the signature,
the expiry and the hash, then redeems the challenge once (the ``used_pow_tokens`` table).

A valid solution is not required: without JavaScript the form still works, and the stricter
"without proof of work" rate limit applies instead (see ``portal.web.ratelimit``). The work costs a
phone a fraction of a second and a bot doing thousands of submissions real CPU time; the numbers
are printed by ``bench/pow_cost.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, StringField

log = logging.getLogger(__name__)

VERSION = "v1"
CHALLENGE_FIELD = "pow_challenge"
SOLUTION_FIELD = "pow_solution"
HONEYPOT_FIELD = "website"
DEFAULT_BITS = 14
DEFAULT_TTL_SECONDS = 2 * 3600
MAX_NONCE_DIGITS = 12


def _mac_key(app_secret: str | bytes) -> bytes:
    secret = app_secret.encode() if isinstance(app_secret, str) else app_secret
    return hmac.new(secret, b"portal proof-of-work challenge", hashlib.sha256).digest()


def _sign(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def issue(app_secret: str | bytes, *, bits: int, ttl_seconds: int, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + ttl_seconds)
    payload = f"{VERSION}.{expires}.{bits}.{secrets.token_hex(12)}"
    return f"{payload}.{_sign(_mac_key(app_secret), payload)}"


def leading_zero_bits(digest: bytes) -> int:
    count = 0
    for byte in digest:
        if byte == 0:
            count += 8
            continue
        return count + 8 - byte.bit_length()
    return count


def solution_digest(challenge: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()


def solve(challenge: str) -> str:
    """Find a solution (used by tests and benchmarks; browsers run static/js/pow.js)."""
    bits = int(challenge.split(".")[2])
    nonce = 0
    while leading_zero_bits(solution_digest(challenge, str(nonce))) < bits:
        nonce += 1
    return str(nonce)


def check(
    app_secret: str | bytes,
    challenge: str,
    nonce: str,
    *,
    min_bits: int,
    now: float | None = None,
) -> int | None:
    """Return the challenge's expiry time if the solution is valid, else None (no redemption)."""
    parts = challenge.split(".")
    if len(parts) != 5 or parts[0] != VERSION:
        return None
    _, expires_text, bits_text, _salt, mac = parts
    payload = ".".join(parts[:4])
    if not hmac.compare_digest(mac, _sign(_mac_key(app_secret), payload)):
        return None
    if not (expires_text.isdigit() and bits_text.isdigit()):
        return None
    expires, bits = int(expires_text), int(bits_text)
    if expires <= (now if now is not None else time.time()) or bits < min_bits:
        return None
    if not nonce.isdigit() or len(nonce) > MAX_NONCE_DIGITS:
        return None
    if leading_zero_bits(solution_digest(challenge, nonce)) < bits:
        return None
    return expires


def redeem(session_factory: Callable[[], Any], challenge: str, expires: int) -> bool:
    """Mark a challenge used, in its own transaction; False if it was used already."""
    from portal.models import UsedPowToken, utcnow

    digest = hashlib.sha256(challenge.encode()).hexdigest()
    with session_factory() as session:
        session.execute(delete(UsedPowToken).where(UsedPowToken.expires_at < utcnow()))
        session.add(UsedPowToken(digest=digest, expires_at=datetime.fromtimestamp(expires, UTC)))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def _settings() -> tuple[str, int, int]:
    config = current_app.config
    return (
        config["SECRET_KEY"],
        int(config.get("POW_DIFFICULTY_BITS", DEFAULT_BITS)),
        int(config.get("POW_TTL_SECONDS", DEFAULT_TTL_SECONDS)),
    )


def new_challenge() -> str:
    secret, bits, ttl = _settings()
    return issue(secret, bits=bits, ttl_seconds=ttl)


def request_has_valid_solution() -> bool:
    """Whether this request carries a valid, unused solution; redeemed on first ask."""
    if "pow_valid" not in g:
        g.pow_valid = _verify_request()
    return bool(g.pow_valid)


def _verify_request() -> bool:
    challenge = request.form.get(CHALLENGE_FIELD, "")
    nonce = request.form.get(SOLUTION_FIELD, "")
    if not challenge or not nonce or len(challenge) > 200:
        return False
    secret, bits, _ttl = _settings()
    expires = check(secret, challenge, nonce, min_bits=bits)
    if expires is None:
        return False
    return redeem(current_app.extensions["db_sessionmaker"], challenge, expires)


class ChallengeField(HiddenField):
    """Always renders a fresh challenge (a form shown again after an error gets a new one)."""

    def _value(self) -> str:
        return new_challenge()


class SolutionField(HiddenField):
    """Filled in by the browser; never echoed back."""

    def _value(self) -> str:
        return ""


def honeypot_field() -> StringField:
    return StringField(
        _l("Leave this field empty"),
        description=_l("This field is a trap for automated spam. People should leave it empty."),
        render_kw={"autocomplete": "off", "tabindex": "-1"},
    )
