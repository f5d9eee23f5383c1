"""axe-core on every reporter page, in Arabic, French, English and Spanish: no serious or critical
issue.

axe is vendored (static/vendor/axe.min.js) and injected by the test only; pages never load it.
The context bypasses the CSP for this injection alone.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.domain.guidance import TOPICS
from portal.models import FollowUpSession, Report, utcnow
from tests.support.reporter_flows import (
    fill_sextortion_report,
    open_follow_up,
    send_report,
    write_png,
)

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe.min.js"
BLOCKING = {"serious", "critical"}
STATIC_PAGES = [
    "/",
    "/report",
    "/follow-up",
    "/help",
    "/help/safety",
    *[f"/help/{topic.slug}" for topic in TOPICS],
    "/no-such-page",
]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    # Injected once per document: checking it again (another width, sections opened) reuses it.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
    ]


def test_axe_finds_a_planted_violation(new_context: Any) -> None:
    """The harness really reports problems: an unlabelled input and an empty button."""
    page = new_context(bypass_csp=True).new_page()
    page.goto("/")
    page.evaluate(
        "() => { document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<input type=text><button></button>'); }"
    )
    found = {v["id"] for v in axe_violations(page)}
    assert {"label", "button-name"} <= found


@pytest.mark.parametrize("language", ["ar", "fr", "en", "es"])
def test_reporter_pages_have_no_serious_accessibility_violation(
    new_context: Any, live_server: Any, language: str, tmp_path: Path
) -> None:
    page = new_context(bypass_csp=True, locale_cookie=language).new_page()
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        assert page.locator("html").get_attribute("lang") == language, name
        found = axe_violations(page)
        if found:
            problems[name] = describe(found)

    for path in STATIC_PAGES:
        page.goto(path)
        check(path)

    page.goto("/report")
    page.locator("form.report-form button[type=submit]").click()
    page.wait_for_selector("#error-summary")
    check("/report (with errors)")

    page.goto("/report")
    fill_sextortion_report(page, evidence=write_png(tmp_path / "screenshot.png"))
    check("/report (filled)")
    bad = tmp_path / "program.jpg"
    bad.write_bytes(b"MZ" + bytes(900))
    page.set_input_files(
        "input[type=file][name=evidence]", [str(tmp_path / "screenshot.png"), str(bad)]
    )
    page.locator("form.report-form button[type=submit]").click()
    page.wait_for_selector("#held-files")
    check("/report (one file refused, one kept)")
    reference, receipt = send_report(page)
    check("/report/receipt")
    page.reload()
    check("/report/receipt (reloaded)")
    page.locator("form.receipt-done button").click()
    page.wait_for_selector("input[name=receipt]")
    page.goto("/report/receipt")
    check("/report/receipt (no longer shown)")

    open_follow_up(page, receipt)
    check("/follow-up (report open)")
    page.fill("textarea[name=body]", "…")
    with live_server.session() as session:
        for row in session.scalars(select(FollowUpSession)):
            row.expires_at = utcnow() - timedelta(minutes=1)
        report = session.scalars(select(Report).where(Report.reference == reference)).one()
        report.status, report.closure_reason = "closed", "no_offence"
        session.commit()
    page.locator("form[action='/follow-up/reply'] button[type=submit]").click()
    page.wait_for_selector(".session-ended")
    check("/follow-up (session ended, message kept)")
    open_follow_up(page, receipt)
    check("/follow-up (closed case)")

    assert problems == {}
