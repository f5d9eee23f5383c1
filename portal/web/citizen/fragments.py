"""Parts of the empty report form rendered once per language and reused.

The category choices with their questions and the territory list are the same for every
reporter who opens ``GET /report``; rendering them through WTForms' widgets took most of the
page's CPU time. A template wraps such a part in ``{% call form_fragment("name", form) %}``:
for a pristine form (a GET, nothing typed, no errors) the HTML is kept per language and reused;
a form coming back with data or errors is always rendered afresh.

The parts depend only on reference data that ships with the code (categories and questions in
``portal.domain``, territories in ``portal/data``), on the catalogues and on the app's settings
(evidence limits), all loaded once per process: the store belongs to the app
(``app.extensions["portal.form_fragments"]``), and :func:`clear` empties it. The report page
keeps its header and footer the same way: on ``/report`` their links (the language switcher
returns to ``/report``) are the same for every reader of a language. Outside the fragments: what
must differ per request (the CSRF token, the proof-of-work challenge) and a few headings and
hints between the parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import current_app, request
from markupsafe import Markup

from portal.web.citizen.blueprint import bp
from portal.web.i18n import current_language

STORE = "portal.form_fragments"
_lock = threading.Lock()


def _store() -> dict[tuple[str, str], Markup]:
    store: dict[tuple[str, str], Markup] = current_app.extensions.setdefault(STORE, {})
    return store


def clear() -> None:
    with _lock:
        _store().clear()


@bp.app_template_global()
def form_fragment(name: str, form: Any, caller: Callable[[], Markup]) -> Markup:
    # ``caller`` is the wrapped template part: Jinja hands it back already escaped (Markup).
    if request.method != "GET" or form.errors:
        return caller()
    key = (name, current_language())
    store = _store()
    cached = store.get(key)
    if cached is None:
        cached = caller()
        with _lock:
            store[key] = cached
    return cached
