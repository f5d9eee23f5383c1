"""The public transparency page: no login, no cookie, cacheable, in every language; its
figures match the reports, and no published cell or difference rests on fewer than ten."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import create_app
from portal.models import Report
from portal.services.demo import run_demo
from portal.services.rollups import LOCAL_TZ
from tests.support.instances import base_test_config, empty_case_database, new_instance


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory, template_sqlite, postgres_engine) -> Iterator[Flask]:
    """The app over the demo's months of reports, seeded once for the module: its tests only
    read them (the seeding is most of their cost)."""
    instance = new_instance(tmp_path_factory.mktemp("transparency"))
    with empty_case_database(instance, template_sqlite, postgres_engine) as url:
        app = create_app(base_test_config(instance, url))
        with app.extensions["db_sessionmaker"]() as db:
            run_demo(
                db,
                app.extensions["keyring"],
                app.extensions["receipt_hasher"],
                app.extensions["blind_indexer"],
                count=400,
                password_hasher=app.extensions["password_hasher"],
            )
            db.commit()
        yield app
        app.extensions["db_engine"].dispose()


@pytest.fixture
def client(demo_app):
    return demo_app.test_client()


@pytest.fixture
def db(demo_app) -> Iterator[Session]:
    with demo_app.extensions["db_sessionmaker"]() as session:
        yield session


def _records(client):
    response = client.get("/transparency.json")
    assert response.status_code == 200
    return response.get_json()["records"]


def test_the_page_is_public_cacheable_and_sets_no_cookie(client):
    for language in ("ar", "fr", "en"):
        client.set_cookie("lang", language)
        response = client.get("/transparency")
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
        assert response.headers["Cache-Control"].startswith("public, max-age=")
        assert "Cookie" in response.headers["Vary"]
        assert "no-store" not in response.headers.get("Cache-Control", "")
    assert 'dir="ltr"' in response.get_data(as_text=True)
    csv_response = client.get("/transparency.csv")
    assert csv_response.status_code == 200 and "Set-Cookie" not in csv_response.headers
    rows = list(csv.DictReader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows and set(rows[0]) == {"month", "dimension", "key", "measure", "value", "suppressed"}


def test_regions_are_named_in_the_readers_language(client):
    client.set_cookie("lang", "es")
    spanish = client.get("/transparency").get_data(as_text=True)
    client.set_cookie("lang", "fr")
    french = client.get("/transparency").get_data(as_text=True)
    assert "Rabat-Salé-Kenitra" in spanish and "Rabat-Salé-Kénitra" not in spanish
    assert "Rabat-Salé-Kénitra" in french and "Rabat-Salé-Kenitra" not in french


def test_national_counts_match_the_reports(client, db):
    submitted: dict[str, int] = defaultdict(int)
    for moment in db.scalars(select(Report.submitted_at)):
        submitted[moment.astimezone(LOCAL_TZ).strftime("%Y-%m")] += 1
    totals = {
        r["month"]: r["value"]
        for r in _records(client)
        if r["dimension"] == "total" and r["measure"] == "reports_received"
    }
    assert totals, "no month published"
    current = date.today().strftime("%Y-%m")
    assert current not in totals  # only complete months
    for month, value in totals.items():
        expected = submitted.get(month, 0)
        assert value == (expected if expected == 0 or expected >= 10 else None)


def test_no_published_figure_singles_out_a_report(client):
    records = _records(client)
    margins: dict[tuple[str, str], dict[str, int | None]] = defaultdict(dict)
    totals: dict[str, int | None] = {}
    for r in records:
        if r["measure"] in ("reports_received", "urls_requested"):
            value = r["value"]
            assert value is None or value == 0 or value >= 10, r
            if r["dimension"] == "total":
                totals[r["month"]] = value
            else:
                margins[(r["month"], r["dimension"])][r["key"]] = value
    checked = 0
    for (month, dimension), cells in margins.items():
        if dimension == "platform":
            continue
        total = totals[month]
        if total is None:
            assert all(value is None for value in cells.values())
            continue
        rest = total - sum(value for value in cells.values() if value)
        assert rest == 0 or rest >= 10, (month, dimension, cells)
        checked += 1
    assert checked
    # A time is published only for a published count.
    for r in records:
        if r["measure"].endswith("_hours") and r["value"] is not None:
            count = next(
                x["value"]
                for x in records
                if x["month"] == r["month"]
                and x["dimension"] == r["dimension"]
                and x["key"] == r["key"]
                and x["measure"] in ("reports_received", "urls_requested")
            )
            assert count is not None and count >= 10


def test_figures_are_reused_not_recomputed_per_request(client):
    first = client.get("/transparency.json").get_json()
    # A new report does not change the published month figures (current month, cached).
    assert client.get("/transparency.json").get_json() == first
