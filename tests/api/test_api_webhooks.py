"""Signed webhook events, delivered to a local HTTP server the test starts, with retries."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.models import Report, WebhookDelivery, utcnow
from portal.services import cases
from portal.services import partners as service
from portal.services.webhooks import deliver_due_webhooks, verify_signature
from tests.support.partners import Receiver, file_report
from tests.support.staff import make_officer
from tests.support.web import free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return {**app_config, "WEBHOOK_ALLOW_LOCAL_HTTP": True}


def _register(client: Any, partner: Any, url: str) -> str:
    response = client.put("/api/v1/webhook", json={"url": url}, headers=partner.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    secret = response.get_json()["secret"]
    assert secret.startswith("whsec_")
    # Shown once: reading it back gives the URL only.
    again = client.get("/api/v1/webhook", headers=partner.headers).get_json()
    assert again == {"url": url, "secret": None}
    return secret


def test_status_change_and_officer_message_arrive_signed(
    app, client, db, keyring, partner_a, receiver
):
    secret = _register(client, partner_a, receiver.url)
    reference = file_report(client, partner_a)["reference"]
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    report = db.scalar(select(Report).where(Report.reference == reference))
    cases.change_status(db, officer, report, report.version, "in_review")
    db.commit()
    service.officer_message_partner(
        db, officer, report, "Please send the payment receipt.", keyring=keyring
    )
    db.commit()

    run = deliver_due_webhooks(db, utcnow(), keyring=keyring, allow_local_http=True)
    assert run.delivered == 2
    assert len(receiver.received) == 2
    events = []
    for request in receiver.received:
        body = request["body"]
        header = request["headers"]["Portal-Signature"]
        assert verify_signature(secret, header, body)
        # The documented verification, done by hand as a partner would.
        fields = dict(part.split("=", 1) for part in header.split(","))
        signed = f"{fields['t']}.".encode() + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, fields["v1"])
        assert not verify_signature("whsec_wrong", header, body)
        assert not verify_signature(secret, header, body + b" ")
        events.append(json.loads(body))
    assert [event["type"] for event in events] == ["report.status_changed", "message.created"]
    assert events[0]["data"]["status"] == "in_review"
    assert events[0]["data"]["reference"] == reference
    # No report content: the message is read through the API, with the token.
    raw = b"".join(request["body"] for request in receiver.received)
    assert b"payment receipt" not in raw and b"threatens" not in raw
    message_id = events[1]["data"]["message_id"]
    messages = client.get(f"/api/v1/reports/{reference}/messages", headers=partner_a.headers)
    assert [m["id"] for m in messages.get_json()["items"]] == [message_id]
    assert messages.get_json()["items"][0]["author"] == "officer"


def test_failed_delivery_is_retried_with_backoff(app, client, db, keyring, partner_a, receiver):
    _register(client, partner_a, receiver.url)
    reference = file_report(client, partner_a)["reference"]
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    report = db.scalar(select(Report).where(Report.reference == reference))
    cases.change_status(db, officer, report, report.version, "in_review")
    db.commit()

    receiver.answers = [500, 503]
    now = utcnow()
    assert deliver_due_webhooks(db, now, keyring=keyring, allow_local_http=True).failed == 1
    delivery = db.scalar(select(WebhookDelivery))
    assert (delivery.attempts, delivery.last_status) == (1, 500)
    assert delivery.next_attempt_at == now + timedelta(seconds=30)
    # Not due yet: nothing is sent.
    assert (
        deliver_due_webhooks(
            db, now + timedelta(seconds=10), keyring=keyring, allow_local_http=True
        ).failed
        == 0
    )
    assert len(receiver.received) == 1
    later = now + timedelta(seconds=31)
    assert deliver_due_webhooks(db, later, keyring=keyring, allow_local_http=True).failed == 1
    db.refresh(delivery)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == later + timedelta(seconds=60)
    assert (
        deliver_due_webhooks(
            db, later + timedelta(minutes=2), keyring=keyring, allow_local_http=True
        ).delivered
        == 1
    )
    db.refresh(delivery)
    assert delivery.delivered_at is not None and delivery.last_status == 200
    # The same event each time, under the same id.
    ids = {request["headers"]["Portal-Event-Id"] for request in receiver.received}
    assert ids == {delivery.event_id}


def test_unreachable_endpoint_is_abandoned_after_the_last_attempt(
    app, client, db, keyring, partner_a
):
    _register(client, partner_a, f"http://127.0.0.1:{free_port()}/gone")
    reference = file_report(client, partner_a)["reference"]
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    report = db.scalar(select(Report).where(Report.reference == reference))
    cases.change_status(db, officer, report, report.version, "in_review")
    db.commit()
    moment = utcnow()
    for _ in range(3):
        deliver_due_webhooks(db, moment, keyring=keyring, max_attempts=3, allow_local_http=True)
        moment += timedelta(hours=7)
    delivery = db.scalar(select(WebhookDelivery))
    assert delivery.attempts == 3
    assert delivery.abandoned_at is not None and delivery.delivered_at is None
    assert delivery.last_error == "URLError"


def test_no_event_after_the_mandate_is_withdrawn(app, client, db, keyring, partner_a, receiver):
    _register(client, partner_a, receiver.url)
    reference = file_report(client, partner_a)["reference"]
    client.post(f"/api/v1/reports/{reference}/withdraw", json={}, headers=partner_a.headers)
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    report = db.scalar(select(Report).where(Report.reference == reference))
    cases.change_status(db, officer, report, report.version, "in_review")
    db.commit()
    assert db.scalar(select(WebhookDelivery)) is None


def test_endpoint_must_be_https_in_production(client, db, partner_a, app):
    app.config["WEBHOOK_ALLOW_LOCAL_HTTP"] = False
    for url in (
        "http://127.0.0.1:9/x",
        "http://partner.example/hook",
        "https://10.0.0.1/hook",
        "https://localhost/hook",
        "https://user:pw@partner.example/hook",
    ):
        response = client.put("/api/v1/webhook", json={"url": url}, headers=partner_a.headers)
        assert response.status_code == 422, url
        assert response.get_json()["errors"][0]["pointer"] == "/url"
    ok = client.put(
        "/api/v1/webhook", json={"url": "https://partner.example/hook"}, headers=partner_a.headers
    )
    assert ok.status_code == 200


def test_delivery_refuses_an_endpoint_that_resolves_inside(
    app, client, db, keyring, partner_a, receiver
):
    """A name registered as public may later point at an internal address: checked each time."""
    _register(client, partner_a, receiver.url)
    reference = file_report(client, partner_a)["reference"]
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    report = db.scalar(select(Report).where(Report.reference == reference))
    cases.change_status(db, officer, report, report.version, "in_review")
    db.commit()
    run = deliver_due_webhooks(db, utcnow(), keyring=keyring)
    assert run.failed == 1 and receiver.received == []
    delivery = db.scalar(select(WebhookDelivery))
    assert delivery.last_error == "endpoint does not resolve to a public address"
