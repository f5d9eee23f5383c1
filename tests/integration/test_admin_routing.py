"""The routing table as an admin edits it: place names, one form per region, all or nothing,
warnings about units nobody works in; roles in the reader's language."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Officer, RoutingRule, Unit
from tests.support.staff import make_officer, sign_in
from tests.support.web import csrf_token


@pytest.fixture
def admin(app, db):
    _, secret = make_officer(app, db, "root", units=(), role="admin")
    client = app.test_client()
    sign_in(client, "root", secret)
    return client


@pytest.fixture
def restore_routes(db) -> Iterator[None]:
    """Reference tables are shared between tests on PostgreSQL: put the rules back afterwards."""
    original = {(r.kind, r.key): r.unit_id for r in db.scalars(select(RoutingRule))}
    yield
    db.rollback()
    for rule in db.scalars(select(RoutingRule)):
        rule.unit_id = original[(rule.kind, rule.key)]
    db.commit()


def _unit_id(db, code: str) -> int:
    return db.scalar(select(Unit.id).where(Unit.code == code))


def _route(db, kind: str, key: str) -> str:
    db.expire_all()
    return db.get(RoutingRule, (kind, key)).unit.code


def _in(client, language: str):
    client.set_cookie("lang", language)
    return client


def _group_section(page: str, code: str) -> str:
    start = page.index(f'id="group-{code}"')
    return page[start : page.index("</section>", start)]


def test_places_are_named_in_the_readers_language(admin):
    arabic = _in(admin, "ar").get("/admin/routing").get_data(as_text=True)
    assert "الدار البيضاء - سطات" in arabic  # the region
    assert "أكادير - إداوتنان" in arabic  # the prefecture MA-AGD
    assert 'dir="rtl"' in arabic
    french = _in(admin, "fr").get("/admin/routing").get_data(as_text=True)
    assert "Casablanca-Settat" in french
    assert "Agadir-Ida-Ou-Tanane" in french
    assert "Résidents à l’étranger" in french or "étranger" in french
    # No raw rule kinds in place of names.
    assert not re.search(r">\s*(abroad|outside_local|territory)\s*<", french)
    english = _in(admin, "en").get("/admin/routing").get_data(as_text=True)
    assert "Reporters living abroad" in english
    assert "Child sexual exploitation" in english


def test_one_form_per_region_instead_of_a_button_per_row(admin, db):
    page = _in(admin, "en").get("/admin/routing").get_data(as_text=True)
    forms = page.count('action="/admin/routing"')
    regions_with_rules = 12
    assert forms == regions_with_rules + 1  # and one for the national rows
    assert page.count("<select") == db.query(RoutingRule).count()
    section = _group_section(page, "MA-06")
    assert 'name="unit:territory:MA-CAS"' in section and 'name="unit:territory:MA-MOH"' in section
    assert 'name="csrf_token"' in section


def test_one_post_changes_several_rows_each_audited(admin, db, client, restore_routes):
    rabat, sale = _unit_id(db, "RABAT"), _unit_id(db, "SALE")
    unchanged = str(db.get(RoutingRule, ("territory", "MA-MED")).unit_id)
    response = admin.post(
        "/admin/routing",
        data={
            "csrf_token": csrf_token(admin, "/admin/routing"),
            "group": "MA-06",
            "unit:territory:MA-CAS": str(rabat),
            "unit:territory:MA-MOH": str(sale),
            "unit:territory:MA-MED": unchanged,
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/routing#group-MA-06")
    assert _route(db, "territory", "MA-CAS") == "RABAT"
    assert _route(db, "territory", "MA-MOH") == "SALE"
    audited = list(
        db.execute(
            select(AuditEvent.subject, AuditEvent.actor).where(
                AuditEvent.action == "routing.changed"
            )
        )
    )
    assert sorted(subject for subject, _ in audited) == [
        "route:territory:MA-CAS",
        "route:territory:MA-MOH",
    ]
    root = db.scalar(select(Officer.id).where(Officer.username == "root"))
    assert {actor for _, actor in audited} == {f"officer:{root}"}
    page = _in(admin, "en").get("/admin/routing").get_data(as_text=True)
    assert "2 rows of the routing table changed" in page


def test_a_bad_row_is_shown_next_to_it_and_nothing_is_saved(admin, db, restore_routes):
    before = _route(db, "territory", "MA-CAS")
    rabat = _unit_id(db, "RABAT")
    _in(admin, "en")
    response = admin.post(
        "/admin/routing",
        data={
            "csrf_token": csrf_token(admin, "/admin/routing"),
            "group": "MA-06",
            "unit:territory:MA-CAS": str(rabat),
            "unit:territory:MA-MOH": "999999",
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was saved: 1 row needs another unit." in page
    row = next(r for r in page.split("<tr") if "MA-MOH" in r and "<select" in r)
    assert "Choose an active unit." in row
    assert 'aria-invalid="true"' in row
    # The good row keeps what the admin chose, so it need not be chosen again.
    cas_row = next(r for r in page.split("<tr") if "MA-CAS" in r and "<select" in r)
    assert re.search(rf'<option value="{rabat}" selected>', cas_row)
    assert _route(db, "territory", "MA-CAS") == before
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "routing.changed")) is None


def test_routing_form_requires_csrf(admin, db, restore_routes):
    before = _route(db, "territory", "MA-CAS")
    response = admin.post(
        "/admin/routing", data={"unit:territory:MA-CAS": str(_unit_id(db, "RABAT"))}
    )
    assert response.status_code == 400
    assert _route(db, "territory", "MA-CAS") == before


def test_units_without_officers_are_warned_about(app, admin, db):
    page = _in(admin, "en").get("/admin/routing").get_data(as_text=True)
    units = db.query(Unit).filter(Unit.active).count()
    assert f"{units} active units have no active officer." in page
    assert "would wait for nobody" in page
    cas_row = next(r for r in page.split("<tr") if "MA-CAS" in r and "<select" in r)
    assert "No active officer in this unit" in cas_row

    make_officer(app, db, "amina", units=("CASABLANCA",))
    page = admin.get("/admin/routing").get_data(as_text=True)
    assert f"{units - 1} active units have no active officer." in page
    cas_row = next(r for r in page.split("<tr") if "MA-CAS" in r and "<select" in r)
    assert "No active officer in this unit" not in cas_row
    units_page = admin.get("/admin/units").get_data(as_text=True)
    casablanca = next(r for r in units_page.split("<tr") if "CASABLANCA" in r)
    rabat = next(r for r in units_page.split("<tr") if ">RABAT<" in r)
    assert "no active officer" not in casablanca and "no active officer" in rabat

    # A deactivated officer does not staff a unit.
    amina = db.scalars(select(Officer).where(Officer.username == "amina")).one()
    amina.active = False
    db.commit()
    page = admin.get("/admin/routing").get_data(as_text=True)
    assert f"{units} active units have no active officer." in page


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("ar", ("ضابط", "مشرف", "مدير النظام")),
        ("fr", ("Agent", "Superviseur", "Administrateur")),
        ("es", ("Agente", "Supervisor", "Administrador")),
    ],
)
def test_roles_are_shown_in_the_page_language(app, admin, db, language, words):
    make_officer(app, db, "amina")
    make_officer(app, db, "khadija", units=(), role="supervisor")
    page = _in(admin, language).get("/admin/").get_data(as_text=True)
    rows = {
        name: next(r for r in page.split("<tr") if f">{name}</a>" in r)
        for name in ("amina", "khadija", "root")
    }
    officer, supervisor, administrator = words
    assert f"<td>{officer}</td>" in rows["amina"]
    assert f"<td>{supervisor}</td>" in rows["khadija"]
    assert f"<td>{administrator}</td>" in rows["root"]
    assert "<td>officer</td>" not in page and "<td>admin</td>" not in page
    # And in the staff navigation of every staff page, next to the name.
    assert f"· {administrator}</span>" in page
