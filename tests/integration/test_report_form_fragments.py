"""The report form's invariant parts are kept per language and are the very HTML a fresh
rendering gives; a form coming back with errors is never served from them."""

from __future__ import annotations

import re

from portal.web.citizen import fragments
from tests.support.web import csrf_token

PER_REQUEST = re.compile(r'(name="(?:csrf_token|pow_challenge)"[^>]*value=")[^"]*"')


def page(client, lang: str) -> str:
    client.set_cookie("lang", lang)
    body = client.get("/report").get_data(as_text=True)
    return PER_REQUEST.sub(r'\1"', body)


def test_kept_parts_are_what_a_fresh_rendering_gives_in_each_language(app, client):
    fresh_fr = page(client, "fr")
    kept = app.extensions[fragments.STORE]
    assert {lang for _name, lang in kept} == {"fr"}
    assert page(client, "fr") == fresh_fr
    fresh_ar = page(client, "ar")
    assert "Choisissez" in fresh_fr and "Choisissez" not in fresh_ar
    with app.app_context():
        fragments.clear()
    assert page(client, "ar") == fresh_ar


def test_a_form_with_errors_is_rendered_afresh(app, client):
    client.set_cookie("lang", "en")
    page(client, "en")  # the parts are kept
    response = client.post(
        "/report",
        data={"csrf_token": csrf_token(client, "/report"), "urls": "not a url", "territory": ""},
        content_type="multipart/form-data",
    )
    body = response.get_data(as_text=True)
    assert response.status_code in (400, 422)
    assert 'aria-invalid="true"' in body
    assert "not a url" in body  # what the reporter typed is kept
