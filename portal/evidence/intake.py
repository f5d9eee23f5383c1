"""Evidence intake: sniff, hash, encrypt and store uploads while they stream in.

Werkzeug normally spools each uploaded file to a temporary file (in clear, above 500 KiB).
``EvidenceRequest`` replaces that: every file part of a multipart body is handed to a
``StagedFile`` that keeps at most the first ``SNIFF_BYTES`` in memory to decide its type, then
SHA-256-hashes the plaintext and encrypts it chunk by chunk (a fresh file key per file, see
``portal.crypto.keyring``) straight into a blob store writer. Nothing in clear reaches any disk.

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
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from werkzeug.exceptions import RequestEntityTooLarge

from portal.crypto.keyring import Keyring, new_file_key
from portal.crypto.streaming import StreamEncryptor
from portal.evidence import pdq, sniff
from portal.storage.blobs import BlobStore, BlobWriter, new_blob_key

FIELD_NAME = "evidence"
SOURCES = ("report", "follow_up", "partner")
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
        # An image's PDQ hash and quality (portal.evidence.pdq), from its plaintext in memory.
        self.pdq: tuple[bytes, int] | None = None
        self._image: bytearray | None = None
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
        if self.media_type in pdq.HASHABLE_TYPES:
            self._image = bytearray()
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
        if self._image is not None:
            # Bounded: an image larger than this is stored and hashed by SHA-256 only.
            if len(self._image) + len(data) > pdq.MAX_IMAGE_BYTES:
                self._image = None
            else:
                self._image += data
        sealed = self._encryptor.update_view(data)
        if sealed:
            self._writer.write(sealed)

    def _drop(self, problem: str) -> None:
        self.problem = problem
        self._head = bytearray()
        self._image = None
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
        if self._image is not None:
            image, self._image = bytes(self._image), None
            self.pdq = pdq.compute(image)

    def refuse(self, problem: str) -> None:
        """Drop the file; a problem already found stays the one reported."""
        if self.state == "kept":
            return
        if self.problem is None:
            self.problem = problem
        self._head = bytearray()
        self._image = None
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
