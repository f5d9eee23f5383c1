"""Supervisors read requests to platforms per platform and kind of harm, from the rollups:
the figures match what officers recorded, and a regional supervisor sees only their region."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.models import Officer, Report, utcnow
from portal.services import takedown_rollups, takedowns
from tests.support.staff import in_english, make_officer, sign_in
from tests.support.web import submit_and_get_receipt


def _request(db, keyring, officer, reference, *, removed_after: timedelta | None) -> None:
    report = db.scalar(select(Report).where(Report.reference == reference))
    sent = utcnow() - timedelta(days=3)
    request = takedowns.create_request(
        db,
        officer=officer,
        report=report,
        draft=takedowns.TakedownDraft(
            kind="removal",
            url_ids=[url.id for url in report.urls],
            legal_basis="penal_447",
            explanation="Blackmail images.",
            preservation_days=None,
            language="en",
        ),
        keyring=keyring,
        channels={},
        legal_bases={"penal_447": {}},
        now=sent,
    )
    takedowns.mark_sent(db, officer=officer, request=request, now=sent, how="by_hand")
    if removed_after is not None:
        takedowns.record_outcome(
            db,
            officer=officer,
            request=request,
            item_ids=[item.id for item in request.items],
            outcome="removed",
            now=sent + removed_after,
        )
    db.commit()


def test_figures_per_platform_match_what_was_recorded(app, client, db, keyring):
    officer, _ = make_officer(app, db, "amina")
    officer = db.get(Officer, officer.id)
    first, _ = submit_and_get_receipt(client, territory="MA-CAS")
    second, _ = submit_and_get_receipt(client, territory="MA-CAS")
    _request(db, keyring, officer, first, removed_after=timedelta(hours=30))
    _request(db, keyring, officer, second, removed_after=None)

    total, by_platform, by_category = takedown_rollups.figures(
        db, 0, [(4, b) for b in range(0, 100)]
    )
    assert (total.requested, total.removed, total.removal_n) == (2, 1, 1)
    assert by_platform["instagram"].removal_p50 == 30 * 3600
    assert by_category["sextortion"].removed_share == 0.5

    _, secret = make_officer(app, db, "khadija", role="supervisor", units=())
    supervisor = in_english(app.test_client())
    sign_in(supervisor, "khadija", secret)
    page = supervisor.get("/supervisor/takedowns").get_data(as_text=True)
    assert "Instagram" in page and "50 %" in page and "30.0 h / 30.0 h" in page

    _, secret = make_officer(app, db, "salim", role="supervisor", units=(), region="MA-04")
    regional = in_english(app.test_client())
    sign_in(regional, "salim", secret)
    page = regional.get("/supervisor/takedowns").get_data(as_text=True)
    assert "No request was sent in this period." in page


def test_officers_cannot_read_supervisor_figures(app, db):
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    sign_in(staff, "amina", secret)
    assert staff.get("/supervisor/takedowns").status_code in (403, 404)


def _facts(page: str) -> tuple[str, str]:
    """The page's totals: addresses sent, and the share removed."""
    sent = re.search(r"<dt>Addresses sent</dt><dd>([^<]*)</dd>", page)
    removed = re.search(r"<dt>Removed</dt><dd>([^<]*)</dd>", page)
    assert sent and removed, page[:2000]
    return sent.group(1), removed.group(1)


def _supervisor(app, db, username: str, region: str | None):
    _, secret = make_officer(app, db, username, role="supervisor", units=(), region=region)
    client = in_english(app.test_client())
    sign_in(client, username, secret)
    return client


def test_national_and_regional_supervisors_each_read_their_own_scope(app, client, db, keyring):
    casablanca, _ = make_officer(app, db, "amina")
    rabat, _ = make_officer(app, db, "rachid", units=("RABAT",))
    in_casablanca, _ = submit_and_get_receipt(client, territory="MA-CAS")  # region MA-06
    in_rabat, _ = submit_and_get_receipt(client, territory="MA-RAB")  # region MA-04
    _request(
        db,
        keyring,
        db.get(Officer, casablanca.id),
        in_casablanca,
        removed_after=timedelta(hours=30),
    )
    _request(db, keyring, db.get(Officer, rabat.id), in_rabat, removed_after=None)

    national = _supervisor(app, db, "khadija", None)
    assert _facts(national.get("/supervisor/takedowns").get_data(as_text=True)) == ("2", "50 %")
    # A national supervisor may narrow to a region.
    page = national.get("/supervisor/takedowns?region=MA-04").get_data(as_text=True)
    assert _facts(page) == ("1", "0 %")

    # A regional supervisor reads their region only, whatever region is asked for.
    regional = _supervisor(app, db, "salim", "MA-06")
    for query in ("", "?region=MA-04", "?region=XX-99"):
        page = regional.get(f"/supervisor/takedowns{query}").get_data(as_text=True)
        assert _facts(page) == ("1", "100 %"), query
    other = _supervisor(app, db, "nora", "MA-04")
    assert _facts(other.get("/supervisor/takedowns").get_data(as_text=True)) == ("1", "0 %")


def test_a_region_that_does_not_exist_is_never_read_as_the_whole_country(db):
    from portal.services.rollups import NATIONAL_SCOPE
    from portal.services.scope import rollup_scope

    assert rollup_scope(db, None) == NATIONAL_SCOPE
    assert rollup_scope(db, "MA-06") != NATIONAL_SCOPE
    with pytest.raises(LookupError):
        rollup_scope(db, "XX-99")
