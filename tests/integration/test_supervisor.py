"""The supervisor dashboard and CSV through the real sign-in, with hand-computed figures."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from portal.models import utcnow
from tests.support.staff import make_officer, sign_in
from tests.support.stats import add_report, hours

RECEIVED = 5  # the CSV's column of reports received


def make_staff(app, db, username: str, role: str, region: str | None = None, units=()) -> str:
    """A staff account; returns its TOTP secret."""
    return make_officer(app, db, username, role=role, region=region, units=tuple(units))[1]


@pytest.fixture
def recent():
    """Reports a few days old, so that every standard period includes them."""
    return utcnow() - timedelta(days=5)


@pytest.fixture
def figures(db, recent):
    # Casablanca-Settat: first responses 1, 2, 3 and 10 hours -> median 2.5 h, p90 7.9 h.
    for index, h in enumerate((1, 2, 3, 10)):
        add_report(
            db,
            region="MA-06",
            unit="CASABLANCA",
            submitted=recent - timedelta(minutes=index),
            first_response=hours(h),
            closed=hours(24 * (index + 1)) if index < 2 else None,
        )
    # Marrakech-Safi: 40 and 60 hours, and one report never answered.
    add_report(db, region="MA-07", unit="MARRAKECH", submitted=recent, first_response=hours(40))
    add_report(db, region="MA-07", unit="MARRAKECH", submitted=recent, first_response=hours(60))
    add_report(db, region="MA-07", unit="MARRAKECH", submitted=recent)
    # From abroad, handled nationally.
    add_report(db, region=None, unit="NATIONAL-CYBER", submitted=recent, first_response=hours(5))


def csv_rows(response) -> list[list[str]]:
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def by_code(rows: list[list[str]], grouping: str, code: str) -> list[str]:
    return next(r for r in rows if r[0] == grouping and r[1] == code)


def cell_of(page: str, table: str, key: str, column: str) -> str:
    table_html = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    row = table_html.split(f'data-key="{key}"', 1)[1].split("</tr>", 1)[0]
    match = re.search(rf'class="num {column}">([^<]*)<', row)
    assert match, row
    return match.group(1)


def test_dashboard_requires_a_signed_in_supervisor(app, client, db):
    response = client.get("/supervisor/")
    assert response.status_code == 303
    assert "/officer/login" in response.headers["Location"]
    assert client.get("/supervisor/response-times.csv").status_code == 303

    secret = make_staff(app, db, "casa", "officer", units=("CASABLANCA",))
    sign_in(client, "casa", secret)
    assert client.get("/supervisor/").status_code == 404
    assert client.get("/supervisor/response-times.csv").status_code == 404


def test_national_page_and_csv_show_hand_computed_percentiles(app, client, db, figures):
    secret = make_staff(app, db, "chief", "supervisor")
    sign_in(client, "chief", secret)
    client.set_cookie("lang", "en")

    page = client.get("/supervisor/?period=30d").get_data(as_text=True)
    assert "Response times · National" in page
    assert cell_of(page, "by-region", "MA-06", "fr-p50") == "2.5 h"
    assert cell_of(page, "by-region", "MA-06", "fr-p90") == "7.9 h"
    assert cell_of(page, "by-region", "MA-07", "fr-p50") == "2.1 days"  # 50 h
    assert cell_of(page, "by-region", "abroad", "fr-p50") == "5.0 h"
    # Casablanca resolutions: 24 h and 48 h -> median 36 h; the two open ones are not times.
    assert cell_of(page, "by-region", "MA-06", "res-p50") == "36.0 h"
    # Pictures, with their numbers printed on them and in tables.
    assert 'class="chart region-map"' in page
    assert 'class="chart bars"' in page
    assert page.count('class="chart sparkline"') >= 3
    assert "<script" not in page.split("<main", 1)[1].split("</main>", 1)[0]

    response = client.get("/supervisor/response-times.csv?period=30d")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = csv_rows(response)
    col = {name: index for index, name in enumerate(rows[0])}
    p50, p90 = (
        col["Median time to first response (hours)"],
        col["90th percentile time to first response (hours)"],
    )
    casablanca = by_code(rows, "Region", "MA-06")
    assert casablanca[col["Reports received"]] == "4"
    assert casablanca[p50] == "2.50"
    assert casablanca[p90] == "7.90"
    assert casablanca[col["Median time to resolution (hours)"]] == "36.00"
    marrakech = by_code(rows, "Region", "MA-07")
    assert marrakech[col["Awaiting first response"]] == "1"
    assert [marrakech[p50], marrakech[p90]] == ["50.00", "58.00"]  # 40 + 0.9 * 20
    total = by_code(rows, "Total", "all")
    assert total[col["Reports received"]] == "8"
    # Units worst first: Marrakech has the slowest answers.
    units = [r[1] for r in rows if r[0] == "Unit"]
    assert units[0] == "MARRAKECH"


def test_regional_supervisor_only_ever_sees_their_region(app, client, db, figures):
    secret = make_staff(app, db, "marrakech-chief", "supervisor", region="MA-07")
    sign_in(client, "marrakech-chief", secret)
    client.set_cookie("lang", "en")

    page = client.get("/supervisor/?region=MA-06").get_data(as_text=True)
    assert "Marrakesh-Safi" in page
    assert 'data-key="MA-06"' not in page
    assert 'data-key="abroad"' not in page
    assert 'class="chart region-map"' not in page

    rows = csv_rows(client.get("/supervisor/response-times.csv?region=MA-06"))
    regions = [r[1] for r in rows if r[0] == "Region"]
    assert regions == ["MA-07"]
    assert by_code(rows, "Total", "all")[RECEIVED] == "3"
    assert {r[1] for r in rows if r[0] == "Unit"} == {"MARRAKECH"}


def test_national_supervisor_can_narrow_to_a_region(app, client, db, figures):
    secret = make_staff(app, db, "chief", "supervisor")
    sign_in(client, "chief", secret)
    client.set_cookie("lang", "en")
    rows = csv_rows(client.get("/supervisor/response-times.csv?region=MA-06"))
    assert [r[1] for r in rows if r[0] == "Region"] == ["MA-06"]
    assert by_code(rows, "Total", "all")[RECEIVED] == "4"


def test_custom_period_and_bad_dates(app, client, db, figures, recent):
    secret = make_staff(app, db, "chief", "supervisor")
    sign_in(client, "chief", secret)
    client.set_cookie("lang", "en")
    day = recent.date()
    before = (day - timedelta(days=30)).isoformat()
    rows = csv_rows(client.get(f"/supervisor/response-times.csv?from={before}&to={before}"))
    assert by_code(rows, "Total", "all")[RECEIVED] == "0"
    page = client.get("/supervisor/?from=2026-05-10&to=2026-05-01").get_data(as_text=True)
    assert "the first one before the second" in page


def test_a_long_range_trend_reads_four_weeks_at_a_time(app, client, db, figures, recent):
    """A two-year range draws 27 or 28 points of four weeks (not 105 weeks), and says so."""
    secret = make_staff(app, db, "chief", "supervisor")
    sign_in(client, "chief", secret)
    client.set_cookie("lang", "en")
    short = client.get("/supervisor/?period=90d").get_data(as_text=True)
    assert "Weekly median time to first response" in short
    assert ">Week of<" in short and "last week: 2.5 h" in short
    assert short.split('id="trend-table"')[1].split("</tbody>")[0].count("<tr>") in (13, 14)
    start = (recent - timedelta(days=700)).date().isoformat()
    page = client.get(f"/supervisor/?from={start}&to={recent.date().isoformat()}")
    text = page.get_data(as_text=True)
    assert "Median time to first response, four weeks at a time" in text
    assert "Weekly median" not in text and ">Week of<" not in text
    assert ">Four weeks from<" in text and "last four weeks: 2.5 h" in text
    rows = text.split('id="trend-table"')[1].split("</tbody>")[0].count("<tr>")
    assert rows in (26, 27)
    assert "four weeks at a time, Casablanca" in text  # the chart's spoken label


def test_regional_supervisor_asking_for_another_region_still_sees_only_their_region(
    app, client, db, figures
):
    secret = make_staff(app, db, "marrakech-chief", "supervisor", region="MA-07")
    sign_in(client, "marrakech-chief", secret)
    client.set_cookie("lang", "en")

    page = client.get("/supervisor/?region=MA-06").get_data(as_text=True)
    assert "Precomputed figures" not in page
    assert 'data-key="MA-06"' not in page and 'data-key="abroad"' not in page

    rows = csv_rows(client.get("/supervisor/response-times.csv?region=MA-06&period=30d"))
    assert [r[1] for r in rows if r[0] == "Region"] == ["MA-07"]
    assert by_code(rows, "Total", "all")[RECEIVED] == "3"
    assert {r[1] for r in rows if r[0] == "Unit"} == {"MARRAKECH"}


@pytest.mark.parametrize(
    ("language", "hours_text"), [("ar", "36,0"), ("fr", "36,0"), ("en", "36.0")]
)
def test_durations_are_written_like_every_other_number_on_the_site(app, language, hours_text):
    from portal.web.i18n import format_number
    from portal.web.supervisor.formatting import duration

    with app.test_request_context("/supervisor/", headers={"Cookie": f"lang={language}"}):
        # The Moroccan variant of the reader's language, as the rest of the site writes it.
        assert hours_text in duration(36 * 3600)
        assert format_number(1234) in duration(1234 * 86400)


def test_page_says_shares_are_exact_only_while_every_target_is_a_bucket_edge(
    app, client, db, figures
):
    """Shares within target are exact for whole hours up to 50 and whole days up to 100 (the
    buckets' edges); a target between two edges makes the page say the shares are estimated."""
    secret = make_staff(app, db, "chief", "supervisor")
    sign_in(client, "chief", secret)
    page = client.get("/supervisor/?lang=en").get_data(as_text=True)
    assert "Shares within target are exact." in page
    assert "Shares within target are estimated" not in page

    app.config["SLA_RESOLUTION_DAYS"] = {"urgent": 7, "high": 30, "normal": 60.5}
    page = client.get("/supervisor/?lang=en").get_data(as_text=True)
    assert "Shares within target are exact." not in page
    assert "Shares within target are estimated" in page


@pytest.mark.parametrize(
    ("first_hours", "resolution_days", "estimated"),
    [
        ({"urgent": 4, "high": 24, "normal": 72}, {"urgent": 7, "high": 30, "normal": 60}, []),
        (
            {"urgent": 4, "high": 24, "normal": 101},
            {"urgent": 7, "high": 30, "normal": 60.5},
            ["SLA_FIRST_RESPONSE_HOURS[normal] = 101 h", "SLA_RESOLUTION_DAYS[normal] = 60.5 d"],
        ),
    ],
    ids=["edges", "between-edges"],
)
def test_targets_between_bucket_edges_are_warned_of_at_start(
    app_config, caplog, first_hours, resolution_days, estimated
):
    from portal import create_app

    config = {
        **app_config,
        "SLA_FIRST_RESPONSE_HOURS": first_hours,
        "SLA_RESOLUTION_DAYS": resolution_days,
    }
    with caplog.at_level("WARNING"):
        create_app(config)
    messages = [r.getMessage() for r in caplog.records if "estimated" in r.getMessage()]
    if not estimated:
        assert messages == []
    else:
        assert len(messages) == 1
        assert all(item in messages[0] for item in estimated), messages
        assert "SLA_FIRST_RESPONSE_HOURS[high]" not in messages[0]
