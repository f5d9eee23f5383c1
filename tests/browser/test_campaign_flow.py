"""Three reporters in three cities, one blackmailer: the national view sees one campaign, a
Rabat officer sees that other units hold linked reports but cannot open them."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import select

from portal.models import Trace
from tests.support.browser import LiveServer, NewContext, save_screenshot, sign_in_demo_staff
from tests.support.reporter_flows import choose_territory, send_report

SPELLINGS = ["0655 43 21 09", "+212 655-432109", "00212655432109"]
CITIES = ["MA-CAS", "MA-RAB", "MA-FES"]


def _screenshot_image(path: Path, size: tuple[int, int], fmt: str, **options: object) -> Path:
    image = Image.new("RGB", (900, 640), (250, 245, 240))
    draw = ImageDraw.Draw(image)
    for i in range(30):
        x, y = (i * 97) % 820, (i * 61) % 560
        draw.rectangle((x, y, x + 70 + i * 3, y + 40 + i * 2), fill=((i * 53) % 255, 90, 180))
        draw.ellipse((y, x % 600, y + 50, x % 600 + 50), fill=(20, (i * 29) % 255, 60))
    image.resize(size).save(path, fmt, **options)
    return path


def _report(page, spelling: str, city: str, evidence: Path | None) -> str:
    page.goto("/report")
    page.check("input[name=category][value=sextortion]")
    page.check("input[name=q_money_demanded][value=yes]")
    page.check("input[name=q_paid][value=no]")
    page.fill("textarea[name=q_offender_accounts]", spelling)
    page.fill("textarea[name=urls]", f"https://wa.me/{city.lower()}-campaign-test")
    page.select_option("select[name=platform]", "whatsapp")
    page.fill("textarea[name=description]", "He wants 5000 dirhams or he sends the video.")
    if evidence is not None:
        page.set_input_files("input[type=file][name=evidence]", str(evidence))
    choose_territory(page, city)
    page.check("input[name=good_faith]")
    return send_report(page)[0]


def test_one_blackmailer_three_cities(
    new_context: NewContext, live_server: LiveServer, tmp_path: Path
) -> None:
    original = _screenshot_image(tmp_path / "shot.png", (900, 640), "PNG")
    resent = _screenshot_image(tmp_path / "shot.jpg", (600, 427), "JPEG", quality=70)
    evidence = [original, None, resent]
    references = [
        _report(new_context(locale_cookie="en").new_page(), SPELLINGS[i], CITIES[i], evidence[i])
        for i in range(3)
    ]
    casablanca, rabat_ref, fes = references

    rabat = new_context(locale_cookie="en").new_page()
    sign_in_demo_staff(rabat, live_server, "rabat")
    rabat.goto(f"/officer/reports/{rabat_ref}")
    links = rabat.inner_text("#campaign-links")
    assert "2 other reports share this Phone number" in links
    assert "+212655432109" in links
    assert casablanca not in rabat.content() and fes not in rabat.content()
    assert rabat.locator("#campaign-links a[href^='/officer/campaigns/']").count() == 0
    save_screenshot(rabat, "officer-campaign-links-en-1280")
    response = rabat.goto(f"/officer/reports/{casablanca}")
    assert response is not None and response.status == 404

    national = new_context(locale_cookie="en").new_page()
    sign_in_demo_staff(national, live_server, "supervisor")
    national.goto(f"/officer/reports/{casablanca}")
    national.locator("#campaign-links a[href^='/officer/campaigns/']").click()
    national.wait_for_selector("table.campaign-members")
    assert national.inner_text(".campaign-size") == "3"
    members = national.inner_text("table.campaign-members")
    for reference in references:
        assert reference in members
    assert "Near-identical image" in national.inner_text(".campaign-traces")
    save_screenshot(national, "officer-campaign-en-1280")

    # No phone number in clear in the database.
    with live_server.session() as session:
        values = session.scalars(select(Trace.value_enc)).all()
    assert all(b"655432109" not in (value or b"") for value in values)
