"""Evidence through the API: the public form's sniffing, limits, encryption and custody."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from sqlalchemy import select

from portal.evidence import custody
from portal.models import AuditEvent, Evidence, Report
from tests.support.evidence import assert_nothing_kept, jpeg, pdf, store_of
from tests.support.partners import file_report


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return {**app_config, "EVIDENCE_MAX_FILE_SIZE": 256 * 1024}


def _upload(client, partner, reference, body, filename="capture.jpg"):
    return client.post(
        f"/api/v1/reports/{reference}/evidence?filename={filename}",
        data=body,
        headers={**partner.headers, "Content-Type": "application/octet-stream"},
    )


def test_a_photo_is_encrypted_hashed_and_kept_with_its_custody(app, client, db, keyring, partner_a):
    reference = file_report(client, partner_a)["reference"]
    photo = jpeg(filler=os.urandom(50_000))
    response = _upload(client, partner_a, reference, photo)
    assert response.status_code == 201, response.get_data(as_text=True)
    [answer] = response.get_json()["items"]
    assert answer["sha256"] == hashlib.sha256(photo).hexdigest()
    assert (answer["media_type"], answer["size"]) == ("image/jpeg", len(photo))
    report = db.scalar(select(Report).where(Report.reference == reference))
    [row] = report.evidence
    assert row.source == "partner"
    assert custody.evidence_filename(keyring, report, row) == "capture.jpg"
    on_disk = store_of(app).path_for(row.blob_key).read_bytes()
    assert photo[:4096] not in on_disk and photo[-4096:] not in on_disk
    assert b"".join(custody.verified_stream(store_of(app), keyring, report, row)) == photo
    audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.received")).all()
    assert [row.sha256 in entry.details for entry in audited] == [True]
    listed = client.get(f"/api/v1/reports/{reference}", headers=partner_a.headers).get_json()
    assert listed["evidence_count"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"MZ\x90\x00" + os.urandom(3000), 422),  # a program
        (b"PK\x03\x04" + os.urandom(3000), 422),  # an archive
        (b"", 422),  # empty
        (b"\xff\xd8\xff\xe0" + os.urandom(300 * 1024), 413),  # over the per-file limit
    ],
)
def test_refused_files_leave_nothing_behind(app, client, db, partner_a, body, status):
    reference = file_report(client, partner_a)["reference"]
    response = _upload(client, partner_a, reference, body, "x.bin")
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"].endswith("/evidence_refused")
    assert "x.bin" in problem["errors"][0]["detail"]
    assert_nothing_kept(app, db)


def test_no_files_for_child_sexual_exploitation(app, client, db, partner_a):
    reference = file_report(client, partner_a, category="child_sexual_exploitation", answers={})[
        "reference"
    ]
    response = _upload(client, partner_a, reference, pdf(), "doc.pdf")
    assert response.status_code == 422
    assert_nothing_kept(app, db)
    assert db.scalars(select(Evidence)).all() == []


def test_multipart_upload_uses_the_same_intake(app, client, db, keyring, partner_a):
    reference = file_report(client, partner_a)["reference"]
    photo, document = jpeg(filler=os.urandom(20_000)), pdf()
    response = client.post(
        f"/api/v1/reports/{reference}/evidence",
        data={"evidence": [(io.BytesIO(photo), "a.jpg"), (io.BytesIO(document), "b.pdf")]},
        headers=partner_a.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    items = response.get_json()["items"]
    assert [item["media_type"] for item in items] == ["image/jpeg", "application/pdf"]
    report = db.scalar(select(Report).where(Report.reference == reference))
    assert [row.sha256 for row in report.evidence] == [
        hashlib.sha256(photo).hexdigest(),
        hashlib.sha256(document).hexdigest(),
    ]


def test_multipart_with_one_bad_file_keeps_nothing(app, client, db, partner_a):
    reference = file_report(client, partner_a)["reference"]
    response = client.post(
        f"/api/v1/reports/{reference}/evidence",
        data={
            "evidence": [
                (io.BytesIO(jpeg()), "a.jpg"),
                (io.BytesIO(b"MZ" + os.urandom(500)), "setup.exe"),
            ]
        },
        headers=partner_a.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "setup.exe" in response.get_json()["errors"][0]["detail"]
    assert_nothing_kept(app, db)
    empty = client.post(
        f"/api/v1/reports/{reference}/evidence",
        data={"other": "x"},
        headers=partner_a.headers,
        content_type="multipart/form-data",
    )
    assert empty.status_code == 422
