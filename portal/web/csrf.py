"""CSRF refusals: an origin check beside flask-wtf's token and referrer checks, and a log line.

Over https flask-wtf also requires a ``Referer`` from this very origin (``WTF_CSRF_SSL_STRICT``).
Pages are sent with ``Referrer-Policy: same-origin``, so browsers send the portal its own
address and send other sites nothing; under ``no-referrer`` every https form would be refused.
Browsers also send ``Origin`` on a POST: one naming another site is refused here, before the
token is even read. Each refusal is logged with its reason and the route, never with the
client's address, user agent, referrer or anything the form carried.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError

log = logging.getLogger("portal.csrf")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ORIGIN_MISMATCH = "The origin does not match the host."


def check_origin() -> None:
    """Refuse a state-changing request that a browser says comes from another origin."""
    if request.method not in UNSAFE_METHODS or not current_app.config["WTF_CSRF_ENABLED"]:
        return
    if _exempt():
        return
    origin = request.headers.get("Origin")
    # "null" is what a browser sends when it withholds the origin (privacy contexts): the token
    # and, over https, the referrer check still decide.
    if not origin or origin == "null":
        return
    if origin.rstrip("/") != request.host_url.rstrip("/"):
        raise CSRFError(ORIGIN_MISMATCH)


def _exempt() -> bool:
    """Views and blueprints exempted with ``csrf.exempt`` (token-authenticated APIs, probes),
    read from what flask-wtf records of them (the same since flask-wtf 1.0)."""
    protect = current_app.extensions["csrf"]
    if current_app.blueprints.get(request.blueprint or "") in protect._exempt_blueprints:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and f"{view.__module__}.{view.__name__}" in protect._exempt_views


def log_refusal(error: CSRFError) -> tuple[str, int]:
    log.warning(
        "CSRF check refused: %s (%s %s)",
        error.description,
        request.method,
        request.endpoint or "unknown route",
    )
    return render_template("error.html", error=error), 400


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_ENABLED", True)
    # First of all hooks: a forged upload is refused before its body is read.
    app.before_request_funcs.setdefault(None, []).insert(0, check_origin)
    app.register_error_handler(CSRFError, log_refusal)
