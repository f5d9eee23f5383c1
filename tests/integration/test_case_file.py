"""The case file for the prosecutor: a printable page, a PDF, and a signed ZIP bundle that
`portal case-file verify` accepts intact and refuses, naming the file, once anything changed."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from evidence_support import english_client, files, jpeg, pdf
from flask import Flask
from flask.testing import FlaskClient
from helpers import submit_and_get_receipt
from officer_helpers import make_officer, sign_in
from sqlalchemy import select

from portal.cli.case_file import case_file_group
from portal.models import AuditEvent
from portal.services import case_export


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english_client(app)


@pytest.fixture
def officer_client(app, db) -> FlaskClient:
    _officer, secret = make_officer(app, db, "amina", units=("CASABLANCA",))
    staff = english_client(app)
    sign_in(staff, "amina", secret)
    return staff


@pytest.fixture
def case(client):
    photo = jpeg(150_000)
    document = pdf(b"statement")
    reference, _ = submit_and_get_receipt(
        client, evidence=files((photo, "capture.jpg"), (document, "relevé.pdf"))
    )
    return reference, photo, document


def _bundle(officer_client, reference: str, tmp_path: Path) -> Path:
    response = officer_client.get(f"/officer/reports/{reference}/case-file.zip")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    path = tmp_path / "bundle.zip"
    path.write_bytes(response.get_data())
    return path


def _rewrite(source: Path, target: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, change.get(name, old.read(name)))


def _public_key(app) -> str:
    result = app.test_cli_runner().invoke(args=["case-file", "public-key"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_bundle_holds_the_evidence_and_verifies(app, db, case, officer_client, tmp_path):
    reference, photo, document = case
    path = _bundle(officer_client, reference, tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[:2] == ["manifest.json", "manifest.sig"]
        evidence = sorted(name for name in names if name.startswith("evidence/"))
        assert [archive.read(name) for name in evidence] == [photo, document]
        assert archive.read("case-file.pdf").startswith(b"%PDF")
        manifest = json.loads(archive.read("manifest.json"))
        audit_entries = json.loads(archive.read("audit.json"))
    assert manifest["reference"] == reference
    assert {item["path"] for item in manifest["files"]} == set(names) - {
        "manifest.json",
        "manifest.sig",
    }
    assert any(entry["action"] == "evidence.received" for entry in audit_entries)

    runner = app.test_cli_runner()
    key = _public_key(app)
    result = runner.invoke(case_file_group, ["verify", str(path), "--public-key", key])
    assert result.exit_code == 0, result.output
    assert "signature valid" in result.output and "5 files intact" in result.output
    exported = db.scalars(select(AuditEvent).where(AuditEvent.action == "case_file.exported"))
    assert len(exported.all()) == 1


def test_a_changed_file_or_manifest_is_caught(app, case, officer_client, tmp_path):
    reference, _photo, _document = case
    path = _bundle(officer_client, reference, tmp_path)
    key = case_export.parse_public_key(_public_key(app))
    with zipfile.ZipFile(path) as archive:
        evidence = next(n for n in archive.namelist() if n.startswith("evidence/"))
        manifest = archive.read("manifest.json")

    swapped = tmp_path / "swapped.zip"
    _rewrite(path, swapped, {evidence: b"another picture"})
    result = case_export.verify_bundle(swapped, key)
    assert not result.ok and result.problems == [
        f"{evidence}: SHA-256 or size differs from the manifest"
    ]

    forged = tmp_path / "forged.zip"
    _rewrite(path, forged, {"manifest.json": manifest.replace(b'"category"', b'"categori"')})
    assert case_export.verify_bundle(forged, key).problems == [
        "the signature does not match the manifest"
    ]

    added = tmp_path / "added.zip"
    _rewrite(path, added, {})
    with zipfile.ZipFile(added, "a") as archive:
        archive.writestr("evidence/99-planted.jpg", b"planted")
    assert (
        "evidence/99-planted.jpg: not in the manifest"
        in case_export.verify_bundle(added, key).problems
    )

    # A bundle signed by another key proves nothing about origin.
    other = case_export.signing_key(b"\x01" * 32).public_key()
    assert not case_export.verify_bundle(path, other).ok


def test_printable_page_and_pdf_are_audited(db, case, officer_client):
    reference, _photo, _document = case
    page = officer_client.get(f"/officer/reports/{reference}/case-file")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert reference in text and "capture.jpg" in text
    pdf_response = officer_client.get(f"/officer/reports/{reference}/case-file.pdf")
    assert pdf_response.data.startswith(b"%PDF")
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"case_file.printed", "case_file.pdf_exported"} <= actions


def test_only_officers_of_the_unit_export(app, db, case):
    reference, _photo, _document = case
    _, secret = make_officer(app, db, "youssef", units=("FES",))
    other = english_client(app)
    sign_in(other, "youssef", secret)
    for suffix in ("case-file", "case-file.pdf", "case-file.zip"):
        assert other.get(f"/officer/reports/{reference}/{suffix}").status_code == 404
    anonymous = english_client(app)
    response = anonymous.get(f"/officer/reports/{reference}/case-file.zip")
    assert response.status_code in (302, 303) and b"PK" not in response.data


def test_verify_refuses_what_is_not_a_bundle(tmp_path):
    path = tmp_path / "x.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    path.write_bytes(buffer.getvalue())
    assert not case_export.verify_bundle(path).ok
    (tmp_path / "y.zip").write_bytes(b"not a zip")
    assert not case_export.verify_bundle(tmp_path / "y.zip").ok
