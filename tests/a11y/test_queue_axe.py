"""axe-core on the officer queue with forty cases, at 1280 px and 360 px, in Arabic and English:
the queue, a search, a bulk form sent back with errors, and the per-row outcome of a bulk action
have no serious or critical issue.

The flow runs at 1280 px; each state is checked there, then narrowed to 360 px (see
``tests.support.browser.resize``: the queue's filters, which a phone's load folds, stay open, so
axe reads more of the page, not less) and checked again. Acting on the queue at 360 px is
tests/browser/test_queue_flow.py's."""

from __future__ import annotations

import pytest

from tests.a11y.test_axe import axe_violations, describe
from tests.support.browser import DESKTOP, PHONE, LiveServer, NewContext, resize, sign_in_demo_staff
from tests.support.queue_cases import SITE, forty_cases

WIDTHS = {"1280": DESKTOP, "360": PHONE}


@pytest.mark.parametrize("language", ["ar", "en"])
def test_queue_has_no_serious_accessibility_violation(
    new_context: NewContext, live_server: LiveServer, language: str
) -> None:
    cases = forty_cases(live_server)
    page = new_context(bypass_csp=True, viewport=DESKTOP, locale_cookie=language).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        for width, viewport in WIDTHS.items():
            resize(page, viewport)
            found = axe_violations(page)
            if found:
                problems[f"{name} at {width} px"] = describe(found)
        resize(page, DESKTOP)

    page.goto("/officer/")
    check("queue")
    page.goto(f"/officer/?q={SITE}&sort=age&status=all")
    check("queue (site search, by age, all statuses)")
    page.select_option("select[name=action]", "duplicate")
    page.locator(".bulk-actions button[type=submit]").click()
    page.wait_for_selector("#refs-error")
    check("queue (bulk form sent back with errors)")
    page.check(f"input[id='pick-{cases.references[-1]}']")
    page.fill("input[name=original]", "EB-0000-0000")
    page.locator(".bulk-actions button[type=submit]").click()
    page.wait_for_selector(".flash")
    check("queue (a row refused)")
    page.goto("/officer/?assigned=me")
    check("my cases")
    assert problems == {}
