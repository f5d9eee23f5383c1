"""The officer's report page in Chromium at 1280 and 360 px: the actions are in view on
arrival, an image is previewed blurred and shown clear on request (with or without
JavaScript), closing an urgent case asks first; axe-core finds nothing serious."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select

from portal.models import AuditEvent
from tests.support.browser import (
    PHONE,
    LiveServer,
    NewContext,
    save_screenshot,
    sign_in_demo_staff,
)
from tests.support.evidence import english_client, files
from tests.support.web import submit_and_get_receipt

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def _photo() -> bytes:
    image = Image.new("RGB", (900, 600), "white")
    pixels = image.load()
    for x in range(0, 900, 2):
        for y in range(0, 600, 2):
            pixels[x, y] = ((x * 3) % 256, (y * 5) % 256, 120)
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def _report(live_server: LiveServer, **fields: Any) -> str:
    client = english_client(live_server.app)
    reference, _ = submit_and_get_receipt(
        client, evidence=files((_photo(), "screenshot.jpg")), **fields
    )
    return reference


def _axe(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def _in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= size["height"]
        and box["x"] >= 0
        and box["x"] + box["width"] <= size["width"]
    )


def _count(live_server: LiveServer, action: str, reference: str) -> int:
    with live_server.session() as session:
        return len(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == action, AuditEvent.subject == f"report:{reference}"
                )
            ).all()
        )


def test_actions_in_view_and_preview_unblurred_by_a_click_at_1280(
    new_context: NewContext, live_server: LiveServer
) -> None:
    reference = _report(live_server)
    page = new_context(locale_cookie="en").new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    page.goto(f"/officer/reports/{reference}")
    # On arrival, without scrolling: the panel, the claim button, status and the message form.
    for selector in (
        "#actions-title",
        "form[action$='/claim'] button",
        "select[name=status-status]",
        "select[name=priority-priority]",
        "#message-action summary",
    ):
        assert _in_view(page, selector), selector
    assert "English" in page.inner_text(".action-panel .panel-language")
    # Sticky: still in view once the case has scrolled well past the top.
    page.evaluate("() => window.scrollTo(0, 700)")
    assert page.evaluate("() => window.scrollY") == 700
    assert page.locator(".case-header").bounding_box()["y"] < -300
    assert _in_view(page, "#actions-title")
    page.evaluate("() => window.scrollTo(0, 0)")

    preview = page.locator("img.preview")
    preview.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('img.preview').naturalWidth > 0")
    assert "blurred" in (preview.get_attribute("class") or "")
    assert preview.get_attribute("src").endswith("/preview.png")
    assert page.evaluate("() => document.querySelector('img.preview').naturalWidth") == 320
    save_screenshot(page, "officer-report-preview-blurred-en-1280")

    page.locator("a.unblur").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('img.preview');"
        " return i.src.endsWith('/preview-unblurred.png') && i.complete && i.naturalWidth > 0; }"
    )
    assert "clear" in (preview.get_attribute("class") or "")
    assert page.url.endswith(f"/officer/reports/{reference}")  # swapped in place
    assert _count(live_server, "evidence.previewed", reference) == 1
    assert _count(live_server, "evidence.preview_unblurred", reference) == 1
    save_screenshot(page, "officer-report-preview-clear-en-1280")
    # Every request of the page passed the strict CSP; axe is injected in a context that
    # bypasses it, as in tests/a11y.
    checker = new_context(locale_cookie="en", bypass_csp=True).new_page()
    sign_in_demo_staff(checker, live_server, "casablanca")
    checker.goto(f"/officer/reports/{reference}")
    assert _axe(checker) == []


def test_without_javascript_the_clear_preview_is_a_link(
    new_context: NewContext, live_server: LiveServer
) -> None:
    reference = _report(live_server)
    page = new_context(locale_cookie="fr", java_script_enabled=False).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    page.goto(f"/officer/reports/{reference}")
    with page.expect_response(lambda r: r.url.endswith("/preview-unblurred.png")) as info:
        page.locator("a.unblur").click()
    response = info.value
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    assert _count(live_server, "evidence.preview_unblurred", reference) == 1


def test_phone_layout_and_close_confirmation_at_360(
    new_context: NewContext, live_server: LiveServer
) -> None:
    reference = _report(live_server, q_minor_involved="yes")
    page = new_context(
        locale_cookie="ar", viewport=PHONE, has_touch=True, is_mobile=True, bypass_csp=True
    ).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    page.goto(f"/officer/reports/{reference}")
    assert page.evaluate("() => document.documentElement.dir") == "rtl"
    # The panel comes first, in the page's flow, and nothing is wider than the phone.
    assert _in_view(page, "#actions-title")
    panel = page.locator(".action-panel").bounding_box()
    case = page.locator(".case-header").bounding_box()
    assert panel["y"] < case["y"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert _axe(page) == []
    save_screenshot(page, "officer-report-ar-360")

    page.locator("form[action$='/claim'] button").tap()
    page.wait_for_selector(".flash-success")
    page.select_option("select[name=status-status]", "closed")
    page.select_option("select[name=status-closure_reason]", "duplicate")
    page.locator("#status-action button").tap()
    page.wait_for_selector("#close-confirm")
    assert _in_view(page, "#close-confirm h3")
    assert _axe(page) == []
    save_screenshot(page, "officer-report-confirm-ar-360")
    page.locator("#close-confirm button[type=submit]").tap()
    page.wait_for_selector(".flash-success")
    assert page.locator("#close-confirm").count() == 0


def test_report_page_axe_for_officer_errors_and_supervisor(
    new_context: NewContext, live_server: LiveServer
) -> None:
    reference = _report(live_server)
    for language in ("fr", "ar"):
        page = new_context(locale_cookie=language, bypass_csp=True).new_page()
        sign_in_demo_staff(page, live_server, "casablanca")
        page.goto(f"/officer/reports/{reference}")
        assert _axe(page) == [], language
        # A form sent back with an error next to its field.
        page.locator("#duplicate-action summary").click()
        page.fill("input[name=duplicate-reference]", "EB-0000-0000")
        page.locator("#duplicate-action button").click()
        page.wait_for_selector("#duplicate-action .error")
        assert page.input_value("input[name=duplicate-reference]") == "EB-0000-0000"
        # The field in error has the focus (given once the page has loaded) and is in view.
        page.wait_for_function("document.activeElement?.name === 'duplicate-reference'")
        assert _in_view(page, "#duplicate-action .error")
        assert _axe(page) == [], language
        save_screenshot(page, f"officer-report-error-{language}-1280")

    supervisor = new_context(locale_cookie="fr", bypass_csp=True).new_page()
    sign_in_demo_staff(supervisor, live_server, "supervisor")
    supervisor.goto(f"/officer/reports/{reference}")
    assert supervisor.locator("#break-glass textarea").count() == 1
    assert "screenshot.jpg" not in supervisor.content()
    assert _axe(supervisor) == []
    save_screenshot(supervisor, "supervisor-report-metadata-fr-1280")
    supervisor.fill("#break-glass textarea", "Enquête de l'inspection générale, dossier 2026/44")
    supervisor.locator("#break-glass button").click()
    supervisor.wait_for_selector(".break-glass-open")
    assert "screenshot.jpg" in supervisor.content()
    assert supervisor.locator(".action-panel").count() == 0
    assert _axe(supervisor) == []
    save_screenshot(supervisor, "supervisor-report-break-glass-fr-1280")


def test_the_partner_panel_sends_an_error_back_next_to_its_field_with_the_focus(
    new_context: NewContext, live_server: LiveServer
) -> None:
    from portal.models import Mandate, Report
    from portal.services import partners
    from tests.support.partners import make_partner

    reference = _report(live_server)
    with live_server.session() as session:
        partner = make_partner(session, "centre-a")
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        partners.grant_mandate(session, report, partner.id)
        session.commit()
    page = new_context(locale_cookie="fr", bypass_csp=True).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    page.goto(f"/officer/reports/{reference}")
    page.fill("textarea[name=partner-body]", "Pouvez-vous rappeler la victime ?")
    page.check("#partner-audience-2")  # both
    # The victim withdraws the mandate while the officer writes.
    with live_server.session() as session:
        mandate = session.scalars(select(Mandate)).one()
        partners.withdraw_mandate(session, mandate, by="victim", actor="reporter")
        session.commit()
    page.locator("#partner button").click()
    page.wait_for_selector("#partner .error")
    assert page.input_value("textarea[name=partner-body]") == "Pouvez-vous rappeler la victime ?"
    # The focus is given once the page has loaded: waited for, not read at once.
    page.wait_for_function("document.activeElement?.id === 'partner-audience'")
    assert _in_view(page, "#partner .error")
    assert _axe(page) == []


def test_long_unbroken_answers_wrap_on_a_phone(
    new_context: NewContext, live_server: LiveServer
) -> None:
    """A crypto wallet or a link has nowhere to break: on a 360 px phone in Arabic the case page
    wraps it inside its card instead of widening the page (half of every card would then sit
    off screen on the right)."""
    wallet = "TVrreTgnYDZcQj4hD2ZDqtrdR9Z9vKE4Bi"
    reference = _report(live_server, category="fraud", q_payee_wallet=wallet)
    page = new_context(
        locale_cookie="ar", viewport=PHONE, has_touch=True, is_mobile=True
    ).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    page.goto(f"/officer/reports/{reference}")
    assert page.locator("dl.answers").get_by_text(wallet).count() == 1
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
