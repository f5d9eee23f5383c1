"""Helpers for driving the portal through the Flask test client as a browser would."""

from __future__ import annotations

import re
import socket
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_RECEIPT = re.compile(r'id="receipt">([\d ]+)<')
_REFERENCE = re.compile(r'class="reference"[^>]*>(EB-[0-9A-Z-]+)<')


def csrf_from(page: str) -> str:
    """The CSRF token of a page's form (any client: the Flask test client, requests, ...)."""
    match = _CSRF.search(page)
    assert match, f"no CSRF token on the page: {page[:500]}"
    return match.group(1)


def csrf_token(client: FlaskClient, path: str) -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def valid_report(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "category": "sextortion",
        "urls": "https://www.instagram.com/some.blackmailer/?utm_source=ig&igshid=abc\n",
        "platform": "instagram",
        "description": "Someone threatens to publish my photos unless I pay.",
        "territory": "MA-CAS",
        "q_money_demanded": "yes",
        "q_paid": "no",
        "good_faith": "y",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def submit_report(client: FlaskClient, **overrides: Any) -> TestResponse:
    data = valid_report(**overrides)
    data.setdefault("csrf_token", csrf_token(client, "/report"))
    return client.post("/report", data=data, content_type="multipart/form-data")


def submit_and_get_receipt(client: FlaskClient, **overrides: Any) -> tuple[str, str]:
    """Submit a valid report and read the reference and receipt off the one-time page."""
    response = submit_report(client, **overrides)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    receipt = _RECEIPT.search(page)
    reference = _REFERENCE.search(page)
    assert receipt and reference, page[:2000]
    return reference.group(1), receipt.group(1)


def open_follow_up(client: FlaskClient, receipt: str) -> TestResponse:
    token = csrf_token(client, "/follow-up")
    return client.post("/follow-up", data={"csrf_token": token, "receipt": receipt})


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
