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
        self.bounced: list[str] = []
        self._refuse_once: set[str] = set()
        self._bounce: set[str] = set()
        self._drop_once = False

    def refuse_once(self, address: str) -> None:
        """The next message to ``address`` (and whoever shares its envelope) is refused with a
        temporary error, as a relay does under load; the ones after it are accepted."""
        self._refuse_once.add(address)

    def drop_after_accepting_once(self) -> None:
        """The next message is taken, then the connection drops before the server says so: the
        sender cannot tell it was delivered."""
        self._drop_once = True

    def bounce(self, address: str) -> None:
        """``RCPT TO:<address>`` is answered 550 (no such mailbox), as long as ``stop_bouncing``
        is not called; the message still goes to the other recipients of its envelope."""
        self._bounce.add(address)

    def stop_bouncing(self, address: str) -> None:
        self._bounce.discard(address)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self._bounce:
            self.bounced.append(address)
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        recipients = list(envelope.rcpt_tos)
        if self._refuse_once & set(recipients):
            self._refuse_once -= set(recipients)
            self.refused.append(recipients)
            return "451 4.3.0 Try again later"
        self.received.append((recipients, email.message_from_bytes(envelope.content)))
        if self._drop_once:
            self._drop_once = False
            server.transport.abort()
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
