"""Content-type sniffing for evidence uploads: an allow-list decided by magic bytes, not names.

``sniff(head)`` looks at the first ``SNIFF_BYTES`` of a file and returns either the media type
to record or the reason the file is refused. Some checks need the whole file and run while it
streams in (``ContentChecker``): plain text must stay valid UTF-8 without NUL or control bytes
to its end, and a PDF must not carry active-content markers anywhere.

Decisions (kept deliberately strict; a refused file costs the reporter a message, a dangerous
one costs an officer's workstation):

* Polyglots: a file of an allowed binary type whose first 4 KiB also contain markup that a
  browser would run (``<script``, ``<html``, ``<svg``, ``<iframe``, ``<?php``...) is refused.
  Officers always receive evidence as an attachment with ``nosniff`` and a sandboxing CSP, so
  markup deeper in a file cannot run in the portal's origin either.
* PDF: refused when the file contains ``/JavaScript``, ``/JS``, ``/Launch``, ``/EmbeddedFile``,
  ``/RichMedia`` or ``/XFA`` (in plain or ``#xx``-escaped spelling). Markers hidden inside
  compressed object streams are not seen; the download headers are the second line of defence.
* Plain text: UTF-8 (a BOM is allowed), no NUL or other C0 control bytes except tab, line
  feed, carriage return and form feed, and nothing HTML- or script-like at its start.
* Audio/video containers are recognised by their ISO-BMFF brand, EBML doc type or RIFF form:
  a matching first box is not proof the rest is well formed, but nothing in the portal ever
  decodes or renders it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

SNIFF_BYTES = 4096

# Refusal reasons (each has a translated message in portal.evidence.intake).
EMPTY = "empty"
EXECUTABLE = "executable"
ARCHIVE = "archive"
MARKUP = "markup"
POLYGLOT = "polyglot"
ACTIVE_PDF = "active_pdf"
NOT_TEXT = "not_text"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    media_type: str | None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.media_type is not None


def _ok(media_type: str) -> Verdict:
    return Verdict(media_type)


def _no(reason: str) -> Verdict:
    return Verdict(None, reason)


_EXECUTABLE_MAGIC = (
    b"MZ",  # DOS/Windows PE
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",  # Mach-O 32 / 64, both byte orders
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal (and Java class files)
    b"\x00asm",  # WebAssembly
    b"dex\n",  # Android Dalvik
)
_ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x07\x08",
    b"Rar!\x1a\x07",
    b"7z\xbc\xaf\x27\x1c",
    b"\x1f\x8b",  # gzip
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE compound file (MSI, old Office with macros)
    b"MSCF",  # Windows cabinet
    b"!<arch>",  # ar / .deb
    b"xar!",
)

# Markup a browser would execute or render as a document; matched case-insensitively.
_MARKUP = re.compile(
    rb"<\s*(?:script|html|svg|iframe|object|embed|body|head|meta|frameset|!doctype|\?php|\?xml)"
    rb"|javascript:",
    re.IGNORECASE,
)

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_3GP_BRANDS = {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6", b"3ge7", b"3gg6"}
_3G2_BRANDS = {b"3g2a", b"3g2b", b"3g2c"}
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso3",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"mp71",
    b"avc1",
    b"dash",
    b"mmp4",
    b"M4V ",
    b"M4VH",
    b"M4VP",
    b"MSNV",
    b"NDAS",
    b"f4v ",
}
# Old QuickTime files start straight with one of these atoms, without an ftyp box.
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

_TEXT_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")
_PDF_ACTIVE = re.compile(
    rb"/(?:J|#4[aA])(?:S|#53)(?![A-Za-z0-9#])"  # /JS
    rb"|/(?:J|#4[aA])(?:a|#61)(?:v|#76)(?:a|#61)(?:S|#53)(?:c|#63)(?:r|#72)(?:i|#69)(?:p|#70)"
    rb"(?:t|#74)"  # /JavaScript
    rb"|/Launch|/EmbeddedFiles?|/RichMedia|/XFA"
)
# Longest PDF marker spelling, so a marker split across two pieces is still seen.
_PDF_OVERLAP = 40


def _iso_bmff(head: bytes) -> Verdict | None:
    if len(head) < 12:
        return None
    box_type = head[4:8]
    if box_type == b"ftyp":
        brands = {head[8:12]}
        size = int.from_bytes(head[0:4], "big")
        end = min(max(size, 16), len(head), 256)
        brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
        major = head[8:12]
        if major in _HEIF_BRANDS or (major not in _MP4_BRANDS and brands & _HEIF_BRANDS):
            if major == b"avif" or major == b"avis":
                return _no(UNKNOWN)
            return _ok("image/heic")
        if major in _M4A_BRANDS:
            return _ok("audio/mp4")
        if major in _3GP_BRANDS:
            return _ok("video/3gpp")
        if major in _3G2_BRANDS:
            return _ok("video/3gpp2")
        if major in _MOV_BRANDS:
            return _ok("video/quicktime")
        if major in _MP4_BRANDS or brands & _MP4_BRANDS:
            return _ok("video/mp4")
        return _no(UNKNOWN)
    if box_type in _QUICKTIME_ATOMS:
        return _ok("video/quicktime")
    return None


def _mpeg_audio(head: bytes) -> Verdict | None:
    if head.startswith(b"ID3"):
        return _ok("audio/mpeg")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0x03
        if layer == 0b00:
            # ADTS: MPEG-4 AAC in a raw stream.
            return _ok("audio/aac")
        if layer == 0b01:
            return _ok("audio/mpeg")
    return None


def _binary(head: bytes) -> Verdict | None:
    """Recognise allowed binary formats by their magic bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return _ok("image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _ok("image/png")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _ok("image/gif")
    if head.startswith(b"RIFF") and len(head) >= 12:
        form = head[8:12]
        if form == b"WEBP":
            return _ok("image/webp")
        if form == b"WAVE":
            return _ok("audio/wav")
        return _no(UNKNOWN)
    if head.startswith(b"%PDF-"):
        return _ok("application/pdf")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML: WebM declares its doc type in the first element.
        return _ok("video/webm") if b"webm" in head[:64] else _no(UNKNOWN)
    if head.startswith(b"OggS"):
        return _ok("audio/ogg")
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return _ok("audio/amr")
    return _iso_bmff(head) or _mpeg_audio(head)


def _refused_binary(head: bytes) -> Verdict | None:
    if head.startswith(_EXECUTABLE_MAGIC):
        return _no(EXECUTABLE)
    if head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar":
        return _no(ARCHIVE)
    return None


def _text(head: bytes, complete: bool) -> Verdict:
    body = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    controls = len(_TEXT_FORBIDDEN.findall(body))
    if controls * 100 > len(body):
        # More than 1% control bytes: binary data of some unknown kind, not damaged text.
        return _no(UNKNOWN)
    if controls:
        return _no(NOT_TEXT)
    try:
        # A multi-byte character may be cut at the end of the head; the stream check
        # finishes the job.
        codecs.getincrementaldecoder("utf-8")("strict").decode(body, final=complete)
    except UnicodeDecodeError:
        return _no(NOT_TEXT)
    stripped = body.lstrip()
    if stripped.startswith(b"#!"):
        return _no(EXECUTABLE)
    if stripped.startswith(b"<") or _MARKUP.search(body):
        return _no(MARKUP)
    return _ok("text/plain")


def sniff(head: bytes, *, complete: bool = False) -> Verdict:
    """Decide from the first bytes of a file; ``complete`` says ``head`` is the whole file."""
    if not head:
        return _no(EMPTY)
    refused = _refused_binary(head)
    if refused is not None:
        return refused
    verdict = _binary(head)
    if verdict is not None:
        if verdict.accepted and _MARKUP.search(head[:SNIFF_BYTES]):
            return _no(POLYGLOT)
        if verdict.media_type == "application/pdf" and _PDF_ACTIVE.search(head):
            return _no(ACTIVE_PDF)
        return verdict
    return _text(head[:SNIFF_BYTES], complete)


class ContentChecker:
    """Checks that need the whole file, fed piece by piece after the head was sniffed."""

    def __init__(self, media_type: str, head: bytes) -> None:
        self.media_type = media_type
        self.reason: str | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._tail = b""
        if media_type == "text/plain":
            self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
            self.feed(head[3:] if head.startswith(codecs.BOM_UTF8) else head)
        elif media_type == "application/pdf":
            self._tail = head[-_PDF_OVERLAP:]

    def feed(self, data: bytes) -> None:
        if self.reason is not None or not data:
            return
        if self._decoder is not None:
            if _TEXT_FORBIDDEN.search(data):
                self.reason = NOT_TEXT
                return
            try:
                self._decoder.decode(data)
            except UnicodeDecodeError:
                self.reason = NOT_TEXT
        elif self.media_type == "application/pdf":
            window = self._tail + bytes(data)
            if _PDF_ACTIVE.search(window):
                self.reason = ACTIVE_PDF
            self._tail = window[-_PDF_OVERLAP:]

    def finish(self) -> str | None:
        """The refusal reason, or None when the whole file passed."""
        if self.reason is None and self._decoder is not None:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.reason = NOT_TEXT
        return self.reason
