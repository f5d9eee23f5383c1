"""Recording accepted evidence on a report, with its timeline entry and audit trail.

A report form sent back for correction keeps its accepted files as pending uploads: encrypted
blobs already bound to the reference the report will take, found by a random token held in the
reporter's session and repeated in the form, attached when the form is finally sent.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.crypto.tokens import token_hash
from portal.evidence.intake import SOURCES, StagedFile, filename_context
from portal.models import Evidence, PendingUpload, Report, ReportEvent, utcnow
from portal.services import alerts, audit
from portal.storage.blobs import BlobStore

PENDING_UPLOAD_MINUTES = 60


@dataclass(frozen=True)
class HeldFile:
    """What the reporter is shown of a file kept for them: its name, size and type."""

    id: int
    name: str
    size: int
    media_type: str


def attach(
    session: Session,
    report: Report,
    accepted: list[StagedFile],
    *,
    source: str,
    keyring: Keyring,
    now: Any = None,
    pending_rows: Collection[Evidence] = (),
) -> list[Evidence]:
    """Record the ``accepted`` staged files on ``report``; the caller commits.

    The blobs were committed to the store when the upload was checked; they are kept once the
    transaction commits and deleted at the end of the request otherwise.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown evidence source {source!r}")
    now = now or utcnow()
    rows: list[Evidence] = list(pending_rows)
    for row in rows:
        row.source, row.received_at = source, now
        report.evidence.append(row)
    for staged in accepted:
        if staged.reference != report.reference:
            raise ValueError("staged evidence is bound to another report")
        row = Evidence(
            **_stored_file(staged, report.reference, keyring), source=source, received_at=now
        )
        report.evidence.append(row)
        rows.append(row)
    if not rows:
        return rows
    report.events.append(
        ReportEvent(
            at=now,
            kind="evidence_added",
            visible_to_reporter=True,
            details=json.dumps({"count": len(rows), "source": source}),
        )
    )
    if source == "follow_up":
        report.last_reporter_activity_at = now
    alerts.evidence_added(session, report, source)
    report.updated_at = now
    session.flush()
    for row in rows:
        audit.record(
            session,
            actor="reporter",
            action="evidence.received",
            subject=f"report:{report.reference}",
            details={
                "evidence_id": row.id,
                "sha256": row.sha256,
                "size": row.size,
                "type": row.sniffed_type,
                "source": source,
            },
            at=now,
        )
    kept = list(accepted)

    def _keep(_session: Session) -> None:
        for staged in kept:
            staged.state = "kept"

    event.listen(session, "after_commit", _keep, once=True)
    return rows


def _stored_file(staged: StagedFile, reference: str, keyring: Keyring) -> dict[str, Any]:
    """The columns an accepted file keeps, on a report (Evidence) or held for a form sent back
    (PendingUpload): where its encrypted blob is, what it is, and its name encrypted."""
    assert staged.sha256 and staged.media_type and staged.key_id and staged.wrapped_key
    return {
        "blob_key": staged.blob_key,
        "size": staged.size,
        "sniffed_type": staged.media_type,
        "sha256": staged.sha256,
        "key_id": staged.key_id,
        "wrapped_key": staged.wrapped_key,
        "filename_enc": keyring.encrypt_field(
            staged.display_name, filename_context(reference, staged.blob_key)
        ),
    }


# --- files held for a form sent back for correction -----------------------------------------


def new_pending_token() -> str:
    return secrets.token_urlsafe(32)


def _pending(session: Session, token: str | None, now: datetime) -> list[PendingUpload]:
    if not token:
        return []
    return list(
        session.scalars(
            select(PendingUpload)
            .where(PendingUpload.token_hash == token_hash(token), PendingUpload.expires_at >= now)
            .order_by(PendingUpload.id)
        )
    )


def pending_reference(
    session: Session, token: str | None, *, now: datetime | None = None
) -> str | None:
    """The reference the held files are bound to, so new files join the same report."""
    rows = _pending(session, token, now or utcnow())
    return rows[0].reference if rows else None


def held_files(
    session: Session, token: str | None, *, keyring: Keyring, now: datetime | None = None
) -> list[HeldFile]:
    return [
        HeldFile(
            id=row.id,
            name=keyring.decrypt_field(
                row.filename_enc, filename_context(row.reference, row.blob_key)
            ),
            size=row.size,
            media_type=row.sniffed_type,
        )
        for row in _pending(session, token, now or utcnow())
    ]


def hold(
    session: Session,
    token: str,
    accepted: list[StagedFile],
    *,
    keyring: Keyring,
    now: datetime | None = None,
    minutes: int = PENDING_UPLOAD_MINUTES,
) -> None:
    """Keep ``accepted`` files for the form behind ``token``; the caller commits."""
    now = now or utcnow()
    expires = now + timedelta(minutes=minutes)
    hashed = token_hash(token)
    for row in _pending(session, token, now):
        row.expires_at = expires
    for staged in accepted:
        assert staged.reference
        session.add(
            PendingUpload(
                **_stored_file(staged, staged.reference, keyring),
                token_hash=hashed,
                reference=staged.reference,
                created_at=now,
                expires_at=expires,
            )
        )
    kept = list(accepted)

    def _keep(_session: Session) -> None:
        for staged in kept:
            staged.state = "kept"

    event.listen(session, "after_commit", _keep, once=True)


def _forget_after_commit(session: Session, store: BlobStore, blob_keys: list[str]) -> None:
    """Delete blobs once the rows naming them are gone for good (never before)."""
    if not blob_keys:
        return

    def _delete(_session: Session) -> None:
        for key in blob_keys:
            store.delete(key)

    event.listen(session, "after_commit", _delete, once=True)


def claim_pending(
    session: Session,
    token: str | None,
    reference: str,
    *,
    keep: Collection[int] | None,
    store: BlobStore,
    now: datetime | None = None,
) -> list[Evidence]:
    """Turn the held files the reporter kept into evidence rows for ``attach``; drop the rest.

    ``keep`` names the held files still ticked in the form (None: all of them). The caller
    commits; the blobs of files left out are deleted after the commit.
    """
    rows = _pending(session, token, now or utcnow())
    claimed: list[Evidence] = []
    dropped: list[str] = []
    for row in rows:
        if row.reference == reference and (keep is None or row.id in keep):
            claimed.append(
                Evidence(
                    blob_key=row.blob_key,
                    size=row.size,
                    sniffed_type=row.sniffed_type,
                    sha256=row.sha256,
                    key_id=row.key_id,
                    wrapped_key=row.wrapped_key,
                    filename_enc=row.filename_enc,
                )
            )
        else:
            dropped.append(row.blob_key)
        session.delete(row)
    _forget_after_commit(session, store, dropped)
    return claimed


def discard_pending(session: Session, token: str | None, *, store: BlobStore) -> None:
    """Forget the held files of ``token`` (quick exit, a report that takes no files)."""
    if not token:
        return
    rows = list(
        session.scalars(select(PendingUpload).where(PendingUpload.token_hash == token_hash(token)))
    )
    for row in rows:
        session.delete(row)
    _forget_after_commit(session, store, [row.blob_key for row in rows])


def purge_expired_pending(
    session: Session, *, store: BlobStore, now: datetime | None = None
) -> int:
    """Remove held files whose form never came back; the caller commits."""
    now = now or utcnow()
    keys = list(
        session.scalars(select(PendingUpload.blob_key).where(PendingUpload.expires_at < now))
    )
    if keys:
        session.execute(delete(PendingUpload).where(PendingUpload.blob_key.in_(keys)))
        _forget_after_commit(session, store, keys)
    return len(keys)
