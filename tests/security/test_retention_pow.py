"""Retention purge (crypto-shredding) and the proof-of-work and honeypot friction."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.cli.retention import purge_command
from portal.crypto.keyring import Keyring
from portal.models import AuditEvent, Evidence, Report, ReportURL, utcnow
from portal.services import audit
from portal.storage.blobs import new_blob_key
from portal.web import pow as proof_of_work
from tests.support.web import csrf_token, submit_and_get_receipt, submit_report


def _close(db: Session, reference: str, status: str, days_ago: int) -> Report:
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    report.status = status
    report.closed_at = utcnow() - timedelta(days=days_ago)
    db.commit()
    return report


def _add_evidence(app: Flask, db: Session, keyring: Keyring, report: Report) -> str:
    key = new_blob_key()
    store = app.extensions["blob_store"]
    with store.open_writer(key) as writer:
        writer.write(b"ciphertext")
        writer.commit()
    db.add(
        Evidence(
            report_id=report.id,
            blob_key=key,
            size=10,
            sniffed_type="image/png",
            sha256="0" * 64,
            key_id="k",
            wrapped_key=b"wrapped",
            filename_enc=b"name",
        )
    )
    db.commit()
    return key


def test_purge_deletes_expired_reports_and_shreds_their_evidence(
    app: Flask, client: FlaskClient, db: Session, keyring: Keyring
) -> None:
    old_ref, old_receipt = submit_and_get_receipt(client)
    recent_ref, _ = submit_and_get_receipt(client)
    referred_ref, _ = submit_and_get_receipt(client)
    open_ref, _ = submit_and_get_receipt(client)
    old = _close(db, old_ref, "closed", 400)
    _close(db, recent_ref, "closed", 10)
    _close(db, referred_ref, "referred", 4000)
    blob = _add_evidence(app, db, keyring, old)
    store = app.extensions["blob_store"]
    runner = CliRunner()

    dry = runner.invoke(purge_command, ["--dry-run"], obj=_script_info(app))
    assert dry.exit_code == 0, dry.output
    assert f"Would delete {old_ref}" in dry.output and "Would delete 1 report(s)" in dry.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Report)) == 4 and store.exists(blob)

    done = runner.invoke(purge_command, [], obj=_script_info(app))
    assert done.exit_code == 0, done.output
    assert f"Deleted {old_ref}" in done.output and "Evidence blobs deleted: 1" in done.output
    db.expire_all()
    remaining = set(db.scalars(select(Report.reference)))
    assert remaining == {recent_ref, referred_ref, open_ref}
    assert db.scalar(select(func.count()).select_from(Evidence)) == 0
    # The purged report's URLs (ciphertext and blind indexes) went with it.
    assert db.scalar(select(func.count()).select_from(ReportURL)) == len(remaining)
    assert not store.exists(blob)
    entry = db.scalars(select(AuditEvent).where(AuditEvent.action == "report.purged")).one()
    assert entry.subject == old_ref
    assert audit.verify(db).ok
    # The reporter's receipt leads nowhere any more.
    token = csrf_token(client, "/follow-up")
    response = client.post("/follow-up", data={"csrf_token": token, "receipt": old_receipt})
    assert response.status_code == 400
    again = runner.invoke(purge_command, [], obj=_script_info(app))
    assert "Deleted 0 report(s)" in again.output


def _script_info(app: Flask) -> object:
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def test_proof_of_work_round_trip_and_expiry() -> None:
    challenge = proof_of_work.issue(b"k", bits=8, ttl_seconds=60)
    nonce = proof_of_work.solve(challenge)
    assert proof_of_work.check(b"k", challenge, nonce, min_bits=8) is not None
    assert proof_of_work.check(b"k", challenge, nonce, min_bits=9) is None
    assert proof_of_work.check(b"k", challenge, nonce, min_bits=8, now=time.time() + 61) is None
    wrong = str(int(nonce) + 1)
    if proof_of_work.leading_zero_bits(proof_of_work.solution_digest(challenge, wrong)) < 8:
        assert proof_of_work.check(b"k", challenge, wrong, min_bits=8) is None
    # The difficulty is signed: lowering it in the challenge breaks the signature.
    easier = re.sub(r"^(v1\.\d+\.)8\.", r"\g<1>1.", challenge)
    assert proof_of_work.check(b"k", easier, "0", min_bits=1) is None


def test_report_form_carries_the_challenge_honeypot_and_script(client: FlaskClient) -> None:
    page = client.get("/report").get_data(as_text=True)
    assert re.search(r'name="pow_challenge" type="hidden" value="v1\.\d+\.\d+\.', page)
    assert 'name="pow_solution"' in page
    assert 'class="hp-field"' in page and 'name="website"' in page
    assert re.search(r'<script src="/static/js/pow\.js\?v=[0-9a-f]{12}" defer></script>', page)
    again = client.get("/report").get_data(as_text=True)
    challenge = re.compile(r'name="pow_challenge" type="hidden" value="([^"]+)"')
    assert challenge.search(page).group(1) != challenge.search(again).group(1)  # type: ignore[union-attr]


def _receipt_answer(client: FlaskClient, **overrides: str) -> tuple[int, int, str, dict[str, str]]:
    """What a client sees of a submission: POST status, receipt page status, page, headers."""
    response = submit_report(client, **overrides)
    page = client.get(response.headers["Location"])
    headers = {name: value for name, value in page.headers.items() if name != "Content-Length"}
    return response.status_code, page.status_code, page.get_data(as_text=True), headers


_SHOWN = re.compile(r'(id="receipt">)[\d ]+(<)|(class="reference"[^>]*>)EB-[0-9A-Z-]+(<)')
# What differs between any two pages: the reference, the receipt and each session's CSRF token.
_PER_SESSION = re.compile(r'(name="csrf_token" type="hidden" value=")[^"]+(")')


def test_filled_honeypot_answers_like_success_and_stores_nothing(app: Flask, db: Session) -> None:
    person, bot = app.test_client(), app.test_client()
    real = _receipt_answer(person)
    bot_session = submit_report(bot, website="http://spam.example").headers["Location"]
    assert bot_session.endswith("/report/receipt")
    cookie = bot.get_cookie("portal_session")
    assert cookie is not None
    bot.set_cookie("portal_session", "")
    decoy = _receipt_answer(bot, website="http://spam.example")
    assert db.scalar(select(func.count()).select_from(Report)) == 1
    # Same statuses, same headers, the same page but for the reference and receipt it shows.
    assert decoy[:2] == real[:2] == (303, 200)
    assert decoy[3].keys() == real[3].keys()

    def same(page: str) -> str:
        return _PER_SESSION.sub(r"\1\2", _SHOWN.sub(r"\1\2\3\4", page))

    assert same(decoy[2]) == same(real[2])
    receipt = re.search(r'id="receipt">([\d ]+)<', decoy[2]).group(1)  # type: ignore[union-attr]
    reference = re.search(r'class="reference"[^>]*>(EB-[0-9A-Z-]+)<', decoy[2]).group(1)  # type: ignore[union-attr]
    assert len(receipt.replace(" ", "")) == 16
    assert db.scalar(select(Report).where(Report.reference == reference)) is None
    # Shown again on a reload, like a real receipt, with the same values; and it opens nothing.
    again = bot.get("/report/receipt")
    assert again.status_code == person.get("/report/receipt").status_code == 200
    assert receipt in again.get_data(as_text=True)
    token = csrf_token(bot, "/follow-up")
    opened = bot.post("/follow-up", data={"csrf_token": token, "receipt": receipt})
    assert opened.status_code == 400


def _age(path: Path, hours: float) -> None:
    moment = time.time() - hours * 3600
    os.utime(path, (moment, moment))


def test_purge_removes_what_a_crash_left_in_the_store_and_nothing_else(
    app: Flask, client: FlaskClient, db: Session, keyring: Keyring
) -> None:
    store = app.extensions["blob_store"]
    reference, _ = submit_and_get_receipt(client)
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    kept_evidence = _add_evidence(app, db, keyring, report)
    _age(store.path_for(kept_evidence), 48)
    # A worker killed between storing a blob and committing its row; another still committing.
    old_orphan, new_orphan = new_blob_key(), new_blob_key()
    for key in (old_orphan, new_orphan):
        with store.open_writer(key) as writer:
            writer.write(b"ciphertext")
            writer.commit()
    _age(store.path_for(old_orphan), 48)
    # An upload killed mid-stream, and one still arriving.
    stale_part, live_part = store.incoming / "stale.part", store.incoming / "live.part"
    stale_part.write_bytes(b"partial ciphertext")
    live_part.write_bytes(b"partial ciphertext")
    _age(stale_part, 48)
    runner = CliRunner()

    dry = runner.invoke(purge_command, ["--dry-run"], obj=_script_info(app))
    assert "Would delete 1 evidence blob(s) no report points to" in dry.output, dry.output
    assert store.exists(old_orphan) and stale_part.exists()

    done = runner.invoke(purge_command, [], obj=_script_info(app))
    assert done.exit_code == 0, done.output
    assert "Deleted 1 evidence blob(s) no report points to and 1 partial upload(s)" in done.output
    assert not store.exists(old_orphan) and not stale_part.exists()
    assert store.exists(new_orphan) and live_part.exists() and store.exists(kept_evidence)
