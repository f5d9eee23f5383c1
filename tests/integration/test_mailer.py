"""Outgoing mail through a real SMTP server started by the test: recipients the relay refuses
are reported, never dropped in silence."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from portal.services import mailer
from tests.support.mail import Mailbox, smtp_server


@pytest.fixture
def relay() -> Iterator[tuple[Mailbox, mailer.SmtpSettings]]:
    with smtp_server() as box:
        settings = mailer.SmtpSettings.from_config(
            {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": box.port, "SMTP_STARTTLS": False}
        )
        yield box, settings


def _message(settings: mailer.SmtpSettings, to: str = "undisclosed-recipients:;") -> EmailMessage:
    return mailer.build_message(settings, to=to, subject="Test", body="Hello")


def test_the_recipients_the_relay_refuses_are_named_and_the_others_get_the_message(relay) -> None:
    box, settings = relay
    box.bounce("gone@police.test")
    message = _message(settings)
    with pytest.raises(mailer.RecipientsRefused) as refusal:
        mailer.send(
            settings,
            message,
            to_addrs=["amina@police.test", "gone@police.test", "salma@police.test"],
        )
    assert refusal.value.accepted == ("amina@police.test", "salma@police.test")
    assert list(refusal.value.refused) == ["gone@police.test"]
    code, reply = refusal.value.refused["gone@police.test"]
    assert code == 550 and "Mailbox unavailable" in reply
    message_id = message["Message-ID"]
    assert refusal.value.message_id == message_id
    assert isinstance(refusal.value, mailer.MailError)
    # Delivered once, to the two the relay took; sent again to the refused one alone.
    box.stop_bouncing("gone@police.test")
    assert mailer.send(settings, message, to_addrs=list(refusal.value.refused)) == message_id
    assert [recipients for recipients, _ in box.received] == [
        ["amina@police.test", "salma@police.test"],
        ["gone@police.test"],
    ]


def test_a_message_to_its_headers_addresses_reports_the_refused_ones_too(relay) -> None:
    box, settings = relay
    box.bounce("gone@platform.test")
    with pytest.raises(mailer.RecipientsRefused) as refusal:
        mailer.send(settings, _message(settings, to="requests@platform.test, gone@platform.test"))
    assert refusal.value.accepted == ("requests@platform.test",)
    assert [recipients for recipients, _ in box.received] == [["requests@platform.test"]]


def test_every_recipient_refused_sends_nothing_and_names_them_all(relay) -> None:
    box, settings = relay
    box.bounce("gone@police.test")
    with pytest.raises(mailer.RecipientsRefused) as refusal:
        mailer.send(settings, _message(settings), to_addrs=["gone@police.test"])
    assert refusal.value.accepted == () and list(refusal.value.refused) == ["gone@police.test"]
    assert box.received == []
