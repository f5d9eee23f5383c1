"""One end-to-end upload into S3 (moto's server), and the start-up check for the master key."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import pytest

from portal import create_app
from portal.crypto.instance_secrets import ensure_secrets
from portal.crypto.keyring import MissingMasterKey
from portal.evidence import custody
from portal.storage.blobs import S3BlobStore
from tests.support.evidence import english_client, files, jpeg, report_by_reference
from tests.support.web import submit_and_get_receipt


@pytest.fixture
def app_config(app_config, s3_endpoint, bucket):
    app_config["EVIDENCE_STORE"] = f"s3://{bucket}/cases"
    app_config["S3_ENDPOINT_URL"] = s3_endpoint
    app_config["S3_REGION"] = "us-east-1"
    return app_config


def test_upload_into_s3_is_encrypted_and_reads_back(app, db, keyring, s3_endpoint):
    store = app.extensions["blob_store"]
    assert isinstance(store, S3BlobStore)
    marker = uuid.uuid4().hex.encode()
    # Larger than one S3 part, so the multipart path is used.
    photo = jpeg(filler=(marker + os.urandom(1000)) * 9000)
    reference, _ = submit_and_get_receipt(english_client(app), evidence=files((photo, "big.jpg")))
    report = report_by_reference(db, reference)
    [row] = report.evidence
    raw = (
        boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        .get_object(Bucket=store.bucket, Key=f"cases/{row.blob_key}")["Body"]
        .read()
    )
    assert marker not in raw and len(raw) > len(photo)
    assert b"".join(custody.verified_stream(store, keyring, report, row)) == photo
    assert list(store.keys()) == [row.blob_key]


def test_missing_master_key_is_a_clear_start_up_error(tmp_path: Path, database_url, monkeypatch):
    monkeypatch.delenv("PORTAL_MASTER_KEYS", raising=False)
    monkeypatch.delenv("PORTAL_ACTIVE_KEY_ID", raising=False)
    instance = tmp_path / "bare-instance"
    instance.mkdir()
    ensure_secrets(instance)
    (instance / "keys").mkdir()
    with pytest.raises(MissingMasterKey) as raised:
        create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": database_url})
    message = str(raised.value)
    assert "No master key found" in message and "portal init" in message
