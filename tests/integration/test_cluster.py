"""A case page names a bounded part of its cluster; the full list pages with a keyset."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.domain.urlnorm import normalize_url
from portal.models import Report
from portal.services import casefile
from portal.services.reports import field_context, seal_report_url
from tests.support.staff import make_officer, sign_in
from tests.support.stats import add_report

SHARED = normalize_url("https://phishing.example/login")


def share_url(app, db, report: Report) -> None:
    keyring, indexer = app.extensions["keyring"], app.extensions["blind_indexer"]
    report.urls.append(seal_report_url(keyring, indexer, report.reference, 0, SHARED))
    db.commit()


def test_case_page_names_the_newest_few_and_counts_the_rest(app, db):
    _officer, secret = make_officer(app, db, "amina")
    reports = [add_report(db, unit="CASABLANCA") for _ in range(casefile.CLUSTER_PREVIEW + 5)]
    elsewhere = [add_report(db, region="MA-04", unit="RABAT") for _ in range(3)]
    for report in reports + elsewhere:
        share_url(app, db, report)
    case, *others = reports
    # The page decrypts the case's description: give it a real one.
    case.description_enc = app.extensions["keyring"].encrypt_field(
        "A fake bank login page.", field_context(case.reference, "description")
    )
    db.commit()

    staff = app.test_client()
    sign_in(staff, "amina", secret)
    page = staff.get(f"/officer/reports/{case.reference}").get_data(as_text=True)
    section = page.split("Other reports with the same address")[1].split("</section>")[0]
    named = re.findall(r'class="reference" dir="ltr" href="[^"]+">(EB-[^<]+)<', section)
    assert len(named) == casefile.CLUSTER_PREVIEW
    newest_first = [r.reference for r in sorted(others, key=lambda r: -r.id)]
    assert named == newest_first[: casefile.CLUSTER_PREVIEW]
    assert "See all 24 reports in your units" in section
    assert "3 reports" in section  # Rabat's, counted, never named
    assert not any(r.reference in page for r in elsewhere)

    full = staff.get(f"/officer/reports/{case.reference}/cluster").get_data(as_text=True)
    assert set(re.findall(r">(EB-[^<]+)</a> ·", full)) == {r.reference for r in others}


def test_full_list_pages_with_a_keyset_and_stays_in_scope(app, db):
    officer, _ = make_officer(app, db, "amina")
    reports = [add_report(db, unit="CASABLANCA") for _ in range(12)]
    for report in reports:
        share_url(app, db, report)
    rabat = add_report(db, region="MA-04", unit="RABAT")
    share_url(app, db, rabat)
    case = db.scalar(select(Report).where(Report.id == reports[0].id))
    seen, after = [], None
    while True:
        page = casefile.cluster_page(db, officer, case, limit=5, after=after)
        seen += [m.reference for m in page.members]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [r.reference for r in sorted(reports[1:], key=lambda r: -r.id)]
