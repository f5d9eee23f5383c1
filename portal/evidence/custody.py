"""Reading evidence back: decrypt, re-check size and SHA-256, list a report's files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import DecryptionError, Keyring
from portal.crypto.streaming import decrypt_stream
from portal.evidence.intake import IntegrityFailure, filename_context, stream_aad, wrap_aad
from portal.models import Evidence, Report
from portal.storage.blobs import BlobNotFound, BlobStore, StorageError

# --- reading back ----------------------------------------------------------------------------


def evidence_filename(keyring: Keyring, report: Report, row: Evidence) -> str:
    return keyring.decrypt_field(row.filename_enc, filename_context(report.reference, row.blob_key))


def _file_key(keyring: Keyring, report: Report, row: Evidence) -> bytes:
    return keyring.unwrap_key(row.key_id, row.wrapped_key, wrap_aad(report.reference, row.blob_key))


def _plaintext(
    store: BlobStore, keyring: Keyring, report: Report, row: Evidence
) -> Iterator[bytes]:
    key = _file_key(keyring, report, row)
    return decrypt_stream(key, stream_aad(report.reference, row.blob_key), store.read(row.blob_key))


def verify(store: BlobStore, keyring: Keyring, report: Report, row: Evidence) -> None:
    """Decrypt the whole file, discarding it, and check size and SHA-256 against intake."""
    hasher = hashlib.sha256()
    size = 0
    try:
        for chunk in _plaintext(store, keyring, report, row):
            hasher.update(chunk)
            size += len(chunk)
    except (DecryptionError, BlobNotFound, StorageError) as exc:
        raise IntegrityFailure(f"{type(exc).__name__}: {exc}") from exc
    if size != row.size or hasher.hexdigest() != row.sha256:
        raise IntegrityFailure("size or SHA-256 differs from the value recorded at intake")


def verified_stream(
    store: BlobStore, keyring: Keyring, report: Report, row: Evidence
) -> Iterator[bytes]:
    """Plaintext for an officer, only after a full verification pass.

    The second pass re-checks every chunk's tag and the hash again; should the blob change in
    between, the stream stops with an error instead of completing, so a client never receives
    a whole file that does not match.
    """
    verify(store, keyring, report, row)

    def generate() -> Iterator[bytes]:
        hasher = hashlib.sha256()
        for chunk in _plaintext(store, keyring, report, row):
            hasher.update(chunk)
            yield chunk
        if hasher.hexdigest() != row.sha256:
            raise IntegrityFailure("SHA-256 changed between verification and delivery")

    return generate()


def manifest(session: Session, report: Report) -> dict[str, Any]:
    rows = session.scalars(
        select(Evidence).where(Evidence.report_id == report.id).order_by(Evidence.id)
    ).all()
    return {
        "reference": report.reference,
        "files": [
            {
                "id": row.id,
                "size": row.size,
                "type": row.sniffed_type,
                "sha256": row.sha256,
                "received_at": row.received_at.isoformat(),
                "source": row.source,
            }
            for row in rows
        ],
    }
