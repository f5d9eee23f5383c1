"""Refuse a request whose declared body is over the limit before a byte of it is read.

Without this, a server reads (or waits for) a body it will refuse anyway: a ``Content-Length``
of a terabyte would tie up a worker thread for as long as the client cares to trickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

# Room for the form's text fields and the multipart framing around the evidence files.
FORM_OVERHEAD = 4 * 1024 * 1024


def body_limit(config: Mapping[str, Any]) -> int:
    """The largest body a request may declare: the evidence limit plus the form around it."""
    return int(config["EVIDENCE_MAX_REQUEST_SIZE"]) + FORM_OVERHEAD


def refuse_oversized_body() -> None:
    declared, limit = request.content_length, current_app.config.get("MAX_CONTENT_LENGTH")
    if declared is not None and limit is not None and declared > limit:
        raise RequestEntityTooLarge()


def init_app(app: Flask) -> None:
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        # Werkzeug enforces the same limit again on bodies that declare no length (chunked).
        app.config["MAX_CONTENT_LENGTH"] = body_limit(app.config)
    # First of all hooks, before anything (CSRF, forms) touches the body.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized_body)
