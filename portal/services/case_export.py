"""The case file for the prosecutor: a signed ZIP bundle that proves what the portal held.

The bundle holds the printable case file (PDF), the decrypted evidence, the timeline and the
audit entries of the report, and ``manifest.json``: every other file of the bundle with its
SHA-256 and size. ``manifest.sig`` is an Ed25519 signature of the manifest's exact bytes under
the instance's case-file key (``casefile_signing_key`` in the instance secrets), whose public
half is in the manifest and printed by ``portal case-file public-key`` for the prosecutor to
keep. ``portal case-file verify BUNDLE`` (or any Ed25519 tool) checks the signature, then every
hash; a file added, removed or changed is reported by name.

Evidence never touches the server's disk in clear: the ZIP is written as it streams to the
officer's browser (entries with data descriptors), each file decrypted chunk by chunk and its
SHA-256 checked against intake before its last byte is sent. Its hash is known in advance (the
intake hash, checked again), so the manifest comes first.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.evidence.custody import evidence_filename, verified_stream
from portal.evidence.intake import download_filename
from portal.models import AuditEvent, Evidence, Officer, Report
from portal.services import audit
from portal.services.casefile import CaseFile
from portal.storage.blobs import BlobStore

FORMAT = "case-file/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PIECE = 256 * 1024


def signing_key(seed: bytes) -> Ed25519PrivateKey:
    """The case-file key from its 32-byte seed (the instance secret)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"case-file\x00" + seed).digest())


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))


@dataclass(frozen=True)
class Entry:
    """One file of the bundle: its path, and either its bytes or a stream of them."""

    path: str
    sha256: str
    size: int
    data: bytes | None = None
    stream: Callable[[], Iterator[bytes]] | None = None


def _bytes_entry(path: str, data: bytes) -> Entry:
    return Entry(path, hashlib.sha256(data).hexdigest(), len(data), data=data)


def _timeline(case: CaseFile) -> bytes:
    items = [
        {
            "at": item.at.isoformat(),
            "kind": item.kind,
            "officer": audit.officer_name(item.officer) if item.officer else None,
            "details": item.details,
            "body": item.body,
            "visible_to_reporter": item.visible_to_reporter,
        }
        for item in case.timeline
    ]
    return json.dumps(items, ensure_ascii=False, indent=2).encode()


def _audit_excerpt(session: Session, report: Report) -> bytes:
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject == f"report:{report.reference}")
        .order_by(AuditEvent.id)
    )
    entries = [
        {
            "id": row.id,
            "at": row.at.isoformat(),
            "actor": row.actor,
            "action": row.action,
            "subject": row.subject,
            "details": json.loads(row.details or "{}"),
            "prev_hash": row.prev_hash,
            "hash": row.hash,
        }
        for row in rows
    ]
    return json.dumps(entries, ensure_ascii=False, indent=2).encode()


def _evidence_entries(store: BlobStore, keyring: Keyring, report: Report) -> list[Entry]:
    entries = []
    for index, row in enumerate(report.evidence, start=1):
        name = download_filename(evidence_filename(keyring, report, row), row.sniffed_type)
        path = f"evidence/{index:02d}-{PurePosixPath(name).name}"

        def stream(row: Evidence = row) -> Iterator[bytes]:
            return verified_stream(store, keyring, report, row)

        entries.append(Entry(path, row.sha256, row.size, stream=stream))
    return entries


@dataclass(frozen=True)
class Bundle:
    manifest: bytes
    signature: bytes
    entries: list[Entry]


def build_bundle(
    session: Session,
    *,
    officer: Officer,
    case: CaseFile,
    pdf: bytes,
    store: BlobStore,
    keyring: Keyring,
    key: Ed25519PrivateKey,
    now: datetime,
) -> Bundle:
    """Everything but the evidence bytes, signed; the caller streams it with ``stream_zip``."""
    report = case.report
    entries = [
        _bytes_entry("case-file.pdf", pdf),
        _bytes_entry("timeline.json", _timeline(case)),
        _bytes_entry("audit.json", _audit_excerpt(session, report)),
        *_evidence_entries(store, keyring, report),
    ]
    manifest = {
        "format": FORMAT,
        "reference": report.reference,
        "category": report.category,
        "unit": report.unit.code,
        "generated_at": now.isoformat(),
        "generated_by": audit.officer_name(officer),
        "public_key": public_key_text(key.public_key()),
        "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in entries],
    }
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    signature = base64.b64encode(key.sign(manifest_bytes)) + b"\n"
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="case_file.exported",
        subject=f"report:{report.reference}",
        details={
            "files": len(entries),
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        },
        at=now,
    )
    return Bundle(manifest_bytes, signature, entries)


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are collected and handed on in pieces."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.pieces = b"".join(self.pieces), []
        return data


def stream_zip(bundle: Bundle) -> Iterator[bytes]:
    """The bundle as ZIP bytes, produced as they are read (no file on the server's disk)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, bundle.manifest)
        archive.writestr(SIGNATURE, bundle.signature)
        yield sink.take()
        for entry in bundle.entries:
            with archive.open(entry.path, "w", force_zip64=True) as target:
                if entry.data is not None:
                    target.write(entry.data)
                else:
                    assert entry.stream is not None
                    for chunk in entry.stream():
                        target.write(chunk)
                        if sum(len(p) for p in sink.pieces) >= PIECE:
                            yield sink.take()
            yield sink.take()
    yield sink.take()


@dataclass
class Verification:
    ok: bool
    reference: str | None
    checked: int
    problems: list[str]


def verify_bundle(path: Any, public_key: Ed25519PublicKey | None = None) -> Verification:
    """Check the signature (with ``public_key``, or the one in the manifest) and every file."""
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        return Verification(False, None, 0, [f"not a readable ZIP file: {error}"])
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            return Verification(False, None, 0, ["manifest.json or manifest.sig is missing"])
        manifest_bytes = archive.read(MANIFEST)
        try:
            manifest = json.loads(manifest_bytes)
            key = public_key or parse_public_key(manifest["public_key"])
            key.verify(base64.b64decode(archive.read(SIGNATURE).strip()), manifest_bytes)
        except InvalidSignature:
            return Verification(False, None, 0, ["the signature does not match the manifest"])
        except (ValueError, KeyError, TypeError) as error:
            return Verification(False, None, 0, [f"unreadable manifest or key: {error}"])
        listed = {item["path"]: item for item in manifest.get("files", [])}
        for extra in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
            problems.append(f"{extra}: not in the manifest")
        checked = 0
        for name, item in listed.items():
            if name not in names:
                problems.append(f"{name}: missing")
                continue
            digest, size = hashlib.sha256(), 0
            with archive.open(name) as source:
                while piece := source.read(PIECE):
                    digest.update(piece)
                    size += len(piece)
            if digest.hexdigest() != item["sha256"] or size != item["size"]:
                problems.append(f"{name}: SHA-256 or size differs from the manifest")
            checked += 1
    return Verification(not problems, manifest.get("reference"), checked, problems)
