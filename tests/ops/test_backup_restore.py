"""``portal backup`` then ``portal restore`` into a fresh instance elsewhere: every evidence file
downloads intact, receipts and sign-ins still work, the audit chain verifies; keys stay apart."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import create_app
from portal.models import AuditEvent, Evidence
from tests.support.ops import (
    BACKUP_PASSPHRASE,
    OFFICER,
    OFFICER_PASSWORD,
    Arranged,
    arrange_reports_with_evidence,
    portal_env,
    run_portal,
)
from tests.support.web import csrf_token, open_follow_up


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _config(instance: Path, database_url: str, store: dict[str, str]) -> dict[str, Any]:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "RATELIMIT_ENABLED": False,
        "RECEIPT_ARGON2_TIME_COST": 1,
        "RECEIPT_ARGON2_MEMORY_KIB": 256,
        **store,
    }


@pytest.fixture(params=["file", "s3"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Evidence store settings of the backed-up instance and of the restored one."""
    if request.param == "file":
        yield (
            {"EVIDENCE_STORE": f"file://{tmp_path / 'source-evidence'}"},
            {"EVIDENCE_STORE": f"file://{tmp_path / 'restored-evidence'}"},
        )
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    admin = request.getfixturevalue("s3_admin")
    source_bucket = request.getfixturevalue("bucket")
    target_bucket = f"{source_bucket}-restored"
    admin.create_bucket(Bucket=target_bucket)
    yield (
        {"EVIDENCE_STORE": f"s3://{source_bucket}/portal", "S3_ENDPOINT_URL": endpoint},
        {"EVIDENCE_STORE": f"s3://{target_bucket}/restored", "S3_ENDPOINT_URL": endpoint},
    )


def _env(instance: Path, database_url: str, store: dict[str, str]) -> dict[str, str]:
    return portal_env(
        instance,
        database_url,
        PORTAL_BACKUP_PASSPHRASE=BACKUP_PASSPHRASE,
        **{f"PORTAL_{k}": v for k, v in store.items()},
    )


PASSPHRASE = ("--passphrase-env", "PORTAL_BACKUP_PASSPHRASE")


def _sign_in(app: Flask, arranged: Arranged) -> Any:
    client = app.test_client()
    client.set_cookie("lang", "en")
    token = csrf_token(client, "/officer/login")
    response = client.post(
        "/officer/login",
        data={"csrf_token": token, "username": OFFICER, "password": OFFICER_PASSWORD},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    token = csrf_token(client, "/officer/login/code")
    code = pyotp.TOTP(arranged.totp_secret).now()
    response = client.post("/officer/login/code", data={"csrf_token": token, "code": code})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return client


@pytest.mark.slow
def test_backup_then_restore_into_a_fresh_instance_reads_everything(
    tmp_path: Path,
    instance_path: Path,
    database_url: str,
    second_empty_database: str,
    stores: tuple[dict[str, str], dict[str, str]],
) -> None:
    source_store, target_store = stores
    source = create_app(_config(instance_path, database_url, source_store))
    try:
        with source.extensions["db_sessionmaker"]() as db:
            arranged = arrange_reports_with_evidence(source, db, reports=3)
            audit_entries = db.scalar(select(func.count(AuditEvent.id)))
    finally:
        source.extensions["db_engine"].dispose()
    assert audit_entries

    backups, vault = tmp_path / "backups", tmp_path / "vault"
    backups.mkdir()
    vault.mkdir(mode=0o700)
    archive, keys = backups / "portal.tar", vault / "portal-keys.json"
    env = _env(instance_path, database_url, source_store)

    together = run_portal(
        env,
        "backup",
        "--output",
        str(archive),
        "--keys-output",
        str(backups / "k.json"),
        *PASSPHRASE,
        check=False,
    )
    assert (
        together.returncode == 1 and "must not go into the archive's directory" in together.stderr
    )
    assert list(backups.iterdir()) == []

    done = run_portal(
        env, "backup", "--output", str(archive), "--keys-output", str(keys), *PASSPHRASE
    )
    assert "6 evidence file(s)" in done.stdout and "KEEP THE TWO FILES" in done.stdout
    assert _mode(archive) == 0o600 and _mode(keys) == 0o600
    assert sorted(p.name for p in backups.iterdir()) == ["portal.tar"]  # no leftovers
    key_ids = set(json.loads(keys.read_text())["fingerprints"]["master_keys"])

    # The restored instance lives elsewhere, on another database and another store.
    restored = tmp_path / "elsewhere" / "instance"
    target_env = _env(restored, second_empty_database, target_store)

    refused = run_portal(target_env, "restore", str(archive), check=False)
    assert refused.returncode == 1 and "needs the keys file" in refused.stderr
    incomplete = json.loads(keys.read_text())
    incomplete["fingerprints"]["master_keys"].pop(sorted(key_ids)[0])
    partial_keys = vault / "incomplete.json"
    partial_keys.write_text(json.dumps(incomplete))
    refused = run_portal(
        target_env, "restore", str(archive), "--keys", str(partial_keys), *PASSPHRASE, check=False
    )
    assert refused.returncode == 1 and "is missing" in refused.stderr
    assert "Nothing was restored" in refused.stderr
    assert not restored.exists() or not any((restored / d).exists() for d in ("keys", "secrets"))
    assert "Revision: none" in run_portal(target_env, "db", "current").stdout

    done = run_portal(target_env, "restore", str(archive), "--keys", str(keys), *PASSPHRASE)
    assert "Verified 6 of 6 evidence file(s)" in done.stdout
    assert "Audit chain intact" in done.stdout
    assert "Audit chain intact" in run_portal(target_env, "audit", "verify").stdout
    assert all(_mode(path) == 0o600 for path in (restored / "keys").iterdir())

    # Restoring twice into the same instance is refused.
    again = run_portal(
        target_env, "restore", str(archive), "--keys", str(keys), *PASSPHRASE, check=False
    )
    assert again.returncode == 1 and "already has" in again.stderr

    app = create_app(_config(restored, second_empty_database, target_store))
    try:
        officer = _sign_in(app, arranged)
        downloaded = 0
        for reference, items in arranged.evidence.items():
            page = officer.get(f"/officer/reports/{reference}")
            assert arranged.descriptions[reference] in page.get_data(as_text=True)
            for evidence_id, content in items:
                response = officer.get(f"/officer/reports/{reference}/evidence/{evidence_id}")
                assert response.status_code == 200 and response.get_data() == content
                downloaded += 1
        assert downloaded == 6
        # The reporter's receipt still opens the follow-up page (the pepper came back too).
        reporter = app.test_client()
        reference, receipt = next(iter(arranged.receipts.items()))
        assert open_follow_up(reporter, receipt).status_code == 303
        assert reference in reporter.get("/follow-up").get_data(as_text=True)
        with app.extensions["db_sessionmaker"]() as db:
            assert db.scalar(select(func.count(Evidence.id))) == 6
            # New rows get fresh ids after the restored ones.
            assert db.scalar(select(func.count(AuditEvent.id))) > audit_entries
    finally:
        app.extensions["db_engine"].dispose()
