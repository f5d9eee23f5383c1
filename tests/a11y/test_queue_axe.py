"""axe-core on the officer queue with forty cases, at 1280 px and 360 px, in Arabic and English:
the queue, a search, a bulk form sent back with errors, and the per-row outcome of a bulk action
have no serious or critical issue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import DESKTOP, PHONE, LiveServer, NewContext, sign_in_demo_staff
from tests.support.queue_cases import SITE, forty_cases

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def _violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "360"])
@pytest.mark.parametrize("language", ["ar", "en"])
def test_queue_has_no_serious_accessibility_violation(
    new_context: NewContext, live_server: LiveServer, language: str, viewport: dict[str, int]
) -> None:
    cases = forty_cases(live_server)
    page = new_context(bypass_csp=True, viewport=viewport, locale_cookie=language).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        found = _violations(page)
        if found:
            problems[name] = found

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
