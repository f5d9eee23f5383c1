"""The officer's day in headless Chromium: sign in with a TOTP code, claim, message the
reporter, read the reply, close; a Rabat officer cannot reach the Casablanca report; a tampered
audit row is caught by `portal audit verify`."""

from __future__ import annotations

from sqlalchemy import select, text

from portal.cli import COMMANDS
from portal.models import AuditEvent, Report
from tests.support.browser import LiveServer, NewContext, save_screenshot, sign_in_demo_staff
from tests.support.reporter_flows import fill_sextortion_report, open_follow_up, send_report


def test_officer_handles_a_report_end_to_end(
    new_context: NewContext, live_server: LiveServer
) -> None:
    reporter = new_context(locale_cookie="en").new_page()
    reporter.goto("/report")
    fill_sextortion_report(reporter)
    reference, receipt = send_report(reporter)

    officer = new_context(locale_cookie="en").new_page()
    sign_in_demo_staff(officer, live_server, "casablanca")
    officer.fill("input[name=q]", reference)
    officer.locator(".queue-search button[type=submit]").click()
    officer.locator(f"a[href='/officer/reports/{reference}']").click()
    officer.wait_for_selector("h1 .reference")
    assert officer.inner_text("h1 .reference") == reference
    # Reported addresses are text, never links.
    assert officer.locator("ul.url-list a").count() == 0
    assert "instagram.com" in officer.inner_text("ul.url-list")
    save_screenshot(officer, "officer-report-en-1280")

    officer.locator("form[action$='/claim'] button").click()
    officer.wait_for_selector(".flash-success")
    assert "Amina Berrada" in officer.inner_text(".facts")

    officer.fill("textarea[name=message-body]", "Has the account contacted you again?")
    officer.locator("form[action$='/message'] button").click()
    officer.wait_for_selector(".flash-success")

    open_follow_up(reporter, receipt)
    timeline = reporter.inner_text(".timeline")
    assert "Has the account contacted you again?" in timeline
    assert "Amina" not in reporter.content()
    reporter.fill("textarea[name=body]", "Yes, twice this morning.")
    reporter.locator("form[action='/follow-up/reply'] button").click()
    reporter.wait_for_selector(".flash")

    officer.goto(f"/officer/?reference={reference}")
    assert "New reply" in officer.inner_text("table.queue")
    officer.locator(f"a[href='/officer/reports/{reference}']").click()
    assert "Yes, twice this morning." in officer.inner_text(".staff-timeline")

    officer.select_option("select[name=status-status]", "closed")
    officer.select_option("select[name=status-closure_reason]", "content_removed")
    officer.locator("form[action$='/status'] button").click()
    officer.wait_for_selector(".flash-success")
    with live_server.session() as session:
        report = session.scalar(select(Report).where(Report.reference == reference))
        assert report.status == "closed" and report.closed_at is not None
        assert report.first_response_at is not None

    rabat = new_context(locale_cookie="en").new_page()
    sign_in_demo_staff(rabat, live_server, "rabat")
    response = rabat.goto(f"/officer/reports/{reference}")
    assert response.status == 404
    assert "Has the account" not in rabat.content()

    runner = live_server.app.test_cli_runner()
    verify = next(c for c in COMMANDS if c.name == "audit")
    assert runner.invoke(verify, ["verify"]).exit_code == 0
    with live_server.session() as session:
        target, actor = session.execute(
            select(AuditEvent.id, AuditEvent.actor).where(
                AuditEvent.action == "report.claimed",
                AuditEvent.subject == f"report:{reference}",
            )
        ).one()
        session.execute(
            text("UPDATE audit_events SET actor = 'nobody' WHERE id = :id"), {"id": target}
        )
        session.commit()
    result = runner.invoke(verify, ["verify"])
    assert result.exit_code == 1
    assert f"BROKEN at entry {target}" in result.output
    # The live server is shared with other browser tests: put the row back.
    with live_server.session() as session:
        session.execute(
            text("UPDATE audit_events SET actor = :actor WHERE id = :id"),
            {"actor": actor, "id": target},
        )
        session.commit()
    assert runner.invoke(verify, ["verify"]).exit_code == 0
