"""Response headers applied to every page, and the log filter that keeps reporters anonymous."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# Candidates only: each is checked with ``ipaddress`` so that times such as 12:30:45 survive.
_IPV6_CANDIDATE = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
REDACTED = "[addr]"


def _scrub_ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    candidate = text.split("%", 1)[0].strip(":") if text.count(":") < 2 else text
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return text
    return REDACTED


def scrub(text: str) -> str:
    """Remove anything that is an IPv4 or IPv6 address from a piece of log text."""
    return _IPV6_CANDIDATE.sub(_scrub_ipv6, _IPV4.sub(REDACTED, text))


class AnonymizingFilter(logging.Filter):
    """Blank out client addresses before a log line is written.

    Attach it to handlers (as ``portal.logging_setup`` does): a filter on a logger does not see
    the records of its child loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def apply_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Permissions-Policy"] = (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    )
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    app.after_request(apply_security_headers)
    anonymizer = AnonymizingFilter()
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "portal", app.logger.name):
        logging.getLogger(name).addFilter(anonymizer)


def token_hash(token: str) -> str:
    """What is stored of a bearer token handed to a browser (follow-up, receipt handoff,
    staff session): a leaked table gives nothing to present back."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_local_path(target: str) -> bool:
    """Whether a redirect target stays on this site: "/x", never "//host", "/\\host" or a
    target a browser would rewrite into one (browsers drop tabs and newlines from URLs)."""
    if not target.startswith("/") or any(ord(c) < 0x21 or c == "\x7f" for c in target):
        return False
    return not target.replace("\\", "/").startswith("//")
