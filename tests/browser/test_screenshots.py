"""Key reporter pages in Arabic and French, on a phone and a desktop, saved for people to look at.

PNG files go to artifacts/screenshots/ (kept by CI). Each page is also checked for what a
screenshot would show wrong: text overflowing sideways, or a layout in the wrong direction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import DESKTOP, PHONE, NewContext, save_screenshot
from tests.support.reporter_flows import (
    fill_sextortion_report,
    open_follow_up,
    send_report,
    write_png,
)

VIEWPORTS = {"360": PHONE, "1280": DESKTOP}


@pytest.mark.parametrize("width", list(VIEWPORTS))
@pytest.mark.parametrize("language", ["ar", "fr", "es"])
def test_key_pages_fit_the_screen_and_face_the_right_way(
    new_context: NewContext, language: str, width: str, tmp_path: Path
) -> None:
    page = new_context(viewport=VIEWPORTS[width], locale_cookie=language).new_page()
    direction = "rtl" if language == "ar" else "ltr"

    def shoot(name: str) -> None:
        assert page.locator("html").get_attribute("dir") == direction, name
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
        save_screenshot(page, f"{name}-{language}-{width}")

    for name, path in [
        ("home", "/"),
        ("help", "/help"),
        ("help-sextortion", "/help/sextortion"),
        ("help-safety", "/help/safety"),
        ("follow-up-login", "/follow-up"),
        ("not-found", "/no-such-page"),
    ]:
        page.goto(path)
        shoot(name)

    page.goto("/report")
    shoot("report")
    page.locator("form.report-form button[type=submit]").click()
    page.wait_for_selector("#error-summary")
    shoot("report-errors")

    page.goto("/report")
    fill_sextortion_report(page, evidence=write_png(tmp_path / "screenshot.png"))
    _reference, receipt = send_report(page)
    shoot("receipt")
    open_follow_up(page, receipt)
    shoot("follow-up")


def test_the_brand_is_at_the_start_side_in_each_direction(new_context: NewContext) -> None:
    """In Arabic the brand sits on the right and the quick exit on the left; in French, mirrored."""
    for language, brand_on_right in (("ar", True), ("fr", False)):
        page: Any = new_context(viewport=DESKTOP, locale_cookie=language).new_page()
        page.goto("/")
        brand = page.locator(".brand").bounding_box()
        exit_button = page.locator("#quick-exit").bounding_box()
        assert (brand["x"] > exit_button["x"]) is brand_on_right, language
