"""The honeypot field of the report form: a bot that fills it is answered exactly like a person.

A discarded submission is charged to the same limits, redirected to the same receipt page, and
shown a reference and receipt there once, like a real reporter. They are random, never stored and
open nothing. What tells them apart is known to the server only: the handoff token in the
session is 16 random bytes followed by their keyed MAC, where a real one is 32 random bytes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, redirect, request, session, url_for

from portal.domain.receipts import (
    RECEIPT_DIGITS,
    REFERENCE_ALPHABET,
    REFERENCE_BODY_LENGTH,
    REFERENCE_PREFIX,
    generate_receipt,
)
from portal.services.handoff import ShownReceipt
from portal.web import pow as proof_of_work
from portal.web.context import receipt_hasher
from portal.web.ratelimit import charge_accepted_report, refusal

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
HANDOFF_KEY = "receipt_handoff"
_RANDOM_BYTES = 16
# Where showings are counted when rate limits are off (a single development process).


def _mac(nonce: bytes) -> bytes:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"decoy receipt handoff:" + nonce, hashlib.sha256).digest()[:16]


def _decoy_token() -> str:
    nonce = secrets.token_bytes(_RANDOM_BYTES)
    return base64.urlsafe_b64encode(nonce + _mac(nonce)).rstrip(b"=").decode()


def _is_decoy(token: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 2 * _RANDOM_BYTES:
        return False
    return hmac.compare_digest(raw[_RANDOM_BYTES:], _mac(raw[:_RANDOM_BYTES]))


def take_decoy(token: str | None) -> ShownReceipt | None:
    """The decoy receipt for a handoff token made by ``guard``; None for any other token.

    Like a real receipt it is shown again on a reload (until the reporter's "kept" button,
    quick exit or the handoff's expiry): its values are derived from the token, so a reload
    shows the same ones. They name no report and open nothing.
    """
    if not token or not _is_decoy(token):
        return None
    seed = hmac.new(_mac(b"values"), token.encode(), hashlib.sha256).digest()
    number = int.from_bytes(seed, "big")
    receipt = f"{number % 10**RECEIPT_DIGITS:0{RECEIPT_DIGITS}d}"
    number //= 10**RECEIPT_DIGITS
    body = ""
    for _ in range(REFERENCE_BODY_LENGTH):
        number, index = divmod(number, len(REFERENCE_ALPHABET))
        body += REFERENCE_ALPHABET[index]
    reference = f"{REFERENCE_PREFIX}-{body[:4]}-{body[4:]}"
    return ShownReceipt(reference=reference, receipt=receipt, priority="normal")


def guard(view: F) -> F:
    """Discard a submission whose honeypot field is filled, answering as if it succeeded."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if request.method == "POST" and request.form.get(proof_of_work.HONEYPOT_FIELD, "").strip():
            log.info("report submission discarded: honeypot field filled")
            # Charged like a real report, so the limits answer the bot exactly as they would.
            wait = charge_accepted_report()
            if wait is not None:
                return refusal(wait)
            # The work of hashing a receipt, so that the answer takes as long as a real one.
            receipt_hasher().lookup_hash(generate_receipt())
            session[HANDOFF_KEY] = _decoy_token()
            return redirect(url_for("citizen.receipt"), code=303)
        return view(*args, **kwargs)

    return cast(F, guarded)
