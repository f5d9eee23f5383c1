"""Hand a new receipt from the submitting POST to the page that shows it, exactly once."""

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


def take_receipt(
    session: Session, token: str | None, *, keyring: Keyring, now: datetime | None = None
) -> ShownReceipt | None:
    """Return the receipt and delete it; None if already shown, expired or unknown."""
    if not token:
        return None
    now = now or utcnow()
    hashed = token_hash(token)
    row = session.get(ReceiptHandoff, hashed)
    if row is None:
        return None
    session.delete(row)
    if row.expires_at < now:
        return None
    report = session.get(Report, row.report_id)
    if report is None:
        return None
    receipt = keyring.decrypt_field(row.receipt_enc, receipt_context(hashed))
    return ShownReceipt(reference=report.reference, receipt=receipt)
