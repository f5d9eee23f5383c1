"""Officer access to evidence: verified download, manifest, integrity failures, all audited."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.crypto.streaming import encrypt_stream
from portal.evidence import custody, intake
from portal.evidence.intake import stream_aad, wrap_aad
from portal.models import AuditEvent
from tests.support.evidence import (
    english_client,
    files,
    jpeg,
    pdf,
    png,
    report_by_reference,
    store_of,
)
from tests.support.staff import make_officer, sign_in
from tests.support.web import submit_and_get_receipt


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english_client(app)


@pytest.fixture
def officer_client(app, db) -> FlaskClient:
    _officer, secret = make_officer(app, db, "amina", units=("CASABLANCA",))
    staff = english_client(app)
    sign_in(staff, "amina", secret)
    return staff


def audit_actions(db, action: str) -> list[AuditEvent]:
    return db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_officer_downloads_exact_bytes_with_safe_headers(app, client, db, officer_client):
    photo = jpeg(200_000)
    reference, _ = submit_and_get_receipt(
        client, evidence=files((photo, "صورة.jpg"), (pdf(), "../../x.exe"))
    )
    rows = report_by_reference(db, reference).evidence
    response = officer_client.get(f"/officer/reports/{reference}/evidence/{rows[0].id}")
    assert response.status_code == 200
    assert response.get_data() == photo
    headers = response.headers
    assert headers["Content-Disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''%D8%B5%D9%88%D8%B1%D8%A9.jpg" in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Type"] == "application/octet-stream"
    # The executable-looking name gets the extension of what the file really is.
    second = officer_client.get(f"/officer/reports/{reference}/evidence/{rows[1].id}")
    assert "x.exe.pdf" in second.headers["Content-Disposition"]
    downloads = audit_actions(db, "evidence.downloaded")
    assert len(downloads) == 2 and downloads[0].actor.startswith("officer:")
    assert json.loads(downloads[0].details)["sha256"] == rows[0].sha256


def test_manifest_lists_every_file_and_is_audited(app, client, db, officer_client):
    reference, _ = submit_and_get_receipt(
        client, evidence=files((jpeg(), "a.jpg"), (pdf(), "b.pdf"))
    )
    rows = report_by_reference(db, reference).evidence
    response = officer_client.get(f"/officer/reports/{reference}/evidence-manifest.json")
    assert response.status_code == 200
    manifest = response.get_json()
    assert manifest["reference"] == reference
    assert [
        (f["id"], f["sha256"], f["size"], f["type"], f["source"]) for f in manifest["files"]
    ] == [(row.id, row.sha256, row.size, row.sniffed_type, "report") for row in rows]
    assert all(f["received_at"] for f in manifest["files"])
    assert len(audit_actions(db, "evidence.manifest_exported")) == 1


def test_evidence_outside_the_officers_units_is_404(app, client, db):
    reference, _ = submit_and_get_receipt(client, evidence=files((jpeg(), "a.jpg")))
    row = report_by_reference(db, reference).evidence[0]
    _officer, secret = make_officer(app, db, "karim", units=("RABAT",))
    staff = english_client(app)
    sign_in(staff, "karim", secret)
    assert staff.get(f"/officer/reports/{reference}/evidence/{row.id}").status_code == 404
    assert staff.get(f"/officer/reports/{reference}/evidence-manifest.json").status_code == 404
    assert audit_actions(db, "evidence.downloaded") == []


def test_evidence_of_another_report_is_404(app, client, db, officer_client):
    first, _ = submit_and_get_receipt(client, evidence=files((jpeg(), "a.jpg")))
    second, _ = submit_and_get_receipt(client)
    row = report_by_reference(db, first).evidence[0]
    assert officer_client.get(f"/officer/reports/{second}/evidence/{row.id}").status_code == 404


def test_anonymous_visitor_cannot_download(app, client, db):
    reference, _ = submit_and_get_receipt(client, evidence=files((jpeg(), "a.jpg")))
    row = report_by_reference(db, reference).evidence[0]
    response = english_client(app).get(f"/officer/reports/{reference}/evidence/{row.id}")
    assert response.status_code in (303, 404)
    assert response.get_data() != b"" and b"JFIF" not in response.get_data()


@pytest.mark.parametrize("damage", ["flip-byte", "truncate", "drop-final-chunk", "delete"])
def test_damaged_blob_is_refused_with_an_audit_entry(app, client, db, officer_client, damage):
    photo = jpeg(300_000)
    reference, _ = submit_and_get_receipt(client, evidence=files((photo, "a.jpg")))
    row = report_by_reference(db, reference).evidence[0]
    path = store_of(app).path_for(row.blob_key)
    data = bytearray(path.read_bytes())
    if damage == "flip-byte":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) - 1000]))
    elif damage == "drop-final-chunk":
        # Cut exactly at a chunk boundary: every remaining chunk authenticates.
        path.write_bytes(bytes(data[: 16 + 2 * (65536 + 16)]))
    else:
        path.unlink()
    response = officer_client.get(f"/officer/reports/{reference}/evidence/{row.id}")
    assert response.status_code == 500
    body = response.get_data()
    assert b"integrity check" in body
    assert photo[:2000] not in body
    failures = audit_actions(db, "evidence.integrity_failure")
    assert len(failures) == 1 and json.loads(failures[0].details)["evidence_id"] == row.id
    assert audit_actions(db, "evidence.downloaded") == []


def test_report_page_names_each_file_safely(app, client, db, officer_client):
    hostile = "\u202egpj.exe<img src=x onerror=alert(1)>.jpg"
    reference, _ = submit_and_get_receipt(
        client, evidence=files((jpeg(), "صورة الابتزاز.jpg"), (png(), hostile))
    )
    page = officer_client.get(f"/officer/reports/{reference}").get_data(as_text=True)
    assert "صورة الابتزاز.jpg" in page
    # The bidi override is gone and the markup is shown as text, never run.
    assert "\u202e" not in page
    assert "<img src=x" not in page
    assert "gpj.exe&lt;img src=x onerror=alert(1)&gt;.jpg" in page


def _reseal(app, keyring, report, row, plaintext: bytes) -> None:
    """Replace a blob with other content sealed under its own key: every tag verifies."""
    key = keyring.unwrap_key(row.key_id, row.wrapped_key, wrap_aad(report.reference, row.blob_key))
    sealed = b"".join(encrypt_stream(key, stream_aad(report.reference, row.blob_key), [plaintext]))
    store_of(app).path_for(row.blob_key).write_bytes(sealed)


def test_authentic_blob_with_other_content_is_refused_by_its_sha256(
    app, client, db, keyring, officer_client
):
    photo = jpeg(5000)
    reference, _ = submit_and_get_receipt(client, evidence=files((photo, "a.jpg")))
    report = report_by_reference(db, reference)
    row = report.evidence[0]
    # Same size, one byte different: only the hash recorded at intake tells them apart.
    _reseal(app, keyring, report, row, photo[:-3] + b"\x00" + photo[-2:])
    response = officer_client.get(f"/officer/reports/{reference}/evidence/{row.id}")
    assert response.status_code == 500
    assert photo[:2000] not in response.get_data()
    assert len(audit_actions(db, "evidence.integrity_failure")) == 1
    assert audit_actions(db, "evidence.downloaded") == []


def test_blob_changed_after_verification_stops_the_stream(app, client, db, keyring):
    photo = jpeg(5000)
    reference, _ = submit_and_get_receipt(client, evidence=files((photo, "a.jpg")))
    report = report_by_reference(db, reference)
    row = report.evidence[0]
    stream = custody.verified_stream(store_of(app), keyring, report, row)
    _reseal(app, keyring, report, row, photo[:-3] + b"\x00" + photo[-2:])
    with pytest.raises(intake.IntegrityFailure):
        b"".join(stream)
