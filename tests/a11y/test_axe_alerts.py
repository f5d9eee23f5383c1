"""axe-core on the officers' alerts page, in every language, blank, with errors and saved; and
how the page looks at 1280 px and 360 px (screenshots under artifacts/)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.a11y.test_axe import axe_violations, describe
from tests.support.browser import DESKTOP, PHONE, save_screenshot, sign_in_demo_staff


@pytest.mark.parametrize("language", ["ar", "fr", "en", "es"])
def test_the_alerts_page_has_no_serious_accessibility_violation(
    new_context: Any, live_server: Any, language: str
) -> None:
    page = new_context(bypass_csp=True, locale_cookie=language).new_page()
    sign_in_demo_staff(page, live_server, "rabat")
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        assert page.locator("html").get_attribute("lang") == language, name
        found = axe_violations(page)
        if found:
            problems[name] = describe(found)

    page.goto("/officer/alerts")
    check("blank")
    page.check("input[name=on_duty]")
    for kind in ("urgent", "reply", "sla", "digest"):
        page.uncheck(f"input[name={kind}]")
    page.fill("input[name=email]", "not an address")
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("#email-error")
    assert page.locator("#on_duty-error").is_visible()
    check("with errors")
    page.fill("input[name=email]", "youssef.alaoui@police.test")
    page.check("input[name=urgent]")
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector(".flash-success")
    assert page.locator("input[name=email]").input_value() == "youssef.alaoui@police.test"
    check("saved")
    assert problems == {}


@pytest.mark.parametrize("language", ["ar", "fr"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "360"])
def test_the_alerts_page_fits_the_screen(
    new_context: Any, live_server: Any, language: str, viewport: dict[str, int]
) -> None:
    page = new_context(locale_cookie=language, viewport=viewport).new_page()
    sign_in_demo_staff(page, live_server, "rabat")
    page.goto("/officer/alerts")
    page.check("input[name=on_duty]")
    page.fill("input[name=email]", "x")
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("#email-error")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"], "the page scrolls sideways"
    save_screenshot(page, f"officer-alerts-{language}-{viewport['width']}")
