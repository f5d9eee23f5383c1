"""Blind indexes: find equal values (a URL, a phone number, an account) without storing them.

A blind index is HMAC-SHA-256 under a pepper that lives with the instance secrets, never in the
database, over the kind of value and its normalised form. Two reports that name the same
normalised value get the same index, so they can be linked by an equality join; someone holding
only a copy of the database cannot test whether a given value was reported, because computing an
index needs the pepper. The values themselves are stored encrypted with the keyring.

The kind is part of the input so that the same text under two kinds (a handle and an e-mail
local part, say) never collides. Normalisation is the caller's job (``portal.domain``): the
index only sees the canonical form.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_PEPPER_BYTES = 32


class BlindIndexer:
    """Computes blind indexes under one pepper."""

    def __init__(self, pepper: bytes) -> None:
        if len(pepper) < MIN_PEPPER_BYTES:
            raise ValueError(f"the index pepper must be at least {MIN_PEPPER_BYTES} bytes")
        self._pepper = bytes(pepper)

    def index(self, kind: str, normalized: str) -> str:
        """The hex index of ``normalized`` as a value of ``kind`` (e.g. "url", "phone")."""
        if not kind or "\x00" in kind:
            raise ValueError("a blind index needs a kind without NUL")
        message = kind.encode() + b"\x00" + normalized.encode("utf-8")
        return hmac.new(self._pepper, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "BlindIndexer(<pepper hidden>)"
