"""Digests of bearer tokens: what the database keeps of a token a browser holds."""

from __future__ import annotations

import hashlib


def token_hash(token: str) -> str:
    """What is stored of a bearer token handed to a browser (follow-up, receipt handoff,
    staff session): a leaked table gives nothing to present back."""
    return hashlib.sha256(token.encode()).hexdigest()
