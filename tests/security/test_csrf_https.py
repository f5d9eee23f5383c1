"""CSRF over https: what a browser sends under the portal's Referrer-Policy is accepted; a
missing or foreign referrer, or a foreign origin, is refused and logged with its reason only."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.web import valid_report

SITE = "https://portal.example"
ADDRESS = "198.51.100.23"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_RECEIPT = re.compile(r'id="receipt">([\d ]+)<')
_REFERENCE = re.compile(r'class="reference"[^>]*>(EB-[0-9A-Z-]+)<')


class HttpsBrowser:
    """A client that talks to the portal over https and sends the headers a browser would."""

    def __init__(self, app: Flask) -> None:
        self.client: FlaskClient = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = ADDRESS

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, base_url=SITE)

    def token(self, path: str) -> str:
        match = _CSRF.search(self.get(path).get_data(as_text=True))
        assert match, path
        return match.group(1)

    def post(self, path: str, data: dict[str, str], **headers: str) -> TestResponse:
        return self.client.post(
            path, base_url=SITE, data=data, headers=headers, content_type="multipart/form-data"
        )

    def submit_report(self, **headers: str) -> TestResponse:
        data = valid_report(csrf_token=self.token("/report"))
        return self.post("/report", data, **headers)


# What Chromium sends for a form posted from a page of the portal under `same-origin`.
SAME_ORIGIN = {"Referer": f"{SITE}/report", "Origin": SITE}


@pytest.fixture
def browser(app: Flask) -> HttpsBrowser:
    return HttpsBrowser(app)


def test_pages_tell_browsers_to_send_the_referrer_to_the_portal_only(browser: HttpsBrowser) -> None:
    response = browser.get("/report")
    assert response.headers["Referrer-Policy"] == "same-origin"
    page = response.get_data(as_text=True)
    # A <meta name="referrer"> would override the header: it must say the same.
    assert re.findall(r'<meta name="referrer" content="([^"]+)">', page) == ["same-origin"]


def test_a_report_and_its_follow_up_are_accepted_over_https(browser: HttpsBrowser) -> None:
    response = browser.submit_report(**SAME_ORIGIN)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    receipt_page = browser.get("/report/receipt").get_data(as_text=True)
    receipt, reference = _RECEIPT.search(receipt_page), _REFERENCE.search(receipt_page)
    assert receipt and reference
    follow_up = browser.post(
        "/follow-up",
        {"csrf_token": browser.token("/follow-up"), "receipt": receipt.group(1)},
        Referer=f"{SITE}/follow-up",
        Origin=SITE,
    )
    assert follow_up.status_code == 303
    assert reference.group(1) in browser.get("/follow-up").get_data(as_text=True)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        # What every browser sent under the old `no-referrer` policy.
        ({"Origin": "null"}, "The referrer header is missing."),
        ({"Referer": "https://evil.example/report"}, "The referrer does not match the host."),
        ({"Referer": "http://portal.example/report"}, "The referrer does not match the host."),
        (
            {"Referer": f"{SITE}/report", "Origin": "https://evil.example"},
            "The origin does not match the host.",
        ),
    ],
)
def test_a_forged_or_unsourced_post_is_refused_and_logged_with_its_reason(
    app: Flask,
    browser: HttpsBrowser,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    reason: str,
) -> None:
    sessions = app.extensions["db_sessionmaker"]
    from portal.models import Report

    with caplog.at_level(logging.WARNING, logger="portal.csrf"):
        response = browser.submit_report(**headers)
    assert response.status_code == 400
    with sessions() as session:
        assert session.query(Report).count() == 0
    records = [r for r in caplog.records if r.name == "portal.csrf"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert reason in message and "citizen.submit_report" in message
    # Reason and route only: nothing about the client or what it sent.
    for private in (ADDRESS, "evil.example", "/report", "instagram", "blackmailer"):
        assert private not in message.replace("submit_report", "")


def test_a_foreign_origin_is_refused_on_plain_http_too(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    token_page = client.get("/follow-up").get_data(as_text=True)
    token = _CSRF.search(token_page)
    assert token
    response = client.post(
        "/follow-up",
        data={"csrf_token": token.group(1), "receipt": "1" * 16},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 400
    assert [r.getMessage() for r in caplog.records if r.name == "portal.csrf"] == [
        "CSRF check refused: The origin does not match the host. (POST citizen.follow_up)"
    ]
    caplog.clear()
    # The same request from the portal's own page goes through to the receipt check.
    same = client.post(
        "/follow-up",
        data={"csrf_token": token.group(1), "receipt": "1" * 16},
        headers={"Origin": "http://localhost"},
    )
    assert same.status_code == 400  # a wrong receipt, not a refused request
    assert not [r for r in caplog.records if r.name == "portal.csrf"]
