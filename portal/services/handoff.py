"""Hand a new receipt from the submitting POST to the page that shows it.

The receipt waits encrypted in a row found by the hash of a random token held in the reporter's
session (never the receipt itself, never in a URL). The receipt page and its "save as a file"
download read it while the reporter copies it down, so a reload does not lose it; it is deleted
when the reporter says they have kept it, at quick exit, or after ``HANDOFF_MINUTES``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.crypto.tokens import token_hash
from portal.models import ReceiptHandoff, Report, utcnow

HANDOFF_MINUTES = 10


@dataclass(frozen=True)
class ShownReceipt:
    reference: str
    receipt: str
    priority: str


def receipt_context(hashed_token: str) -> str:
    """Associated data binding the waiting receipt to its handoff row (also used by rotation)."""
    return f"receipt.handoff:{hashed_token}"


def stash_receipt(
    session: Session, report: Report, receipt: str, *, keyring: Keyring, now: datetime | None = None
) -> str:
    now = now or utcnow()
    session.execute(delete(ReceiptHandoff).where(ReceiptHandoff.expires_at < now))
    token = secrets.token_urlsafe(32)
    hashed = token_hash(token)
    session.add(
        ReceiptHandoff(
            token_hash=hashed,
            report_id=report.id,
            receipt_enc=keyring.encrypt_field(receipt, receipt_context(hashed)),
            expires_at=now + timedelta(minutes=HANDOFF_MINUTES),
        )
    )
    return token


def show_receipt(
    session: Session, token: str | None, *, keyring: Keyring, now: datetime | None = None
) -> ShownReceipt | None:
    """The waiting receipt, kept for a reload; None once forgotten, expired or unknown."""
    if not token:
        return None
    now = now or utcnow()
    hashed = token_hash(token)
    row = session.get(ReceiptHandoff, hashed)
    if row is None:
        return None
    if row.expires_at < now:
        session.delete(row)
        return None
    report = session.get(Report, row.report_id)
    if report is None:
        return None
    receipt = keyring.decrypt_field(row.receipt_enc, receipt_context(hashed))
    return ShownReceipt(reference=report.reference, receipt=receipt, priority=report.priority)


def forget_receipt(session: Session, token: str | None) -> None:
    """The reporter has kept the receipt (or left): it can no longer be shown."""
    if token:
        session.execute(
            delete(ReceiptHandoff).where(ReceiptHandoff.token_hash == token_hash(token))
        )
