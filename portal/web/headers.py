"""Response headers applied to every page (CSP, no-store, HSTS) and safe redirect targets."""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request

from portal.logging_setup import AnonymizingFilter

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)

REFERRER_POLICY = "same-origin"


def apply_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    # The portal's own address to itself (https CSRF checks need it), nothing to other sites.
    headers["Referrer-Policy"] = REFERRER_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["Permissions-Policy"] = (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    )
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    # Only pages that say so (public figures) may be kept by caches; everything else is no-store.
    if not request.path.startswith("/static/") and not getattr(response, "public_cache", False):
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


@cache
def _file_version(folder: str, filename: str) -> str:
    path = Path(folder) / filename
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "0"


def version_static_urls(endpoint: str, values: dict[str, Any]) -> None:
    """``/static/css/portal.css?v=<content hash>``: the proxy may let browsers keep static files
    for a year (see the nginx recipe), and a new release still reaches them at once."""
    if endpoint == "static" and "filename" in values and "v" not in values:
        values["v"] = _file_version(current_app.static_folder or "", values["filename"])


def init_app(app: Flask) -> None:
    app.after_request(apply_security_headers)
    app.url_defaults(version_static_urls)
    anonymizer = AnonymizingFilter()
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "portal", app.logger.name):
        logging.getLogger(name).addFilter(anonymizer)


def is_local_path(target: str) -> bool:
    """Whether a redirect target stays on this site: "/x", never "//host", "/\\host" or a
    target a browser would rewrite into one (browsers drop tabs and newlines from URLs)."""
    if not target.startswith("/") or any(ord(c) < 0x21 or c == "\x7f" for c in target):
        return False
    return not target.replace("\\", "/").startswith("//")
