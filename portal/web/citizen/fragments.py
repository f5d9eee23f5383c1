"""Parts of the empty report form rendered once per language and reused.

The category choices with their questions and the territory list are the same for every
reporter who opens ``GET /report``; rendering them through WTForms' widgets took most of the
page's CPU time. A template wraps such a part in ``{% call form_fragment("name", form) %}``:
for a pristine form (a GET, nothing typed, no errors) the HTML is kept per language and reused;
a form coming back with data or errors is always rendered afresh.

The parts depend only on reference data that ships with the code (categories and questions in
``portal.domain``, territories in ``portal/data``) and on the catalogues, all loaded once per
process; :func:`clear` empties the store (tests, or anything that reloads them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import request
from markupsafe import Markup

from portal.web.citizen.blueprint import bp
from portal.web.i18n import current_language

_store: dict[tuple[str, str], Markup] = {}
_lock = threading.Lock()


def clear() -> None:
    with _lock:
        _store.clear()


@bp.app_template_global()
def form_fragment(name: str, form: Any, caller: Callable[[], Markup]) -> Markup:
    # ``caller`` is the wrapped template part: Jinja hands it back already escaped (Markup).
    if request.method != "GET" or form.errors:
        return caller()
    key = (name, current_language())
    cached = _store.get(key)
    if cached is None:
        cached = caller()
        with _lock:
            _store[key] = cached
    return cached
