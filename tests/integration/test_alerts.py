"""Content-free alerts to on-duty officers, end to end: a report or a reply through the real
pages, the job the commit queued run by the queue's own worker code, a real SMTP server and a
real HTTP server started by the test, the audit chain read back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.jobs.queue import jobs_of
from portal.models import AuditEvent, Officer, Report, Unit
from portal.services import alerts
from portal.services.webhooks import verify_signature
from tests.support.mail import Mailbox, body_of, smtp_server
from tests.support.staff import make_officer
from tests.support.statements import captured
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt

WEBHOOK_SECRET = "alert-webhook-secret-for-tests"
DESCRIPTION = "Someone threatens to publish my photos unless I pay."
# What the reporter wrote or chose, in the words any language shows it: none may leave.
CONTENT = (
    "sextortion",
    "Sextortion",
    "blackmail",
    "instagram",
    "Instagram",
    "some.blackmailer",
    "threatens",
    "photos",
    "EB-",
)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


class Hook:
    """A local HTTP server standing for the police messaging system."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def app_config(app_config, mailbox, hook):
    return {
        **app_config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mailbox.port,
        "SMTP_STARTTLS": False,
        "SMTP_FROM": "alerts@portal.test",
        "ALERT_BASE_URL": "https://portal.test",
        "ALERT_WEBHOOK_URL": hook.url,
        "ALERT_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def run_queued(app: Flask) -> int:
    """What a worker does: take each waiting job and run it (retries are scheduled later)."""
    queue = jobs_of(app)
    count = 0
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
        count += 1
    return count


def on_duty(app, db, username: str, *, kinds=alerts.KINDS, units=("CASABLANCA",), **kw) -> Officer:
    officer, _ = make_officer(app, db, username, units=units)
    alerts.save_settings(
        db,
        officer,
        on_duty=kw.get("duty", True),
        email=kw.get("email", f"{username}@police.test"),
        language=kw.get("language", "en"),
        kinds=kinds,
        now=datetime.now(UTC),
    )
    db.commit()
    return officer


@pytest.fixture
def team(app, db) -> dict[str, Officer]:
    """Casablanca: one officer on duty, one off duty, one who wants no urgent alerts; Rabat: one
    on duty (another unit, told nothing about Casablanca)."""
    return {
        "amina": on_duty(app, db, "amina"),
        "karim": on_duty(app, db, "karim", duty=False),
        "salma": on_duty(app, db, "salma", kinds=("reply", "sla", "digest")),
        "rachid": on_duty(app, db, "rachid", units=("RABAT",)),
    }


def the_only(box: Mailbox) -> tuple[list[str], Message, str]:
    assert len(box.received) == 1, [r for r, _ in box.received]
    recipients, message = box.received[0]
    return recipients, message, body_of(message)


def assert_content_free(text: str, reference: str, receipt: str) -> None:
    for secret in (*CONTENT, reference, receipt, receipt.replace(" ", ""), DESCRIPTION):
        assert secret not in text


def alert_entries(db) -> list[dict[str, Any]]:
    rows = db.scalars(
        select(AuditEvent).where(AuditEvent.action.in_(("alert.sent", "alert.failed")))
    ).all()
    return [{"action": r.action, "subject": r.subject, **json.loads(r.details)} for r in rows]


def urgent_report(client) -> tuple[str, str]:
    return submit_and_get_receipt(client, q_minor_involved="yes")


def test_an_urgent_report_alerts_only_the_on_duty_officer_who_wants_it(app, db, mailbox, team):
    reporter = app.test_client()
    reference, receipt = urgent_report(reporter)
    assert db.scalars(select(Report)).one().priority == "urgent"

    # The commit queued the alert (one job per channel); nothing was sent during the request.
    assert mailbox.received == []
    assert run_queued(app) == 2

    recipients, message, body = the_only(mailbox)
    assert recipients == ["amina@police.test"]
    casablanca = db.scalars(select(Unit).where(Unit.code == "CASABLANCA")).one()
    assert message["Subject"] == "Urgent report waiting"
    assert f"An urgent report waits in the queue of {casablanca.name('en')}." in body
    assert "https://portal.test/officer/" in body
    # Colleagues never see each other's addresses; the report is nowhere.
    assert "amina@police.test" not in message.as_string()
    assert_content_free(message.as_string() + body, reference, receipt)

    entries = alert_entries(db)
    assert {(e["action"], e["kind"], e["channel"], e["recipients"]) for e in entries} == {
        ("alert.sent", "urgent", "email", 1),
        ("alert.sent", "urgent", "webhook", 1),
    }
    assert {e["subject"] for e in entries} == {"unit:CASABLANCA"}
    for entry in entries:
        assert set(entry) == {"action", "subject", "kind", "channel", "recipients"}


def test_a_report_that_is_not_urgent_alerts_nobody(app, db, mailbox, team):
    submit_and_get_receipt(app.test_client())
    assert db.scalars(select(Report)).one().priority != "urgent"
    assert run_queued(app) == 0
    assert mailbox.received == [] and alert_entries(db) == []


def test_the_webhook_is_signed_and_names_only_the_kind_the_unit_and_the_recipients(
    app, db, hook, team
):
    reference, receipt = urgent_report(app.test_client())
    run_queued(app)
    [(headers, body)] = hook.requests
    assert headers["content-type"] == "application/json"
    assert verify_signature(WEBHOOK_SECRET, headers["portal-signature"], body)
    assert not verify_signature("another secret", headers["portal-signature"], body)
    assert not verify_signature(WEBHOOK_SECRET, headers["portal-signature"], body + b" ")
    payload = json.loads(body)
    assert payload["type"] == "alert.urgent"
    assert payload["unit"]["code"] == "CASABLANCA"
    assert payload["recipients"] == ["amina"]
    assert payload["link"] == "https://portal.test/officer/"
    assert set(payload) == {"id", "type", "created", "unit", "recipients", "link"}
    assert_content_free(body.decode(), reference, receipt)


def test_a_reporters_reply_alerts_the_unit(app, db, mailbox, team):
    reporter = app.test_client()
    reference, receipt = submit_and_get_receipt(reporter)
    run_queued(app)
    assert mailbox.received == []
    open_follow_up(reporter, receipt)
    response = reporter.post(
        "/follow-up/reply",
        data={"csrf_token": csrf_token(reporter, "/follow-up"), "body": "He wrote again tonight."},
    )
    assert response.status_code in (200, 303)
    run_queued(app)
    addressed = sorted(address for recipients, _ in mailbox.received for address in recipients)
    # Salma wants replies though not urgent alerts; Karim is off duty; Rachid is in Rabat.
    assert addressed == ["amina@police.test", "salma@police.test"]
    for _recipients, message in mailbox.received:
        assert message["Subject"] == "A reporter has answered"
        text = message.as_string() + body_of(message)
        assert "He wrote again" not in text
        assert_content_free(text, reference, receipt)
    assert {(e["kind"], e["channel"], e["recipients"]) for e in alert_entries(db)} == {
        ("reply", "email", 2),
        ("reply", "webhook", 2),
    }


def test_an_alert_waits_for_the_commit_and_a_rollback_drops_it(app, db, team):
    report_id = _a_report(app, db)
    queue = jobs_of(app)
    before = queue.depth()
    report = db.get(Report, report_id)
    alerts.reporter_replied(db, report)
    db.flush()
    assert queue.depth() == before
    db.rollback()
    db.commit()
    assert queue.depth() == before
    alerts.reporter_replied(db, db.get(Report, report_id))
    db.commit()
    assert queue.depth() == before + 2  # e-mail and webhook


def _a_report(app, db) -> int:
    submit_and_get_receipt(app.test_client())
    run_queued(app)
    return db.scalars(select(Report.id)).one()


def test_a_deadline_about_to_pass_alerts_once(app, db, mailbox, team):
    reference, receipt = submit_and_get_receipt(app.test_client())
    run_queued(app)
    report = db.scalars(select(Report)).one()
    target = timedelta(hours=app.config["SLA_FIRST_RESPONSE_HOURS"][report.priority])
    settings = alerts.AlertSettings.from_config(app.config)

    def scan(now: datetime) -> dict[int, int]:
        found = alerts.scan_deadlines(
            db,
            first_response_hours=settings.first_response_hours,
            warning=timedelta(minutes=60),
            now=now,
        )
        db.commit()
        return found

    # Two hours before the deadline: not yet; 30 minutes before: once; never again after.
    assert scan(report.submitted_at + target - timedelta(hours=2)) == {}
    assert scan(report.submitted_at + target - timedelta(minutes=30)) == {report.unit_id: 1}
    assert scan(report.submitted_at + target - timedelta(minutes=10)) == {}
    run_queued(app)
    addressed = sorted(address for recipients, _ in mailbox.received for address in recipients)
    assert addressed == ["amina@police.test", "salma@police.test"]
    _recipients, message = mailbox.received[0]
    assert message["Subject"] == "A response deadline is near"
    assert_content_free(message.as_string() + body_of(message), reference, receipt)
    assert ("sla", "email", 2) in {
        (e["kind"], e["channel"], e["recipients"]) for e in alert_entries(db)
    }


def test_an_answered_or_closed_report_is_not_announced(app, db, team):
    submit_and_get_receipt(app.test_client())
    run_queued(app)
    report = db.scalars(select(Report)).one()
    report.first_response_at = report.submitted_at + timedelta(minutes=5)
    db.commit()
    target = timedelta(hours=app.config["SLA_FIRST_RESPONSE_HOURS"][report.priority])
    found = alerts.scan_deadlines(
        db,
        first_response_hours=app.config["SLA_FIRST_RESPONSE_HOURS"],
        warning=timedelta(hours=1),
        now=report.submitted_at + target - timedelta(minutes=30),
    )
    assert found == {}


def test_the_daily_digest_sends_counts_once_a_day_from_the_configured_hour(app, db, mailbox, team):
    for _ in range(3):
        submit_and_get_receipt(app.test_client())
    run_queued(app)
    old, answered, fresh = db.scalars(select(Report).order_by(Report.id)).all()
    # 08:30 in Casablanca on a day Morocco is at UTC+1 (June 2026, by the tz database of the
    # ``tzdata`` package the portal reads: Morocco stays at UTC+0 from 2026-09-20).
    now = datetime(2026, 6, 10, 7, 30, tzinfo=UTC)
    target = timedelta(hours=app.config["SLA_FIRST_RESPONSE_HOURS"][old.priority])
    old.submitted_at = now - target - timedelta(hours=1)  # waiting, overdue, not new
    answered.submitted_at = now - timedelta(hours=2)  # new, answered
    answered.first_response_at = now - timedelta(hours=1)
    fresh.submitted_at = now - timedelta(hours=3)  # new, waiting
    db.commit()

    assert alerts.take_digests(db, hour=9, now=now) == []  # 08:30: not yet
    casablanca = db.scalars(select(Unit.id).where(Unit.code == "CASABLANCA")).one()
    rabat = db.scalars(select(Unit.id).where(Unit.code == "RABAT")).one()
    assert sorted(alerts.take_digests(db, hour=8, now=now)) == sorted([casablanca, rabat])
    db.commit()
    assert alerts.take_digests(db, hour=8, now=now + timedelta(hours=3)) == []
    db.commit()
    assert alerts.digest_counts(
        db, casablanca, app.config["SLA_FIRST_RESPONSE_HOURS"], now=now
    ) == alerts.DigestCounts(new=2, waiting=2, overdue=1)

    run_queued(app)
    [message] = mailbox.to("amina@police.test")
    assert message["Subject"] == "Daily summary of your unit's queue"
    body = body_of(message)
    # Counts at the moment the digest is written: the reports above, seen from now.
    assert "waiting for a first response" in body
    [rabat_message] = mailbox.to("rachid@police.test")
    assert "0 waiting for a first response, 0 past" in body_of(rabat_message)
    assert mailbox.to("karim@police.test") == []


def test_the_digest_counts_in_one_query_and_a_priority_with_no_deadline_only_waits(app, db):

    from portal.models import PRIORITY_RANK

    for _ in range(3):
        submit_and_get_receipt(app.test_client())
    run_queued(app)
    urgent, normal, answered = db.scalars(select(Report).order_by(Report.id)).all()
    now = datetime(2026, 6, 10, 7, 30, tzinfo=UTC)
    urgent.priority, urgent.priority_rank = "urgent", PRIORITY_RANK["urgent"]
    urgent.submitted_at = now - timedelta(hours=5)  # past a 4-hour deadline
    normal.priority, normal.priority_rank = "normal", PRIORITY_RANK["normal"]
    normal.submitted_at = now - timedelta(days=30)  # very old, but "normal" has no deadline here
    answered.submitted_at = now - timedelta(hours=1)
    answered.first_response_at = now - timedelta(minutes=30)
    db.commit()
    casablanca = urgent.unit_id
    # The setting names a priority no report has, and not the one of the old report.
    hours = {"urgent": 4, "critical": 1}

    with captured(db.get_bind()) as sent:
        counts = alerts.digest_counts(db, casablanca, hours, now=now)
    statements = [statement for statement, _ in sent]
    assert counts == alerts.DigestCounts(new=2, waiting=2, overdue=1)
    assert len(statements) == 1 and "FROM reports" in statements[0]
    # With every priority named, the old one is overdue too; with none, nothing is.
    every = app.config["SLA_FIRST_RESPONSE_HOURS"]
    assert alerts.digest_counts(db, casablanca, every, now=now).overdue == 2
    assert alerts.digest_counts(db, casablanca, {}, now=now) == alerts.DigestCounts(2, 2, 0)


def test_a_relay_that_fails_is_audited_and_retried_and_the_report_is_kept(
    app, db, mailbox, hook, team
):
    hook.status = 503
    app.config["SMTP_PORT"] = 1  # nothing listens there
    reference, _receipt = urgent_report(app.test_client())
    assert db.scalars(select(Report.reference)).one() == reference
    queue = jobs_of(app)
    run_queued(app)
    failed = alert_entries(db)
    assert {(e["action"], e["kind"], e["channel"], e["recipients"]) for e in failed} == {
        ("alert.failed", "urgent", "email", 1),
        ("alert.failed", "urgent", "webhook", 1),
    }
    assert {e["error"] for e in failed} == {"ConnectionRefusedError", "HTTP 503"}
    # Both are scheduled to be tried again.
    assert queue.huey.scheduled_count() == 2


def run_retries(app: Flask) -> int:
    """What a worker does once the retry delay has passed: run each scheduled job."""
    queue = jobs_of(app)
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)  # Huey's naive UTC
    tasks = queue.huey.read_schedule(later)
    for task in tasks:
        queue.huey.execute(task, timestamp=later)
    return len(tasks)


def test_a_retry_sends_only_the_languages_that_did_not_go_out(app, db, mailbox, team):
    on_duty(app, db, "leila", language="fr")
    # The relay takes the English message, then refuses the French one, once.
    mailbox.refuse_once("leila@police.test")
    urgent_report(app.test_client())
    run_queued(app)
    assert mailbox.refused == [["leila@police.test"]]
    assert [recipients for recipients, _ in mailbox.received] == [["amina@police.test"]]
    [failed] = [e for e in alert_entries(db) if e["channel"] == "email"]
    assert (failed["action"], failed["recipients"]) == ("alert.failed", 2)
    assert (failed["reached"], failed["refused"]) == ([team["amina"].id], [])

    assert run_retries(app) == 1
    # The retry sent French only: nobody got the alert twice, and everybody got it.
    assert len(mailbox.to("amina@police.test")) == 1
    [french] = mailbox.to("leila@police.test")
    assert french["Subject"] != "Urgent report waiting"
    email = [e for e in alert_entries(db) if e["channel"] == "email"]
    assert [(e["action"], e["recipients"]) for e in email] == [
        ("alert.failed", 2),
        ("alert.sent", 1),
    ]
    # Done: nothing is left to retry.
    assert jobs_of(app).huey.scheduled_count() == 0


def test_an_address_the_relay_refuses_is_retried_alone_and_the_others_get_it_once(
    app, db, mailbox, team
):
    nadia = on_duty(app, db, "nadia")  # English, like amina: the same message
    leila = on_duty(app, db, "leila", language="fr")
    # The relay knows no mailbox for Nadia (RCPT TO: 550) and takes the others' message.
    mailbox.bounce("nadia@police.test")
    urgent_report(app.test_client())
    run_queued(app)
    assert mailbox.bounced == ["nadia@police.test"]
    assert sorted(recipients for recipients, _ in mailbox.received) == [
        ["amina@police.test"],
        ["leila@police.test"],
    ]
    [failed] = [e for e in alert_entries(db) if e["channel"] == "email"]
    assert (failed["action"], failed["recipients"], failed["error"]) == (
        "alert.failed",
        3,
        "RecipientsRefused",
    )
    assert failed["reached"] == sorted([team["amina"].id, leila.id])
    assert failed["refused"] == [nadia.id]

    # Still refused at the first retry: tried again, for Nadia alone.
    assert run_retries(app) == 1
    assert mailbox.bounced == ["nadia@police.test"] * 2
    # Her address is fixed: the next retry reaches her, and nobody else hears it twice.
    mailbox.stop_bouncing("nadia@police.test")
    assert run_retries(app) == 1
    for address in ("amina@police.test", "leila@police.test", "nadia@police.test"):
        assert len(mailbox.to(address)) == 1, address
    assert [r for r, _ in mailbox.received][-1] == ["nadia@police.test"]
    email = [e for e in alert_entries(db) if e["channel"] == "email"]
    assert [(e["action"], e["recipients"]) for e in email] == [
        ("alert.failed", 3),
        ("alert.failed", 1),
        ("alert.sent", 1),
    ]
    assert jobs_of(app).huey.scheduled_count() == 0


def test_an_officer_without_an_address_is_reached_only_through_the_webhook(app, db, mailbox, hook):
    on_duty(app, db, "nadia", email="")
    urgent_report(app.test_client())
    run_queued(app)
    assert mailbox.received == []
    [(_headers, body)] = hook.requests
    assert json.loads(body)["recipients"] == ["nadia"]


def test_the_deadline_scan_reads_a_range_of_the_open_reports_index(app, db):
    from sqlalchemy import event

    engine = db.get_bind()
    captured: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM reports" in statement and "alert_sla_marks" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        alerts.scan_deadlines(
            db,
            first_response_hours={"normal": 72},
            warning=timedelta(hours=1),
            now=datetime.now(UTC),
        )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    cursor = db.connection().connection.dbapi_connection.cursor()
    if engine.dialect.name == "postgresql":
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement, parameters)
    else:
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
    plan = "\n".join(str(row) for row in cursor.fetchall())
    # A range of the partial index of open reports (priority, submission time), no table scan.
    assert "ix_reports_open_national" in plan, plan
    assert "LIMIT" in statement.upper()


def test_evidence_added_at_follow_up_alerts_but_evidence_sent_with_the_report_does_not(
    app, db, mailbox, team
):
    from tests.support.evidence import files, jpeg

    reporter = app.test_client()
    reference, receipt = submit_and_get_receipt(reporter, evidence=files((jpeg(), "first.jpg")))
    assert len(db.scalars(select(Report)).one().evidence) == 1
    run_queued(app)
    assert mailbox.received == []
    open_follow_up(reporter, receipt)
    response = reporter.post(
        "/follow-up/evidence",
        data={
            "csrf_token": csrf_token(reporter, "/follow-up"),
            "evidence": files((jpeg(), "second-screenshot.jpg")),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code in (200, 303)
    run_queued(app)
    assert {m["Subject"] for _r, m in mailbox.received} == {"A reporter has answered"}
    for _recipients, message in mailbox.received:
        text = message.as_string() + body_of(message)
        assert "second-screenshot" not in text
        assert_content_free(text, reference, receipt)


def test_the_periodic_jobs_run_on_the_queue_and_send_the_digest(app, db, mailbox, team):
    submit_and_get_receipt(app.test_client())
    run_queued(app)
    app.config["ALERT_DIGEST_HOUR"] = 0  # whatever the hour the test runs at
    queue = jobs_of(app)
    queue.enqueue("alerts.deadlines")  # nothing is near its deadline: nothing is sent
    queue.enqueue("alerts.digest")
    run_queued(app)
    [message] = mailbox.to("amina@police.test")
    casablanca = db.scalars(select(Unit).where(Unit.code == "CASABLANCA")).one()
    assert body_of(message).startswith(
        f"The queue of {casablanca.name('en')}: 1 new report(s) in the last 24 hours, 1 waiting "
        "for a first response, 0 past the first-response deadline."
    )
    # Once a day: the next run sends nothing more.
    queue.enqueue("alerts.digest")
    run_queued(app)
    assert len(mailbox.to("amina@police.test")) == 1
    assert {e["kind"] for e in alert_entries(db)} == {"digest"}
