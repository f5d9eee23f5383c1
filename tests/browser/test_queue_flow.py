"""An officer works through forty cases at 1280 px and at 360 px: every column of the queue fits
the desktop screen, the phone shows cards, a URL search finds the reports sharing it, and a bulk
assignment goes through. Screenshots in Arabic and French at both widths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import (
    DESKTOP,
    PHONE,
    LiveServer,
    NewContext,
    save_screenshot,
    sign_in_demo_staff,
)
from tests.support.queue_cases import COLLEAGUE, SHARED_URL, SITE, forty_cases

VIEWPORTS = {"360": PHONE, "1280": DESKTOP}


def _signed_in(new_context: NewContext, live_server: LiveServer, width: str, lang: str) -> Any:
    page = new_context(viewport=VIEWPORTS[width], locale_cookie=lang).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    return page


def _no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def _search(page: Any, text: str) -> None:
    page.fill("input[name=q]", text)
    page.locator(".queue-search button[type=submit]").click()
    page.wait_for_selector("#queue-count")


def test_every_column_fits_at_1280(new_context: NewContext, live_server: LiveServer) -> None:
    forty_cases(live_server)
    page = _signed_in(new_context, live_server, "1280", "en")
    page.goto("/officer/?status=all")
    assert page.locator("table.queue tbody tr").count() >= 40
    fits = page.evaluate(
        """() => {
          const box = document.querySelector('.table-scroll');
          const table = box.querySelector('table.queue');
          const heads = [...table.querySelectorAll('thead th')];
          const right = box.getBoundingClientRect().right;
          const left = box.getBoundingClientRect().left;
          return {
            scroll: box.scrollWidth, client: box.clientWidth,
            outside: heads.filter(th => {
              const r = th.getBoundingClientRect();
              return r.right > right + 0.5 || r.left < left - 0.5;
            }).map(th => th.textContent.trim()),
          };
        }"""
    )
    assert fits["scroll"] <= fits["client"], fits
    assert fits["outside"] == [], fits
    assert page.locator("thead th", has_text="Assigned to").is_visible()
    _no_sideways_scroll(page)


def test_search_a_url_and_bulk_assign_at_1280(
    new_context: NewContext, live_server: LiveServer
) -> None:
    cases = forty_cases(live_server)
    page = _signed_in(new_context, live_server, "1280", "en")
    _search(page, SHARED_URL.replace("https://", "HTTPS://") + "&utm_source=whatsapp")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == len(cases.shared) == 3
    assert page.inner_text("#queue-count") == "3 reports"
    shown = {rows.nth(i).locator("a.reference").inner_text() for i in range(rows.count())}
    assert shown == set(cases.shared)

    # Without choosing an action, the action's own fields stay out of the way.
    assert not page.locator("select[name=assignee]").is_visible()
    page.locator("#pick-all").check()
    page.select_option("select[name=action]", "assign")
    page.select_option("select[name=assignee]", label=COLLEAGUE)
    page.locator(".bulk-actions button[type=submit]").click()
    page.wait_for_selector(".flash-success")
    assert "Done for 3 reports" in page.inner_text(".flash-success")
    # Back on the same search, each row now names the colleague.
    assert page.input_value("input[name=q]").startswith("HTTPS://")
    for i in range(rows.count()):
        assert COLLEAGUE in rows.nth(i).locator(".assignee-cell").inner_text()


def test_cards_on_a_phone(new_context: NewContext, live_server: LiveServer) -> None:
    cases = forty_cases(live_server)
    page = _signed_in(new_context, live_server, "360", "en")
    _search(page, SITE)
    assert page.inner_text("#queue-count") == "40 reports"
    _no_sideways_scroll(page)
    cards = page.locator("table.queue tbody tr")
    assert cards.count() == 40
    assert page.locator("table.queue thead").bounding_box()["width"] <= 1
    first = cards.first
    box = first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert first.evaluate("tr => getComputedStyle(tr).display") == "grid"
    text = first.inner_text()
    for label in ("Priority", "Category", "Age", "Target", "Assigned to"):
        assert f"{label}:" in text, (label, text)
    assert first.locator("a.reference").inner_text() in cases.references
    assert page.locator("table.queue tbody tr.unread .badge-unread").count() >= 1
    for i in range(cards.count()):
        for cell in ("a.reference", ".priority", ".sla", "time", ".assignee-cell"):
            assert cards.nth(i).locator(cell).first.is_visible(), (i, cell)

    # Tick two cards by touch, claim them.
    picked = [cards.nth(i).locator("a.reference").inner_text() for i in (5, 6)]
    for reference in picked:
        page.locator(f"input[id='pick-{reference}']").check()
    page.select_option("select[name=action]", "claim")
    page.locator(".bulk-actions button[type=submit]").click()
    page.wait_for_selector(".flash")
    assert "Done for 2 reports" in page.inner_text(".flashes")
    for reference in picked:
        row = page.locator("table.queue tbody tr", has=page.locator(f"a:text-is('{reference}')"))
        assert "Amina Berrada" in row.locator(".assignee-cell").inner_text()


@pytest.mark.parametrize("width", list(VIEWPORTS))
@pytest.mark.parametrize("language", ["ar", "fr"])
def test_queue_screenshots(
    new_context: NewContext, live_server: LiveServer, language: str, width: str
) -> None:
    forty_cases(live_server)
    page = _signed_in(new_context, live_server, width, language)
    page.goto("/officer/?status=all")
    assert page.locator("html").get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
    _no_sideways_scroll(page)
    save_screenshot(page, f"officer-queue-{language}-{width}")
    page.select_option("select[name=action]", "transfer")
    page.locator(".bulk-actions button[type=submit]").click()
    page.wait_for_selector("#refs-error")
    _no_sideways_scroll(page)
    save_screenshot(page, f"officer-queue-bulk-errors-{language}-{width}")


def test_bulk_assign_works_without_javascript(
    new_context: NewContext, live_server: LiveServer
) -> None:
    cases = forty_cases(live_server)
    page = new_context(locale_cookie="en", java_script_enabled=False).new_page()
    sign_in_demo_staff(page, live_server, "casablanca")
    _search(page, SHARED_URL)
    # Without JavaScript every field of every action is there, and nothing is hidden.
    assert page.locator("select[name=assignee]").is_visible()
    assert not page.locator("#pick-all").is_visible()
    for reference in cases.shared:
        page.locator(f"input[id='pick-{reference}']").check()
    page.select_option("select[name=action]", "assign")
    page.select_option("select[name=assignee]", label="Amina Berrada")
    page.locator(".bulk-actions button[type=submit]").click()
    page.wait_for_selector(".flash-success")
    assert "Done for 3 reports" in page.inner_text(".flash-success")
    cells = page.locator("table.queue tbody .assignee-cell")
    assert all("Amina Berrada" in cells.nth(i).inner_text() for i in range(cells.count()))
