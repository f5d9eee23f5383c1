"""Content sniffing: the allow-list by magic bytes, and the whole-file checks."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.evidence import sniff
from portal.evidence.sniff import ContentChecker
from portal.evidence.sniff import sniff as sniff_head


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8L", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "video/quicktime"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x00", "video/3gpp"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
        (b"\xff\xf1\x50\x80\x00", "audio/aac"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00isom", "audio/mp4"),
        (b"OggS\x00\x02\x00\x00OpusHead", "audio/ogg"),
        (b"#!AMR\n\x3c", "audio/amr"),
        (b"#!AMR-WB\n\x04", "audio/amr"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "audio/wav"),
        ("Bonjour, voici le message reçu.\n".encode(), "text/plain"),
        ("\ufeffرسالة التهديد\r\n".encode(), "text/plain"),
    ],
)
def test_allowed_formats_are_recognised(head, media_type):
    verdict = sniff_head(head + os.urandom(64), complete=False)
    if media_type == "text/plain":
        verdict = sniff_head(head, complete=True)
    assert verdict == sniff.Verdict(media_type)


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"", sniff.EMPTY),
        (b"MZ\x90\x00\x03", sniff.EXECUTABLE),
        (b"\x7fELF\x02\x01\x01", sniff.EXECUTABLE),
        (b"\xcf\xfa\xed\xfe\x07\x00", sniff.EXECUTABLE),
        (b"\xca\xfe\xba\xbe\x00\x00", sniff.EXECUTABLE),
        (b"#!/usr/bin/env python\nimport os\n", sniff.EXECUTABLE),
        (b"  #!/bin/sh\n", sniff.EXECUTABLE),
        (b"PK\x03\x04\x14\x00", sniff.ARCHIVE),
        (b"Rar!\x1a\x07\x01\x00", sniff.ARCHIVE),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", sniff.ARCHIVE),
        (b"\x1f\x8b\x08\x00", sniff.ARCHIVE),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", sniff.ARCHIVE),
        (b"<!DOCTYPE html><p>x", sniff.MARKUP),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>x</script>", sniff.MARKUP),
        (b'<?xml version="1.0"?>\n<svg/>', sniff.MARKUP),
        (b"Hello\n<script>alert(1)</script>", sniff.MARKUP),
        (b"see javascript:alert(1)", sniff.MARKUP),
        (b"\xff\xd8\xff\xe0JFIF<html><script>", sniff.POLYGLOT),
        (b"\x89PNG\r\n\x1a\n<SCRIPT src=x>", sniff.POLYGLOT),
        (b"GIF89a/*<svg onload=alert(1)>", sniff.POLYGLOT),
        (b"%PDF-1.7\n/OpenAction << /S /JavaScript /JS (x) >>", sniff.ACTIVE_PDF),
        (b"%PDF-1.7\n<< /S /Launch /F (cmd.exe) >>", sniff.ACTIVE_PDF),
        (b"%PDF-1.7\n<< /S /J#61vaScript >>", sniff.ACTIVE_PDF),
        (b"%PDF-1.7\n<< /Type /EmbeddedFile >>", sniff.ACTIVE_PDF),
        (b"RIFF\x00\x00\x00\x00AVI LIST", sniff.UNKNOWN),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", sniff.UNKNOWN),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", sniff.UNKNOWN),
        (bytes(range(256)) * 4, sniff.UNKNOWN),
        (b"a long line of ordinary words " * 5 + b"then one NUL\x00", sniff.NOT_TEXT),
        (b"caf\xe9 in Latin-1, not UTF-8", sniff.NOT_TEXT),
    ],
)
def test_refused_formats_say_why(head, reason):
    verdict = sniff_head(head, complete=True)
    assert not verdict.accepted
    assert verdict.reason == reason


def test_markup_after_the_first_4_kib_of_an_image_is_not_a_polyglot():
    head = b"\xff\xd8\xff\xe0" + b"\x00" * sniff.SNIFF_BYTES + b"<script>"
    assert sniff_head(head).media_type == "image/jpeg"


def test_utf8_character_cut_at_the_end_of_the_head_is_fine_until_the_end():
    text = "é".encode() * 3
    assert sniff_head(text[:-1], complete=False).media_type == "text/plain"
    assert sniff_head(text[:-1], complete=True).reason == sniff.NOT_TEXT


def test_text_checker_follows_the_whole_file():
    head = b"line of text\n" * 10
    checker = ContentChecker("text/plain", head)
    checker.feed("more text, même en français\n".encode()[:-3])
    checker.feed("more text, même en français\n".encode()[-3:])
    assert checker.finish() is None
    checker = ContentChecker("text/plain", head)
    checker.feed(b"binary \x00 later")
    assert checker.finish() == sniff.NOT_TEXT
    checker = ContentChecker("text/plain", head)
    checker.feed(b"ends mid-character \xc3")
    assert checker.finish() == sniff.NOT_TEXT


def test_pdf_checker_finds_markers_split_across_pieces():
    checker = ContentChecker("application/pdf", b"%PDF-1.7\n")
    checker.feed(b"1 0 obj << /S /Java")
    checker.feed(b"Script /JS (app.alert(1)) >>")
    assert checker.finish() == sniff.ACTIVE_PDF
    clean = ContentChecker("application/pdf", b"%PDF-1.7\n")
    clean.feed(b"<< /Type /Page /JSONData 1 /Font /F1 >>")
    assert clean.finish() is None


@given(st.binary(min_size=1, max_size=600))
def test_sniff_never_crashes_and_always_decides(data):
    verdict = sniff_head(data, complete=True)
    assert verdict.accepted != (verdict.reason is not None)
