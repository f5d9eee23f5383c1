"""The reporter's second pass, as a frightened reporter on a 360 px phone in Arabic would live it.

Each journey runs with and without JavaScript where JavaScript changes anything; screenshots of
each state go to artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.domain.categories import QUESTIONS
from portal.models import Evidence, FollowUpSession, Report, utcnow
from tests.support.browser import PHONE, LiveServer, NewContext, save_screenshot
from tests.support.reporter_flows import (
    ARABIC_REPLY,
    choose_territory,
    fill_sextortion_report,
    open_follow_up,
    send_report,
    write_png,
)

JS = pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])


def _phone(new_context: NewContext, javascript: bool = True, **options: Any) -> Any:
    context = new_context(
        viewport=PHONE, has_touch=True, is_mobile=True, java_script_enabled=javascript, **options
    )
    return context, context.new_page()


def _report_of(live_server: LiveServer, reference: str) -> Report:
    with live_server.session() as session:
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        session.expunge(report)
        return report


@JS
def test_every_question_label_checks_its_own_button(
    new_context: NewContext, live_server: LiveServer, javascript: bool
) -> None:
    _context, page = _phone(new_context, javascript)
    page.goto("/report")
    page.wait_for_load_state("load")
    duplicates = page.evaluate(
        """() => { const seen = {}, dup = [];
             for (const e of document.querySelectorAll('[id]')) {
               if (seen[e.id]) dup.push(e.id); seen[e.id] = true; }
             return dup; }"""
    )
    assert duplicates == []
    tapped = 0
    for code, questions in QUESTIONS.items():
        category = page.locator(f"input[name=category][value={code}]")
        page.locator(f"label[for='{category.get_attribute('id')}']").tap()
        assert page.locator(f"input[name=category][value={code}]").is_checked()
        block = page.locator(f"fieldset.q-{code}")
        for question in (q for q in questions if q.kind == "yesno"):
            assert block.is_visible()
            for value in ("yes", "no", "unknown"):
                label = block.locator(f"input[name=q_{question.name}][value={value}]")
                label_for = label.get_attribute("id")
                page.locator(f"label[for='{label_for}']").tap()
                assert label.is_checked(), (code, question.name, value)
                tapped += 1
    assert tapped == 3 * sum(1 for qs in QUESTIONS.values() for q in qs if q.kind == "yesno")

    # Priority follows the tapped answer, in a category that is not the first to ask it.
    page.goto("/report")
    page.wait_for_load_state("load")
    page.locator("input[name=category][value=harassment]").check()
    yes = page.locator("fieldset.q-harassment input[name=q_minor_involved][value=yes]")
    page.locator(f"label[for='{yes.get_attribute('id')}']").tap()
    page.fill("textarea[name=urls]", "https://www.instagram.com/harasser/")
    page.select_option("select[name=platform]", "instagram")
    page.fill("textarea[name=description]", "يتحرش بي حساب مجهول كل يوم.")
    choose_territory(page, "MA-RAB")
    page.check("input[name=good_faith]")
    save_screenshot(page, f"questions-harassment-ar-360-{'js' if javascript else 'nojs'}")
    reference, _receipt = send_report(page)
    report = _report_of(live_server, reference)
    assert report.minor_involved and report.priority == "urgent"


@JS
def test_one_bad_and_two_good_files_keeps_the_good_ones(
    new_context: NewContext, live_server: LiveServer, tmp_path: Path, javascript: bool
) -> None:
    _context, page = _phone(new_context, javascript)
    suffix = "js" if javascript else "nojs"
    first = write_png(tmp_path / "لقطة-شاشة.png")
    second = write_png(tmp_path / "chat.png", width=40)
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"MZ\x90\x00" + bytes(2000))
    page.goto("/report")
    fill_sextortion_report(page)
    page.set_input_files("input[type=file][name=evidence]", [str(first), str(bad), str(second)])
    if javascript:
        page.wait_for_function("() => document.querySelector('input[name=pow_solution]').value")
    page.locator("form.report-form button[type=submit]").click()
    page.wait_for_selector("#held-files")
    page.wait_for_load_state("load")
    held = page.inner_text("#held-files")
    assert "لقطة-شاشة.png" in held and "chat.png" in held and "photo.jpg" not in held
    assert page.locator("#held-files input[type=checkbox]:checked").count() == 2
    assert "photo.jpg" in page.inner_text("#evidence-error")
    # What was typed is still there.
    assert page.input_value("textarea[name=urls]") == "https://www.instagram.com/some.blackmailer/"
    page.locator("#evidence-fieldset").scroll_into_view_if_needed()
    save_screenshot(page, f"files-kept-ar-360-{suffix}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Sent again as it is: the report carries both good files.
    if javascript:
        page.wait_for_function("() => document.querySelector('input[name=pow_solution]').value")
    reference, _receipt = send_report(page)
    with live_server.session() as session:
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        sizes = sorted(e.size for e in session.scalars(select(Evidence).where(
            Evidence.report_id == report.id)))  # fmt: skip
    assert sizes == sorted([first.stat().st_size, second.stat().st_size])


@JS
def test_the_receipt_survives_a_reload_and_can_be_saved(
    new_context: NewContext, live_server: LiveServer, javascript: bool
) -> None:
    context, page = _phone(new_context, javascript, accept_downloads=True)
    if javascript:
        context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/report")
    fill_sextortion_report(page)
    _reference, receipt = send_report(page)
    assert "receipt" not in page.url.split("/report/")[-1].replace("receipt", "", 1)
    assert page.locator("#expected-response").is_visible()
    assert "24" in page.inner_text("#expected-response") or "يوم" in page.inner_text(
        "#expected-response"
    )
    # A reload (the phone's browser reloading the tab) does not lose it.
    page.reload()
    assert page.inner_text("#receipt").strip() == receipt
    with page.expect_download() as download:
        page.locator("#save-receipt").click()
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert receipt in saved
    if javascript:
        page.locator("#copy-receipt").tap()
        page.wait_for_function(
            "() => document.getElementById('copy-status').textContent.length > 0"
        )
        assert page.evaluate("navigator.clipboard.readText()") == receipt.replace(" ", "")
    else:
        assert not page.locator("#copy-receipt").is_visible()
    save_screenshot(page, f"receipt-ar-360-{'js' if javascript else 'nojs'}")
    page.locator("form.receipt-done button").tap()
    page.wait_for_selector("input[name=receipt]")
    page.goto("/report/receipt")
    assert receipt not in page.content()


@JS
def test_quick_exit_is_always_in_reach_and_ends_the_follow_up(
    new_context: NewContext, live_server: LiveServer, javascript: bool
) -> None:
    _context, page = _phone(new_context, javascript)
    page.goto("/report")
    fill_sextortion_report(page)
    reference, receipt = send_report(page)
    open_follow_up(page, receipt)
    report_id = _report_of(live_server, reference).id
    # At the bottom of the long page the button is still on screen, and big enough to tap.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    box = page.locator("#quick-exit").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
    assert box["height"] >= 44
    save_screenshot(page, f"quick-exit-bottom-ar-360-{'js' if javascript else 'nojs'}")
    page.locator("#quick-exit").tap()
    page.wait_for_url("**/static/img/logo.svg")
    with live_server.session() as session:
        open_sessions = select(FollowUpSession).where(FollowUpSession.report_id == report_id)
        assert session.scalars(open_sessions).all() == []
    page.goto("/follow-up")
    assert page.locator("input[name=receipt]").is_visible()
    assert page.locator(".timeline").count() == 0


@JS
def test_a_reply_typed_past_the_idle_time_is_not_lost(
    new_context: NewContext, live_server: LiveServer, javascript: bool
) -> None:
    _context, page = _phone(new_context, javascript)
    page.goto("/report")
    fill_sextortion_report(page)
    _reference, receipt = send_report(page)
    open_follow_up(page, receipt)
    page.fill("textarea[name=body]", ARABIC_REPLY)
    # Twenty-five minutes of slow typing later, the session has ended.
    with live_server.session() as session:
        for row in session.scalars(select(FollowUpSession)):
            row.expires_at = utcnow() - timedelta(minutes=5)
        session.commit()
    page.locator("form[action='/follow-up/reply'] button[type=submit]").tap()
    page.wait_for_selector(".session-ended")
    page.wait_for_load_state("load")
    assert page.input_value("textarea[name=draft]") == ARABIC_REPLY
    save_screenshot(page, f"session-ended-ar-360-{'js' if javascript else 'nojs'}")
    page.fill("input[name=receipt]", receipt)
    page.locator("main form button[type=submit]").tap()
    page.wait_for_selector(".timeline")
    assert page.input_value("textarea[name=body]") == ARABIC_REPLY
    page.locator("form[action='/follow-up/reply'] button[type=submit]").tap()
    page.wait_for_selector(".flash")
    assert ARABIC_REPLY in page.inner_text(".timeline")


def test_a_closed_case_says_why_and_what_is_left_to_do(
    new_context: NewContext, live_server: LiveServer
) -> None:
    _context, page = _phone(new_context)
    page.goto("/report")
    fill_sextortion_report(page)
    reference, receipt = send_report(page)
    with live_server.session() as session:
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        report.status, report.closure_reason, report.closed_at = (
            "closed", "content_removed", utcnow()
        )  # fmt: skip
        session.commit()
    open_follow_up(page, receipt)
    page.wait_for_load_state("load")
    closure = page.inner_text("#closure")
    assert "تمت إزالة المحتوى الذي بلّغت عنه." in closure
    assert page.locator("form[action='/follow-up/reply']").count() == 0
    assert page.locator("#summary .url-list li").first.get_attribute("dir") == "ltr"
    save_screenshot(page, "follow-up-closed-ar-360")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
