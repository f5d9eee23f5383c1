"""Master key rotation: re-wrap every file key and re-encrypt every encrypted field.

``rotate`` makes a new master key active, then walks everything sealed under another key in
small committed batches: evidence file keys are re-wrapped (the blobs, encrypted under their own
file keys, are never rewritten) and field tokens are decrypted and encrypted again under their
same context. A rotation that stops half-way is finished by running it again with
``new_key=False``; until then old keys stay loaded and everything keeps decrypting.
``retire`` deletes an old key file, and refuses while anything still uses that key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from portal.crypto.keyring import Keyring, KeyringError
from portal.crypto.keyring import retire_master_key as delete_key_file
from portal.evidence.intake import filename_context, wrap_aad
from portal.models import (
    Evidence,
    Message,
    Officer,
    ReceiptHandoff,
    Referral,
    Report,
    TakedownRequest,
)
from portal.services import audit
from portal.services.handoff import receipt_context
from portal.services.referrals import bundle_context
from portal.services.reports import field_context, message_context
from portal.services.takedowns import explanation_context
from portal.services.totp import totp_context

BATCH_SIZE = 200


@dataclass(frozen=True)
class EncryptedColumn:
    """One column of field tokens and how to rebuild the context each row was sealed with."""

    name: str
    model: type[Any]
    column: InstrumentedAttribute[Any]
    context: Callable[[Session, Any], str]


def _report_column(column: str) -> Callable[[Session, Any], str]:
    return lambda _session, row: field_context(row.reference, column)


def _reference_of(session: Session, report_id: int) -> str:
    return session.scalars(select(Report.reference).where(Report.id == report_id)).one()


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(
        "report.description",
        Report,
        Report.description_enc,
        _report_column("description"),
    ),
    EncryptedColumn("report.answers", Report, Report.answers_enc, _report_column("answers")),
    EncryptedColumn("report.contact", Report, Report.contact_enc, _report_column("contact")),
    EncryptedColumn(
        "message.body",
        Message,
        Message.body_enc,
        lambda session, row: message_context(_reference_of(session, row.report_id), row.id),
    ),
    EncryptedColumn(
        "evidence.filename",
        Evidence,
        Evidence.filename_enc,
        lambda session, row: filename_context(_reference_of(session, row.report_id), row.blob_key),
    ),
    EncryptedColumn(
        "officer.totp_secret",
        Officer,
        Officer.totp_secret_enc,
        lambda _session, row: totp_context(row.username),
    ),
    EncryptedColumn(
        "takedown.explanation",
        TakedownRequest,
        TakedownRequest.explanation_enc,
        lambda session, row: explanation_context(_reference_of(session, row.report_id), row.id),
    ),
    EncryptedColumn(
        "referral.bundle",
        Referral,
        Referral.bundle_enc,
        lambda session, row: bundle_context(_reference_of(session, row.report_id), row.id),
    ),
    EncryptedColumn(
        "receipt_handoff.receipt",
        ReceiptHandoff,
        ReceiptHandoff.receipt_enc,
        lambda _session, row: receipt_context(row.token_hash),
    ),
)


@dataclass
class RotationReport:
    active_id: str
    created: bool
    rewrapped_keys: int = 0
    reencrypted: dict[str, int] = field(default_factory=dict)


def _primary_key(model: type[Any]) -> InstrumentedAttribute[Any]:
    """The single-column primary key of ``model`` (every table with encrypted fields has one)."""
    (column,) = sa_inspect(model).primary_key
    return getattr(model, column.key)


def _batches(session: Session, model: type[Any]) -> Iterator[list[Any]]:
    """Rows of ``model`` in primary-key order, a committed batch at a time."""
    key = _primary_key(model)
    last: Any = None
    while True:
        query = select(model).order_by(key).limit(BATCH_SIZE)
        if last is not None:
            query = query.where(key > last)
        rows = list(session.scalars(query))
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], key.key)


def rewrap_all(session: Session, keyring: Keyring) -> RotationReport:
    """Bring everything under ``keyring.active_id``; commits after each batch."""
    result = RotationReport(active_id=keyring.active_id, created=False)
    active = keyring.active_id
    for rows in _batches(session, Evidence):
        for row in rows:
            if row.key_id == active:
                continue
            aad = wrap_aad(_reference_of(session, row.report_id), row.blob_key)
            wrapped = keyring.rewrap(row.key_id, row.wrapped_key, aad)
            row.key_id, row.wrapped_key = wrapped.key_id, wrapped.blob
            result.rewrapped_keys += 1
        session.commit()
    for spec in ENCRYPTED_COLUMNS:
        count = 0
        for rows in _batches(session, spec.model):
            for row in rows:
                token = getattr(row, spec.column.key)
                if token is None or Keyring.field_key_id(token) == active:
                    continue
                context = spec.context(session, row)
                setattr(row, spec.column.key, keyring.reencrypt_field(token, context))
                count += 1
            session.commit()
        result.reencrypted[spec.name] = count
    return result


def key_usage(session: Session) -> dict[str, int]:
    """How many file keys and field tokens each master key id still seals."""
    usage: dict[str, int] = {}
    for kid in session.scalars(select(Evidence.key_id)):
        usage[kid] = usage.get(kid, 0) + 1
    for spec in ENCRYPTED_COLUMNS:
        for token in session.scalars(select(spec.column).where(spec.column.is_not(None))):
            kid = Keyring.field_key_id(token)
            usage[kid] = usage.get(kid, 0) + 1
    return usage


class KeyInUse(KeyringError):
    """The master key still seals data and cannot be retired."""


def retire(session: Session, instance_path: Path, kid: str) -> bool:
    """Delete the key file of ``kid`` once nothing uses it; return whether a file was removed."""
    in_use = key_usage(session).get(kid, 0)
    if in_use:
        raise KeyInUse(
            f"Master key {kid!r} still protects {in_use} item(s). "
            "Run `portal keys rotate --resume` to re-wrap them first."
        )
    removed = delete_key_file(instance_path, kid)
    if removed:
        audit.record(session, actor="admin:cli", action="keys.retired", subject=f"key:{kid}")
        session.commit()
    return removed
