"""The supervisor dashboard counts the reports still waiting: figures on a small fixture with
hand-computed values, read off the page and off the CSV in each spreadsheet convention.

The fixture, relative to the moment it is made (T):

- Casablanca-Settat (unit CASABLANCA): three reports of T - 5 days answered in 1, 2 and 3 hours;
  four normal-priority reports of T - 100 hours never answered (target 72 h: overdue) and one
  urgent report of T - 6 hours never answered (target 4 h: overdue).
- Marrakech-Safi (unit MARRAKECH): three reports of T - 5 days answered in 20, 30 and 40 hours;
  one report of T - 40 days never answered (before the 30-day period, overdue).

By hand:
- waiting now 6 (5 + 1), overdue now 6, oldest waiting 40 days;
- answered medians: Casablanca 2 h (the fastest), Marrakech 30 h;
- Casablanca so far, waiting counted at their age: 1, 2, 3, 6, 100, 100, 100, 100 h -> median
  (6 + 100) / 2 = 53 h; Marrakech so far (its old report is outside the period) 30 h. The map
  must shade Casablanca darker than Marrakech (53 h is in the 48-72 h class, 30 h in 24-48 h);
- Casablanca first responses within target: 3 answered in time of 3 + 5 due = 3/8.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from portal.models import utcnow
from tests.support.staff import make_officer, sign_in
from tests.support.stats import add_report, hours


@pytest.fixture
def waiting_fixture(db):
    now = utcnow()
    for h in (1, 2, 3):
        add_report(
            db,
            region="MA-06",
            unit="CASABLANCA",
            submitted=now - timedelta(days=5),
            first_response=hours(h),
        )
    for _ in range(4):
        add_report(db, region="MA-06", unit="CASABLANCA", submitted=now - hours(100))
    add_report(db, region="MA-06", unit="CASABLANCA", priority="urgent", submitted=now - hours(6))
    for h in (20, 30, 40):
        add_report(
            db,
            region="MA-07",
            unit="MARRAKECH",
            submitted=now - timedelta(days=5),
            first_response=hours(h),
        )
    add_report(db, region="MA-07", unit="MARRAKECH", submitted=now - timedelta(days=40))
    return now


def signed_in(app, client, db, username="chief", region=None, language="en"):
    secret = make_officer(app, db, username, role="supervisor", region=region, units=())[1]
    sign_in(client, username, secret)
    client.set_cookie("lang", language)
    return client


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert match, element_id
    return match.group(1)


def cell(page: str, table: str, key: str, column: str) -> str:
    table_html = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    row = table_html.split(f'data-key="{key}"', 1)[1].split("</tr>", 1)[0]
    match = re.search(rf'class="num {column}[^"]*">([^<]*)<', row)
    assert match, row
    return match.group(1)


def parse_csv(response, delimiter: str) -> tuple[dict[str, int], list[list[str]]]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte-order mark"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=delimiter))
    widths = {len(row) for row in rows}
    assert len(widths) == 1 and widths.pop() > 10, "not split on the expected separator"
    return {name: index for index, name in enumerate(rows[0])}, rows


def row_of(rows, grouping: str, code: str) -> list[str]:
    return next(r for r in rows if r[0] == grouping and r[1] == code)


def test_headline_cards_lead_with_what_waits_now(app, client, db, waiting_fixture):
    page = signed_in(app, client, db).get("/supervisor/?period=30d").get_data(as_text=True)
    main = page.split("<main", 1)[1]
    # The action cards come before the period's figures and before the filters.
    assert main.index('id="key-waiting"') < main.index('id="key-received"')
    assert main.index('id="key-waiting"') < main.index('name="period"')
    assert text_of(page, "key-waiting") == "6"
    assert text_of(page, "key-overdue") == "6"
    assert text_of(page, "key-oldest") == "40.0 days"
    assert text_of(page, "key-received") == "11"  # the 40-day-old report is before the period
    # Percentiles say how many still wait: answered median 2 h... with 5 still waiting.
    assert cell(page, "by-region", "MA-06", "fr-p50") == "2.0 h"
    assert "5 still waiting, oldest 4.2 days" in page.split('data-key="MA-06"', 2)[2]


def test_the_region_where_reports_wait_does_not_look_best(app, client, db, waiting_fixture):
    page = signed_in(app, client, db).get("/supervisor/?period=30d").get_data(as_text=True)
    assert cell(page, "action-regions", "MA-06", "waiting-now") == "5"
    assert cell(page, "action-regions", "MA-06", "overdue-now") == "5"
    assert cell(page, "action-regions", "MA-06", "so-far-p50") == "2.2 days"  # 53 h
    assert cell(page, "action-regions", "MA-07", "waiting-now") == "1"
    assert cell(page, "action-regions", "MA-07", "so-far-p50") == "30.0 h"
    shades = dict(re.findall(r'<g data-region="(MA-\d\d)" data-shade="(\w+)"', page))
    assert shades["MA-06"] == "3" and shades["MA-07"] == "2"  # darker is slower
    assert "≥ 2.2 days" in page and "5 waiting" in page
    # The map is a group of links (no link inside an image), with a legend saying what it shows.
    svg = re.search(r'<svg[^>]*class="chart region-map"[^>]*>', page)
    assert svg and 'role="group"' in svg.group(0)
    assert "Shade: median time to first response so far" in page
    # Units that need action first: Casablanca (5 overdue) before Marrakech (1).
    units = re.findall(r'<tr data-key="([A-Z-]+)"', page.split('id="action-units"', 1)[1])
    assert units[:2] == ["CASABLANCA", "MARRAKECH"]


@pytest.mark.parametrize(
    ("language", "asked", "delimiter", "decimal"),
    [
        ("fr", None, ";", ","),
        ("es", None, ";", ","),
        ("ar", None, ",", "."),
        ("en", None, ",", "."),
        ("fr", "comma", ",", "."),
        ("en", "semicolon", ";", ","),
        ("ar", "bogus", ",", "."),
    ],
)
def test_csv_in_the_readers_spreadsheet_convention(
    app, client, db, waiting_fixture, language, asked, delimiter, decimal
):
    signed_in(app, client, db, language=language)
    query = "period=30d" + (f"&dialect={asked}" if asked else "")
    response = client.get(f"/supervisor/response-times.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(
        r'attachment; filename="response-times-national-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv"',
        disposition,
    ), disposition
    _col, rows = parse_csv(response, delimiter)
    # Columns by position: headers are in the reader's language.
    total, casablanca, marrakech = (
        row_of(rows, rows[1][0], "all"),
        next(r for r in rows if r[1] == "MA-06"),
        next(r for r in rows if r[1] == "MA-07"),
    )
    assert total[5] == "11"  # received in the period (the old report is before it)
    assert total[16:19] == ["6", "6", f"960{decimal}00"]  # waiting, overdue, oldest (hours)
    assert casablanca[16:20] == ["5", "5", f"100{decimal}00", f"53{decimal}00"]
    assert casablanca[9] == f"2{decimal}00"  # answered median, the same as the page's 2.0 h
    assert marrakech[19] == f"30{decimal}00"
    assert casablanca[11] == f"37{decimal}5"  # 3 of 8 within target


def test_the_page_and_the_csv_agree(app, client, db, waiting_fixture):
    signed_in(app, client, db, language="fr")
    page = client.get("/supervisor/?period=30d").get_data(as_text=True)
    _col, rows = parse_csv(client.get("/supervisor/response-times.csv?period=30d"), ";")
    casablanca = next(r for r in rows if r[1] == "MA-06")
    assert cell(page, "action-regions", "MA-06", "waiting-now") == casablanca[16] == "5"
    assert cell(page, "by-region", "MA-06", "fr-p50") == "2,0 h"
    assert casablanca[9] == "2,00"


def test_a_regional_supervisor_sees_only_their_regions_waiting(app, client, db, waiting_fixture):
    signed_in(app, client, db, username="marrakech-chief", region="MA-07")
    page = client.get("/supervisor/?period=30d&region=MA-06").get_data(as_text=True)
    assert text_of(page, "key-waiting") == "1"
    assert text_of(page, "key-oldest") == "40.0 days"
    assert 'data-key="MA-06"' not in page and "CASABLANCA" not in page
    _col, rows = parse_csv(client.get("/supervisor/response-times.csv?region=MA-06"), ",")
    assert {r[1] for r in rows[1:] if r[1] not in ("all",)} <= {
        "MA-07",
        "MARRAKECH",
        "fraud",
        "normal",
        "urgent",
        "high",
    }
    assert row_of(rows, rows[1][0], "all")[16] == "1"


def test_a_spanish_csv_names_units_in_spanish(app, client, db, waiting_fixture):
    """A unit's name is a title, translated like the rest (not the French title on a Spanish
    page), as the reference data and migration 0019 give it."""
    signed_in(app, client, db, language="es")
    _col, rows = parse_csv(client.get("/supervisor/response-times.csv?period=30d"), ";")
    casablanca = next(r for r in rows if r[1] == "CASABLANCA")
    assert casablanca[2] == "Prefectura de Policía de Casablanca"
