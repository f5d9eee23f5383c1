"""Who the portal's e-mail says it is from: ``SMTP_FROM`` for every kind of mail, unless
``NOTICE_SENDER`` names another sender for reporters' notices. Read off the messages a real
SMTP server received from the queue's jobs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from portal.jobs.queue import jobs_of
from portal.models import Report
from portal.services import alerts, cases
from tests.support.mail import Mailbox, smtp_server
from tests.support.staff import make_officer
from tests.support.web import submit_and_get_receipt

SMTP_FROM = "cybercrime@police.example"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture(params=[None, "avis@police.example"], ids=["smtp-from-only", "both-set"])
def notice_sender(request: pytest.FixtureRequest) -> str | None:
    return request.param


@pytest.fixture
def app_config(app_config, mailbox, notice_sender):
    config = {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mailbox.port,
        "SMTP_STARTTLS": False,
        "SMTP_FROM": SMTP_FROM,
    }
    if notice_sender is not None:
        config["NOTICE_SENDER"] = notice_sender
    return config


def run_queued(app: Flask) -> None:
    queue = jobs_of(app)
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)


def test_staff_alerts_and_reporters_notices_carry_the_configured_senders(
    app, db, keyring, mailbox, notice_sender
):
    officer, _ = make_officer(app, db, "amina")
    alerts.save_settings(
        db,
        officer,
        on_duty=True,
        email="amina@police.example",
        language="fr",
        kinds=alerts.KINDS,
        now=datetime.now(UTC),
    )
    db.commit()
    # An urgent report alerts the officer on duty; its reporter asked for the notice.
    submit_and_get_receipt(
        app.test_client(),
        q_minor_involved="yes",
        notify_opt_in="y",
        notify_email="victime@example.org",
    )
    run_queued(app)
    cases.message_reporter(db, officer, db.scalars(select(Report)).one(), "Bonjour.", keyring)
    db.commit()
    run_queued(app)

    [alert] = mailbox.to("amina@police.example")
    [notice] = mailbox.to("victime@example.org")
    assert alert["From"] == SMTP_FROM
    assert notice["From"] == (notice_sender or SMTP_FROM)


@pytest.mark.parametrize(
    ("sender", "warned"),
    [(None, True), ("no-reply@portal.invalid", True), ("cybercrime@police.example", False)],
    ids=["default", "placeholder", "real"],
)
def test_a_relay_with_a_placeholder_sender_is_warned_of_at_start(
    app_config, caplog, sender, warned
):
    """The operator set a relay but no sender: every alert and notice would leave from an
    address that cannot exist. The app says so when it starts (and still starts)."""
    from portal import create_app

    config = {key: value for key, value in app_config.items() if key != "SMTP_FROM"}
    if sender is not None:
        config["SMTP_FROM"] = sender
    config.pop("NOTICE_SENDER", None)
    with caplog.at_level("WARNING"):
        create_app(config)
    messages = [r.getMessage() for r in caplog.records if "cannot exist" in r.getMessage()]
    assert bool(messages) is warned, messages
    if warned:
        assert "PORTAL_SMTP_FROM" in messages[0] and ".invalid" in messages[0]
