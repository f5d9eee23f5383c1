"""A real SMTP server on the loopback for tests (aiosmtpd), and reading what it received."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

from aiosmtpd.controller import Controller

from tests.support.web import free_port


class Mailbox:
    """Every message the server accepted, with its envelope recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []
        self.port = 0
        self.refused: list[list[str]] = []
        self._refuse_once: set[str] = set()

    def refuse_once(self, address: str) -> None:
        """The next message to ``address`` (and whoever shares its envelope) is refused with a
        temporary error, as a relay does under load; the ones after it are accepted."""
        self._refuse_once.add(address)

    async def handle_DATA(self, server, session, envelope):
        recipients = list(envelope.rcpt_tos)
        if self._refuse_once & set(recipients):
            self._refuse_once -= set(recipients)
            self.refused.append(recipients)
            return "451 4.3.0 Try again later"
        self.received.append((recipients, email.message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [message for recipients, message in self.received if address in recipients]


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")
