"""axe-core on every staff page, driven by the URL map, at 1280 px and at 360 px, in French
and in Arabic.

Every GET route under /officer, /supervisor, /admin and /staff is either visited here (signed in
with the role that uses it, with sample arguments from a seeded database) or listed in
``NOT_PAGES`` with the reason; a new staff route that is neither fails
``test_every_staff_page_is_covered``. Error pages are visited too. A page must show no serious
or critical violation at either width.

Each page is loaded once per language, at 1280 px, checked, then narrowed to 360 px and checked
again: the layout at a width is the style sheets' media queries, which the browser applies again
on a resize as on a load at that width, and the one script that reads the width does so on
resize too (supervisor.js) or only folds a section on a phone's load (officer.js, the queue's
filters): narrowed, they stay open, which leaves more of the page for axe to read, not less.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from portal.models import Campaign, Evidence, Officer, Report, TakedownRequest, Trace, Unit
from portal.services import campaigns, partners
from portal.services.accounts import create_officer
from portal.services.demo import seed_demo_reports
from tests.a11y.test_axe import axe_violations, describe
from tests.support.browser import DESKTOP, PHONE, LiveServer, resize
from tests.support.browser_fixtures import BROWSER_LOCALES
from tests.support.staff import post_code, post_password
from tests.support.web import csrf_token

STAFF_PREFIXES = ("/officer", "/supervisor", "/admin", "/staff")
# Pages load at the first (the contexts' own viewport), then narrow to the next.
WIDTHS = {"1280": DESKTOP, "360": PHONE}

# Who opens each staff page. "anonymous": signed out; the sign-in steps have their own visit.
PAGES: dict[str, str] = {
    "admin.accounts": "admin",
    "admin.account": "admin",
    "admin.partners": "admin",
    "admin.partner": "admin",
    "admin.webhook_deliveries": "admin",
    "admin.routing": "admin",
    "admin.units": "admin",
    "officer.queue": "casablanca",
    "officer.alert_settings": "casablanca",
    "officer.campaign_list": "supervisor",
    "officer.campaign_page": "supervisor",
    "officer.referral": "casablanca",
    "officer.report_page": "casablanca",
    "officer.case_file": "casablanca",
    "officer.cluster_page": "casablanca",
    "officer.freeze_letter": "casablanca",
    "officer.add_identifier": "casablanca",
    "officer.new_referral": "casablanca",
    "officer.new_takedown": "casablanca",
    "officer.takedown": "casablanca",
    "officer.takedown_document": "casablanca",
    "supervisor.dashboard": "supervisor",
    "supervisor.takedowns": "supervisor",
    "staff.login": "anonymous",
    "staff.login_code": "password-step",
    "staff.enrol": "enrolment-step",
}
# Documents made to be printed (their own layout, in the language of the document).
PRINTABLE = {"officer.case_file", "officer.freeze_letter", "officer.takedown_document"}
# GET routes that are not HTML pages: nothing for axe to read.
NOT_PAGES: dict[str, str] = {
    "officer.case_file_pdf": "a PDF download",
    "officer.case_file_bundle": "a ZIP download",
    "officer.evidence_manifest": "a JSON download",
    "officer.download_evidence": "the evidence file itself (a download)",
    "officer.evidence_preview": "a PNG thumbnail (shown inside the report page, swept there)",
    "officer.evidence_preview_clear": "a PNG thumbnail (shown inside the report page, swept there)",
    "officer.referral_bundle": "a JSON (STIX) download",
    "officer.takedown_pdf": "a PDF download",
    "supervisor.response_times_csv": "a CSV download",
}
# Error pages under the staff prefixes, as each role meets them (path, status).
ERROR_PAGES: dict[str, tuple[str, str, int]] = {
    "404-officer": ("casablanca", "/officer/no-such-page", 404),
    "404-supervisor": ("supervisor", "/supervisor/no-such-page", 404),
    "404-admin": ("admin", "/admin/no-such-page", 404),
    "404-signed-out": ("anonymous", "/staff/no-such-page", 404),
    "405-officer": ("casablanca", "/officer/logout", 405),
    "404-regional-other-page": ("regional", "/admin/", 404),
}
# Known violations: (page, width) -> why. Such a page must still show a violation at that width
# (the entry must go once the page is fixed), and every other page and width must pass.
KNOWN: dict[tuple[str, str], str] = {}

ENROLLING = "a11y-enrolling"
ENROLLING_PASSWORD = "a11y enrolment password 2026"


def _staff_endpoints(app: Any) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(STAFF_PREFIXES) and "GET" in (rule.methods or ())
    }


@dataclass
class Samples:
    values: dict[str, Any]
    queries: dict[str, str]


def _seed(live_server: LiveServer) -> Samples:
    app = live_server.app
    keyring = app.extensions["keyring"]
    with live_server.session() as db:
        casablanca_unit = db.scalar(select(Unit.id).where(Unit.code == "CASABLANCA"))
        # Other tests of this live server file reports of their own: seed unless seeded already.
        if not db.scalar(select(TakedownRequest.id)):
            seed_demo_reports(
                db,
                keyring,
                app.extensions["receipt_hasher"],
                app.extensions["blind_indexer"],
                count=40,
                store=app.extensions["blob_store"],
            )
        if not db.scalar(select(Officer.id).where(Officer.username == ENROLLING)):
            create_officer(
                db,
                username=ENROLLING,
                display_name="Nouvel agent",
                password=ENROLLING_PASSWORD,
                role="officer",
                keyring=keyring,
                password_hasher=app.extensions["password_hasher"],
                unit_codes=["CASABLANCA"],
            )
        partner = db.scalars(select(partners.Partner)).first() or partners.create_partner(
            db,
            slug="a11y-centre",
            name="Centre d'écoute",
            kind="ngo",
            contact_email="contact@a11y-centre.example",
            categories=("sextortion",),
            accreditation="accredited",
            actor="test",
        )
        db.commit()
        with_image = db.scalars(
            select(Report)
            .join(Evidence, Evidence.report_id == Report.id)
            .where(Report.unit_id == casablanca_unit, Evidence.sniffed_type == "image/png")
            .order_by(Report.id)
        ).first()
        assert with_image is not None
        payment = db.scalars(
            select(Trace)
            .join(Report, Trace.report_id == Report.id)
            .where(Report.unit_id == casablanca_unit, Trace.kind.in_(campaigns.PAYMENT_KINDS))
        ).first()
        takedown = db.scalars(
            select(TakedownRequest)
            .join(Report, TakedownRequest.report_id == Report.id)
            .where(Report.unit_id == casablanca_unit)
        ).first()
        officer = db.scalars(select(Officer).where(Officer.username == "casablanca")).one()
        campaign = db.scalars(
            select(Campaign).where(Campaign.merged_into_id.is_(None)).order_by(Campaign.id)
        ).first()
        assert payment is not None and takedown is not None and campaign is not None
        values = {
            "ref": with_image.reference,
            "evidence_id": with_image.evidence[0].id,
            "officer_id": officer.id,
            "partner_id": partner.id,
            "request_id": takedown.id,
            "campaign_id": campaign.id,
            "freeze_ref": db.get(Report, payment.report_id).reference,
            "url_id": with_image.urls[0].id,
        }
        queries = {"officer.freeze_letter": f"trace={payment.id}"}
    values["referral_id"] = _referral(live_server, values)
    return Samples(values, queries)


def _reset_code(live_server: LiveServer, username: str) -> None:
    with live_server.session() as db:
        db.execute(
            update(Officer).where(Officer.username == username).values(totp_last_counter=None)
        )
        db.commit()


def _referral(live_server: LiveServer, values: dict[str, Any]) -> int:
    """A referral made through the officer's own form (the test client of the live app)."""
    from portal.services.demo import DEMO_ACCOUNTS

    account = next(a for a in DEMO_ACCOUNTS if a.username == "casablanca")
    _reset_code(live_server, "casablanca")
    client = live_server.app.test_client()
    assert post_password(client, account.username, account.password).status_code == 303
    assert post_code(client, pyotp.TOTP(account.totp_secret).now()).status_code == 303
    path = f"/officer/reports/{values['ref']}/referrals/new"
    response = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "language": "fr",
            "destination": "FR",
            "urls": [str(values["url_id"])],
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    return int(response.headers["Location"].rsplit("/", 1)[-1])


@pytest.fixture(scope="module")
def samples(live_server: LiveServer) -> Samples:
    return _seed(live_server)


def _sign_in(context: Any, live_server: LiveServer, username: str) -> None:
    from portal.services.demo import DEMO_ACCOUNTS

    account = next(a for a in DEMO_ACCOUNTS if a.username == username)
    _reset_code(live_server, username)
    page = context.new_page()
    page.goto("/officer/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", pyotp.TOTP(account.totp_secret).now())
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector(".staff-nav")
    page.close()


@pytest.fixture(scope="module")
def contexts(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """One browser context per (role, language), signed in once, reused by the module."""
    opened: dict[tuple[str, str], Any] = {}

    def get(role: str, language: str) -> Any:
        key = (role, language)
        if key not in opened:
            context = browser.new_context(
                viewport=DESKTOP,
                base_url=live_server.url,
                locale=BROWSER_LOCALES[language],
                bypass_csp=True,
            )
            context.set_default_timeout(20_000)
            context.add_cookies([{"name": "lang", "value": language, "url": live_server.url}])
            if role not in ("anonymous", "password-step", "enrolment-step"):
                _sign_in(context, live_server, role)
            opened[key] = context
        return opened[key]

    yield get
    for context in opened.values():
        context.close()


def _path(live_server: LiveServer, endpoint: str, samples: Samples) -> str:
    app = live_server.app
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {name: samples.values[name] for name in rule.arguments}
    if endpoint == "officer.freeze_letter":
        values["ref"] = samples.values["freeze_ref"]
    path = app.url_map.bind("localhost").build(endpoint, values)
    query = samples.queries.get(endpoint)
    return f"{path}?{query}" if query else path


LANGUAGES = ("fr", "ar")


def _check(page: Any, name: str, language: str) -> None:
    """The page as loaded (at 1280 px), then at every narrower width of ``WIDTHS``."""
    if name not in PRINTABLE:
        assert page.locator("html").get_attribute("lang") == language, name
        assert page.locator("body.staff").count() == 1, f"{name}: not in the staff layout"
    problems: dict[str, list[str]] = {}
    for width, viewport in WIDTHS.items():
        resize(page, viewport)
        found = axe_violations(page)
        if found:
            problems[width] = describe(found)
    known = {width for width in WIDTHS if (name, width) in KNOWN}
    assert known <= set(problems), f"{name}: fixed at {known - set(problems)}, remove from KNOWN"
    assert {w: p for w, p in problems.items() if w not in known} == {}, name


@pytest.mark.parametrize(
    ("endpoint", "language"),
    [pytest.param(e, lang, id=f"{e}-{lang}") for e in sorted(PAGES) for lang in LANGUAGES],
)
def test_staff_page_has_no_serious_accessibility_violation(
    contexts: Any,
    live_server: LiveServer,
    samples: Samples,
    endpoint: str,
    language: str,
) -> None:
    role = PAGES[endpoint]
    context = contexts(role, language)
    page = context.new_page()
    try:
        if role == "password-step":
            _password_step(page, live_server, "casablanca")
            assert page.url.endswith("/officer/login/code")
        elif role == "enrolment-step":
            page.goto("/officer/login")
            page.fill("input[name=username]", ENROLLING)
            page.fill("input[name=password]", ENROLLING_PASSWORD)
            page.locator("main form button[type=submit]").click()
            page.wait_for_url("**/officer/enrol")
        else:
            path = _path(live_server, endpoint, samples)
            response = page.goto(path)
            assert response is not None and response.status == 200, (path, response.status)
            assert page.url.endswith(path), f"{path} led to {page.url}"
        _check(page, endpoint, language)
    finally:
        page.close()


def _password_step(page: Any, live_server: LiveServer, username: str) -> None:
    from portal.services.demo import DEMO_ACCOUNTS

    account = next(a for a in DEMO_ACCOUNTS if a.username == username)
    page.goto("/officer/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("input[name=code]")


@pytest.mark.parametrize(
    ("name", "language"),
    [pytest.param(n, lang, id=f"{n}-{lang}") for n in ERROR_PAGES for lang in LANGUAGES],
)
def test_staff_error_page_has_no_serious_accessibility_violation(
    contexts: Any, name: str, language: str
) -> None:
    role, path, status = ERROR_PAGES[name]
    page = contexts(role, language).new_page()
    try:
        response = page.goto(path)
        assert response is not None and response.status == status, (path, response.status)
        _check(page, name, language)
    finally:
        page.close()


def test_every_staff_page_is_covered(live_server: LiveServer) -> None:
    """A new staff route must be visited above or listed in NOT_PAGES with its reason."""
    endpoints = _staff_endpoints(live_server.app)
    assert endpoints - set(PAGES) - set(NOT_PAGES) == set(), "staff pages not swept by axe"
    assert set(PAGES) | set(NOT_PAGES) <= endpoints, "listed routes that no longer exist"
    assert not set(PAGES) & set(NOT_PAGES)
