"""Browser tests of the supervisor pages: reports with waiting ones on the live server, a
regional supervisor, signing in through the real pages, and what a reader would see wrong."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
from sqlalchemy import func, select

from portal.models import OPEN_STATUSES, Officer, Region, Report, utcnow
from portal.services.accounts import create_officer
from tests.support.browser import LiveServer
from tests.support.stats import add_report, hours

REGIONAL = {"username": "regional-fes", "password": "regional supervisor of Fes 2026"}
REGIONAL_SECRET = "JBSWY3DPEHPK3PXPREGIONFE"
# Regions and units no other browser test works in, so their queues stay as those tests expect.
SEEDED = (("MA-03", "FES"), ("MA-07", "MARRAKECH"), ("MA-09", "AGADIR"))


def seed_dashboard(live_server: LiveServer) -> None:
    """Answered and waiting reports in three regions, and a regional supervisor for Fès-Meknès;
    idempotent (the live server lives for the whole test session)."""
    with live_server.session() as session:
        if session.scalar(select(Officer.id).where(Officer.username == REGIONAL["username"])):
            return
        now = utcnow()
        for index, (region, unit) in enumerate(SEEDED):
            for h in (2, 9, 30, 70):
                add_report(
                    session,
                    region=region,
                    unit=unit,
                    submitted=now - timedelta(days=12 + index),
                    first_response=hours(h * (index + 1)),
                )
            for age in range(3 * (2 - index) + 1):
                add_report(session, region=region, unit=unit, submitted=now - hours(20 + 15 * age))
        add_report(session, region="MA-03", unit="FES", priority="urgent", submitted=now - hours(8))
        create_officer(
            session,
            username=REGIONAL["username"],
            display_name="Salma Regional",
            password=REGIONAL["password"],
            role="supervisor",
            keyring=live_server.app.extensions["keyring"],
            password_hasher=live_server.app.extensions["password_hasher"],
            unit_codes=[],
            region_code="MA-03",
            totp_secret=REGIONAL_SECRET,
        )
        session.commit()
        assert session.scalar(select(Report.id).where(Report.unit_id.is_not(None)))


def waiting_in_region(live_server: LiveServer, region_code: str) -> int:
    """Reports of the region still waiting for a first response, counted in the database: the
    seeded ones, and any other test's on the shared live server."""
    with live_server.session() as session:
        return (
            session.scalar(
                select(func.count(Report.id))
                .join(Region, Region.id == Report.region_id)
                .where(
                    Region.code == region_code,
                    Report.status.in_(OPEN_STATUSES),
                    Report.first_response_at.is_(None),
                )
            )
            or 0
        )


def sign_in(page: Any, username: str, password: str, secret: str, live_server: LiveServer) -> None:
    """Password, then code, through the sign-in pages (codes are single use: reset first)."""
    with live_server.session() as session:
        officer = session.scalars(select(Officer).where(Officer.username == username)).one()
        officer.totp_last_counter = None
        session.commit()
    page.goto("/officer/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()


def open_every_section(page: Any) -> None:
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    # supervisor.js measures again on toggle; let it run.
    page.wait_for_timeout(100)


def cut_off_tables(page: Any) -> list[str]:
    """Tables wider than what shows of them with no visible scroll cue, spilling out of the page,
    or whose caption runs past the edge of its box: what a reader at this width would lose
    without being told."""
    return page.evaluate(
        """() => {
        const problems = [];
        for (const table of document.querySelectorAll('main table')) {
            if (!table.offsetParent) continue;  // in a closed section
            const box = table.closest('.sv-scroll, .table-scroll');
            const name = table.id || table.className;
            if (!box) {
                const r = table.getBoundingClientRect();
                if (r.right > document.documentElement.clientWidth + 1 || r.left < -1)
                    problems.push(name + ' spills out of the page');
                continue;
            }
            // The caption is read first: it must show whole before any scrolling.
            const caption = table.querySelector('caption');
            if (caption && caption.offsetParent && !caption.classList.contains('visually-hidden')) {
                const text = document.createRange();
                text.selectNodeContents(caption);
                const t = text.getBoundingClientRect(), b = box.getBoundingClientRect();
                if (t.left < b.left - 1 || t.right > b.right + 1)
                    problems.push(name + ' has a caption running past its box');
            }
            if (box.scrollWidth > box.clientWidth + 1) {
                const cue = box.querySelector('.sv-scroll-cue');
                if (!cue || getComputedStyle(cue).display === 'none' || !cue.offsetParent)
                    problems.push(name + ' is cut off with no scroll cue');
            }
        }
        return problems;
    }"""
    )


def page_overflow(page: Any) -> int:
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )
