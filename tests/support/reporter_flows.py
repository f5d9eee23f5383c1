"""Steps a reporter takes in the browser, shared by the browser and accessibility tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

ARABIC_DESCRIPTION = "شخص مجهول يهددني بنشر صور خاصة بي إذا لم أرسل له المال."
ARABIC_REPLY = "نعم، ما زال الحساب يرسل لي رسائل التهديد."


def write_png(path: Path, width: int = 24, height: int = 16) -> Path:
    """A small but genuine PNG (a stand-in for a phone screenshot)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes((40, 120, 200)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def fill_sextortion_report(page: Any, evidence: Path | None = None) -> None:
    """Fill the report form as a sextortion victim would (the page must be on /report)."""
    page.check("input[name=category][value=sextortion]")
    # The category's own questions appear once it is chosen.
    page.check("input[name=q_money_demanded][value=yes]")
    page.check("input[name=q_paid][value=no]")
    page.fill("textarea[name=urls]", "https://www.instagram.com/some.blackmailer/")
    page.select_option("select[name=platform]", "instagram")
    page.fill("textarea[name=description]", ARABIC_DESCRIPTION)
    if evidence is not None and page.locator("input[type=file][name=evidence]").count():
        page.set_input_files("input[type=file][name=evidence]", str(evidence))
    choose_territory(page, "MA-CAS")
    page.check("input[name=good_faith]")


def choose_territory(page: Any, code: str) -> None:
    """With JavaScript the region comes first, then its places; without, one grouped list."""
    regions = page.locator("select#region")
    if regions.count():
        for value in regions.locator("option").evaluate_all("os => os.map(o => o.value)"):
            if not value:
                continue
            regions.select_option(value)
            if page.locator(f"select[name=territory] option[value={code}]").count():
                break
    page.select_option("select[name=territory]", code)


def send_report(page: Any) -> tuple[str, str]:
    """Press send and read the reference and receipt off the one-time page."""
    page.locator("form.report-form button[type=submit]").click()
    page.wait_for_selector("#receipt", timeout=30_000)
    receipt = page.inner_text("#receipt").strip()
    reference = page.inner_text(".reference").strip()
    return reference, receipt


def open_follow_up(page: Any, receipt: str) -> None:
    page.goto("/follow-up")
    page.fill("input[name=receipt]", receipt)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_selector(".timeline")
