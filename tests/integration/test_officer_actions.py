"""Officer actions end to end: claim, status lifecycle, messages, notes, transfer, duplicates,
and what the reporter sees of them on /follow-up."""

from __future__ import annotations

import json
import os
import threading

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Message, Officer, Report, ReportEvent
from portal.services import cases as actions
from tests.support.staff import form_version, make_officer, sign_in
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt


@pytest.fixture
def case(app, client, db):
    reference, receipt = submit_and_get_receipt(client, territory="MA-CAS")
    _, secret = make_officer(app, db, "amina", display_name="Amina Berrada")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    return reference, receipt, staff


def _post(staff, ref, action, prefix, **fields):
    reference = ref
    page = staff.get(f"/officer/reports/{reference}").get_data(as_text=True)
    data = {f"{prefix}-{key}": value for key, value in fields.items()}
    if f'name="{prefix}-version"' in page:
        data.setdefault(f"{prefix}-version", form_version(page, prefix))
    data["csrf_token"] = csrf_token(staff, "/officer/")
    return staff.post(f"/officer/reports/{reference}/{action}", data=data)


def _report(db, reference) -> Report:
    db.expire_all()
    return db.scalar(select(Report).where(Report.reference == reference))


def test_viewing_is_audited_but_is_not_a_first_response(case, db):
    reference, _, staff = case
    assert staff.get(f"/officer/reports/{reference}").status_code == 200
    report = _report(db, reference)
    assert report.first_response_at is None and report.status == "received"
    assert db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "report.viewed", AuditEvent.subject == f"report:{reference}"
        )
    )


def test_claim_moves_to_review_and_is_the_first_response(case, db):
    reference, _, staff = case
    response = _post(staff, reference, "claim", "claim")
    assert response.status_code == 303
    report = _report(db, reference)
    assert report.assigned_officer.username == "amina"
    assert report.status == "in_review" and report.first_response_at is not None
    event = db.scalar(select(ReportEvent).where(ReportEvent.kind == "status_changed"))
    assert event.visible_to_reporter and json.loads(event.details) == {
        "from": "received",
        "to": "in_review",
    }


def test_stale_form_loses_cleanly(case, db):
    reference, _, staff = case
    page = staff.get(f"/officer/reports/{reference}").get_data(as_text=True)
    stale = form_version(page, "priority")
    assert _post(staff, reference, "claim", "claim").status_code == 303
    response = staff.post(
        f"/officer/reports/{reference}/priority",
        data={
            "csrf_token": csrf_token(staff, "/officer/"),
            "priority-version": stale,
            "priority-priority": "urgent",
        },
    )
    assert response.status_code == 409
    assert "changed by someone else" in response.get_data(as_text=True)
    assert _report(db, reference).priority == "high"


def test_status_lifecycle_and_closing_needs_a_reason(case, db):
    reference, _, staff = case
    _post(staff, reference, "claim", "claim")
    # Referral needs an investigation first.
    assert _post(staff, reference, "status", "status", status="referred").status_code == 409
    response = _post(staff, reference, "status", "status", status="closed")
    # Next to the field it is about, not at the top of the page.
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="status-closure_reason-error"' in page
    assert "Choose why the report is closed." in page.split('id="status-closure_reason-error"')[1]
    assert _report(db, reference).closed_at is None
    response = _post(
        staff, reference, "status", "status", status="closed", closure_reason="duplicate"
    )
    assert response.status_code == 303
    report = _report(db, reference)
    assert report.status == "closed" and report.closure_reason == "duplicate"
    assert report.closed_at is not None
    # Reopening clears the resolution.
    assert _post(staff, reference, "status", "status", status="in_review").status_code == 303
    assert _report(db, reference).closed_at is None


def test_messages_notes_and_the_reporters_view(app, case, client, db):
    reference, receipt, staff = case
    assert (
        _post(staff, reference, "message", "message", body="Did you pay anything?").status_code
        == 303
    )
    assert (
        _post(staff, reference, "note", "note", body="Same IBAN as EB case last week").status_code
        == 303
    )
    report = _report(db, reference)
    assert report.first_response_at is not None
    for message in db.scalars(select(Message)):
        assert b"IBAN" not in message.body_enc and b"pay" not in message.body_enc

    reporter = app.test_client()
    open_follow_up(reporter, receipt)
    page = reporter.get("/follow-up").get_data(as_text=True)
    assert "Did you pay anything?" in page
    assert "IBAN" not in page
    assert "Amina" not in page and "Berrada" not in page and "amina" not in page
    assert "CASABLANCA" not in page and "Casablanca" not in page
    token = csrf_token(reporter, "/follow-up")
    reporter.post("/follow-up/reply", data={"csrf_token": token, "body": "No, nothing yet."})

    queue = staff.get("/officer/").get_data(as_text=True)
    assert "New reply" in queue
    detail = staff.get(f"/officer/reports/{reference}").get_data(as_text=True)
    assert "No, nothing yet." in detail and "Same IBAN" in detail
    assert "New reply" not in staff.get("/officer/").get_data(as_text=True)


def test_transfer_leaves_scope_and_returns_to_the_queue(app, case, db):
    from portal.models import Unit

    reference, _, staff = case
    rabat = db.scalar(select(Unit).where(Unit.code == "RABAT"))
    response = _post(
        staff, reference, "transfer", "transfer", unit=str(rabat.id), reason="Suspect in Rabat"
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/officer/")
    assert _report(db, reference).unit.code == "RABAT"
    assert staff.get(f"/officer/reports/{reference}").status_code == 404
    event = db.scalar(select(ReportEvent).where(ReportEvent.kind == "transferred"))
    assert not event.visible_to_reporter and "Suspect" not in event.details


def test_link_duplicate_only_within_scope(app, case, client, db):
    reference, _, staff = case
    original, _ = submit_and_get_receipt(client, territory="MA-CAS")
    elsewhere, _ = submit_and_get_receipt(client, territory="MA-RAB")
    response = _post(staff, reference, "duplicate", "duplicate", reference=elsewhere)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="duplicate-reference-error"' in page and f'value="{elsewhere}"' in page
    assert _report(db, reference).duplicate_of_id is None
    response = _post(staff, reference, "duplicate", "duplicate", reference=original.lower())
    assert response.status_code == 303
    assert _report(db, reference).duplicate_of_id == _report(db, original).id


def test_every_action_is_in_the_audit_chain(case, db):
    reference, _, staff = case
    _post(staff, reference, "claim", "claim")
    _post(staff, reference, "priority", "priority", priority="urgent")
    _post(staff, reference, "message", "message", body="Hello")
    _post(staff, reference, "note", "note", body="Internal")
    _post(staff, reference, "status", "status", status="investigating")
    actions_seen = set(
        db.scalars(select(AuditEvent.action).where(AuditEvent.subject == f"report:{reference}"))
    )
    assert {
        "report.claimed",
        "report.priority_changed",
        "report.message_sent",
        "report.note_added",
        "report.status_changed",
    } <= actions_seen


def test_assign_duplicate_and_transfer_are_in_the_audit_chain(app, case, client, db):
    from portal.models import Unit

    reference, _, staff = case
    colleague, _ = make_officer(app, db, "karim")
    original, _ = submit_and_get_receipt(client, territory="MA-CAS")
    rabat = db.scalar(select(Unit).where(Unit.code == "RABAT"))
    assert _post(staff, reference, "assign", "assign", assignee=colleague.id).status_code == 303
    assert _post(staff, reference, "duplicate", "duplicate", reference=original).status_code == 303
    response = _post(staff, reference, "transfer", "transfer", unit=rabat.id, reason="Rabat")
    assert response.status_code == 303
    actions_seen = set(
        db.scalars(select(AuditEvent.action).where(AuditEvent.subject == f"report:{reference}"))
    )
    assert {"report.assigned", "report.linked_duplicate", "report.transferred"} <= actions_seen


def test_assign_refuses_an_officer_of_another_unit(app, case, db):
    reference, _, _staff = case
    amina = db.scalar(select(Officer).where(Officer.username == "amina"))
    outsider, _ = make_officer(app, db, "youssef", units=("RABAT",))
    report = _report(db, reference)
    with pytest.raises(actions.ActionError):
        actions.assign(db, amina, report, report.version, outsider.id)
    db.rollback()
    assert _report(db, reference).assigned_officer_id is None


def test_second_claim_is_told_who_won(app, case, db):
    reference, _, staff = case
    _, secret = make_officer(app, db, "karim", display_name="Karim Bennani")
    other = app.test_client()
    sign_in(other, "karim", secret)
    page = other.get(f"/officer/reports/{reference}").get_data(as_text=True)
    version = form_version(page, "claim")
    assert _post(staff, reference, "claim", "claim").status_code == 303
    response = other.post(
        f"/officer/reports/{reference}/claim",
        data={"csrf_token": csrf_token(other, "/officer/"), "claim-version": version},
    )
    assert response.status_code == 409
    assert "Amina Berrada claimed this report first." in response.get_data(as_text=True)


@pytest.mark.skipif(
    not os.environ.get("PORTAL_TEST_DATABASE_URL"), reason="real concurrency needs PostgreSQL"
)
def test_concurrent_claims_on_postgresql_one_wins(app, client, db):
    reference, _ = submit_and_get_receipt(client, territory="MA-CAS")
    first, _ = make_officer(app, db, "first")
    second, _ = make_officer(app, db, "second")
    factory = app.extensions["db_sessionmaker"]
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(officer_id: int) -> None:
        with app.test_request_context(), factory() as session:
            from portal.models import Officer

            officer = session.get(Officer, officer_id)
            report = session.scalar(select(Report).where(Report.reference == reference))
            barrier.wait()
            try:
                actions.claim(session, officer, report, 1)
                session.commit()
                outcomes[officer.username] = "won"
            except actions.ActionError as error:
                session.rollback()
                outcomes[officer.username] = str(error.message)

    threads = [threading.Thread(target=attempt, args=(o.id,)) for o in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values())[-1] == "won"
    assert list(outcomes.values()).count("won") == 1
    loser = next(name for name, outcome in outcomes.items() if outcome != "won")
    winner = next(name for name, outcome in outcomes.items() if outcome == "won")
    # The loser is told who holds the report now.
    assert f"Officer {winner.title()}" in outcomes[loser]
    report = _report(db, reference)
    assert report.assigned_officer.username != loser and report.version == 2
    claims = db.scalars(select(AuditEvent).where(AuditEvent.action == "report.claimed")).all()
    assert len(claims) == 1
