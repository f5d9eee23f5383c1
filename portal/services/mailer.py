"""Outgoing e-mail through the deployment's SMTP relay.

Settings come from configuration (``SMTP_*``) as an ``SmtpSettings`` value, so that services
send mail without reading Flask's globals. The relay is the only mail path: the portal never
talks to recipients' servers itself.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from portal.config import DefaultConfig


def staff_sender(config: Mapping[str, Any]) -> str:
    """``SMTP_FROM``: the sender of staff alerts and requests to platforms."""
    return str(config.get("SMTP_FROM") or DefaultConfig.SMTP_FROM)


def notice_sender(config: Mapping[str, Any]) -> str:
    """``NOTICE_SENDER``, the sender of reporters' notices; unset, the ``SMTP_FROM`` address, so
    that a deployment naming one sender never sends the other kind of mail from a default."""
    return str(config.get("NOTICE_SENDER") or staff_sender(config))


def sender_warnings(config: Mapping[str, Any]) -> list[str]:
    """What to warn an operator of at start: a relay is configured but mail would go out from
    a placeholder address (a ``.invalid`` domain cannot exist: relays refuse such mail or file
    it as junk, so officers' alerts and reporters' notices would be lost quietly)."""
    if not config.get("SMTP_HOST"):
        return []
    warnings = []
    staff, notice = staff_sender(config), notice_sender(config)
    for names, address in (
        ("SMTP_FROM" if staff == notice else "SMTP_FROM (staff alerts)", staff),
        ("NOTICE_SENDER (reporters' notices)", notice if notice != staff else None),
    ):
        if address is None:
            continue
        domain = address.rpartition("@")[2].rstrip(".").lower()
        if domain == "invalid" or domain.endswith(".invalid"):
            warnings.append(
                f"SMTP_HOST is set but {names} is {address!r}, an address that cannot exist:"
                " relays refuse or junk its mail. Set PORTAL_SMTP_FROM to the portal's address."
            )
    return warnings


class MailNotConfigured(RuntimeError):
    """No SMTP relay is configured."""


class MailError(RuntimeError):
    """The relay refused or could not be reached; the message was not sent (to the addresses a
    ``RecipientsRefused`` names)."""


class RecipientsRefused(MailError):
    """The relay refused some recipients at ``RCPT TO`` and took the message for the others.

    ``refused``: each refused address with the relay's code and reply; ``accepted``: the
    addresses the message went to (none when the relay refused them all), which must not be
    sent it again; ``message_id``: the message's Message-ID. Its text names no address (it
    reaches logs and the job queue's failure records): counts and codes only.
    """

    def __init__(
        self, refused: Mapping[str, tuple[int, str]], accepted: Sequence[str], message_id: str
    ) -> None:
        codes = ", ".join(sorted({str(code) for code, _ in refused.values()}))
        super().__init__(
            f"the relay refused {len(refused)} of {len(refused) + len(accepted)} "
            f"recipient(s) ({codes})"
        )
        self.refused = dict(refused)
        self.accepted = tuple(accepted)
        self.message_id = message_id


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None
    port: int
    starttls: bool
    username: str | None
    password: str | None
    sender: str
    timeout: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        return cls(
            host=config.get("SMTP_HOST") or None,
            port=int(config.get("SMTP_PORT", 587)),
            starttls=bool(config.get("SMTP_STARTTLS", True)),
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            sender=staff_sender(config),
            timeout=float(config.get("SMTP_TIMEOUT_SECONDS", 30)),
        )

    @property
    def configured(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


def message_id(sender: str, stable: str | None = None) -> str:
    """A Message-ID in the sender's domain: ``stable`` (an id of the caller's that says nothing
    of its subject) makes it the same at every attempt at one message; without it, a new one."""
    domain = sender.rpartition("@")[2] or None
    if stable and domain:
        return f"<{stable}@{domain}>"
    return make_msgid(domain=domain)


def build_message(
    settings: SmtpSettings,
    *,
    to: str,
    subject: str,
    body: str,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(settings.sender)
    message.set_content(body)
    for item in attachments:
        message.add_attachment(
            item.content, maintype=item.maintype, subtype=item.subtype, filename=item.filename
        )
    return message


def recipients_of(message: EmailMessage) -> list[str]:
    """The envelope recipients of a message sent to its headers' addresses (To, Cc, Bcc)."""
    headers = [value for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    return [address for _, address in getaddresses(headers) if address]


def send(settings: SmtpSettings, message: EmailMessage, *, to_addrs: Sequence[str] = ()) -> str:
    """Hand ``message`` to the relay (to ``to_addrs`` when given, else to its headers' addresses:
    blind copies go through ``to_addrs``); return its Message-ID.

    Raises ``MailError``; ``RecipientsRefused`` when the relay refused recipients, naming them
    and the ones it took the message for: a caller that tries again sends to the refused only.
    """
    if not settings.configured:
        raise MailNotConfigured("no SMTP relay is configured (SMTP_HOST)")
    assert settings.host is not None
    addresses = list(to_addrs) or recipients_of(message)
    if not addresses:
        raise MailError("the message has no recipient")
    message_id = str(message["Message-ID"])
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as client:
            if settings.starttls:
                client.starttls(context=ssl.create_default_context())
            if settings.username and settings.password:
                client.login(settings.username, settings.password)
            # The recipients the relay refused while it took the others: never to be ignored.
            refused = client.send_message(message, to_addrs=addresses)
    except smtplib.SMTPRecipientsRefused as error:
        # Not chained: smtplib's text names the addresses, which stay out of logs.
        raise RecipientsRefused(_replies(error.recipients), (), message_id) from None
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(f"{type(error).__name__}: {error}") from error
    if refused:
        accepted = [address for address in addresses if address not in refused]
        raise RecipientsRefused(_replies(refused), accepted, message_id)
    return message_id


def _replies(refused: Mapping[str, tuple[int, bytes]]) -> dict[str, tuple[int, str]]:
    return {
        address: (
            int(code),
            reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply),
        )
        for address, (code, reply) in refused.items()
    }
