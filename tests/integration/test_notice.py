"""The opt-in, content-free e-mail notice, sent to a real SMTP server started by the test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.jobs.queue import jobs_of
from portal.models import Report
from portal.services import notices
from portal.services.mailer import SmtpSettings
from portal.services.notices import send_news_notice
from tests.support.evidence import english_client
from tests.support.mail import Mailbox, body_of, smtp_server
from tests.support.web import submit_and_get_receipt, submit_report


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, SmtpSettings]]:
    with smtp_server() as box:
        yield (
            box,
            SmtpSettings(
                host="127.0.0.1",
                port=box.port,
                starttls=False,
                username=None,
                password=None,
                sender="no-reply@portal.test",
                timeout=10,
            ),
        )


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
    body = body_of(message)
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


def test_notices_go_through_the_relay_all_mail_uses_from_their_own_sender(app):
    assert notices.relay({**app.config, "SMTP_HOST": None}) is None
    config = {
        **app.config,
        "SMTP_HOST": "relay.internal",
        "SMTP_PORT": 2525,
        "SMTP_STARTTLS": True,
        "SMTP_USERNAME": "portal",
        "SMTP_PASSWORD": "s3cret",
        "SMTP_TIMEOUT_SECONDS": 45,
        "SMTP_FROM": "cybercrime@police.example",
        "NOTICE_SENDER": "avis@portal.test",
    }
    assert notices.relay(config) == SmtpSettings(
        host="relay.internal",
        port=2525,
        starttls=True,
        username="portal",
        password="s3cret",
        sender="avis@portal.test",
        timeout=45,
    )
    # No sender of their own: the one the other mail leaves from.
    assert notices.relay({**config, "NOTICE_SENDER": None}).sender == "cybercrime@police.example"


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


def _opted_in_report_with_an_officer(app, db):
    """A report whose reporter asked for the notice, and a signed-in officer of its unit."""
    from tests.support.staff import make_officer, sign_in

    reference, _ = submit_and_get_receipt(
        app.test_client(), notify_opt_in="y", notify_email="victime@example.org"
    )
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    return reference, staff


def _run_queued(app) -> int:
    from portal.jobs.queue import jobs_of

    queue, count = jobs_of(app), 0
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
        count += 1
    return count


def test_a_message_to_the_victim_from_the_partner_panel_sends_the_notice(app, db, mailbox):
    from portal.services import partners
    from tests.support.partners import make_partner
    from tests.support.web import csrf_token

    box, _relay = mailbox
    reference, staff = _opted_in_report_with_an_officer(app, db)
    partner = make_partner(db, "centre-a")
    partners.grant_mandate(
        db, db.scalars(select(Report).where(Report.reference == reference)).one(), partner.id
    )
    db.commit()
    _run_queued(app)

    def send(audience: str, body: str) -> None:
        token = csrf_token(staff, f"/officer/reports/{reference}")
        response = staff.post(
            f"/officer/reports/{reference}/partner-message",
            data={"csrf_token": token, "partner-body": body, "partner-audience": audience},
        )
        assert response.status_code == 303

    # Written to the partner only: the partner speaks to the victim, the portal does not.
    send("partner", "For the centre.")
    assert _run_queued(app) == 0 and box.received == []
    # Written to the victim, alone or with the partner: the same notice as an officer's message.
    for audience in ("reporter", "both"):
        send(audience, f"For the victim ({audience}).")
        assert _run_queued(app) == 1
    assert [recipients for recipients, _ in box.received] == [["victime@example.org"]] * 2
    for _recipients, message in box.received:
        assert "For the victim" not in message.as_string() and reference not in message.as_string()


def test_closing_reports_in_bulk_sends_each_reporter_the_notice_after_the_commit(app, db, mailbox):
    from tests.support.web import csrf_token

    box, _relay = mailbox
    original, staff = _opted_in_report_with_an_officer(app, db)
    copy, _ = submit_and_get_receipt(
        app.test_client(), notify_opt_in="y", notify_email="autre@example.org"
    )
    _run_queued(app)
    response = staff.post(
        "/officer/bulk",
        data={
            "csrf_token": csrf_token(staff, "/officer/"),
            "action": "duplicate",
            "original": original,
            "refs": [copy, original],  # the original cannot duplicate itself: refused, no notice
        },
    )
    assert response.status_code == 303
    assert _run_queued(app) == 1
    assert [recipients for recipients, _ in box.received] == [["autre@example.org"]]


def test_the_notice_waits_for_the_commit_and_a_rollback_drops_it(app, db, keyring, mailbox):
    from portal.jobs.queue import jobs_of
    from portal.models import Officer
    from portal.services import cases

    reference, _staff = _opted_in_report_with_an_officer(app, db)
    _run_queued(app)
    queue = jobs_of(app)
    officer = db.scalars(select(Officer).where(Officer.username == "amina")).one()

    def report() -> Report:
        return db.scalars(select(Report).where(Report.reference == reference)).one()

    cases.message_reporter(db, officer, report(), "Not sent after all.", keyring)
    assert queue.depth() == 0  # nothing leaves before the commit
    db.rollback()
    db.commit()
    assert queue.depth() == 0
    cases.message_reporter(db, officer, report(), "Sent.", keyring)
    db.commit()
    assert queue.depth() == 1


def test_an_address_the_relay_refuses_is_retried_then_recorded_without_the_address(
    app, db, mailbox, caplog
):
    box, _relay = mailbox
    box.bounce("victime@example.org")
    submit_and_get_receipt(app.test_client(), notify_opt_in="y", notify_email="victime@example.org")
    _run_queued(app)
    queue = jobs_of(app)
    queue.enqueue("notices.news", db.scalars(select(Report.id)).one())
    with caplog.at_level(logging.INFO):
        queue.huey.execute(queue.huey.dequeue())
        # Each retry once its delay has passed, until the last one (Huey's times are naive UTC).
        later = datetime.now(UTC).replace(tzinfo=None)
        while tasks := queue.huey.read_schedule(later := later + timedelta(hours=1)):
            for task in tasks:
                queue.huey.execute(task, timestamp=later)
    assert box.bounced == ["victime@example.org"] * 6 and box.received == []
    [failure] = queue.failures()
    assert failure["job"] == "notices.news"
    assert failure["error"] == "RecipientsRefused: the relay refused 1 of 1 recipient(s) (550)"
    # The reporter's address is in no line the portal or its queue logged (tracebacks included),
    # nor in the queue's record of the failure. (The test's SMTP server logs its own dialogue.)
    logged = "\n".join(
        caplog.handler.format(record)
        for record in caplog.records
        if record.name.startswith(("portal", "huey"))
    )
    assert "Job notices.news failed after its last attempt" in logged
    assert "victime" not in logged


def test_a_notice_sent_again_after_a_dropped_connection_is_the_same_message(app, db, mailbox):
    """The relay takes the notice but the connection drops before it says so: the job cannot
    know and sends it again, as the same message (same Message-ID), which the reporter's mail
    service can fold into one. The next news is a new message."""
    from portal.jobs.queue import jobs_of
    from tests.support.web import csrf_token

    box, _relay = mailbox
    reference, staff = _opted_in_report_with_an_officer(app, db)
    queue = jobs_of(app)

    def officer_writes(text: str) -> None:
        response = staff.post(
            f"/officer/reports/{reference}/message",
            data={"csrf_token": csrf_token(staff, "/officer/"), "message-body": text},
        )
        assert response.status_code == 303

    officer_writes("Any news?")
    box.drop_after_accepting_once()
    queue.huey.execute(queue.huey.dequeue())  # taken by the relay, reported as a failure
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    [retry] = queue.huey.read_schedule(later)
    queue.huey.execute(retry, timestamp=later)
    first, again = box.to("victime@example.org")
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].startswith("<notice-") and reference not in first["Message-ID"]

    officer_writes("One more question.")
    assert _run_queued(app) == 1
    *_, newer = box.to("victime@example.org")
    assert newer["Message-ID"] != first["Message-ID"]
