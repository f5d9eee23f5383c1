"""Upload limits enforced while the body streams, and uploads that never finish."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import Report
from tests.support.evidence import (
    assert_nothing_kept,
    assert_only_held,
    english_client,
    files,
    jpeg,
    report_by_reference,
    stored_blobs,
)
from tests.support.web import csrf_token, submit_and_get_receipt, submit_report, valid_report

KiB = 1024
MAX_FILE = 64 * KiB
MAX_REQUEST = 160 * KiB
MAX_FILES = 3


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english_client(app)


@pytest.fixture
def app_config(app_config):
    app_config["EVIDENCE_MAX_FILES"] = MAX_FILES
    app_config["EVIDENCE_MAX_FILE_SIZE"] = MAX_FILE
    app_config["EVIDENCE_MAX_REQUEST_SIZE"] = MAX_REQUEST
    return app_config


def test_file_exactly_at_the_size_limit_is_accepted(client, db):
    reference, _ = submit_and_get_receipt(client, evidence=files((jpeg(MAX_FILE), "max.jpg")))
    [row] = report_by_reference(db, reference).evidence
    assert row.size == MAX_FILE


def test_file_one_byte_over_the_size_limit_is_refused_by_name(app, client, db):
    response = submit_report(
        client,
        description="Typed before the big file",
        evidence=files((jpeg(MAX_FILE + 1), "one-too-many-bytes.jpg")),
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "“one-too-many-bytes.jpg” is larger than" in page
    assert "Typed before the big file" in page
    assert db.scalars(select(Report)).all() == []
    assert_nothing_kept(app, db)


def test_files_exactly_at_the_count_limit_are_accepted(client, db):
    reference, _ = submit_and_get_receipt(
        client, evidence=files(*((jpeg(1000), f"{n}.jpg") for n in range(MAX_FILES)))
    )
    assert len(report_by_reference(db, reference).evidence) == MAX_FILES


def test_one_file_over_the_count_limit_is_refused(app, client, db):
    response = submit_report(
        client, evidence=files(*((jpeg(1000), f"{n}.jpg") for n in range(MAX_FILES + 1)))
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert f"at most {MAX_FILES} files" in page and f"“{MAX_FILES}.jpg”" in page
    # The files within the limit are kept for the form, and it says so.
    assert_only_held(app, db, MAX_FILES)
    assert "you do not need to choose them again" in page


def test_request_exactly_at_the_total_limit_is_accepted(client, db):
    sizes = [MAX_FILE, MAX_FILE, MAX_REQUEST - 2 * MAX_FILE]
    reference, _ = submit_and_get_receipt(
        client, evidence=files(*((jpeg(size), f"{i}.jpg") for i, size in enumerate(sizes)))
    )
    assert sorted(r.size for r in report_by_reference(db, reference).evidence) == sorted(sizes)


def test_request_one_byte_over_the_total_limit_gets_the_413_page(app, client, db):
    sizes = [MAX_FILE, MAX_FILE, MAX_REQUEST - 2 * MAX_FILE + 1]
    response = submit_report(
        client, evidence=files(*((jpeg(size), f"{i}.jpg") for i, size in enumerate(sizes)))
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    # The translated error page (the default language is Arabic), not a reset connection.
    assert 'lang="ar"' in page and "<h1>" in page
    assert db.scalars(select(Report)).all() == []
    assert_nothing_kept(app, db)


def test_large_text_fields_without_files_are_not_caught_by_file_limits(client, db):
    description = "word " * 1900  # under the description's own limit, but over MAX_FILE / 8
    reference, _ = submit_and_get_receipt(client, description=description)
    assert report_by_reference(db, reference).evidence == []


def _multipart(fields: dict[str, str], file_content: bytes, boundary: str) -> bytes:
    parts = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; '
        f'filename="cut.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        + file_content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


@pytest.mark.parametrize("declared", ["full", "truncated"])
def test_client_that_disconnects_mid_upload_leaves_nothing(app, client, db, declared):
    """The body stops in the middle of a file: no blob, no partial file, no row."""
    fields = dict(valid_report(), csrf_token=csrf_token(client, "/report"))
    boundary = "----evidence-boundary-7d1"
    body = _multipart(fields, jpeg(MAX_FILE - 100), boundary)
    cut = body[: len(body) - 20_000]
    # "full": the client announced the whole body and vanished; "truncated": the announced
    # length matches what came, but the multipart body never ends.
    length = len(body) if declared == "full" else len(cut)
    response = client.post(
        "/report",
        input_stream=io.BytesIO(cut),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        },
    )
    assert response.status_code == 400
    assert db.scalars(select(Report)).all() == []
    assert_nothing_kept(app, db)


def test_files_sent_to_an_endpoint_that_takes_none_are_not_kept(app, client, db):
    reference, receipt = submit_and_get_receipt(client)
    from tests.support.web import open_follow_up

    open_follow_up(client, receipt)
    token = csrf_token(client, "/follow-up")
    response = client.post(
        "/follow-up/reply",
        data={"csrf_token": token, "body": "hello", "evidence": (io.BytesIO(jpeg()), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert stored_blobs(app) == []
    assert report_by_reference(db, reference).evidence == []


def test_parts_without_a_file_name_still_count_towards_the_file_limit(app, client, db):
    """A hand-made body sends content under an empty file name: each part is a file all the same."""
    fields = dict(valid_report(), csrf_token=csrf_token(client, "/report"))
    boundary = "----evidence-boundary-nameless"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for _ in range(MAX_FILES + 2):
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; filename=""'
            f"\r\nContent-Type: image/jpeg\r\n\r\n".encode()
            + jpeg(1000)
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    response = client.post(
        "/report",
        data=b"".join(parts),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    assert f"at most {MAX_FILES} files" in response.get_data(as_text=True)
    assert db.scalars(select(Report)).all() == []
    assert_only_held(app, db, MAX_FILES)
