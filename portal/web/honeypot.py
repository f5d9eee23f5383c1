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

from portal.domain.categories import CATEGORIES, QUESTIONS, automatic_priority
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


PRIORITIES = ("urgent", "high", "normal")


def _decoy_token(priority: str) -> str:
    """An opaque handoff token: a nonce and the priority the form would have got, MAC'd."""
    body = secrets.token_bytes(_RANDOM_BYTES) + bytes([PRIORITIES.index(priority)])
    return base64.urlsafe_b64encode(body + _mac(body)).rstrip(b"=").decode()


def _decoy_priority(token: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    body, mac = raw[: _RANDOM_BYTES + 1], raw[_RANDOM_BYTES + 1 :]
    if len(raw) != 2 * _RANDOM_BYTES + 1 or not hmac.compare_digest(mac, _mac(body)):
        return None
    index = body[-1]
    return PRIORITIES[index] if index < len(PRIORITIES) else None


def _priority_of_form() -> str:
    """The priority a real submission of this form would get, so that the receipt page (which
    states the expected time to a first response) reads the same."""
    category = request.form.get("category", "")
    answers = {
        question.name: "yes"
        for question in QUESTIONS.get(category, ())
        if any(
            (key == question.name or key.endswith(("-" + question.name, "_" + question.name)))
            and value == "yes"
            for key, value in request.form.items()
        )
    }
    return automatic_priority(category, answers) if category in CATEGORIES else "normal"


def take_decoy(token: str | None) -> ShownReceipt | None:
    """The decoy receipt for a handoff token made by ``guard``; None for any other token.

    Like a real receipt it is shown again on a reload (until the reporter's "kept" button,
    quick exit or the handoff's expiry): its values are derived from the token, so a reload
    shows the same ones. They name no report and open nothing.
    """
    priority = _decoy_priority(token) if token else None
    if priority is None:
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
    return ShownReceipt(reference=reference, receipt=receipt, priority=priority)


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
            session[HANDOFF_KEY] = _decoy_token(_priority_of_form())
            return redirect(url_for("citizen.receipt"), code=303)
        return view(*args, **kwargs)

    return cast(F, guarded)
