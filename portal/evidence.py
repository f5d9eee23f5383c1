"""Evidence intake: sniff, hash, encrypt and store uploads while they stream in.

Werkzeug normally spools each uploaded file to a temporary file (in clear, above 500 KiB).
``EvidenceRequest`` replaces that: every file part of a multipart body is handed to a
``StagedFile`` that keeps at most the first ``SNIFF_BYTES`` in memory to decide its type, then
SHA-256-hashes the plaintext and encrypts it chunk by chunk (a fresh file key per file, see
``portal.crypto``) straight into a blob store writer. Nothing in clear reaches any disk.

A staged file is bound to the report it will belong to: the report reference and the blob key
are the associated data of the stream and of the wrapped file key. A new report's reference is
therefore allocated while its form streams in (``Upload.reference`` is passed on to
``reports.submit_report``). Each request's staged files are tracked; after the request, any
blob that did not end up referenced by a committed ``Evidence`` row is deleted, so a refused
file, an invalid form, a failed transaction or a client that disconnects mid-upload leaves
nothing behind.

Limits (``EVIDENCE_MAX_FILE_SIZE``, ``EVIDENCE_MAX_FILES``, ``EVIDENCE_MAX_REQUEST_SIZE``) are
enforced while the body streams. A file over its limit, or beyond the file count, is dropped
and reported next to the form field (status 413, everything typed kept). A body whose files
exceed the per-request total ends with the 413 error page; the rest of the body is read and
discarded first (up to ``EVIDENCE_DRAIN_LIMIT`` bytes) so the browser sees the page rather
than a reset connection. Requests without files are never affected by these limits.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

from flask import Flask, current_app, request
from flask.wrappers import Request
from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from portal import audit, sniff
from portal.categories import NO_FILE_CATEGORIES
from portal.crypto import (
    DecryptionError,
    Keyring,
    StreamEncryptor,
    decrypt_stream,
    new_file_key,
)
from portal.models import Evidence, Report, ReportEvent, utcnow
from portal.storage import BlobNotFound, BlobStore, BlobWriter, StorageError, new_blob_key

FIELD_NAME = "evidence"
SOURCES = ("report", "follow_up")
MAX_DISPLAY_NAME = 120
DRAIN_PIECE = 256 * 1024

# Canonical extension per recorded type: a download always ends with one matching its content.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jfif"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "image/heic": (".heic", ".heif"),
    "application/pdf": (".pdf",),
    "video/mp4": (".mp4", ".m4v"),
    "video/quicktime": (".mov", ".qt"),
    "video/webm": (".webm",),
    "video/3gpp": (".3gp",),
    "video/3gpp2": (".3g2",),
    "audio/mpeg": (".mp3",),
    "audio/mp4": (".m4a", ".m4b"),
    "audio/aac": (".aac",),
    "audio/ogg": (".ogg", ".opus", ".oga"),
    "audio/amr": (".amr",),
    "audio/wav": (".wav",),
    "text/plain": (".txt", ".text", ".log", ".csv"),
}

# Problems a file can have, beyond the sniffer's refusal reasons.
TOO_LARGE = "too_large"
TOO_MANY = "too_many"
NO_FILES_ALLOWED = "no_files_allowed"


class IntegrityFailure(Exception):
    """A stored evidence file failed verification: tampered, truncated, missing or altered."""


# --- names -----------------------------------------------------------------------------------

# Bidirectional controls: they make "gpj.exe" display as "exe.jpg".
_BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_SPACES = re.compile(r"\s+")


def display_filename(raw: str | None) -> str:
    """A reporter's file name made safe to show and to offer as a download name.

    Drops directory parts (both separators), NUL and control characters, bidi overrides and
    isolates, leading dots; normalises to NFC; caps the length while keeping the extension.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = name.translate(_BIDI_CONTROLS)
    name = "".join(" " if ch.isspace() else ch for ch in name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cs", "Co", "Cn"})
    name = _SPACES.sub(" ", name).strip().lstrip(".").strip()
    if len(name) > MAX_DISPLAY_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10 and stem:
            name = stem[: MAX_DISPLAY_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_DISPLAY_NAME].rstrip()
    return name or "file"


def download_filename(raw: str | None, media_type: str) -> str:
    """The display name, with the extension of the sniffed type appended when it differs."""
    name = display_filename(raw)
    extensions = EXTENSIONS.get(media_type, ())
    if extensions and not name.lower().endswith(extensions):
        name = f"{name}{extensions[0]}"
    return name


def _ascii_part(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _ASCII_UNSAFE.sub("_", folded).strip(" ._")


def content_disposition(name: str, fallback_stem: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / 5987)."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ascii_stem, ascii_ext = _ascii_part(stem), _ascii_part(ext)
    if not any(ch.isalnum() for ch in ascii_stem):
        ascii_stem = fallback_stem
    ascii_name = f"{ascii_stem}.{ascii_ext}" if ascii_ext else ascii_stem
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# --- associated data -------------------------------------------------------------------------


def stream_aad(reference: str, blob_key: str) -> bytes:
    return f"evidence.stream:{reference}:{blob_key}".encode()


def wrap_aad(reference: str, blob_key: str) -> bytes:
    return f"evidence.key:{reference}:{blob_key}".encode()


def filename_context(reference: str, blob_key: str) -> str:
    return f"evidence.filename:{reference}:{blob_key}"


# --- staging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_file_size: int
    max_request_size: int
    drain_limit: int

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        return cls(
            max_files=int(config["EVIDENCE_MAX_FILES"]),
            max_file_size=int(config["EVIDENCE_MAX_FILE_SIZE"]),
            max_request_size=int(config["EVIDENCE_MAX_REQUEST_SIZE"]),
            drain_limit=int(
                config.get("EVIDENCE_DRAIN_LIMIT") or 2 * int(config["EVIDENCE_MAX_REQUEST_SIZE"])
            ),
        )


class StagedFile:
    """A writable sink for one file part (what Werkzeug's stream factory returns).

    States: ``receiving`` -> ``stored`` (blob committed, awaiting the database) -> ``kept``;
    or ``dropped`` at any point (nothing left in the store).
    """

    def __init__(
        self,
        intake: Intake,
        field: str,
        filename: str | None,
        *,
        store: BlobStore | None,
        keyring: Keyring | None,
        reference: str | None,
    ) -> None:
        self.intake = intake
        self.field = field
        self.raw_filename = filename or ""
        self.display_name = display_filename(filename)
        self.blob_key = new_blob_key()
        self.reference = reference
        self.size = 0
        self.sha256: str | None = None
        self.media_type: str | None = None
        self.problem: str | None = None
        self.state = "receiving"
        self.counted = False
        self.wrapped_key: bytes | None = None
        self.key_id: str | None = None
        self._store = store
        self._head = bytearray()
        self._hasher = hashlib.sha256()
        self._checker: sniff.ContentChecker | None = None
        self._encryptor: StreamEncryptor | None = None
        self._writer: BlobWriter | None = None
        if store is None or keyring is None or reference is None:
            # This endpoint takes no files: the bytes are counted and discarded.
            self.problem = NO_FILES_ALLOWED
            return
        file_key = new_file_key()
        wrapped = keyring.wrap_key(file_key, wrap_aad(reference, self.blob_key))
        self.key_id, self.wrapped_key = wrapped.key_id, wrapped.blob
        self._encryptor = StreamEncryptor(file_key, stream_aad(reference, self.blob_key))

    # The file-like surface the multipart parser and FileStorage use.

    closed = False

    def write(self, data: bytes) -> int:
        size = len(data)
        self.intake.count(size)
        self.size += size
        if size and not self.counted:
            # A part sent without a file name but with content is a file all the same.
            self.intake.count_file(self)
        if self.problem is not None:
            return size
        if self.size > self.intake.limits.max_file_size:
            self._drop(TOO_LARGE)
            return size
        if self._checker is None:
            self._head += data
            if len(self._head) >= sniff.SNIFF_BYTES:
                self._decide(complete=False)
            return size
        self._push(data)
        return size

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return self.size

    def read(self, size: int = -1) -> bytes:
        # The plaintext is gone by design; readers get the stored, verified copy later.
        return b""

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    # Internals

    @property
    def is_blank(self) -> bool:
        """The empty part a browser sends for a file input left empty."""
        return self.raw_filename == "" and self.size == 0

    def _decide(self, *, complete: bool) -> None:
        head = bytes(self._head)
        self._head = bytearray()
        verdict = sniff.sniff(head, complete=complete)
        if not verdict.accepted:
            self._drop(verdict.reason or sniff.UNKNOWN)
            return
        assert self._store is not None and self._encryptor is not None
        self.media_type = verdict.media_type
        self._checker = sniff.ContentChecker(verdict.media_type or "", head)
        self._writer = self._store.open_writer(self.blob_key)
        self._writer.write(self._encryptor.header())
        self._seal(head)

    def _push(self, data: bytes) -> None:
        assert self._checker is not None
        self._checker.feed(data)
        if self._checker.reason is not None:
            self._drop(self._checker.reason)
            return
        self._seal(data)

    def _seal(self, data: bytes) -> None:
        assert self._encryptor is not None and self._writer is not None
        self._hasher.update(data)
        sealed = self._encryptor.update_view(data)
        if sealed:
            self._writer.write(sealed)

    def _drop(self, problem: str) -> None:
        self.problem = problem
        self._head = bytearray()
        self._discard_blob()

    def _discard_blob(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
        if self.state == "stored" and self._store is not None:
            self._store.delete(self.blob_key)
        if self.state != "kept":
            self.state = "dropped"

    def finish(self) -> None:
        """The part arrived whole: run the end-of-file checks and commit the blob."""
        if self.state != "receiving" or self.problem is not None:
            return
        if self._checker is None:
            self._decide(complete=True)
            if self.problem is not None:
                return
        assert self._checker is not None and self._encryptor is not None
        reason = self._checker.finish()
        if reason is not None:
            self._drop(reason)
            return
        assert self._writer is not None
        self._writer.write(self._encryptor.finalize())
        self._writer.commit()
        self._writer = None
        self.sha256 = self._hasher.hexdigest()
        self.state = "stored"

    def refuse(self, problem: str) -> None:
        """Drop the file; a problem already found stays the one reported."""
        if self.state == "kept":
            return
        if self.problem is None:
            self.problem = problem
        self._head = bytearray()
        self._discard_blob()

    def cleanup(self) -> None:
        """After the request: anything not referenced by a committed row goes away."""
        if self.state != "kept":
            self._discard_blob()


class Intake:
    """The files of one request, the byte budget, and the reference they are bound to."""

    def __init__(
        self,
        limits: Limits,
        *,
        store: BlobStore,
        keyring: Keyring,
        reference_for_request: Callable[[], str | None],
    ) -> None:
        self.limits = limits
        self.store = store
        self.keyring = keyring
        self._reference_for_request = reference_for_request
        self._reference: str | None = None
        self._resolved = False
        self.files: list[StagedFile] = []
        self.received = 0
        self.counted_files = 0

    @property
    def reference(self) -> str | None:
        if not self._resolved:
            self._resolved = True
            self._reference = self._reference_for_request()
        return self._reference

    def count(self, size: int) -> None:
        self.received += size
        if self.received > self.limits.max_request_size:
            raise RequestEntityTooLarge()

    def open(self, field: str, filename: str | None) -> StagedFile:
        reference = self.reference
        staged = StagedFile(
            self,
            field,
            filename,
            store=self.store if reference else None,
            keyring=self.keyring if reference else None,
            reference=reference,
        )
        self.files.append(staged)
        if filename:
            self.count_file(staged)
        return staged

    def count_file(self, staged: StagedFile) -> None:
        staged.counted = True
        self.counted_files += 1
        if self.counted_files > self.limits.max_files and staged.problem is None:
            staged.refuse(TOO_MANY)

    def cleanup(self) -> None:
        for staged in self.files:
            staged.cleanup()


class EvidenceRequest(Request):
    """A request whose file parts stream into the encrypted evidence store."""

    evidence_intake: Intake | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        intake = self.evidence_intake
        if intake is None:
            intake = self.evidence_intake = _new_intake()
        # The multipart parser does not pass the field name; it is read back from FileStorage.
        return intake.open("", filename)  # type: ignore[return-value]

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except RequestEntityTooLarge:
            if self.evidence_intake is not None:
                self.evidence_intake.cleanup()
            self._drain()
            empty: MultiDict[str, Any] = MultiDict()
            self.__dict__["form"], self.__dict__["files"] = empty, MultiDict()
            raise

    def _drain(self) -> None:
        """Read and discard the rest of the body so the client gets the 413 page."""
        limit = Limits.from_config(current_app.config).drain_limit
        declared = self.content_length
        if declared is None or declared > limit:
            return
        stream = self.stream
        try:
            while stream.read(DRAIN_PIECE):
                pass
        except Exception:
            # A client gone mid-drain needs no answer.
            return


# Endpoints that accept evidence, and how each finds the reference its files are bound to.
def _new_report_reference() -> str:
    from portal.db import get_session
    from portal.reports import new_reference

    return new_reference(get_session())


def _followup_reference() -> str | None:
    from flask import session

    from portal.citizen.views import FOLLOWUP_KEY
    from portal.db import get_session
    from portal.reports import report_for_followup

    report = report_for_followup(get_session(), session.get(FOLLOWUP_KEY))
    if report is None or report.category in NO_FILE_CATEGORIES:
        return None
    return report.reference


UPLOAD_ENDPOINTS: dict[str, Callable[[], str | None]] = {
    "citizen.submit_report": _new_report_reference,
    "citizen.follow_up_evidence": _followup_reference,
}


def _new_intake() -> Intake:
    from portal.context import blob_store, keyring

    resolver = UPLOAD_ENDPOINTS.get(request.endpoint or "")
    return Intake(
        Limits.from_config(current_app.config),
        store=blob_store(),
        keyring=keyring(),
        reference_for_request=resolver or (lambda: None),
    )


def init_app(app: Flask) -> None:
    """Install the encrypting upload stream on the app's request class."""
    app.request_class = EvidenceRequest
    app.config.setdefault("EVIDENCE_DRAIN_LIMIT", None)

    @app.teardown_request
    def _discard_unclaimed_uploads(exc: BaseException | None) -> None:
        intake = getattr(request, "evidence_intake", None)
        if intake is not None:
            intake.cleanup()


# --- what the views see ----------------------------------------------------------------------


def _problem_message(staged: StagedFile, limits: Limits) -> str:
    name = staged.display_name
    problem = staged.problem
    if problem == TOO_LARGE:
        return _(
            "“%(name)s” is larger than %(limit)s MB. Send a shorter video or a smaller file.",
            name=name,
            limit=limits.max_file_size // (1024 * 1024),
        )
    if problem == TOO_MANY:
        return _(
            "You can send at most %(limit)s files at once, so “%(name)s” was not accepted.",
            name=name,
            limit=limits.max_files,
        )
    if problem == sniff.EMPTY:
        return _("“%(name)s” is empty (0 bytes). Choose the file again or leave it out.", name=name)
    if problem == sniff.EXECUTABLE:
        return _(
            "“%(name)s” is a program or a script. For everyone's safety, programs are not "
            "accepted.",
            name=name,
        )
    if problem == sniff.ARCHIVE:
        return _(
            "“%(name)s” is a compressed archive (such as ZIP or RAR). Send the photos, videos "
            "or documents themselves.",
            name=name,
        )
    if problem in (sniff.MARKUP, sniff.POLYGLOT):
        return _(
            "“%(name)s” is or contains a web page or web code. Send a screenshot, or give the "
            "web address instead.",
            name=name,
        )
    if problem == sniff.ACTIVE_PDF:
        return _(
            "“%(name)s” is a PDF with active content (scripts or attached files). Print it to a "
            "new PDF or send screenshots instead.",
            name=name,
        )
    if problem == sniff.NOT_TEXT:
        return _(
            "“%(name)s” is not a plain text file. Save it as UTF-8 text, or send a screenshot.",
            name=name,
        )
    return _(
        "“%(name)s” is not a type of file the portal accepts. You can send photos (JPEG, PNG, "
        "GIF, WebP, HEIC), PDF, videos (MP4, MOV, WebM, 3GP), sound (MP3, M4A, OGG, AMR, WAV) "
        "and plain text.",
        name=name,
    )


def no_files_message() -> str:
    return _(
        "For this kind of report, please do not send any file. Do not download, keep or send "
        "such images, even as proof: give only the web addresses, and the police will collect "
        "the content safely. Your files were not kept."
    )


def choose_again_message() -> str:
    return _(
        "Your files were not kept while the form needs correcting: please choose them again "
        "before sending."
    )


@dataclass
class Upload:
    """The files a request sent in one form field, once the body has been read."""

    intake: Intake | None
    files: list[StagedFile]

    @property
    def reference(self) -> str | None:
        return self.intake.reference if self.intake and self.files else None

    @property
    def accepted(self) -> list[StagedFile]:
        return [staged for staged in self.files if staged.state == "stored"]

    @property
    def over_limit(self) -> bool:
        return any(staged.problem in (TOO_LARGE, TOO_MANY) for staged in self.files)

    def check(self, *, files_allowed: bool = True) -> list[str]:
        """Finish every file and return one translated message per refused file."""
        if not files_allowed and self.files:
            for staged in self.files:
                staged.refuse(NO_FILES_ALLOWED)
            return [no_files_message()]
        messages: list[str] = []
        for staged in self.files:
            staged.finish()
            if staged.problem is not None and staged.problem != NO_FILES_ALLOWED:
                messages.append(_problem_message(staged, staged.intake.limits))
        return messages

    def discard(self) -> None:
        for staged in self.files:
            staged.refuse("discarded")


def current_upload(field: str = FIELD_NAME) -> Upload:
    """The staged, non-blank files of ``field`` in the current request."""
    intake = getattr(request, "evidence_intake", None)
    files: list[StagedFile] = []
    for storage in request.files.getlist(field):
        staged = storage.stream
        if isinstance(staged, StagedFile) and not staged.is_blank:
            staged.field = field
            files.append(staged)
    # Parts under other field names are never kept.
    if intake is not None:
        for staged in intake.files:
            if staged not in files:
                staged.refuse("unexpected")
    return Upload(intake, files)


def form_status(upload: Upload) -> int:
    return 413 if upload.over_limit else 400


# --- services --------------------------------------------------------------------------------


def attach(
    session: Session,
    report: Report,
    upload: Upload,
    *,
    source: str,
    keyring: Keyring,
    now: Any = None,
) -> list[Evidence]:
    """Record the accepted files of ``upload`` on ``report``; the caller commits.

    The blobs were committed to the store by ``Upload.check``; they are kept once the
    transaction commits and deleted at the end of the request otherwise.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown evidence source {source!r}")
    now = now or utcnow()
    rows: list[Evidence] = []
    for staged in upload.accepted:
        if staged.reference != report.reference:
            raise ValueError("staged evidence is bound to another report")
        assert staged.sha256 and staged.media_type and staged.key_id and staged.wrapped_key
        row = Evidence(
            blob_key=staged.blob_key,
            size=staged.size,
            sniffed_type=staged.media_type,
            sha256=staged.sha256,
            key_id=staged.key_id,
            wrapped_key=staged.wrapped_key,
            filename_enc=keyring.encrypt_field(
                staged.display_name, filename_context(report.reference, staged.blob_key)
            ),
            source=source,
            received_at=now,
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
    kept = upload.accepted

    def _keep(_session: Session) -> None:
        for staged in kept:
            staged.state = "kept"

    event.listen(session, "after_commit", _keep, once=True)
    return rows


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
