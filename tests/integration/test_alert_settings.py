"""Each officer's alerts page: on duty, a work address, the language and kinds of alerts."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from portal.models import AuditEvent, OfficerAlertSettings
from tests.support.staff import make_officer, sign_in
from tests.support.web import csrf_token

PAGE = "/officer/alerts"


def signed_in(app, db, username="amina", **kw):
    officer, secret = make_officer(app, db, username, **kw)
    client = app.test_client()
    sign_in(client, username, secret)
    return officer, client


def post(client, **data):
    data.setdefault("csrf_token", csrf_token(client, PAGE))
    return client.post(PAGE, data=data)


def test_an_officer_goes_on_duty_with_an_address_and_chosen_kinds(app, db):
    officer, client = signed_in(app, db)
    page = client.get(PAGE).get_data(as_text=True)
    assert "Your alerts" in page and "never says what" in page
    # Never chosen: off duty, nothing sent.
    assert 'name="on_duty"' in page and not re.search(r'name="on_duty"[^>]*checked', page)
    assert db.get(OfficerAlertSettings, officer.id) is None

    response = post(
        client,
        on_duty="y",
        email="amina@police.test",
        language="fr",
        urgent="y",
        digest="y",
    )
    assert response.status_code == 303
    assert "Your alert settings are saved." in client.get(PAGE).get_data(as_text=True)
    db.expire_all()
    saved = db.get(OfficerAlertSettings, officer.id)
    assert (saved.on_duty, saved.email, saved.language) == (True, "amina@police.test", "fr")
    assert (saved.urgent, saved.reply, saved.sla, saved.digest) == (True, False, False, True)
    page = client.get(PAGE).get_data(as_text=True)
    assert 'value="amina@police.test"' in page

    [entry] = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "alerts.settings_changed")
    ).all()
    assert entry.actor == f"officer:{officer.id}"
    # The audit says that an address exists, not which.
    assert "amina@police.test" not in entry.details
    assert json.loads(entry.details) == {
        "on_duty": True,
        "email": True,
        "kinds": ["urgent", "digest"],
    }


def test_errors_show_next_to_their_fields_and_keep_what_was_typed(app, db):
    officer, client = signed_in(app, db)
    response = post(client, on_duty="y", email="not an address", language="en")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(
        r'<p class="error" id="email-error">.*This does not look like an e-mail address', page
    )
    assert re.search(r'id="email"[^>]*aria-invalid="true"', page) or re.search(
        r'aria-invalid="true"[^>]*id="email"', page
    )
    assert 'value="not an address"' in page
    # On duty with no kind of alert chosen: said next to the on-duty box.
    assert re.search(r'<p class="error" id="on_duty-error">.*Choose at least one kind', page)
    assert db.get(OfficerAlertSettings, officer.id) is None


def test_a_post_without_the_csrf_token_changes_nothing(app, db):
    officer, client = signed_in(app, db)
    response = client.post(PAGE, data={"on_duty": "y", "urgent": "y", "language": "en"})
    assert response.status_code == 400
    assert db.get(OfficerAlertSettings, officer.id) is None


def test_going_off_duty_keeps_the_address_and_needs_no_kind(app, db):
    officer, client = signed_in(app, db)
    post(client, on_duty="y", email="amina@police.test", language="en", urgent="y")
    response = post(client, email="amina@police.test", language="en")
    assert response.status_code == 303
    db.expire_all()
    saved = db.get(OfficerAlertSettings, officer.id)
    assert saved.on_duty is False and saved.email == "amina@police.test"


def test_admins_and_reporters_have_no_alerts_page(app, db):
    _admin, admin_client = signed_in(app, db, "admin1", role="admin", units=())
    assert admin_client.get(PAGE).status_code == 404
    assert app.test_client().get(PAGE).status_code in (302, 303, 404)


def test_the_page_speaks_arabic_french_and_spanish(app, db):
    _officer, client = signed_in(app, db)
    for language, words in {
        "ar": "تنبيهاتك",
        "fr": "Vos alertes",
        "es": "Sus alertas",
    }.items():
        client.set_cookie("lang", language)
        page = client.get(PAGE).get_data(as_text=True)
        assert words in page, language
