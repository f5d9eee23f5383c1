"""Evidence intake through /report and /follow-up: streamed, sniffed, encrypted, all-or-nothing."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.evidence import custody, intake
from portal.models import AuditEvent, Evidence, PendingUpload, Report, ReportEvent
from tests.support.evidence import (
    assert_nothing_kept,
    assert_only_held,
    english_client,
    files,
    jpeg,
    pdf,
    png,
    report_by_reference,
    store_of,
    stored_blobs,
)
from tests.support.web import (
    csrf_token,
    open_follow_up,
    submit_and_get_receipt,
    submit_report,
    valid_report,
)

KiB = 1024
MiB = 1024 * 1024


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english_client(app)


# --- the happy path ---------------------------------------------------------------------------


def test_report_with_files_records_hash_type_and_encrypted_name(app, client, db, keyring):
    photo, document = jpeg(300 * KiB), pdf()
    reference, _ = submit_and_get_receipt(
        client, evidence=files((photo, "capture écran.jpg"), (document, "contrat.pdf"))
    )
    report = report_by_reference(db, reference)
    rows = db.scalars(select(Evidence).where(Evidence.report_id == report.id)).all()
    assert [(row.sniffed_type, row.size, row.source) for row in rows] == [
        ("image/jpeg", len(photo), "report"),
        ("application/pdf", len(document), "report"),
    ]
    assert rows[0].sha256 == hashlib.sha256(photo).hexdigest()
    assert rows[1].sha256 == hashlib.sha256(document).hexdigest()
    assert {row.key_id for row in rows} == {keyring.active_id}
    # The name is stored only encrypted, bound to this evidence.
    assert b"contrat" not in rows[1].filename_enc
    assert custody.evidence_filename(keyring, report, rows[1]) == "contrat.pdf"
    assert custody.evidence_filename(keyring, report, rows[0]) == "capture écran.jpg"
    # Stored bytes are ciphertext, and read back to exactly what was sent.
    store = store_of(app)
    on_disk = store.path_for(rows[0].blob_key).read_bytes()
    assert photo[:4096] not in on_disk and photo[-4096:] not in on_disk
    assert b"".join(custody.verified_stream(store, keyring, report, rows[0])) == photo
    # Timeline (seen by the reporter) and audit chain.
    kinds = {(e.kind, e.visible_to_reporter) for e in report.events}
    assert ("evidence_added", True) in kinds
    audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.received")).all()
    assert len(audited) == 2
    assert rows[0].sha256 in audited[0].details


def test_plaintext_never_touches_disk(app, client, db):
    """A > 1 MiB upload: its marker is in neither the evidence store nor the temp directory."""
    marker = f"MARKER-{secrets.token_hex(16)}".encode()
    content = jpeg(filler=(marker + os.urandom(4000)) * 400)  # about 1.6 MiB
    assert len(content) > MiB
    started = time.time() - 1
    reference, _ = submit_and_get_receipt(client, evidence=files((content, "big.jpg")))
    assert report_by_reference(db, reference).evidence[0].size == len(content)

    def scan(root: Path, recent_only: bool) -> list[Path]:
        found = []
        for directory, _dirs, names in os.walk(root, onerror=lambda _e: None):
            for name in names:
                path = Path(directory) / name
                try:
                    if not path.is_file() or path.is_symlink():
                        continue
                    if recent_only and path.stat().st_mtime < started:
                        continue
                    if path.stat().st_size > 64 * MiB:
                        continue
                    if marker in path.read_bytes():
                        found.append(path)
                except OSError:
                    continue
        return found

    assert len(stored_blobs(app)) == 1
    assert scan(store_of(app).root, recent_only=False) == []
    assert scan(Path(tempfile.gettempdir()), recent_only=True) == []


def test_empty_file_input_is_not_a_file(app, client, db):
    """A browser sends an empty part for a file input left empty: the report goes through."""
    reference, _ = submit_and_get_receipt(client, evidence=files((b"", "")))
    assert report_by_reference(db, reference).evidence == []
    assert stored_blobs(app) == []


# --- refused files: the form comes back filled in, nothing is kept ------------------------------


REFUSED = [
    pytest.param(b"", "empty.jpg", "is empty", id="zero-byte"),
    pytest.param(os.urandom(5000), "photo.jpg", "not a type of file", id="wrong-magic"),
    pytest.param(b"MZ\x90\x00" + os.urandom(3000), "cat.jpg", "program", id="renamed-exe"),
    pytest.param(b"\x7fELF\x02\x01\x01" + os.urandom(3000), "video.mp4", "program", id="elf"),
    pytest.param(b"#!/bin/sh\nrm -rf ~\n", "notes.txt", "program", id="shell-script"),
    pytest.param(
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
        b"<script>alert(document.cookie)</script></svg>",
        "drawing.svg",
        "web code",
        id="svg-script",
    ),
    pytest.param(b"<!doctype html><html><body>hi</body></html>", "page.txt", "web", id="html"),
    pytest.param(
        b"PK\x03\x04\x14\x00\x00\x00" + os.urandom(3000), "photos.zip", "archive", id="zip"
    ),
    pytest.param(b"Rar!\x1a\x07\x00" + os.urandom(3000), "x.rar", "archive", id="rar"),
    pytest.param(
        jpeg(filler=b"<script>alert(1)</script>" + os.urandom(2000)),
        "polyglot.jpg",
        "web code",
        id="jpeg-html-polyglot",
    ),
    pytest.param(
        pdf(b"3 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj"),
        "invoice.pdf",
        "active content",
        id="pdf-javascript",
    ),
    pytest.param(b"hello world " * 100 + b"\x00", "chat.txt", "not a plain text", id="nul"),
    pytest.param(
        b"plain words " * 500 + b"\xff\xfe broken", "log.txt", "not a plain text", id="bad-utf8"
    ),
]


@pytest.mark.parametrize(("content", "name", "message"), REFUSED)
def test_refused_file_names_the_file_and_keeps_the_form(app, client, db, content, name, message):
    response = submit_report(
        client,
        description="Unique description kept after refusal",
        evidence=files((jpeg(), "good.jpg"), (content, name)),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert f"“{intake.display_filename(name)}”" in page
    # What the reporter typed comes back, and the good file is kept, encrypted, for this form.
    assert "Unique description kept after refusal" in page
    assert re.search(r'<input checked[^>]*value="sextortion"', page)
    assert 'id="evidence-error"' in page
    assert db.scalars(select(Report)).all() == []
    held = assert_only_held(app, db, 1)
    assert f'id="keep-file-{held[0].id}" checked' in page
    assert re.search(r'<bdi class="file-name" dir="auto">good\.jpg</bdi>', page)


ACCEPTED = {
    "image/png": png(),
    "image/gif": b"GIF89a" + os.urandom(500),
    "image/webp": b"RIFF\x00\x10\x00\x00WEBPVP8 " + os.urandom(500),
    "image/heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + os.urandom(500),
    "video/mp4": b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + os.urandom(900),
    "video/quicktime": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + os.urandom(500),
    "video/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + os.urandom(500),
    "video/3gpp": b"\x00\x00\x00\x14ftyp3gp5\x00\x00\x00\x00" + os.urandom(500),
    "audio/mpeg": b"ID3\x04\x00\x00\x00\x00\x00\x00" + os.urandom(500),
    "audio/mp4": b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00isom" + os.urandom(500),
    "audio/ogg": b"OggS\x00\x02" + os.urandom(500),
    "audio/amr": b"#!AMR\n" + os.urandom(500),
    "audio/wav": b"RIFF\x24\x08\x00\x00WAVEfmt " + os.urandom(500),
    "text/plain": "Messages exportés, رسالة التهديد\n".encode() * 300,
}


@pytest.mark.parametrize("media_type", sorted(ACCEPTED))
def test_accepted_types_are_recognised_by_content_not_name(client, db, media_type):
    # A misleading name changes nothing: the type recorded is the sniffed one.
    reference, _ = submit_and_get_receipt(
        client, evidence=files((ACCEPTED[media_type], "renamed.exe"))
    )
    [row] = report_by_reference(db, reference).evidence
    assert row.sniffed_type == media_type


# --- categories and invalid forms -----------------------------------------------------------


def test_child_exploitation_reports_take_no_files_whatever_the_browser_sends(app, client, db):
    response = submit_report(
        client,
        category="child_sexual_exploitation",
        q_money_demanded=None,
        q_paid=None,
        description="Link to abuse material",
        evidence=files((jpeg(), "image.jpg")),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "please do not send any file" in page
    assert "Link to abuse material" in page
    assert db.scalars(select(Report)).all() == []
    assert_nothing_kept(app, db)


def test_child_exploitation_report_without_files_goes_through(client, db):
    reference, _ = submit_and_get_receipt(
        client, category="child_sexual_exploitation", q_money_demanded=None, q_paid=None
    )
    assert report_by_reference(db, reference).priority == "urgent"


def _held_form(page: str) -> dict[str, object]:
    """What the browser sends back about the held files: the token and the ticked boxes."""
    token = re.search(r'name="pending_upload" type="hidden" value="([^"]+)"', page)
    assert token, "the form does not carry its held files"
    ids = re.findall(r'name="keep_file" value="(\d+)"[^>]*checked', page)
    return {"pending_upload": token.group(1), "keep_file_shown": "1", "keep_file": ids}


def test_invalid_form_keeps_good_files_without_choosing_them_again(app, client, db):
    response = submit_report(
        client, description="", urls="not a url", evidence=files((jpeg(), "proof.jpg"))
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "you do not need to choose it again" in page
    assert "proof.jpg" in page
    assert "not a url" in page
    assert_only_held(app, db, 1)


def test_one_bad_and_two_good_files_then_the_corrected_form_keeps_the_good_ones(app, client, db):
    good_jpeg, good_png = jpeg(5000), png(3000)
    response = submit_report(
        client,
        evidence=files(
            (good_jpeg, "screenshot.jpg"),
            (b"MZ\x90\x00" + os.urandom(900), "photo.jpg"),
            (good_png, "chat.png"),
        ),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "“photo.jpg” is a program" in page
    assert "screenshot.jpg" in page and "chat.png" in page
    assert_only_held(app, db, 2)
    # Sent again without choosing anything: both good files come with the report.
    data = valid_report(csrf_token=csrf_token(client, "/report"), **_held_form(page))
    response = client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    report = db.scalars(select(Report)).one()
    sizes = sorted(row.size for row in report.evidence)
    assert sizes == sorted([len(good_jpeg), len(good_png)])
    assert db.scalars(select(PendingUpload)).all() == []
    assert sorted(stored_blobs(app)) == sorted(row.blob_key for row in report.evidence)
    assert {row.source for row in report.evidence} == {"report"}


def test_a_held_file_left_unticked_is_dropped_and_new_files_join_the_report(app, client, db):
    response = submit_report(
        client,
        urls="",
        evidence=files((jpeg(), "keep.jpg"), (jpeg(), "drop.jpg")),
    )
    page = response.get_data(as_text=True)
    held = {row.id: row.blob_key for row in assert_only_held(app, db, 2)}
    form = _held_form(page)
    first, second = sorted(held)
    form["keep_file"] = [str(first)]
    data = valid_report(
        csrf_token=csrf_token(client, "/report"), evidence=files((png(), "new.png")), **form
    )
    response = client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    report = db.scalars(select(Report)).one()
    keys = {row.blob_key for row in report.evidence}
    assert held[first] in keys and held[second] not in keys and len(keys) == 2
    assert sorted(stored_blobs(app)) == sorted(keys)


def test_held_files_belong_to_the_form_that_shows_them(app, client, db):
    submit_report(client, urls="", evidence=files((jpeg(), "held.jpg")))
    assert_only_held(app, db, 1)
    # A form without the token (another tab, an old page) does not pick them up.
    reference, _receipt = submit_and_get_receipt(client)
    assert report_by_reference(db, reference).evidence == []


def test_missing_csrf_token_keeps_no_upload(app, client, db):
    data = valid_report(evidence=files((jpeg(), "proof.jpg")))
    response = client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert_nothing_kept(app, db)


# --- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\windows\\system32\\x.jpg", "x.jpg"),
        ("inno\x00cent.jpg", "innocent.jpg"),
        ("photo\u202egpj.exe", "photogpj.exe"),
        ("\u2067secret\u2069 .jpg", "secret .jpg"),
        ("a\r\nb\tc.jpg", "a b c.jpg"),
        (".hidden.jpg", "hidden.jpg"),
        ("", "file"),
        ("////", "file"),
    ],
)
def test_display_filename_strips_paths_controls_and_bidi(raw, shown):
    assert intake.display_filename(raw) == shown


def test_display_filename_caps_length_and_keeps_extension():
    name = intake.display_filename("é" * 300 + ".jpeg")
    assert len(name) == intake.MAX_DISPLAY_NAME and name.endswith(".jpeg")


def test_hostile_file_names_are_stored_sanitised(client, db, keyring):
    hostile = ["../../etc/passwd", "evil\x00.jpg", "invoice\u202efdp.exe", "n" * 300 + ".jpg"]
    reference, _ = submit_and_get_receipt(
        client, evidence=files(*((jpeg(), name) for name in hostile))
    )
    report = report_by_reference(db, reference)
    names = [custody.evidence_filename(keyring, report, row) for row in report.evidence]
    assert names[0] == "passwd" and names[1] == "evil.jpg" and names[2] == "invoicefdp.exe"
    assert len(names[3]) == intake.MAX_DISPLAY_NAME and names[3].endswith(".jpg")
    for name in names:
        assert "/" not in name and "\x00" not in name and "\u202e" not in name
    # The download name always ends with the extension of the sniffed type.
    assert intake.download_filename(names[2], "image/jpeg") == "invoicefdp.exe.jpg"


def test_content_disposition_has_ascii_fallback_and_utf8_name():
    header = intake.content_disposition("صورة التهديد.jpg", "evidence-EB-1-7")
    assert header.startswith('attachment; filename="evidence-EB-1-7.jpg"; ')
    assert "filename*=UTF-8''%D8%B5" in header
    header = intake.content_disposition('bad"name;\r\n.jpg', "x")
    assert '"' not in header.split('filename="')[1].split('"')[0]
    assert "\r" not in header and "\n" not in header


# --- follow-up evidence ---------------------------------------------------------------------


def test_reporter_adds_evidence_later(app, client, db):
    reference, receipt = submit_and_get_receipt(client)
    open_follow_up(client, receipt)
    page = client.get("/follow-up").get_data(as_text=True)
    assert 'action="/follow-up/evidence"' in page
    token = csrf_token(client, "/follow-up")
    content = png(5000)
    response = client.post(
        "/follow-up/evidence",
        data={"csrf_token": token, "evidence": files((content, "later.png"))},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    report = report_by_reference(db, reference)
    [row] = report.evidence
    assert (row.source, row.size, row.sniffed_type) == ("follow_up", len(content), "image/png")
    event = db.scalars(
        select(ReportEvent).where(
            ReportEvent.report_id == report.id, ReportEvent.kind == "evidence_added"
        )
    ).one()
    assert event.visible_to_reporter


def test_follow_up_evidence_refusal_is_shown_on_the_page(app, client, db):
    _reference, receipt = submit_and_get_receipt(client)
    open_follow_up(client, receipt)
    token = csrf_token(client, "/follow-up")
    response = client.post(
        "/follow-up/evidence",
        data={"csrf_token": token, "evidence": files((b"PK\x03\x04zip", "all.zip"))},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "“all.zip” is a compressed archive" in response.get_data(as_text=True)
    assert_nothing_kept(app, db)


def test_follow_up_evidence_needs_csrf_and_a_session(app, client, db):
    _reference, receipt = submit_and_get_receipt(client)
    upload = {"evidence": files((jpeg(), "x.jpg"))}
    # No follow-up session: the receipt is asked for again, the file is named, nothing stored.
    token = csrf_token(client, "/follow-up")
    response = client.post(
        "/follow-up/evidence",
        data={"csrf_token": token, **upload},
        content_type="multipart/form-data",
    )
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert 'name="receipt"' in page and "x.jpg" in page
    # A session but no CSRF token: refused, nothing stored.
    open_follow_up(client, receipt)
    response = client.post(
        "/follow-up/evidence",
        data={"evidence": files((jpeg(), "x.jpg"))},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert_nothing_kept(app, db)


def test_child_exploitation_follow_up_takes_no_files(app, client, db):
    _reference, receipt = submit_and_get_receipt(
        client, category="child_sexual_exploitation", q_money_demanded=None, q_paid=None
    )
    open_follow_up(client, receipt)
    page = client.get("/follow-up").get_data(as_text=True)
    assert 'action="/follow-up/evidence"' not in page
    token = csrf_token(client, "/follow-up")
    response = client.post(
        "/follow-up/evidence",
        data={"csrf_token": token, "evidence": files((jpeg(), "x.jpg"))},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "please do not send any file" in response.get_data(as_text=True)
    assert_nothing_kept(app, db)


def test_held_files_of_a_form_never_sent_again_are_purged(app, client, db):
    submit_report(client, urls="", evidence=files((jpeg(), "held.jpg")))
    held = assert_only_held(app, db, 1)
    # Still held: the orphan sweep leaves it alone, even past its grace period.
    app.config["EVIDENCE_ORPHAN_GRACE_HOURS"] = 0
    assert app.test_cli_runner().invoke(args=["retention", "purge"]).exit_code == 0
    db.expire_all()
    assert_only_held(app, db, 1)
    held[0].expires_at = held[0].created_at
    db.commit()
    result = app.test_cli_runner().invoke(args=["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert "unsent report forms removed: 1" in result.output
    db.expire_all()
    assert_nothing_kept(app, db)
    assert db.scalars(select(PendingUpload)).all() == []


def test_held_and_new_files_together_stay_within_the_file_limit(app, client, db):
    limit = app.config["EVIDENCE_MAX_FILES"]
    response = submit_report(
        client, urls="", evidence=files(*((jpeg(), f"held-{n}.jpg") for n in range(limit - 1)))
    )
    assert_only_held(app, db, limit - 1)
    data = valid_report(
        csrf_token=csrf_token(client, "/report"),
        evidence=files((jpeg(), "fits.jpg"), (jpeg(), "one-too-many.jpg")),
        **_held_form(response.get_data(as_text=True)),
    )
    response = client.post("/report", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert f"at most {limit} files" in page and "one-too-many.jpg" in page
    assert db.scalars(select(Report)).all() == []
    assert_only_held(app, db, limit)
