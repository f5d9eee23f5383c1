"""An officer asks a platform to remove two URLs in Chromium, files it by hand, records one
removal, and the reporter's follow-up says so; the request reads as a printable page."""

from __future__ import annotations

from browser_support import LiveServer, NewContext, save_screenshot
from reporter_flows import fill_sextortion_report, open_follow_up, send_report
from test_officer_flow import _sign_in


def test_officer_requests_removal_and_records_it(
    new_context: NewContext, live_server: LiveServer
) -> None:
    reporter = new_context(locale_cookie="en").new_page()
    reporter.goto("/report")
    fill_sextortion_report(reporter)
    reporter.fill(
        "textarea[name=urls]",
        "https://www.instagram.com/bait.account.demo/\nhttps://www.instagram.com/p/DemoPost1/",
    )
    reference, receipt = send_report(reporter)

    officer = new_context(locale_cookie="en").new_page()
    _sign_in(officer, live_server, "casablanca")
    officer.goto(f"/officer/reports/{reference}")
    officer.locator("#platform-requests a[href*='kind=removal']").click()
    officer.wait_for_selector("form textarea[name=explanation]")
    for box in officer.locator("input[name=urls]").all():
        box.check()
    officer.select_option("select[name=legal_basis]", "penal_447")
    officer.fill("textarea[name=explanation]", "Intimate images used to blackmail the victim.")
    save_screenshot(officer, "officer-takedown-new-en-1280")
    officer.locator("main form button[type=submit]").click()
    officer.wait_for_selector("form[action$='/send']")
    officer.check("input[name=send-how][value=by_hand]")
    officer.locator("form[action$='/send'] button").click()
    officer.wait_for_selector(".flash-success")

    first = officer.locator("input[name=outcome-items]").first
    first.check()
    officer.select_option("select[name=outcome-outcome]", "removed")
    officer.locator("form[action$='/outcome'] button").click()
    officer.wait_for_selector(".flash-success")
    table = officer.inner_text("table.data")
    assert "Removed" in table and "Waiting" in table
    save_screenshot(officer, "officer-takedown-en-1280")

    officer.locator("a[href$='/document']").click()
    officer.wait_for_selector("h1")
    assert "instagram.com/bait.account.demo" in officer.inner_text("ol.urls")
    save_screenshot(officer, "officer-takedown-document-1280")

    open_follow_up(reporter, receipt)
    timeline = reporter.inner_text(".timeline")
    assert "We asked the platform to remove the content" in timeline
    assert "The content was removed by the platform" in timeline
