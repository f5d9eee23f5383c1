"""The officer's report page: actions first, errors next to their fields with the typed text
kept, a confirmation before closing an urgent or unanswered case, blurred image previews."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from portal.models import AuditEvent, Report
from tests.support.evidence import english_client, files, pdf, report_by_reference, store_of
from tests.support.staff import form_version, make_officer, sign_in
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt


def photo(width: int = 1200, height: int = 800) -> bytes:
    """A real JPEG with a camera make and GPS-like data in its EXIF, and a busy pattern."""
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for x in range(0, width, 4):
        for y in range(0, height, 4):
            pixels[x, y] = ((x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256)
    exif = Image.Exif()
    exif[0x010F] = "SecretCamMaker"
    exif[0x0131] = "LeakySoftware 1.0"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english_client(app)


@pytest.fixture
def officer(app, db) -> FlaskClient:
    _, secret = make_officer(app, db, "amina", display_name="Amina Berrada")
    staff = english_client(app)
    sign_in(staff, "amina", secret)
    return staff


def _post(staff, reference, action, prefix, **fields):
    page = staff.get(f"/officer/reports/{reference}").get_data(as_text=True)
    data = {f"{prefix}-{key}": value for key, value in fields.items()}
    if f'name="{prefix}-version"' in page:
        data.setdefault(f"{prefix}-version", form_version(page, prefix))
    data["csrf_token"] = csrf_token(staff, "/officer/")
    return staff.post(f"/officer/reports/{reference}/{action}", data=data)


def _report(db, reference) -> Report:
    db.expire_all()
    return db.scalar(select(Report).where(Report.reference == reference))


def _audits(db, action):
    db.expire_all()
    return db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_the_action_panel_comes_before_the_case(client, officer):
    reference, _ = submit_and_get_receipt(client)
    page = officer.get(f"/officer/reports/{reference}").get_data(as_text=True)
    panel = page.index('class="action-panel')
    assert panel < page.index("What the reporter wrote") < page.index("Timeline")
    for action in ("claim", "status", "priority", "message", "note", "transfer", "duplicate"):
        assert f"/officer/reports/{reference}/{action}" in page
    # The reporter's language is in the panel, where the officer writes to them.
    assert "Reporter&#39;s language:" in page[panel:] or "Reporter's language:" in page[panel:]


def test_errors_sit_next_to_their_field_and_typed_text_is_kept(client, officer, db):
    reference, _ = submit_and_get_receipt(client)
    typed = "Bonjour, pouvez-vous envoyer la capture d'écran ? " * 110  # over the 5,000 limit
    response = _post(officer, reference, "message", "message", body=typed)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page.index('id="message-body-error"')
    textarea = page.index('id="message-body"', error)
    assert textarea - error < 600  # the error is printed right above its field
    assert "d&#39;écran" in page[textarea:] or "d'écran" in page[textarea:]
    assert 'aria-invalid="true"' in page[error:]
    # Nothing was flashed at the top of the page about it.
    assert page.index('class="action-panel') < error
    assert 'class="flash' not in page[: page.index('class="action-panel')]

    response = _post(officer, reference, "transfer", "transfer", unit="", reason="Suspect in Rabat")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="transfer-unit-error"' in page and "Suspect in Rabat" in page
    # The fold holding the transfer form opens by itself: the error is seen without a click.
    assert '<details class="action-fold" id="transfer-action" open>' in page
    assert _report(db, reference).version == 1


def test_closing_without_a_reason_is_refused_next_to_the_reason(client, officer, db):
    reference, _ = submit_and_get_receipt(client)
    _post(officer, reference, "claim", "claim")
    response = _post(officer, reference, "status", "status", status="closed")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = page.index('id="status-closure_reason-error"')
    assert "Choose why the report is closed." in page[error : error + 300]
    # The status asked for is kept selected.
    assert re.search(r'<option selected value="closed">|<option value="closed" selected>', page)
    assert _report(db, reference).status == "in_review"


def test_an_urgent_case_about_a_minor_needs_a_confirmation_to_close(client, officer, db):
    reference, _ = submit_and_get_receipt(client, q_minor_involved="yes")
    assert _report(db, reference).priority == "urgent"
    _post(officer, reference, "claim", "claim")
    first = _post(
        officer, reference, "status", "status", status="closed", closure_reason="duplicate"
    )
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert "Close this case?" in page and "This urgent case is about a minor." in page
    assert _report(db, reference).status == "in_review"
    # The confirmation form carries the officer's choice; a second POST with confirm does it.
    confirm = page[page.index('id="close-confirm"') :]
    assert 'name="status-confirm" value="yes"' in confirm
    assert 'name="status-closure_reason" value="duplicate"' in confirm
    data = dict(
        re.findall(r'<input type="hidden" name="(status-[a-z_]+)" value="([^"]*)"', confirm)
    )
    data["csrf_token"] = csrf_token(officer, "/officer/")
    second = officer.post(f"/officer/reports/{reference}/status", data=data)
    assert second.status_code == 303
    report = _report(db, reference)
    assert report.status == "closed" and report.closure_reason == "duplicate"


def test_a_case_awaiting_the_reporters_answer_needs_a_confirmation(app, client, officer, db):
    reference, receipt = submit_and_get_receipt(client)
    _post(officer, reference, "claim", "claim")
    _post(officer, reference, "message", "message", body="Did you keep the messages?")
    response = _post(
        officer, reference, "status", "status", status="closed", closure_reason="no_offence"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:500]
    assert "You asked the reporter a question 0 minutes ago; their answer has not come." in page
    assert _report(db, reference).status == "in_review"
    # Once the reporter has answered, closing is one step again.
    reporter = english_client(app)
    open_follow_up(reporter, receipt)
    token = csrf_token(reporter, "/follow-up")
    reporter.post("/follow-up/reply", data={"csrf_token": token, "body": "Yes, all of them."})
    response = _post(
        officer, reference, "status", "status", status="closed", closure_reason="no_offence"
    )
    assert response.status_code == 303
    assert _report(db, reference).status == "closed"


def test_an_ordinary_case_closes_in_one_step(client, officer, db):
    reference, _ = submit_and_get_receipt(client)
    _post(officer, reference, "claim", "claim")
    response = _post(
        officer, reference, "status", "status", status="closed", closure_reason="duplicate"
    )
    assert response.status_code == 303
    assert _report(db, reference).status == "closed"


def test_image_preview_is_small_blurred_stripped_and_audited(client, officer, db):
    original = photo()
    reference, _ = submit_and_get_receipt(
        client, evidence=files((original, "camera.jpg"), (pdf(), "letter.pdf"))
    )
    image_row, pdf_row = report_by_reference(db, reference).evidence
    page = officer.get(f"/officer/reports/{reference}").get_data(as_text=True)
    blurred_url = f"/officer/reports/{reference}/evidence/{image_row.id}/preview.png"
    clear_url = f"/officer/reports/{reference}/evidence/{image_row.id}/preview-unblurred.png"
    assert f'src="{blurred_url}"' in page and f'href="{clear_url}"' in page
    # No preview for a PDF: only its download.
    assert f"/evidence/{pdf_row.id}/preview" not in page
    assert f"/officer/reports/{reference}/evidence/{pdf_row.id}" in page

    blurred = officer.get(blurred_url)
    assert blurred.status_code == 200
    assert blurred.mimetype == "image/png"
    assert blurred.headers["Cache-Control"] == "no-store"
    assert blurred.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in blurred.headers["Content-Security-Policy"]
    body = blurred.get_data()
    assert body != original and original not in body and b"SecretCamMaker" not in body
    small = Image.open(io.BytesIO(body))
    assert small.format == "PNG" and max(small.size) <= 320 and small.size == (320, 213)
    assert not small.getexif() and "exif" not in small.info

    clear = officer.get(clear_url)
    assert clear.status_code == 200 and clear.mimetype == "image/png"
    assert clear.get_data() != body and b"SecretCamMaker" not in clear.get_data()
    assert Image.open(io.BytesIO(clear.get_data())).size == (320, 213)

    previewed = _audits(db, "evidence.previewed")
    unblurred = _audits(db, "evidence.preview_unblurred")
    assert len(previewed) == 1 and len(unblurred) == 1
    assert previewed[0].subject == f"report:{reference}"
    assert f'"evidence_id": {image_row.id}' in unblurred[0].details
    # A PDF has no preview route answer.
    assert (
        officer.get(f"/officer/reports/{reference}/evidence/{pdf_row.id}/preview.png").status_code
        == 404
    )


def test_preview_outside_the_unit_is_404_and_not_audited(app, client, db):
    reference, _ = submit_and_get_receipt(client, evidence=files((photo(200, 100), "a.jpg")))
    row = report_by_reference(db, reference).evidence[0]
    _, secret = make_officer(app, db, "youssef", units=("RABAT",))
    rabat = english_client(app)
    sign_in(rabat, "youssef", secret)
    for suffix in ("preview.png", "preview-unblurred.png"):
        assert (
            rabat.get(f"/officer/reports/{reference}/evidence/{row.id}/{suffix}").status_code == 404
        )
    assert not _audits(db, "evidence.previewed") and not _audits(db, "evidence.preview_unblurred")


def test_a_tampered_image_gets_no_preview(app, client, officer, db):
    reference, _ = submit_and_get_receipt(client, evidence=files((photo(300, 200), "a.jpg")))
    row = report_by_reference(db, reference).evidence[0]
    path = store_of(app).path_for(row.blob_key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    response = officer.get(f"/officer/reports/{reference}/evidence/{row.id}/preview.png")
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert _audits(db, "evidence.integrity_failure")


def test_referring_a_case_awaiting_the_reporter_asks_first(client, officer, db):
    reference, _ = submit_and_get_receipt(client)
    _post(officer, reference, "claim", "claim")
    _post(officer, reference, "status", "status", status="investigating")
    _post(officer, reference, "message", "message", body="Which account wrote to you first?")
    response = _post(officer, reference, "status", "status", status="referred")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Refer this case?" in page and "Yes, refer it" in page
    assert _report(db, reference).status == "investigating"
    response = _post(officer, reference, "status", "status", status="referred", confirm="yes")
    assert response.status_code == 303
    assert _report(db, reference).status == "referred"
