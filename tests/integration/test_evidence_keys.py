"""`portal keys rotate` and `retire`: nothing is lost, and blobs are never rewritten."""

from __future__ import annotations

from sqlalchemy import select

from portal import create_app
from portal.crypto.keyring import create_master_key
from portal.evidence import custody
from portal.models import Evidence, Message, Officer
from portal.services import key_rotation as keys
from portal.services.reports import decrypt_json, field_context, message_context, report_urls
from portal.services.totp import secret_for
from tests.support.evidence import english_client, files, jpeg, pdf, report_by_reference, store_of
from tests.support.staff import make_officer
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt


def _arrange(app, db):
    client = english_client(app)
    photo, document = jpeg(150_000), pdf()
    reference, receipt = submit_and_get_receipt(
        client,
        evidence=files((photo, "photo.jpg"), (document, "doc.pdf")),
        contact_name="Samira",
        contact_phone="+212600000000",
    )
    open_follow_up(client, receipt)
    token = csrf_token(client, "/follow-up")
    client.post("/follow-up/reply", data={"csrf_token": token, "body": "More details here"})
    _officer, secret = make_officer(app, db, "amina")
    db.expire_all()
    return reference, {"photo.jpg": photo, "doc.pdf": document}, secret


def _check_everything_reads(app, db, reference, originals, secret):
    ring = app.extensions["keyring"]
    store = store_of(app)
    db.expire_all()
    report = report_by_reference(db, reference)
    for row in report.evidence:
        name = custody.evidence_filename(ring, report, row)
        assert b"".join(custody.verified_stream(store, ring, report, row)) == originals[name]
    ctx = field_context
    assert "threatens" in ring.decrypt_field(report.description_enc, ctx(reference, "description"))
    assert decrypt_json(ring, report.answers_enc, ctx(reference, "answers"))["paid"] == "no"
    assert decrypt_json(ring, report.contact_enc, ctx(reference, "contact"))["name"] == "Samira"
    [message] = db.scalars(select(Message).where(Message.report_id == report.id)).all()
    body = ring.decrypt_field(message.body_enc, message_context(reference, message.id))
    assert body == "More details here"
    officer = db.scalars(select(Officer).where(Officer.username == "amina")).one()
    assert secret_for(officer, ring) == secret
    # Reported URLs are re-encrypted too (they would not decrypt once the old key is gone).
    [url] = report_urls(report, ring)
    assert url.normalized == "https://www.instagram.com/some.blackmailer/"


def test_rotate_then_retire_keeps_every_file_and_field_readable(app, app_config, db):
    reference, originals, secret = _arrange(app, db)
    old = app.extensions["keyring"].active_id
    blobs_before = {
        row.blob_key: store_of(app).path_for(row.blob_key).read_bytes()
        for row in db.scalars(select(Evidence))
    }

    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-wrapped 2 evidence file key(s)" in result.output
    new = app.extensions["keyring"].active_id
    assert new != old

    db.expire_all()
    assert {row.key_id for row in db.scalars(select(Evidence))} == {new}
    assert keys.key_usage(db).get(old, 0) == 0
    # Only the wrapped keys changed: the encrypted blobs are byte for byte the same.
    for blob_key, content in blobs_before.items():
        assert store_of(app).path_for(blob_key).read_bytes() == content

    result = runner.invoke(args=["keys", "retire", old])
    assert result.exit_code == 0, result.output
    assert not (store_of(app).root.parent / "keys" / f"{old}.key").exists()
    # A fresh start loads only the new key, and everything still reads.
    fresh = create_app(dict(app_config))
    try:
        assert fresh.extensions["keyring"].key_ids == (new,)
        _check_everything_reads(fresh, db, reference, originals, secret)
    finally:
        fresh.extensions["db_engine"].dispose()


def test_retire_refuses_a_key_still_in_use(app, db):
    _arrange(app, db)
    old = app.extensions["keyring"].active_id
    create_master_key(app.instance_path)  # new active key, nothing re-wrapped yet
    result = app.test_cli_runner().invoke(args=["keys", "retire", old])
    assert result.exit_code != 0
    assert "still protects" in result.output and "rotate --resume" in result.output
    assert (store_of(app).root.parent / "keys" / f"{old}.key").is_file()


def test_retire_refuses_the_active_key(app, db):
    active = app.extensions["keyring"].active_id
    result = app.test_cli_runner().invoke(args=["keys", "retire", active])
    assert result.exit_code != 0 and "active" in result.output


def test_resume_finishes_an_interrupted_rotation(app, db):
    reference, originals, secret = _arrange(app, db)
    old = app.extensions["keyring"].active_id
    create_master_key(app.instance_path)  # as if `rotate` stopped right after creating the key
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--resume"])
    assert result.exit_code == 0, result.output
    assert keys.key_usage(db).get(old, 0) == 0
    _check_everything_reads(app, db, reference, originals, secret)


def test_status_lists_usage_per_key(app, db):
    _arrange(app, db)
    active = app.extensions["keyring"].active_id
    result = app.test_cli_runner().invoke(args=["keys", "status"])
    assert result.exit_code == 0
    # 2 file keys, 2 file names, description, answers, contact, 1 URL (original, normalised
    # and host), 1 message, 1 TOTP secret, the reported URL as a campaign trace, and the
    # receipt still waiting (sealed) for its page to be reloaded or saved.
    assert f"{active} (active): 14 item(s)" in result.output
