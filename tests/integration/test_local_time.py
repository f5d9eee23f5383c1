"""One clock for every page: officer, reporter and supervisor pages show the same moment at the
same local time, on each of the offsets Morocco uses (UTC+1, and UTC+0 around Ramadan).

Offsets from the IANA time-zone database of the ``tzdata`` package (2026f and later): Ramadan
2026 put Morocco on UTC+0 from 15 February 03:00 to 22 March 02:00 (local); 10 June 2026 is on
UTC+1. Later dates follow whatever that database says; the pages must simply agree with it and
with each other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.domain.localtime import LOCAL_TZ_NAME, to_local
from portal.models import Report
from tests.support.staff import make_officer, sign_in
from tests.support.web import open_follow_up, submit_and_get_receipt

RAMADAN_2026 = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
SUMMER_2026 = datetime(2026, 6, 10, 11, 30, tzinfo=UTC)
RAMADAN_2027 = datetime(2027, 2, 20, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "wall_clock"),
    [
        (RAMADAN_2026, "2026-03-01 11:30"),  # UTC+0
        (SUMMER_2026, "2026-06-10 12:30"),  # UTC+1
        (datetime(2026, 2, 15, 1, 59, tzinfo=UTC), "2026-02-15 02:59"),  # last minute of +1
        (datetime(2026, 2, 15, 2, 0, tzinfo=UTC), "2026-02-15 02:00"),  # first of +0
        (datetime(2026, 3, 22, 2, 0, tzinfo=UTC), "2026-03-22 03:00"),  # back to +1
    ],
)
def test_the_one_helper_follows_moroccos_offsets(moment, wall_clock):
    assert LOCAL_TZ_NAME == "Africa/Casablanca"
    assert to_local(moment).strftime("%Y-%m-%d %H:%M") == wall_clock
    # Naive values are UTC, as the database stores them.
    assert to_local(moment.replace(tzinfo=None)) == to_local(moment)


@pytest.mark.parametrize("language", ["fr", "ar"])
@pytest.mark.parametrize("moment", [RAMADAN_2026, SUMMER_2026, RAMADAN_2027])
def test_officer_reporter_and_supervisor_pages_agree(app, client, db, language, moment):
    reference, receipt = submit_and_get_receipt(client)
    report = db.scalars(select(Report).where(Report.reference == reference)).one()
    report.submitted_at = moment
    report.updated_at = moment
    db.commit()
    local = to_local(moment)
    hour_minute = local.strftime("%H:%M")
    day = str(local.day)

    client.set_cookie("lang", language)
    follow_up = open_follow_up(client, receipt)
    if follow_up.status_code == 303:
        follow_up = client.get(follow_up.headers["Location"])
    reporter_page = follow_up.get_data(as_text=True)

    officer = client.application.test_client()
    secret = make_officer(app, db, "casa-officer", units=(report.unit.code,))[1]
    sign_in(officer, "casa-officer", secret)
    officer.set_cookie("lang", language)
    officer_page = officer.get(f"/officer/reports/{reference}").get_data(as_text=True)

    chief = client.application.test_client()
    secret = make_officer(app, db, "chief", role="supervisor", units=())[1]
    sign_in(chief, "chief", secret)
    chief.set_cookie("lang", language)
    supervisor_page = chief.get("/supervisor/").get_data(as_text=True)
    card = supervisor_page.split('id="key-oldest"', 1)[1].split("</div>", 1)[0]

    with app.test_request_context("/", headers={"Cookie": f"lang={language}"}):
        from portal.web.i18n import format_datetime

        shown = format_datetime(moment, "medium")
        wrong = format_datetime(moment + timedelta(hours=1), "medium")
    assert hour_minute in shown and day in shown
    for name, page in (
        ("reporter", reporter_page),
        ("officer", officer_page),
        ("supervisor", card),
    ):
        assert shown in page, f"{name} page does not show {shown}"
        assert wrong not in page, f"{name} page shows the moment an hour off"
