"""Cross-border referrals: the hosting country is guessed (configuration, platform directory,
a WHOIS server the test starts, country domains), and the package is a valid STIX 2.1 bundle
holding only what the officer chose, never a file and, for child abuse, no note."""

from __future__ import annotations

import json
import re
import socketserver
import threading
from collections.abc import Iterator

import pytest
import stix2
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_string

from portal.models import AuditEvent, Officer, Referral, Report
from portal.services import takedowns
from portal.services.hosting import WhoisLookup, hosting_country
from tests.support.staff import make_officer, sign_in
from tests.support.web import csrf_token, submit_and_get_receipt


class _Whois(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        query = self.rfile.readline().decode().strip()
        answer = "country:        FR\n" if query == "127.0.0.1" else "% no match\n"
        self.wfile.write(f"% stub registry\ninetnum: {query}\n{answer}".encode())


@pytest.fixture
def whois_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Whois)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_hosting_guesses_and_their_sources(whois_server):
    overrides = {"bad-shop.example": "NL"}
    lookup = WhoisLookup(whois_server, timeout=5)
    assert hosting_country("www.bad-shop.example", overrides=overrides).country == "NL"
    assert hosting_country("www.bad-shop.example", overrides=overrides).source == "configuration"
    guess = hosting_country("m.facebook.com", overrides={}, lookup=lookup)
    assert (guess.country, guess.source) == ("IE", "platform")
    guess = hosting_country("localhost", overrides={}, lookup=lookup)
    assert (guess.country, guess.source) == ("FR", "whois")
    assert hosting_country("boutique.fr", overrides={}).country == "FR"
    assert hosting_country("shop.co.uk", overrides={}).country == "GB"
    # Domains sold worldwide say nothing about where content is hosted.
    assert hosting_country("scam.io", overrides={}).source == "unknown"
    assert hosting_country("scam.com", overrides={}).country is None


@pytest.fixture
def case(app, client, db):
    reference, _ = submit_and_get_receipt(
        client,
        category="fraud",
        platform="website",
        urls="https://faux-colis.fr/paiement\nhttps://www.instagram.com/p/AbC123/\n",
    )
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    return reference, staff


def _report(db, reference: str) -> Report:
    db.expire_all()
    return db.scalar(select(Report).where(Report.reference == reference))


def _refer(staff, reference, **fields):
    data = {
        "csrf_token": csrf_token(staff, f"/officer/reports/{reference}/referrals/new"),
        "language": "fr",
    }
    data.update(fields)
    return staff.post(f"/officer/reports/{reference}/referrals/new", data=data)


def test_referral_bundle_is_valid_stix_with_only_the_chosen_items(app, case, db):
    reference, staff = case
    form = staff.get(f"/officer/reports/{reference}/referrals/new").get_data(as_text=True)
    preselected = r"<option selected value=\"FR\"|value=\"FR\" selected"
    assert re.search(preselected, form), "FR not preselected"
    report = _report(db, reference)
    keyring = app.extensions["keyring"]
    french = next(
        url for url in report.urls if takedowns.report_url_host(keyring, url) == "faux-colis.fr"
    )
    response = _refer(
        staff, reference, destination="FR", urls=[str(french.id)], note="Mule account"
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    referral_id = int(response.headers["Location"].rsplit("/", 1)[-1])

    download = staff.get(f"/officer/referrals/{referral_id}/bundle.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    body = download.get_data(as_text=True)
    results = validate_string(body, ValidationOptions(version="2.1"))
    assert results.is_valid, [str(error) for error in results.errors]
    bundle = stix2.parse(body, allow_custom=False)
    urls = [item.value for item in bundle.objects if item.type == "url"]
    assert urls == ["https://faux-colis.fr/paiement"]
    summary = next(item for item in bundle.objects if item.type == "report").description
    assert "Transmission de la police marocaine" in summary and "Mule account" in summary
    assert "instagram" not in body
    row = db.get(Referral, referral_id)
    assert b"faux-colis" not in row.bundle_enc  # stored encrypted
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"referral.created", "referral.downloaded"} <= actions


def test_the_referral_page_is_an_audited_export_like_its_bundle(app, case, db):
    from portal.services import audit

    reference, staff = case
    report = _report(db, reference)
    response = _refer(staff, reference, destination="FR", urls=[str(report.urls[0].id)])
    assert response.status_code == 303
    referral_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    page = staff.get(f"/officer/referrals/{referral_id}")
    assert page.status_code == 200 and "faux-colis.fr" in page.get_data(as_text=True)
    assert staff.get(f"/officer/referrals/{referral_id}/bundle.json").status_code == 200

    # Read back from the chain: each showing of the bundle is an entry of the referral family,
    # naming the officer, the report and the referral, and the chain still verifies.
    db.expire_all()
    entries = db.scalars(
        select(AuditEvent).where(AuditEvent.action.like("referral.%")).order_by(AuditEvent.id)
    ).all()
    assert [entry.action for entry in entries] == [
        "referral.created",
        "referral.viewed",
        "referral.downloaded",
    ]
    viewed, downloaded = entries[1], entries[2]
    amina = db.scalars(select(Officer.id).where(Officer.username == "amina")).one()
    assert viewed.actor == downloaded.actor == f"officer:{amina}"
    assert viewed.subject == downloaded.subject == f"report:{reference}"
    assert json.loads(viewed.details) == {"referral_id": referral_id, "destination": "FR"}
    assert audit.verify(db).ok


def test_a_referral_cannot_go_to_the_home_country(case, db):
    reference, staff = case
    report = _report(db, reference)
    response = _refer(staff, reference, destination="MA", urls=[str(report.urls[0].id)])
    assert response.status_code == 400
    assert db.scalar(select(Referral)) is None


def test_child_abuse_referrals_carry_urls_and_hashes_only(app, client, db):
    reference, _ = submit_and_get_receipt(
        client,
        category="child_sexual_exploitation",
        platform="website",
        urls="https://abuse-host.example.nl/x\n",
        q_money_demanded=None,
        q_paid=None,
    )
    _, secret = make_officer(app, db, "salma", units=("NATIONAL-CHILD",))
    staff = app.test_client()
    sign_in(staff, "salma", secret)
    report = _report(db, reference)
    form = staff.get(f"/officer/reports/{reference}/referrals/new").get_data(as_text=True)
    assert 'name="note"' not in form
    response = _refer(
        staff,
        reference,
        destination="NL",
        urls=[str(report.urls[0].id)],
        note="SHOULD NOT APPEAR",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    referral_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    body = staff.get(f"/officer/referrals/{referral_id}/bundle.json").get_data(as_text=True)
    assert "SHOULD NOT APPEAR" not in body
    types = {item["type"] for item in json.loads(body)["objects"]}
    assert types <= {"marking-definition", "identity", "report", "url", "file"}


def test_another_units_officer_cannot_see_a_referral(case, app, db):
    reference, staff = case
    report = _report(db, reference)
    response = _refer(staff, reference, destination="FR", urls=[str(report.urls[0].id)])
    referral_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    _, secret = make_officer(app, db, "youssef", units=("FES",))
    other = app.test_client()
    sign_in(other, "youssef", secret)
    assert other.get(f"/officer/referrals/{referral_id}").status_code == 404
    assert other.get(f"/officer/referrals/{referral_id}/bundle.json").status_code == 404
