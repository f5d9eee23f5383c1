"""A partner's filing and a partner's message alert the unit's on-duty officers, content-free."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_alerts import (
    CONTENT,
    on_duty,
    run_queued,
)
from tests.support.mail import Mailbox, body_of, smtp_server
from tests.support.partners import file_report


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def app_config(app_config, mailbox):
    return {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mailbox.port,
        "SMTP_STARTTLS": False,
    }


def test_an_urgent_filing_and_a_partner_message_alert_the_unit(app, db, client, mailbox, partner_a):
    on_duty(app, db, "amina")
    created = file_report(client, partner_a, answers={"minor_involved": "yes"})
    run_queued(app)
    [(recipients, message)] = mailbox.received
    assert recipients == ["amina@police.test"] and message["Subject"] == "Urgent report waiting"
    reference = created["reference"]
    response = client.post(
        f"/api/v1/reports/{reference}/messages",
        json={"body": "She received a new threat."},
        headers=partner_a.headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    run_queued(app)
    assert [m["Subject"] for _r, m in mailbox.received] == [
        "Urgent report waiting",
        "A reporter has answered",
    ]
    for _recipients, sent in mailbox.received:
        text = sent.as_string() + body_of(sent)
        for secret in (*CONTENT, reference, "new threat"):
            assert secret not in text
