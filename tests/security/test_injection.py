"""Stored XSS and SQL injection: hostile text in every reporter field, read back everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Officer, Report
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt, submit_report

STRINGS = [
    line
    for line in (Path(__file__).with_name("naughty_strings.txt")).read_text("utf-8").splitlines()
    if line and not line.startswith("#")
]
SPECIAL = set("<>&\"'")


def _report_fields(payload: str) -> dict[str, str]:
    return {
        "category": "fraud",
        "platform": "whatsapp",
        "description": payload,
        "q_payment_method": payload[:300],
        "q_payment_reference": payload[:300],
        "q_scammer_contact": payload[:300],
        "contact_name": payload[:120],
        "contact_phone": payload[:40],
        "contact_email": payload[:200],
        "contact_safe_time": payload[:200],
    }


def _assert_rendered_safely(page: str, payload: str, where: str) -> None:
    if SPECIAL & set(payload):
        assert payload not in page, f"raw payload in {where}: {payload!r}"
        assert str(escape(payload)) in page, f"payload missing from {where}: {payload!r}"
    else:
        assert payload in page, f"payload garbled in {where}: {payload!r}"


def test_there_are_enough_naughty_strings() -> None:
    assert len(STRINGS) >= 40


@pytest.mark.parametrize("payload", STRINGS)
def test_stored_payload_is_escaped_for_reporter_and_officer(
    app: Flask, officer_client: FlaskClient, payload: str
) -> None:
    reporter = app.test_client()
    reference, receipt = submit_and_get_receipt(reporter, **_report_fields(payload))
    assert open_follow_up(reporter, receipt).status_code == 303
    reply = reporter.post(
        "/follow-up/reply",
        data={"csrf_token": csrf_token(reporter, "/follow-up"), "body": payload},
    )
    assert reply.status_code == 303
    _assert_rendered_safely(reporter.get("/follow-up").get_data(as_text=True), payload, "follow-up")

    page = officer_client.get(f"/officer/reports/{reference}")
    assert page.status_code == 200
    _assert_rendered_safely(page.get_data(as_text=True), payload, "officer report page")
    queue = officer_client.get("/officer/")
    assert queue.status_code == 200 and reference in queue.get_data(as_text=True)


@pytest.mark.parametrize("payload", [s for s in STRINGS if SPECIAL & set(s)][:12])
def test_a_form_shown_again_escapes_what_was_typed(client: FlaskClient, payload: str) -> None:
    response = submit_report(client, description=payload, good_faith=None)
    assert response.status_code == 400
    _assert_rendered_safely(response.get_data(as_text=True), payload, "the form shown again")


@pytest.mark.parametrize(
    "url",
    [
        'https://example.com/"><script>alert(1)</script>',
        "https://example.com/?q=<img src=x onerror=alert(1)>",
        "javascript:alert(1)",
        "https://example.com/' OR '1'='1",
    ],
)
def test_hostile_urls_are_refused_or_escaped(
    app: Flask, officer_client: FlaskClient, url: str
) -> None:
    reporter = app.test_client()
    response = submit_report(reporter, urls=url)
    body = response.get_data(as_text=True)
    assert "<script>alert(1)" not in body and "<img src=x" not in body
    if response.status_code == 303:
        page = reporter.get(response.headers["Location"]).get_data(as_text=True)
        reference = page.split('class="reference"', 1)[1].split(">", 1)[1].split("<", 1)[0]
        officer_page = officer_client.get(f"/officer/reports/{reference}").get_data(as_text=True)
        assert "<script>alert(1)" not in officer_page and "<img src=x" not in officer_page
        assert 'href="javascript:' not in officer_page
    else:
        assert response.status_code == 400


SQL_STRINGS = [s for s in STRINGS if any(k in s.upper() for k in ("SELECT", "DROP", " OR ", "--"))]


def test_sql_injection_in_receipt_and_login_changes_nothing(
    app: Flask, db: Session, officer_name: str
) -> None:
    client = app.test_client()
    reports_before = db.scalar(select(func.count()).select_from(Report))
    for payload in SQL_STRINGS:
        assert open_follow_up(client, payload).status_code == 400
        token = csrf_token(client, "/officer/login")
        response = client.post(
            "/officer/login",
            data={"csrf_token": token, "username": payload[:64], "password": payload},
        )
        assert response.status_code == 400
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Report)) == reports_before
    assert db.scalar(select(func.count()).select_from(Officer)) == 1


def test_sql_injection_in_the_queue_filters(app: Flask, officer_client: FlaskClient) -> None:
    reference, _ = submit_and_get_receipt(app.test_client())
    for payload in SQL_STRINGS:
        for name in ("reference", "status", "category", "priority", "platform", "after", "from"):
            response = officer_client.get("/officer/", query_string={name: payload})
            assert response.status_code in (200, 400), (name, payload, response.status_code)
            assert reference not in response.get_data(as_text=True) or name not in ("reference",), (
                "a hostile reference filter matched every report"
            )
    # The queue still works afterwards and the report is still there.
    assert reference in officer_client.get("/officer/").get_data(as_text=True)
