"""The opt-in, content-free e-mail notice, sent to a real SMTP server started by the test."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.models import Report
from portal.services.notices import SmtpRelay, send_news_notice
from tests.support.evidence import english_client
from tests.support.web import free_port, submit_and_get_receipt, submit_report


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, SmtpRelay]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, SmtpRelay(host="127.0.0.1", port=port, sender="no-reply@portal.test")
    finally:
        controller.stop()


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def test_the_notice_says_only_that_there_is_news_in_the_reporters_language(
    app, db, keyring, mailbox
):
    box, relay = mailbox
    client = app.test_client()
    client.set_cookie("lang", "fr")
    reference, receipt = submit_and_get_receipt(
        client, notify_opt_in="y", notify_email="victime@example.org"
    )
    report = db.scalars(select(Report)).one()
    # Stored encrypted, bound to its report.
    assert report.notify_email_enc is not None and b"victime" not in report.notify_email_enc
    assert send_news_notice(db, report.id, keyring=keyring, relay=relay) is True
    [(recipients, message)] = box.received
    assert recipients == ["victime@example.org"]
    body = _body(message)
    assert message["Subject"] == "Du nouveau sur votre signalement"
    assert "reçu" in body
    text = message.as_string() + body
    for secret in (reference, receipt, receipt.replace(" ", ""), "Sextorsion", "sextortion",
                   "Someone threatens", "Instagram", "instagram"):  # fmt: skip
        assert secret not in text


def test_no_notice_without_opting_in(app, db, keyring, mailbox):
    box, relay = mailbox
    submit_and_get_receipt(english_client(app), contact_email="someone@example.org")
    report = db.scalars(select(Report)).one()
    assert send_news_notice(db, report.id, keyring=keyring, relay=relay) is False
    assert box.received == []


def test_opting_in_needs_an_address_and_the_form_warns_about_the_mailbox(app, db):
    client = english_client(app)
    page = client.get("/report").get_data(as_text=True)
    assert "anyone who can read this mailbox will learn that you made a report" in page
    response = submit_report(client, notify_opt_in="y", notify_email="")
    assert response.status_code == 400
    assert "Give the e-mail address for the notice" in response.get_data(as_text=True)
    response = submit_report(client, notify_opt_in="y", notify_email="not an address")
    assert "does not look like an e-mail address" in response.get_data(as_text=True)
    assert db.scalars(select(Report)).all() == []


def test_relay_from_configuration(app):
    assert SmtpRelay.from_config({"SMTP_HOST": None}) is None
    relay = SmtpRelay.from_config(
        {
            "SMTP_HOST": "relay.internal",
            "SMTP_PORT": 587,
            "SMTP_STARTTLS": True,
            "NOTICE_SENDER": "avis@portal.test",
        }
    )
    assert relay == SmtpRelay("relay.internal", 587, "avis@portal.test", starttls=True)


@pytest.fixture
def app_config(app_config, mailbox):
    _box, relay = mailbox
    return {**app_config, "SMTP_HOST": relay.host, "SMTP_PORT": relay.port, "SMTP_STARTTLS": False}


def test_an_officer_message_queues_the_notice_and_the_job_sends_it(app, db, mailbox):
    from portal.jobs.queue import jobs_of
    from tests.support.staff import make_officer, sign_in
    from tests.support.web import csrf_token

    box, _relay = mailbox
    reporter = app.test_client()
    reference, _ = submit_and_get_receipt(
        reporter, notify_opt_in="y", notify_email="victime@example.org"
    )
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    queue = jobs_of(app)
    before = queue.depth()
    response = staff.post(
        f"/officer/reports/{reference}/message",
        data={"csrf_token": csrf_token(staff, "/officer/"), "message-body": "Any news?"},
    )
    assert response.status_code == 303
    assert queue.depth() == before + 1
    # The worker runs what was queued: one content-free notice reaches the mailbox.
    task = queue.huey.dequeue()
    queue.huey.execute(task)
    [(recipients, message)] = box.received
    assert recipients == ["victime@example.org"] and "Any news?" not in message.as_string()
