"""The report form's invariant parts are kept per language and are the very HTML a fresh
rendering gives; a form coming back with errors is never served from them."""

from __future__ import annotations

import html
import re

from portal.web.citizen import fragments
from tests.support.web import csrf_token

PER_REQUEST = re.compile(r'(name="(?:csrf_token|pow_challenge)"[^>]*value=")[^"]*"')
OPTGROUP = re.compile(r'<optgroup label="([^"]*)">(.*?)</optgroup>', re.S)
OPTION = re.compile(r'<option value="[^"]*">([^<]*)</option>')


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


def territory_groups(body: str) -> dict[str, list[str]]:
    """The territory select as the reporter sees it: region label -> option labels, in order."""
    select = re.search(r'<select[^>]*name="territory".*?</select>', body, re.S)
    assert select is not None
    return {
        html.unescape(label): [html.unescape(name) for name in OPTION.findall(options)]
        for label, options in OPTGROUP.findall(select.group(0))
    }


def test_spanish_and_french_forms_each_list_their_own_names_in_their_own_order(app, client):
    spanish = territory_groups(page(client, "es"))
    french = territory_groups(page(client, "fr"))
    assert spanish["Tánger-Tetuán-Alhucemas"][-2:] == ["Tánger-Arcila", "Tetuán"]
    assert "Fez" in spanish["Fez-Mequinez"] and "Mequinez" in spanish["Fez-Mequinez"]
    assert spanish["El Aaiún-Saguía el Hamra"] == ["Boujdour", "El Aaiún", "Es-Semara", "Tarfaya"]
    assert "Tanger-Tétouan-Al Hoceïma" not in spanish
    assert french["Tanger-Tétouan-Al Hoceïma"][-2:] == ["Tanger-Assilah", "Tétouan"]
    assert french["Laâyoune-Sakia El Hamra"] == ["Boujdour", "Es-Semara", "Laâyoune", "Tarfaya"]
    assert "Tánger-Tetuán-Alhucemas" not in french
    # Each language keeps its own copy: asking again serves the same names.
    assert territory_groups(page(client, "es")) == spanish
    assert {lang for _name, lang in app.extensions[fragments.STORE]} == {"es", "fr"}


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


def test_the_kept_frame_holds_nothing_of_the_reporter_who_filled_it(app, client):
    """The page's header and footer are kept from the first reporter who opened the form: one
    with a follow-up session open fills them, and another reporter, with no session, gets
    exactly what a fresh rendering gives them (and the other way round)."""
    from tests.support.web import open_follow_up, submit_and_get_receipt

    _, receipt = submit_and_get_receipt(client)
    assert open_follow_up(client, receipt).status_code in (200, 303)
    with app.app_context():
        fragments.clear()
    page(client, "fr")  # the reporter with a session fills the kept parts
    kept_for_other = page(app.test_client(), "fr")
    with app.app_context():
        fragments.clear()
    assert page(app.test_client(), "fr") == kept_for_other
    kept_for_first = page(client, "fr")
    with app.app_context():
        fragments.clear()
    assert page(client, "fr") == kept_for_first
