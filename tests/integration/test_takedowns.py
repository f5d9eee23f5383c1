"""Takedown and preservation requests end to end: an officer asks a platform to remove two
URLs, the request leaves by e-mail through a real SMTP server the test starts, one URL is
recorded removed, and the reporter's follow-up says so in her terms."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Report, TakedownItem, TakedownRequest
from portal.services import takedowns
from portal.services.url_check import http_status
from tests.support.mail import Mailbox, smtp_server
from tests.support.staff import in_english, make_officer, sign_in
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt

TWO_URLS = "https://www.instagram.com/bait.account/\nhttps://www.instagram.com/p/Cx9AbC/\n"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def app_config(app_config, mailbox):
    return {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mailbox.port,
        "SMTP_STARTTLS": False,
        "SMTP_FROM": "cyber@police.invalid",
        "TAKEDOWN_CHANNELS": {"instagram": "le-requests@platform.invalid"},
    }


@pytest.fixture
def case(app, client, db):
    reference, receipt = submit_and_get_receipt(client, territory="MA-CAS", urls=TWO_URLS)
    _, secret = make_officer(app, db, "amina", display_name="Amina Berrada")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    return reference, receipt, staff


def _report(db, reference: str) -> Report:
    db.expire_all()
    return db.scalar(select(Report).where(Report.reference == reference))


def _new_request(staff, db, reference: str, **fields) -> tuple[int, str]:
    report = _report(db, reference)
    data = {
        "csrf_token": csrf_token(staff, f"/officer/reports/{reference}/takedowns/new"),
        "kind": "removal",
        "urls": [str(url.id) for url in report.urls],
        "legal_basis": "penal_447",
        "explanation": "Intimate images published without consent to blackmail the victim.",
        "language": "fr",
    }
    data.update(fields)
    response = staff.post(f"/officer/reports/{reference}/takedowns/new", data=data)
    if response.status_code != 303:
        return 0, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[-1]), ""


def test_two_urls_requested_by_email_one_removed_and_the_reporter_is_told(
    case, db, client, mailbox
):
    reference, receipt, staff = case
    request_id, page = _new_request(staff, db, reference)
    assert request_id, page

    detail = staff.get(f"/officer/takedowns/{request_id}").get_data(as_text=True)
    assert "le-requests@platform.invalid" in detail
    send = staff.post(
        f"/officer/takedowns/{request_id}/send",
        data={
            "csrf_token": csrf_token(staff, f"/officer/takedowns/{request_id}"),
            "send-how": "email",
        },
    )
    assert send.status_code == 303
    # A second click (or a replayed form) does not send the request to the platform again.
    again = staff.post(
        f"/officer/takedowns/{request_id}/send",
        data={
            "csrf_token": csrf_token(staff, f"/officer/takedowns/{request_id}"),
            "send-how": "email",
        },
    )
    assert again.status_code == 303
    assert "This request was already sent." in staff.get(again.headers["Location"]).get_data(
        as_text=True
    )

    # The platform's channel received the request, in its language, with the PDF attached.
    [(recipients, mail)] = mailbox.received
    assert recipients == ["le-requests@platform.invalid"]
    assert mail["To"] == "le-requests@platform.invalid"
    assert reference in mail["Subject"]
    text = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()
    assert "https://www.instagram.com/bait.account/" in body
    assert "https://www.instagram.com/p/Cx9AbC/" in body
    assert "447-1" in body  # the legal basis, in French
    assert "exacte" in body or "exactes" in body  # the statement of accuracy, in French
    pdf = next(part for part in mail.walk() if part.get_content_type() == "application/pdf")
    assert pdf.get_payload(decode=True).startswith(b"%PDF")
    # Nothing about the reporter leaves with the request.
    assert "Someone threatens" not in body

    row = db.get(TakedownRequest, request_id)
    db.refresh(row)
    assert row.sent_at is not None and row.channel == "email"
    first, second = sorted(row.items, key=lambda item: item.id)

    outcome = staff.post(
        f"/officer/takedowns/{request_id}/outcome",
        data={
            "csrf_token": csrf_token(staff, f"/officer/takedowns/{request_id}"),
            "outcome-items": [str(first.id)],
            "outcome-outcome": "removed",
        },
    )
    assert outcome.status_code == 303
    db.expire_all()
    assert db.get(TakedownItem, first.id).outcome == "removed"
    assert db.get(TakedownItem, second.id).outcome is None

    follow_up = open_follow_up(in_english(client), receipt)
    page = client.get(follow_up.headers.get("Location", "/follow-up")).get_data(as_text=True)
    assert "We asked the platform to remove the content" in page
    assert "The content was removed by the platform" in page

    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"takedown.created", "takedown.sent", "takedown.outcome"} <= actions
    # Asking for removal is an action the reporter notices: the first response.
    assert _report(db, reference).first_response_at is not None


def test_a_platform_address_the_relay_refuses_is_named_and_the_others_get_the_request_once(
    app, case, db, mailbox
):
    reference, _receipt, staff = case
    app.config["TAKEDOWN_CHANNELS"] = {
        "instagram": "le-requests@platform.invalid, legal@platform.invalid"
    }
    mailbox.bounce("legal@platform.invalid")
    request_id, page = _new_request(staff, db, reference)
    assert request_id, page
    send = staff.post(
        f"/officer/takedowns/{request_id}/send",
        data={
            "csrf_token": csrf_token(staff, f"/officer/takedowns/{request_id}"),
            "send-how": "email",
        },
    )
    assert send.status_code == 303
    shown = staff.get(send.headers["Location"]).get_data(as_text=True)
    assert "the mail relay refused legal@platform.invalid" in shown
    assert [recipients for recipients, _ in mailbox.received] == [["le-requests@platform.invalid"]]
    # It left: recorded as sent (a second send would reach the platform twice), the refused
    # address in the audit chain.
    row = db.get(TakedownRequest, request_id)
    db.refresh(row)
    assert row.sent_at is not None
    details = db.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "takedown.sent")
    ).one()
    assert json.loads(details)["refused"] == ["legal@platform.invalid"]


def test_preservation_is_internal_and_needs_a_period(case, db, client):
    reference, receipt, staff = case
    _, page = _new_request(staff, db, reference, kind="preservation", preservation_days="")
    assert "preservation period" in page.lower()
    request_id, page = _new_request(
        staff, db, reference, kind="preservation", preservation_days="90"
    )
    assert request_id, page
    staff.post(
        f"/officer/takedowns/{request_id}/send",
        data={
            "csrf_token": csrf_token(staff, f"/officer/takedowns/{request_id}"),
            "send-how": "by_hand",
        },
    )
    assert db.get(TakedownRequest, request_id).sent_at is not None
    follow_up = open_follow_up(in_english(client), receipt)
    page = client.get(follow_up.headers.get("Location", "/follow-up")).get_data(as_text=True)
    assert "Report received" in page
    assert "remove" not in page.lower()
    document = staff.get(f"/officer/takedowns/{request_id}/document").get_data(as_text=True)
    assert "90" in document and 'lang="fr"' in document


def test_a_request_goes_to_one_platform(app, client, db):
    reference, _ = submit_and_get_receipt(
        client, urls="https://www.instagram.com/a.b/\nhttps://t.me/somechannel\n"
    )
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    request_id, page = _new_request(staff, db, reference)
    assert not request_id
    assert "one platform" in page
    assert db.scalar(select(TakedownRequest)) is None


def test_another_units_officer_gets_404(case, app, db):
    reference, _, staff = case
    request_id, _ = _new_request(staff, db, reference)
    _, secret = make_officer(app, db, "youssef", units=("FES",))
    other = app.test_client()
    sign_in(other, "youssef", secret)
    assert other.get(f"/officer/takedowns/{request_id}").status_code == 404
    assert other.get(f"/officer/takedowns/{request_id}/document").status_code == 404
    assert other.get(f"/officer/reports/{reference}/takedowns/new").status_code == 404
    token = csrf_token(other, "/officer/")
    assert (
        other.post(
            f"/officer/takedowns/{request_id}/send",
            data={"csrf_token": token, "send-how": "by_hand"},
        ).status_code
        == 404
    )


def test_outcome_before_sending_is_refused(case, db):
    reference, _, staff = case
    request_id, _ = _new_request(staff, db, reference)
    item = db.scalar(select(TakedownItem))
    response = staff.post(
        f"/officer/takedowns/{request_id}/outcome",
        data={
            "csrf_token": csrf_token(staff, f"/officer/takedowns/{request_id}"),
            "outcome-items": [str(item.id)],
            "outcome-outcome": "removed",
        },
    )
    assert response.status_code in (303, 400)
    db.expire_all()
    assert db.get(TakedownItem, item.id).outcome is None


def test_the_explanation_is_encrypted_at_rest(case, db):
    reference, _, staff = case
    request_id, _ = _new_request(staff, db, reference, explanation="UNIQUE-EXPLANATION-MARKER")
    row = db.get(TakedownRequest, request_id)
    assert b"UNIQUE-EXPLANATION-MARKER" not in row.explanation_enc


def test_pdf_in_arabic_for_a_platform_that_accepts_it(case, db):
    reference, _, staff = case
    request_id, _ = _new_request(staff, db, reference, language="ar")
    row = db.get(TakedownRequest, request_id)
    assert row.language == "ar"
    document = staff.get(f"/officer/takedowns/{request_id}/document").get_data(as_text=True)
    assert 'dir="rtl"' in document
    pdf = staff.get(f"/officer/takedowns/{request_id}/document.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    # Both the printable page and the PDF quote the report: each is an audited export.
    db.expire_all()
    exported = db.scalars(
        select(AuditEvent.action).where(
            AuditEvent.action.in_(["takedown.document_printed", "takedown.document_exported"])
        )
    ).all()
    assert sorted(exported) == ["takedown.document_exported", "takedown.document_printed"]


class _StatusHandler(BaseHTTPRequestHandler):
    statuses = {"/gone": 404, "/still-there": 200}

    def do_HEAD(self):
        self.send_response(self.statuses.get(self.path, 500))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def platform_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_the_recheck_records_whether_urls_still_answer(app, client, db, platform_server):
    port = platform_server
    urls = f"http://127.0.0.1:{port}/gone\nhttp://127.0.0.1:{port}/still-there\n"
    reference, _ = submit_and_get_receipt(client, urls=urls, platform="website")
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    request_id, page = _new_request(staff, db, reference)
    assert request_id, page
    staff.post(
        f"/officer/takedowns/{request_id}/send",
        data={
            "csrf_token": csrf_token(staff, f"/officer/takedowns/{request_id}"),
            "send-how": "by_hand",
        },
    )
    from portal.models import utcnow

    checked = takedowns.recheck_waiting(
        db,
        keyring=app.extensions["keyring"],
        check=lambda url: http_status(url, timeout=5, allow_private=True),
        now=utcnow(),
    )
    db.commit()
    assert checked == 2
    statuses = {
        takedowns.report_url_text(app.extensions["keyring"], item.report_url).rsplit("/", 1)[
            -1
        ]: item.last_check_status
        for item in db.scalars(select(TakedownItem))
    }
    assert statuses == {"gone": 404, "still-there": 200}
    # A check never decides removal: only an officer records it.
    assert all(item.outcome is None for item in db.scalars(select(TakedownItem)))


def test_the_recheck_never_reaches_private_addresses(platform_server):
    assert http_status(f"http://127.0.0.1:{platform_server}/gone", timeout=5) is None
    assert http_status("http://169.254.169.254/latest/meta-data/", timeout=2) is None
    assert http_status("file:///etc/passwd") is None


def test_key_rotation_and_retention_cover_requests(case, app, db):
    from datetime import timedelta

    from portal.models import Referral, utcnow
    from portal.services import retention

    reference, _, staff = case
    request_id, _ = _new_request(staff, db, reference, explanation="ROTATE-ME")
    first_url = _report(db, reference).urls[0]
    referral = staff.post(
        f"/officer/reports/{reference}/referrals/new",
        data={
            "csrf_token": csrf_token(staff, f"/officer/reports/{reference}/referrals/new"),
            "destination": "IE",
            "urls": [str(first_url.id)],
            "language": "en",
        },
    )
    assert referral.status_code == 303
    referral_path = referral.headers["Location"]
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "takedown.explanation" in result.output
    db.expire_all()
    row = db.get(TakedownRequest, request_id)
    assert takedowns.explanation(app.extensions["keyring"], row) == "ROTATE-ME"
    assert staff.get(f"/officer/takedowns/{request_id}/document").status_code == 200
    assert "instagram.com" in staff.get(f"{referral_path}/bundle.json").get_data(as_text=True)
    assert db.scalar(select(Referral)) is not None

    report = _report(db, reference)
    report.status, report.closed_at = "closed", utcnow() - timedelta(days=400)
    db.commit()
    retention.purge(db, app.extensions["blob_store"], app.config["RETENTION_DAYS"])
    db.expire_all()
    assert db.scalar(select(TakedownRequest)) is None
    assert db.scalar(select(TakedownItem)) is None
    assert db.scalar(select(Referral)) is None
