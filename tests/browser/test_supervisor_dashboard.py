"""A national and a regional supervisor read the dashboard in Chromium at 1280 px and 360 px, in
Arabic and French: what needs action comes first, no table is cut off without saying it scrolls,
the page never scrolls sideways, and the CSV comes in the French spreadsheet convention.

Screenshots go to artifacts/screenshots/ (supervisor-*.png) for people to look at."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.browser import (
    DESKTOP,
    PHONE,
    LiveServer,
    NewContext,
    save_screenshot,
    sign_in_demo_staff,
)
from tests.support.supervisor_pages import (
    REGIONAL,
    REGIONAL_SECRET,
    cut_off_tables,
    open_every_section,
    page_overflow,
    seed_dashboard,
    sign_in,
    waiting_in_region,
)

VIEWPORTS = {"1280": DESKTOP, "360": PHONE}


@pytest.mark.parametrize("width", list(VIEWPORTS))
@pytest.mark.parametrize("language", ["ar", "fr"])
def test_national_dashboard_fits_and_leads_with_what_waits(
    new_context: NewContext, live_server: LiveServer, language: str, width: str
) -> None:
    seed_dashboard(live_server)
    page = new_context(viewport=VIEWPORTS[width], locale_cookie=language).new_page()
    sign_in_demo_staff(page, live_server, "supervisor")
    page.goto("/supervisor/?period=30d")
    assert page.locator("html").get_attribute("dir") == ("rtl" if language == "ar" else "ltr")

    # The first thing under the title: the reports waiting now, overdue, the oldest.
    first_card = page.locator("main .sv-key").first
    assert first_card.locator(".sv-key-value").get_attribute("id") == "key-waiting"
    waiting = int(page.inner_text("#key-waiting"))
    assert waiting >= 11 and int(page.inner_text("#key-overdue")) >= 1
    assert page.locator("#key-waiting").bounding_box()["y"] < 800  # above the fold
    # Secondary sections start folded: the page is short.
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < (4000 if width == "1280" else 7500), height
    assert page_overflow(page) <= 0
    assert cut_off_tables(page) == []
    save_screenshot(page, f"supervisor-dashboard-{language}-{width}")

    open_every_section(page)
    assert page_overflow(page) <= 0
    assert cut_off_tables(page) == []
    # Each small chart has its own scale: the top of its axis is its own highest week.
    tops = page.eval_on_selector_all(
        "svg.sparkline", "svgs => svgs.map(s => s.querySelectorAll('text')[0].textContent)"
    )
    assert len(tops) >= 3 and all(tops) and len(set(tops)) > 1, tops
    save_screenshot(page, f"supervisor-dashboard-open-{language}-{width}")

    page.goto("/supervisor/takedowns")
    assert page_overflow(page) <= 0
    assert cut_off_tables(page) == []
    save_screenshot(page, f"supervisor-takedowns-{language}-{width}")


def test_regional_supervisor_reads_their_region_and_a_french_csv(
    new_context: NewContext, live_server: LiveServer
) -> None:
    seed_dashboard(live_server)
    page = new_context(viewport=PHONE, locale_cookie="fr").new_page()
    sign_in(page, REGIONAL["username"], REGIONAL["password"], REGIONAL_SECRET, live_server)
    page.goto("/supervisor/?region=MA-07&period=30d")
    assert "Fès-Meknès" in page.inner_text("h1")
    assert page.locator("select#region").count() == 0
    assert page.locator(".region-map").count() == 0
    # Fès-Meknès only: its 7 seeded waiting reports and the urgent one (and any other test's
    # waiting report in the region), none of the other regions'.
    waiting = waiting_in_region(live_server, "MA-03")
    assert waiting >= 8
    assert page.inner_text("#key-waiting") == str(waiting)
    assert page_overflow(page) <= 0
    save_screenshot(page, "supervisor-regional-fr-360")

    href = page.get_attribute("a[href*='response-times.csv']", "href")
    response = page.request.get(href)
    assert response.status == 200
    body = response.body()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Regroupement" or len(rows[0]) > 10
    assert {row[1] for row in rows[1:] if row[0] == rows[1][0]} == {"all"}
    regions = [row[1] for row in rows[1:] if row[1].startswith("MA-")]
    assert regions == ["MA-03"]
    numbers = [cell for row in rows[1:] for cell in row[5:] if cell]
    assert any("," in cell for cell in numbers), "no decimal at all"
    assert not any("." in cell for cell in numbers), "decimals must use a comma in French"


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_a_two_year_trend_reads_four_weeks_at_a_time_on_a_phone(
    new_context: NewContext, live_server: LiveServer, language: str
) -> None:
    """A two-year range: the trend and its table go four weeks at a time (about 27 rows, not
    105), and still fit a 360 px screen in both directions."""
    seed_dashboard(live_server)
    page = new_context(viewport=PHONE, locale_cookie=language).new_page()
    sign_in_demo_staff(page, live_server, "supervisor")
    today = datetime.now(UTC).date()
    page.goto(f"/supervisor/?from={today - timedelta(days=729)}&to={today}")
    open_every_section(page)
    rows = page.locator("#trend-table tbody tr").count()
    assert rows in (26, 27, 28), rows
    title = page.inner_text("#trend-title")
    assert ("أربعة أسابيع" if language == "ar" else "quatre semaines") in title, title
    assert page_overflow(page) <= 0
    assert cut_off_tables(page) == []
    page.locator("#trend").scroll_into_view_if_needed()
    save_screenshot(page, f"supervisor-two-years-{language}-360")
