"""The opt-in, content-free e-mail notice: "there is news about your report".

A reporter may leave an address for this notice only; it is stored encrypted like the contact.
The notice never names the reference, the category, a status or a message: whoever reads the
mailbox learns only that a report exists (the form says so before the reporter opts in). It is
written in the reporter's language and sent through the relay the configuration names.

Every write path that gives the reporter news (an officer's message, from the case page or from
the partner panel, and a status change) calls ``news`` inside its transaction; after the commit
the report's id is handed to the dispatcher the app put in the session factory's ``info``
(``DISPATCH_INFO``: it queues the ``notices.news`` job when a relay is configured). A rollback
drops it; a failure to queue is logged and never fails the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from babel.support import Translations
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.models import Report
from portal.services import after_commit, mailer
from portal.services.reports import field_context

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


# The after-commit channel, and the ``Session.info`` key of the dispatcher the app installs:
# ``dispatch(report_id)``, once per report.
DISPATCH_INFO = "news_dispatch"


def _(message: str) -> str:
    """Marks a message for extraction; it is translated when the notice is written."""
    return message


SUBJECT = _("News about your report")
BODY = _(
    "Hello,\n\nThere is news about the report you made. To read it, come back to the portal and "
    "open your report with your receipt.\n\nThis e-mail says nothing more, for your safety. If "
    "you did not expect it, you can ignore it."
)


def relay(config: Mapping[str, Any]) -> mailer.SmtpSettings | None:
    """The relay notices go through: the one all mail uses (``SMTP_HOST``, port, STARTTLS,
    credentials, ``SMTP_TIMEOUT_SECONDS``), sending from ``NOTICE_SENDER``; None without a
    relay."""
    settings = mailer.SmtpSettings.from_config(config)
    if not settings.configured:
        return None
    return replace(settings, sender=mailer.notice_sender(config))


def news(session: Session, report: Report) -> None:
    """The reporter of ``report`` has news: one notice is queued once the transaction commits.

    Whether it leaves is decided later (a relay is configured, the reporter opted in). Called by
    the services that write the news, last, so that a change refused half-way queues nothing.
    """
    after_commit.announce(session, DISPATCH_INFO, report.id)


def notice_id() -> str:
    """A new notice's id: random, so that it says nothing of the report, and the same for every
    attempt at sending that notice."""
    return uuid.uuid4().hex


def notice_message(
    address: str, language: str | None, sender: str, notice: str | None = None
) -> EmailMessage:
    """The whole notice: the same words for every report, in the reporter's language.

    With a ``notice`` id, its Message-ID is the same at every attempt: when the relay took the
    message but the connection dropped before it said so, the attempt after it sends a copy the
    reporter's mail service can recognise as the same message rather than a second notice."""
    translations = Translations.load(str(TRANSLATIONS), [language or "ar"], domain="messages")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = translations.gettext(SUBJECT)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = mailer.message_id(sender, f"notice-{notice}" if notice else None)
    message.set_content(translations.gettext(BODY))
    return message


def notify_address(report: Report, keyring: Keyring) -> str | None:
    if report.notify_email_enc is None:
        return None
    return keyring.decrypt_field(
        report.notify_email_enc, field_context(report.reference, "notify_email")
    )


def send_news_notice(
    session: Session,
    report_id: int,
    *,
    keyring: Keyring,
    relay: mailer.SmtpSettings,
    notice: str | None = None,
) -> bool:
    """Send the content-free notice for ``report_id`` if its reporter opted in.

    Returns whether a notice was handed to the relay. Meant for the job queue: it reads what it
    needs by id and raises ``mailer.MailError`` when the relay fails or refuses the address
    (``RecipientsRefused``, whose text names no address) so that the queue can retry.
    """
    report = session.get(Report, report_id)
    if report is None:
        return False
    address = notify_address(report, keyring)
    if not address:
        return False
    message = notice_message(address, report.language, relay.sender, notice)
    # One recipient: refused, it raises; nobody else could have had it.
    mailer.send(relay, message, to_addrs=[address])
    return True
