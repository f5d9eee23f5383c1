"""A frightened reporter on a small phone, in Arabic: report, receipt, follow-up, reply.

The same journey runs with JavaScript and without it; both must reach the same result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.models import Evidence, Report
from tests.support.browser import PHONE, LiveServer, NewContext, save_screenshot
from tests.support.reporter_flows import (
    ARABIC_REPLY,
    fill_sextortion_report,
    open_follow_up,
    send_report,
    write_png,
)


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_sextortion_report_in_arabic_on_a_phone(
    new_context: NewContext, live_server: LiveServer, tmp_path: Path, javascript: bool
) -> None:
    context = new_context(viewport=PHONE, has_touch=True, java_script_enabled=javascript)
    page = context.new_page()
    screenshot = write_png(tmp_path / "screenshot.png")
    suffix = "js" if javascript else "nojs"

    page.goto("/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    page.locator("a.button.primary[href='/report']").first.click()

    page.wait_for_selector("form.report-form")
    # Without JavaScript the stylesheet hides them: read visibility once it has loaded.
    page.wait_for_load_state("load")
    # Questions of other categories stay out of the way, with or without JavaScript.
    assert not page.locator(".q-fraud").is_visible()
    fill_sextortion_report(page, evidence=screenshot)
    assert page.locator(".q-sextortion").is_visible()
    assert not page.locator(".q-fraud").is_visible()
    save_screenshot(page, f"flow-report-filled-ar-360-{suffix}")

    if javascript:
        # Once the proof of work is done, a form with files is sent with a progress bar and
        # the answer replaces the page in place: the window (and this marker) survives.
        page.wait_for_function(
            "() => !document.querySelector('input[name=pow_solution]')"
            " || document.querySelector('input[name=pow_solution]').value"
        )
        page.evaluate("() => { window.sentInPlace = true; }")
    reference, receipt = send_report(page)
    if javascript:
        assert page.evaluate("() => window.sentInPlace === true")
    assert page.title().startswith("تم إرسال البلاغ")
    assert receipt.replace(" ", "").isdigit() and len(receipt.replace(" ", "")) == 16
    # The receipt is never in the address bar.
    assert receipt.replace(" ", "") not in page.url.replace("%20", "")
    save_screenshot(page, f"flow-receipt-ar-360-{suffix}")

    with live_server.session() as session:
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        assert report.category == "sextortion"
        assert report.priority == "high"
        files = session.scalars(select(Evidence).where(Evidence.report_id == report.id)).all()
        assert len(files) == 1

    open_follow_up(page, receipt)
    assert reference in page.inner_text("main")
    assert "تم استلام البلاغ" in page.inner_text(".timeline")
    page.fill("textarea[name=body]", ARABIC_REPLY)
    page.locator("form[action='/follow-up/reply'] button[type=submit]").click()
    page.wait_for_selector(".flash")
    page.wait_for_load_state("load")  # the layout checked below needs the stylesheet
    assert "تم إرسال رسالتك" in page.inner_text(".flashes")
    assert ARABIC_REPLY in page.inner_text(".timeline")
    save_screenshot(page, f"flow-follow-up-ar-360-{suffix}")

    # Nothing identifying in the page width either: the layout fits a 360 px screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_wrong_answers_come_back_with_errors_tied_to_fields(page: Any) -> None:
    page.goto("/report")
    page.locator("form.report-form button[type=submit]").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    # Focus moves to the summary so that a screen reader announces it first. The script that
    # moves it runs after the summary is parsed, so wait for focus rather than read it at once.
    page.wait_for_function("document.activeElement?.id === 'error-summary'")
    description = page.locator("textarea[name=description]")
    assert description.get_attribute("aria-invalid") == "true"
    described_by = description.get_attribute("aria-describedby").split()
    assert "description-error" in described_by
    assert page.locator("#description-error").is_visible()
    # Each summary link leads to its field.
    summary.locator("a[href='#description']").click()
    assert page.evaluate("document.activeElement.id") == "description"


def test_region_then_place_and_the_choice_survives_an_error(page: Any) -> None:
    page.goto("/language/fr?next=/report")
    place = page.locator("select[name=territory]")
    # Until a region is chosen the place list offers nothing to pick.
    assert place.is_disabled()
    regions = page.locator("select#region")
    regions.select_option(label="Rabat-Salé-Kénitra")
    names = place.locator("option").all_inner_texts()
    assert "Kénitra" in names and "Casablanca" not in names
    place.select_option("MA-KEN")
    page.locator("form.report-form button[type=submit]").click()
    page.locator("#error-summary").wait_for()
    # The form came back with errors elsewhere: region and place are as the reporter left them.
    assert page.locator("select#region option:checked").inner_text() == "Rabat-Salé-Kénitra"
    assert page.locator("select[name=territory]").input_value() == "MA-KEN"


def test_quick_exit_leaves_without_a_way_back(page: Any, live_server: LiveServer) -> None:
    page.goto("/")
    page.goto("/help/sextortion")
    page.locator("#quick-exit").click()
    page.wait_for_url("**/static/img/logo.svg")
    page.go_back()
    # location.replace() removed the advice page from history: back lands on the page before.
    assert page.url == f"{live_server.url}/"


def test_escape_twice_is_a_quick_exit(page: Any) -> None:
    page.goto("/report")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.wait_for_url("**/static/img/logo.svg")


def test_skip_link_is_the_first_stop_and_moves_to_the_content(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_touch_targets_are_at_least_44_px_on_a_phone(phone_page: Any) -> None:
    small = []
    for path in ("/", "/report", "/follow-up", "/help/fraud"):
        phone_page.goto(path)
        small += phone_page.evaluate(
            """(path) => [...document.querySelectorAll(
                 'main a.button, main button, header a, .topic-link, .radio-row, .check-row,'
                 + ' main select, main input:not([type=hidden]):not([type=radio])'
                 + ':not([type=checkbox]), .footer-links a')]
               .filter(e => e.offsetParent !== null && !e.closest('.hp-field'))
               .map(e => [path, e.tagName, e.className, e.getBoundingClientRect().height])
               .filter(([, , , h]) => h < 44)""",
            path,
        )
    assert small == []
