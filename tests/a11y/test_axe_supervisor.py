"""axe-core on every supervisor page, in Arabic and French, national and regional, with every
folded section open: no serious or critical violation (the map's tiles are links in a group,
never inside an image: no ``nested-interactive``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.a11y.test_axe import axe_violations, describe
from tests.support.browser import LiveServer, sign_in_demo_staff
from tests.support.supervisor_pages import (
    REGIONAL,
    REGIONAL_SECRET,
    open_every_section,
    seed_dashboard,
    sign_in,
)

NATIONAL_PAGES = [
    "/supervisor/",
    "/supervisor/?period=30d",
    "/supervisor/?region=MA-03&period=90d",
    "/supervisor/?from=2026-05-10&to=2026-05-01",  # the period's error next to its fields
    "/supervisor/takedowns",
]
REGIONAL_PAGES = ["/supervisor/", "/supervisor/takedowns"]


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_supervisor_pages_have_no_serious_accessibility_violation(
    new_context: Any, live_server: LiveServer, language: str
) -> None:
    seed_dashboard(live_server)
    problems: dict[str, list[str]] = {}

    def check(page: Any, name: str) -> None:
        assert page.locator("html").get_attribute("lang") == language, name
        for state in ("folded", "open"):
            if state == "open":
                open_every_section(page)
            found = axe_violations(page)
            if found:
                problems[f"{name} ({state})"] = describe(found)

    national = new_context(bypass_csp=True, locale_cookie=language).new_page()
    sign_in_demo_staff(national, live_server, "supervisor")
    for path in NATIONAL_PAGES:
        national.goto(path)
        check(national, f"national {path}")

    regional = new_context(bypass_csp=True, locale_cookie=language).new_page()
    sign_in(regional, REGIONAL["username"], REGIONAL["password"], REGIONAL_SECRET, live_server)
    for path in REGIONAL_PAGES:
        regional.goto(path)
        check(regional, f"regional {path}")

    assert problems == {}
